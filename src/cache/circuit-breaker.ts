/** Consecutive failed L2 calls that open the breaker. */
export const DEFAULT_BREAKER_FAILURE_THRESHOLD = 5;
/** How long an open breaker refuses calls before it lets one probe through. */
export const DEFAULT_BREAKER_COOLDOWN_MS = 2_000;

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  failureThreshold: number;
  cooldownMs: number;
  /** Milliseconds, monotonic; injected so tests need no sleeping. */
  now: () => number;
}

/**
 * Keeps a dead engine from costing every request a timeout.
 *
 * ```text
 *   closed ──(failureThreshold consecutive failures)──► open
 *     ▲                                                  │ cooldownMs passes
 *     └──────(probe succeeds)────── half-open ◄──────────┘
 *                                      │ probe fails
 *                                      └──────────────► open (cool-down again)
 * ```
 *
 * While open, calls are refused at once (the cache goes to the loader). In half-open
 * exactly one call, the probe, goes through; the others are refused until it ends.
 */
export class CircuitBreaker {
  readonly #failureThreshold: number;
  readonly #cooldownMs: number;
  readonly #now: () => number;
  #state: BreakerState = 'closed';
  #failures = 0;
  #openedAtMs = 0;
  #probing = false;
  #opens = 0;

  constructor(options: CircuitBreakerOptions) {
    this.#failureThreshold = options.failureThreshold;
    this.#cooldownMs = options.cooldownMs;
    this.#now = options.now;
  }

  get state(): BreakerState {
    return this.#state;
  }

  /** How many times the breaker has opened since it was made. */
  get opens(): number {
    return this.#opens;
  }

  /** True when a call may go ahead now; the caller must then report `success()` or `failure()`. */
  tryAcquire(): boolean {
    if (this.#state === 'closed') return true;
    if (this.#state === 'open') {
      if (this.#now() - this.#openedAtMs < this.#cooldownMs) return false;
      this.#state = 'half-open';
      this.#probing = false;
    }
    if (this.#probing) return false;
    this.#probing = true;
    return true;
  }

  success(): void {
    // The usual case, on every L2 call: nothing to change.
    if (this.#state === 'closed' && this.#failures === 0) return;
    this.#failures = 0;
    this.#probing = false;
    this.#state = 'closed';
  }

  failure(): void {
    this.#probing = false;
    if (this.#state === 'half-open') {
      this.#open();
      return;
    }
    this.#failures++;
    if (this.#state === 'closed' && this.#failures >= this.#failureThreshold) this.#open();
  }

  #open(): void {
    this.#state = 'open';
    this.#openedAtMs = this.#now();
    this.#opens++;
  }
}
