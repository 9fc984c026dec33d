import type { CacheMetrics } from './cache-metrics.js';
import type { CircuitBreaker } from './circuit-breaker.js';
import { CacheL2UnavailableError } from './errors.js';
import type { L2Store } from './l2-store.js';

/**
 * Every L2 call of the cache goes through here: refused at once while the breaker is
 * open, given up after `timeoutMs` (the engine's own timeout may be longer), timed for
 * the latency histogram, and reported to the breaker.
 */
export class L2Guard {
  readonly store: L2Store;
  readonly #breaker: CircuitBreaker;
  readonly #timeoutMs: number;
  readonly #metrics: CacheMetrics;
  readonly #pending = new Set<PendingCall>();
  #sweeper: NodeJS.Timeout | undefined;

  constructor(store: L2Store, breaker: CircuitBreaker, timeoutMs: number, metrics: CacheMetrics) {
    this.store = store;
    this.#breaker = breaker;
    this.#timeoutMs = timeoutMs;
    this.#metrics = metrics;
  }

  call<T>(op: string, fn: (store: L2Store) => Promise<T>): Promise<T> {
    if (!this.#breaker.tryAcquire()) {
      this.#metrics.counts.l2Rejected++;
      return Promise.reject(new CacheL2UnavailableError(this.store.name, { cause: new Error('circuit breaker open after repeated failures') }));
    }
    const startMs = performance.now();
    return new Promise<T>((resolve, reject) => {
      const call: PendingCall = { deadlineMs: startMs + this.#timeoutMs, fail: reject, done: false };
      this.#pending.add(call);
      this.#sweepSoon();
      fn(this.store).then((result) => {
        if (!this.#finish(call, op, startMs, true)) return;
        resolve(result);
      }, (err: unknown) => {
        if (!this.#finish(call, op, startMs, false)) return;
        reject(err as Error);
      });
    });
  }

  /** Record the end of a call; false when the sweeper already failed it for taking too long. */
  #finish(call: PendingCall, op: string, startMs: number, ok: boolean): boolean {
    if (call.done) return false;
    call.done = true;
    this.#pending.delete(call);
    if (ok) this.#breaker.success();
    else {
      this.#breaker.failure();
      this.#metrics.counts.l2Errors++;
    }
    this.#metrics.observeL2(op, performance.now() - startMs);
    return true;
  }

  // One timer for all calls in flight instead of one per call: a timer per call costs
  // about as much as the rest of an L2 hit. A call fails at most one sweep period
  // (a fifth of the timeout) after its deadline.
  #sweepSoon(): void {
    if (this.#sweeper !== undefined) return;
    this.#sweeper = setInterval(() => {
      const now = performance.now();
      for (const call of this.#pending) {
        if (call.deadlineMs > now) continue;
        call.done = true;
        this.#pending.delete(call);
        this.#breaker.failure();
        this.#metrics.counts.l2Errors++;
        call.fail(new CacheL2UnavailableError(this.store.name, { cause: new Error(`no answer within ${this.#timeoutMs} ms`) }));
      }
      if (this.#pending.size === 0) {
        clearInterval(this.#sweeper);
        this.#sweeper = undefined;
      }
    }, Math.max(5, Math.floor(this.#timeoutMs / 5)));
    this.#sweeper.unref();
  }
}

interface PendingCall {
  deadlineMs: number;
  fail: (err: Error) => void;
  done: boolean;
}
