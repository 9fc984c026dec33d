/** Hits between two reads of the clock within one event-loop turn. */
const HITS_PER_READ = 256;

/**
 * Wall-clock time for the L1 hit path, read once per event-loop turn and at least
 * every 256 calls: `Date.now()` costs about as much as the rest of an L1 hit. Time as
 * seen here lags by at most one turn, so a TTL may be overrun by that much.
 */
export class TurnClock {
  #nowMs: number | undefined;
  #calls = 0;
  readonly #endTurn = (): void => { this.#nowMs = undefined; };

  now(): number {
    if (this.#nowMs === undefined) {
      this.#nowMs = Date.now();
      setImmediate(this.#endTurn);
    } else if (++this.#calls % HITS_PER_READ === 0) {
      this.#nowMs = Date.now();
    }
    return this.#nowMs;
  }
}
