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
 */
export class RestartBackoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #stableMs: number;
  readonly #clock: Clock;
  #crashesInARow = 0;
  #healthySinceMs: number | undefined;

  constructor(options: RestartBackoffOptions) {
    this.#initialMs = options.initialMs;
    this.#maxMs = Math.max(options.initialMs, options.maxMs);
    this.#stableMs = options.stableMs ?? DEFAULT_RESTART_STABLE_MS;
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
    const delay = Math.min(this.#maxMs, this.#initialMs * 2 ** Math.min(this.#crashesInARow, 30));
    this.#crashesInARow++;
    return delay;
  }
}
