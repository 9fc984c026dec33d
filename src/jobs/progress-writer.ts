/**
 * Writes a job's progress without one write per call: while a write is in flight,
 * later values replace each other and only the last is written next. A handler that
 * reports progress faster than the tracker stores it costs one write per round trip,
 * not one per call, and its last value is always stored. Each call resolves once its
 * value or a later one is stored (or rejects with that write's error).
 */
export class ProgressWriter {
  readonly #write: (value: unknown) => Promise<void>;
  #pending: { value: unknown; waiters: { resolve(): void; reject(err: unknown): void }[] } | undefined;
  #pumping: Promise<void> | undefined;

  constructor(write: (value: unknown) => Promise<void>) {
    this.#write = write;
  }

  set(value: unknown): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiters = this.#pending?.waiters ?? [];
      waiters.push({ resolve, reject });
      this.#pending = { value, waiters };
      this.#pumping ??= this.#pump();
    });
  }

  /** Resolves once every value set so far is written (or failed); never rejects. */
  async flush(): Promise<void> {
    await this.#pumping;
  }

  async #pump(): Promise<void> {
    while (this.#pending !== undefined) {
      const { value, waiters } = this.#pending;
      this.#pending = undefined;
      try {
        await this.#write(value);
        for (const w of waiters) w.resolve();
      } catch (err) {
        for (const w of waiters) w.reject(err);
      }
    }
    this.#pumping = undefined;
  }
}
