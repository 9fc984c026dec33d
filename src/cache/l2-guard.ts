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

  constructor(store: L2Store, breaker: CircuitBreaker, timeoutMs: number, metrics: CacheMetrics) {
    this.store = store;
    this.#breaker = breaker;
    this.#timeoutMs = timeoutMs;
    this.#metrics = metrics;
  }

  async call<T>(op: string, fn: (store: L2Store) => Promise<T>): Promise<T> {
    if (!this.#breaker.tryAcquire()) {
      this.#metrics.counts.l2Rejected++;
      throw new CacheL2UnavailableError(this.store.name, { cause: new Error('circuit breaker open after repeated failures') });
    }
    const startMs = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        fn(this.store),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new CacheL2UnavailableError(this.store.name,
            { cause: new Error(`no answer within ${this.#timeoutMs} ms`) })), this.#timeoutMs);
        }),
      ]);
      this.#breaker.success();
      return result;
    } catch (err) {
      this.#breaker.failure();
      this.#metrics.counts.l2Errors++;
      throw err;
    } finally {
      clearTimeout(timer);
      this.#metrics.observeL2(op, performance.now() - startMs);
    }
  }
}
