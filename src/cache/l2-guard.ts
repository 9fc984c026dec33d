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
  // Calls in flight, oldest first. Every call gets the same timeout, so deadlines grow
  // along the list and the sweeper stops at the first call still in time.
  #oldest: PendingCall | undefined;
  #newest: PendingCall | undefined;
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
      return Promise.reject(this.#refusal());
    }
    const startMs = performance.now();
    let p: Promise<T>;
    try {
      p = fn(this.store);
    } catch (err) {
      p = Promise.reject(err as Error);
    }
    return this.#track<T, T>(op, startMs, p, undefined, undefined);
  }

  /**
   * The value under one key, handed to `onValue` (or the failure to `onFailure`: the
   * breaker refused, the engine failed, or the call timed out), always after `get`
   * returned; the promise settles with what they return. The L2 hit path: it costs
   * one promise on top of the store's.
   */
  get<R>(key: string, onValue: (text: string | null | undefined) => R | PromiseLike<R>, onFailure: (err: Error) => R | PromiseLike<R>): Promise<R> {
    if (!this.#breaker.tryAcquire()) {
      this.#metrics.counts.l2Rejected++;
      // Never synchronously: the caller registers the promise before either callback runs.
      return Promise.resolve(this.#refusal()).then(onFailure);
    }
    const startMs = performance.now();
    let p: Promise<string | null | undefined>;
    try {
      p = this.store.get !== undefined ? this.store.get(key) : this.store.getMany([key]).then((reply) => reply[0]);
    } catch (err) {
      p = Promise.reject(err as Error);
    }
    return this.#track('get', startMs, p, onValue, onFailure);
  }

  /** Wait for `p` at most the timeout; `onValue`/`onFailure` (when given) map its outcome. */
  #track<T, R>(
    op: string, startMs: number, p: Promise<T>,
    onValue: ((value: T) => R | PromiseLike<R>) | undefined, onFailure: ((err: Error) => R | PromiseLike<R>) | undefined,
  ): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const call = new PendingCall(startMs + this.#timeoutMs, resolve, reject, onFailure);
      this.#link(call);
      p.then((value) => {
        if (!this.#finish(call, op, startMs, true)) return;
        if (onValue === undefined) resolve(value as unknown as R);
        else settle(resolve, reject, onValue, value);
      }, (err: unknown) => {
        if (!this.#finish(call, op, startMs, false)) return;
        call.fail(err as Error);
      });
    });
  }

  #refusal(): CacheL2UnavailableError {
    return new CacheL2UnavailableError(this.store.name, { cause: new Error('circuit breaker open after repeated failures') });
  }

  /** Record the end of a call; false when the sweeper already failed it for taking too long. */
  #finish(call: PendingCall, op: string, startMs: number, ok: boolean): boolean {
    if (call.done) return false;
    this.#unlink(call);
    if (ok) this.#breaker.success();
    else {
      this.#breaker.failure();
      this.#metrics.counts.l2Errors++;
    }
    this.#metrics.observeL2(op, performance.now() - startMs);
    return true;
  }

  #link(call: PendingCall): void {
    if (this.#newest === undefined) this.#oldest = call;
    else {
      this.#newest.next = call;
      call.prev = this.#newest;
    }
    this.#newest = call;
    if (this.#sweeper === undefined) this.#startSweeper();
  }

  #unlink(call: PendingCall): void {
    call.done = true;
    if (call.prev === undefined) this.#oldest = call.next;
    else call.prev.next = call.next;
    if (call.next === undefined) this.#newest = call.prev;
    else call.next.prev = call.prev;
    call.prev = undefined;
    call.next = undefined;
  }

  // One timer for all calls in flight instead of one per call: a timer per call costs
  // about as much as the rest of an L2 hit. A call fails at most one sweep period
  // (a fifth of the timeout) after its deadline.
  #startSweeper(): void {
    this.#sweeper = setInterval(() => {
      const now = performance.now();
      for (let call = this.#oldest; call !== undefined && call.deadlineMs <= now; call = this.#oldest) {
        this.#unlink(call);
        this.#breaker.failure();
        this.#metrics.counts.l2Errors++;
        call.fail(new CacheL2UnavailableError(this.store.name, { cause: new Error(`no answer within ${this.#timeoutMs} ms`) }));
      }
      if (this.#oldest === undefined) {
        clearInterval(this.#sweeper);
        this.#sweeper = undefined;
      }
    }, Math.max(5, Math.floor(this.#timeoutMs / 5)));
    this.#sweeper.unref();
  }
}

class PendingCall {
  prev: PendingCall | undefined = undefined;
  next: PendingCall | undefined = undefined;
  done = false;
  readonly deadlineMs: number;
  readonly #resolve: (value: never) => void;
  readonly #reject: (err: Error) => void;
  readonly #onFailure: ((err: Error) => unknown) | undefined;

  constructor(deadlineMs: number, resolve: (value: never) => void, reject: (err: Error) => void, onFailure: ((err: Error) => unknown) | undefined) {
    this.deadlineMs = deadlineMs;
    this.#resolve = resolve;
    this.#reject = reject;
    this.#onFailure = onFailure;
  }

  fail(err: Error): void {
    if (this.#onFailure === undefined) this.#reject(err);
    else settle(this.#resolve, this.#reject, this.#onFailure, err);
  }
}

function settle<A>(resolve: (value: never) => void, reject: (err: Error) => void, fn: (arg: A) => unknown, arg: A): void {
  try {
    resolve(fn(arg) as never);
  } catch (err) {
    reject(err as Error);
  }
}
