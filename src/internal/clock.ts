/**
 * Time as behaviour depends on it. Everything whose decisions depend on elapsed time
 * (health rise/fall windows, ejection, slow start, stick-table expiry, session expiry)
 * takes a Clock, so tests advance time instead of sleeping.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch (or any fixed origin in tests). */
  now(): number;
}

export const systemClock: Clock = {
  // Wall-clock milliseconds: values are persisted (stick tables, session expiry) and
  // compared across restarts, which a monotonic clock could not do.
  now: () => Date.now(),
};

/** A clock for tests: time moves only when told to. */
export class ManualClock implements Clock {
  #nowMs: number;
  constructor(startMs = 0) {
    this.#nowMs = startMs;
  }
  now(): number {
    return this.#nowMs;
  }
  advance(ms: number): void {
    this.#nowMs += ms;
  }
}
