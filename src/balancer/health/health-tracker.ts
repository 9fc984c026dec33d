import { DEFAULT_HEALTH, type ResolvedHealthTrackerOptions } from '../options.js';

/** Whether active checks consider a server able to take traffic. */
export type HealthState = 'up' | 'down';

/** @defaultValue 2 */
export const DEFAULT_RISE = DEFAULT_HEALTH.rise;
/** @defaultValue 3 */
export const DEFAULT_FALL = DEFAULT_HEALTH.fall;

/** What a config may set; {@link resolveHealthTrackerOptions} fills the rest. */
export interface HealthTrackerOptions {
  /**
   * Consecutive successful checks that bring a down server up.
   * @defaultValue DEFAULT_RISE (2)
   */
  rise?: number;
  /**
   * Consecutive failed checks that take a confirmed-up server down.
   * @defaultValue DEFAULT_FALL (3)
   */
  fall?: number;
  /**
   * State before the first check. 'up' follows HAProxy's default: the server takes
   * traffic at once, but is not yet confirmed, so the first failed check takes it down.
   * @defaultValue 'up'
   */
  initialState?: HealthState;
}

/**
 * Rise/fall counting of check results for one server: a single lost probe does not
 * take a server out, and a single lucky probe does not bring a broken one back.
 *
 *     start ──► up (unconfirmed) ──── 1 failure ────────────────┐
 *                   │                                           ▼
 *                   │ 1 success                                down
 *                   ▼                                          │  ▲
 *               up (confirmed) ◄─── `rise` successes in a row ─┘  │
 *                   └─────────────── `fall` failures in a row ────┘
 *
 * With `initialState: 'down'` the tracker starts in `down` and needs `rise` successes.
 * A result that does not complete a run resets the opposite run: "in a row" means
 * without an intervening result of the other kind.
 */
export class HealthTracker {
  readonly #rise: number;
  readonly #fall: number;
  #state: HealthState;
  #confirmed: boolean;
  #successes = 0;
  #failures = 0;

  constructor(options: ResolvedHealthTrackerOptions) {
    this.#rise = options.rise;
    this.#fall = options.fall;
    this.#state = options.initialState;
    this.#confirmed = options.initialState === 'down';
  }

  get state(): HealthState {
    return this.#state;
  }

  /** Successes in a row so far (0 after a failure). */
  get consecutiveSuccesses(): number {
    return this.#successes;
  }

  /** Failures in a row so far (0 after a success). */
  get consecutiveFailures(): number {
    return this.#failures;
  }

  /**
   * Takes an up server down at once, on evidence from outside the regular checks (it
   * went silent under live traffic and failed a probe right after). It then needs
   * `rise` successes like any down server. True when this changed the state.
   */
  forceDown(): boolean {
    this.#successes = 0;
    if (this.#state === 'down') return false;
    this.#state = 'down';
    this.#confirmed = true;
    this.#failures = Math.max(this.#failures, 1);
    return true;
  }

  /** Between states: an up server that failed its last check, or a down one that passed it. */
  get changing(): boolean {
    return this.#state === 'up' ? this.#failures > 0 : this.#successes > 0;
  }

  /** Counts one check result; returns the new state when this result changed it. */
  record(ok: boolean): HealthState | undefined {
    if (ok) {
      this.#failures = 0;
      this.#successes++;
      if (this.#state === 'up') {
        this.#confirmed = true;
        return undefined;
      }
      if (this.#successes < this.#rise) return undefined;
      this.#state = 'up';
      this.#confirmed = true;
      return 'up';
    }
    this.#successes = 0;
    this.#failures++;
    if (this.#state === 'down') return undefined;
    if (this.#confirmed && this.#failures < this.#fall) return undefined;
    this.#state = 'down';
    return 'down';
  }
}
