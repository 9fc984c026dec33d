import { setTimeout as delay } from 'node:timers/promises';
import amqp from 'amqplib';
import type { ChannelModel } from 'amqplib';

/** Upper bound of the pause between two attempts to reach the broker. */
export const DEFAULT_AMQP_RECONNECT_MAX_DELAY_MS = 2_000;

/**
 * One connection to RabbitMQ that comes back by itself: when the broker closes it or
 * the socket dies, it reconnects with growing pauses and tells its listeners, which
 * open their channels and consumers again.
 */
export class AmqpConnection {
  readonly #url: string;
  readonly #maxDelayMs: number;
  readonly #listeners = new Set<(model: ChannelModel) => void>();
  #model: ChannelModel | undefined;
  #connecting: Promise<ChannelModel> | undefined;
  #closed = false;

  constructor(url: string, maxDelayMs = DEFAULT_AMQP_RECONNECT_MAX_DELAY_MS) {
    this.#url = url;
    this.#maxDelayMs = maxDelayMs;
  }

  /** The current connection, waiting for one while the broker is away. */
  get(): Promise<ChannelModel> {
    if (this.#model !== undefined) return Promise.resolve(this.#model);
    this.#connecting ??= this.#connect();
    return this.#connecting;
  }

  /** Calls `fn` with every new connection after the first (a reconnect). */
  onReconnect(fn: (model: ChannelModel) => void): () => void {
    this.#listeners.add(fn);
    return () => { this.#listeners.delete(fn); };
  }

  async #connect(): Promise<ChannelModel> {
    for (let attempt = 0; ; attempt += 1) {
      if (this.#closed) throw new Error('the AMQP connection is closed');
      try {
        const model = await amqp.connect(this.#url);
        model.on('error', () => { /* 'close' follows */ });
        model.once('close', () => {
          if (this.#model !== model) return;
          this.#model = undefined;
          if (!this.#closed) void this.get().then(() => undefined, () => undefined);
        });
        const reconnect = attempt > 0 || this.#wasConnected;
        this.#model = model;
        this.#wasConnected = true;
        this.#connecting = undefined;
        if (reconnect) for (const fn of this.#listeners) fn(model);
        return model;
      } catch {
        await delay(Math.min(this.#maxDelayMs, 50 * 2 ** Math.min(attempt, 10)));
      }
    }
  }

  #wasConnected = false;

  async close(): Promise<void> {
    this.#closed = true;
    const model = this.#model;
    this.#model = undefined;
    await model?.close().catch(() => undefined);
  }
}
