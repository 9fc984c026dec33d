import type { Clock } from '../internal/clock.js';
import { systemClock } from '../internal/clock.js';

/** An instance that stayed healthy this long counts as recovered: its next crash restarts fast again. @defaultValue 30000 */
export const DEFAULT_RESTART_STABLE_MS = 30_000;

export interface RestartBackoffOptions {
  /** Delay before the first restart. */
  initialMs: number;
  /** The delay doubles per crash in a row up to this. */
  maxMs: number;
  /** @defaultValue {@link DEFAULT_RESTART_STABLE_MS} */
  stableMs?: number;
  /**
   * The first this many crashes of a series restart at once (delay 0); the backoff
   * starts after them. For a process whose absence is an outage (the balancer).
   * @defaultValue 0
   */
  immediate?: number;
  /** @defaultValue systemClock */
  clock?: Clock;
}

/**
 * Exponential restart delays for a crashing instance: `initialMs`, then twice that
 * per crash in a row, capped at `maxMs`. A crash after the instance stayed healthy
 * for `stableMs` starts the series over, so a rare crash is not punished for an old
 * streak, while a crash loop backs off instead of burning the CPU.
 *
 *     crash ─► wait initial ─► start ─► crash ─► wait 2×initial ─► ... ─► wait maxMs
 *                                 └─ healthy for stableMs ─► next crash waits initial again
 *
 * With `immediate: n` the first n crashes of a series restart without waiting.
 */
export class RestartBackoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #stableMs: number;
  readonly #immediate: number;
  readonly #clock: Clock;
  #crashesInARow = 0;
  #healthySinceMs: number | undefined;

  constructor(options: RestartBackoffOptions) {
    this.#initialMs = options.initialMs;
    this.#maxMs = Math.max(options.initialMs, options.maxMs);
    this.#stableMs = options.stableMs ?? DEFAULT_RESTART_STABLE_MS;
    this.#immediate = options.immediate ?? 0;
    this.#clock = options.clock ?? systemClock;
  }

  /** Crashes counted in the current series. */
  get crashesInARow(): number {
    return this.#crashesInARow;
  }

  /** The instance passed its health check. */
  markHealthy(): void {
    this.#healthySinceMs = this.#clock.now();
  }

  /** The instance crashed (or never became healthy): how long to wait before starting it again. */
  nextDelayMs(): number {
    const since = this.#healthySinceMs;
    if (since !== undefined && this.#clock.now() - since >= this.#stableMs) this.#crashesInARow = 0;
    this.#healthySinceMs = undefined;
    const backoffs = this.#crashesInARow - this.#immediate;
    const delay = backoffs < 0 ? 0 : Math.min(this.#maxMs, this.#initialMs * 2 ** Math.min(backoffs, 30));
    this.#crashesInARow++;
    return delay;
  }
}
