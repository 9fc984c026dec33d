import { RestartBackoff } from './restart-backoff.js';
import type { RestartBackoffOptions } from './restart-backoff.js';

/**
 * When a crashed process is started again: its {@link RestartBackoff} and the one
 * restart pending, for {@link SupervisedProcess}.
 */
export class RestartTimer {
  readonly #backoff: RestartBackoff;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: RestartBackoffOptions) {
    this.#backoff = new RestartBackoff(options);
  }

  /** A restart is waiting for its delay. */
  get pending(): boolean {
    return this.#timer !== undefined;
  }

  /** Crashes counted in the current series. */
  get crashesInARow(): number {
    return this.#backoff.crashesInARow;
  }

  /** The process is healthy: a crash after it stayed so long enough starts the series over. */
  markHealthy(): void {
    this.#backoff.markHealthy();
  }

  /** Calls `restart` after the next delay of the backoff (replacing a pending one); returns the delay. */
  schedule(restart: () => void): number {
    this.cancel();
    const delayMs = this.#backoff.nextDelayMs();
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      restart();
    }, delayMs);
    return delayMs;
  }

  /** The pending restart will not happen. */
  cancel(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
