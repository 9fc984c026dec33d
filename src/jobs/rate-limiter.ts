import { setTimeout as delay } from 'node:timers/promises';

/** At most `max` starts per `intervalMs` (a sliding window), for one process. */
export class LocalRateLimiter {
  readonly #max: number;
  readonly #intervalMs: number;
  readonly #starts: number[] = [];
  #chain: Promise<void> = Promise.resolve();

  constructor(max: number, intervalMs: number) {
    this.#max = max;
    this.#intervalMs = intervalMs;
  }

  /** Resolves when one more start fits in the window; callers are served in order. */
  take(signal?: AbortSignal): Promise<void> {
    const turn = this.#chain.then(() => this.#wait(signal));
    this.#chain = turn.catch(() => undefined);
    return turn;
  }

  async #wait(signal?: AbortSignal): Promise<void> {
    for (;;) {
      const now = performance.now();
      while (this.#starts.length > 0 && (this.#starts[0] ?? 0) <= now - this.#intervalMs) this.#starts.shift();
      if (this.#starts.length < this.#max) {
        this.#starts.push(now);
        return;
      }
      await delay((this.#starts[0] ?? now) + this.#intervalMs - now + 1, undefined, { signal });
    }
  }
}
