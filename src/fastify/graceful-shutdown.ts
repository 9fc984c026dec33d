import type { FastifyInstance } from 'fastify';

/** Signals that start a graceful shutdown. */
export const DEFAULT_SHUTDOWN_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM'];
/** How long /healthz reports draining before the server stops accepting connections. */
export const DEFAULT_DRAIN_DELAY_MS = 0;
/** How long in-flight requests may take to finish before the process exits anyway (code 1). */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 30_000;

export interface ShutdownOptions {
  /**
   * Signals that start the shutdown; `[]` installs no handler.
   * @defaultValue {@link DEFAULT_SHUTDOWN_SIGNALS}
   */
  signals?: readonly NodeJS.Signals[];
  /**
   * Keep serving (with /healthz answering 503 draining) this long before closing, so a
   * balancer that polls health stops sending new clients first.
   * @defaultValue {@link DEFAULT_DRAIN_DELAY_MS}
   */
  drainDelayMs?: number;
  /** @defaultValue {@link DEFAULT_SHUTDOWN_TIMEOUT_MS} */
  timeoutMs?: number;
  /**
   * Call `process.exit` when done after a signal (0 when everything closed, 1 on
   * timeout or error). With false, the app decides when the process ends.
   * @defaultValue true
   */
  exit?: boolean;
}

/**
 * Drains and closes the app on a signal.
 *
 * ```text
 *   serving ──signal or shutdown()──► draining ──drainDelayMs──► closing ──► closed ──► exit(0)
 *            (/healthz 200)          (/healthz 503, responses     (no new connections,
 *                                     say Connection: close)       in-flight requests finish,
 *                                                                   stores closed)
 * ```
 */
export class GracefulShutdown {
  readonly #app: FastifyInstance;
  readonly #signals: readonly NodeJS.Signals[];
  readonly #drainDelayMs: number;
  readonly #timeoutMs: number;
  readonly #exit: boolean;
  #draining = false;
  #done: Promise<void> | undefined;
  readonly #onSignal = (signal: NodeJS.Signals): void => this.#handleSignal(signal);

  constructor(app: FastifyInstance, options: Required<ShutdownOptions>) {
    this.#app = app;
    this.#signals = options.signals;
    this.#drainDelayMs = options.drainDelayMs;
    this.#timeoutMs = options.timeoutMs;
    this.#exit = options.exit;
  }

  get draining(): boolean {
    return this.#draining;
  }

  install(): void {
    for (const signal of this.#signals) process.on(signal, this.#onSignal);
  }

  uninstall(): void {
    for (const signal of this.#signals) process.off(signal, this.#onSignal);
  }

  /** Drain, wait `drainDelayMs`, then close the app. Calling it again returns the same promise. */
  shutdown(): Promise<void> {
    this.#done ??= this.#run();
    return this.#done;
  }

  /** Mark the instance draining without closing (e.g. for the last requests of a rolling deploy). */
  drain(): void {
    this.#draining = true;
  }

  async #run(): Promise<void> {
    this.#draining = true;
    if (this.#drainDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.#drainDelayMs));
    await this.#app.close();
  }

  #handleSignal(signal: NodeJS.Signals): void {
    if (this.#done !== undefined) {
      this.#app.log.warn({ signal }, 'already shutting down; waiting for in-flight requests');
      return;
    }
    this.#app.log.info({ signal, drainDelayMs: this.#drainDelayMs }, 'draining, then closing');
    const force = setTimeout(() => {
      this.#app.log.error({ timeoutMs: this.#timeoutMs }, 'in-flight requests did not finish in time');
      if (this.#exit) process.exit(1);
    }, this.#timeoutMs);
    force.unref();
    this.shutdown().then(() => {
      clearTimeout(force);
      if (this.#exit) process.exit(0);
    }, (err: unknown) => {
      clearTimeout(force);
      this.#app.log.error({ err }, 'closing failed');
      if (this.#exit) process.exit(1);
    });
  }
}
