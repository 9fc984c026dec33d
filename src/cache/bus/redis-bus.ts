import { Redis } from 'ioredis';
import { CacheBusUnavailableError, CacheClosedError } from '../errors.js';
import { cacheRedisUrl, resolveBusOptions } from '../cache-options.js';
import type { Bus } from './bus.js';

export interface RedisBusOptions {
  /** @defaultValue `process.env.REDIS_URL`, else `redis://127.0.0.1:6379` */
  url?: string;
  /** How long a publish may take. @defaultValue 1000 */
  commandTimeoutMs?: number;
  /** `CLIENT SETNAME` of the two connections (suffixed `:pub` and `:sub`), to find them in `CLIENT LIST`. @defaultValue `scaleout-cache-bus` */
  connectionName?: string;
}

/**
 * A bus on Redis pub/sub: one connection publishes, one subscribes. When the
 * subscriber's connection drops (Redis restarted, `CLIENT KILL`, network) it reports
 * disconnected at once, reconnects with backoff, subscribes again, and then reports
 * connected.
 *
 * @example
 * ```ts
 * const bus = new RedisBus({ url: process.env.REDIS_URL });
 * ```
 */
export class RedisBus implements Bus {
  readonly name = 'redis';
  readonly #pub: Redis;
  readonly #sub: Redis;
  // Several caches may share one bus (and one channel).
  readonly #handlers = new Map<string, Set<(message: string) => void>>();
  readonly #listeners: ((connected: boolean) => void)[] = [];
  #connected = false;
  #closed = false;

  constructor(options: RedisBusOptions = {}) {
    const url = cacheRedisUrl(options.url);
    const { connectionName: name, commandTimeoutMs } = resolveBusOptions({ connectionName: options.connectionName, commandTimeoutMs: options.commandTimeoutMs });
    const common = {
      connectTimeout: 1_000,
      retryStrategy: (times: number) => Math.min(20 * 2 ** Math.min(times, 10), 1_000),
    };
    this.#pub = new Redis(url, { ...common, connectionName: `${name}:pub`, enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: commandTimeoutMs });
    // Subscriptions are renewed by hand on every 'ready', so "connected" means subscribed.
    this.#sub = new Redis(url, { ...common, connectionName: `${name}:sub`, autoResubscribe: false });
    this.#pub.on('error', () => undefined);
    this.#sub.on('error', () => undefined);
    this.#sub.on('close', () => this.#setConnected(false));
    this.#sub.on('ready', () => { this.#resubscribe().catch(() => undefined); });
    this.#sub.on('message', (channel: string, message: string) => this.#deliver(channel, message));
  }

  get connected(): boolean {
    return this.#connected;
  }

  async publish(channel: string, message: string): Promise<void> {
    if (this.#closed) throw new CacheClosedError('Redis bus');
    try {
      await this.#pub.publish(channel, message);
    } catch (err) {
      throw new CacheBusUnavailableError('redis', { cause: err });
    }
  }

  async subscribe(channel: string, handler: (message: string) => void): Promise<void> {
    if (this.#closed) throw new CacheClosedError('Redis bus');
    const set = this.#handlers.get(channel) ?? new Set();
    set.add(handler);
    this.#handlers.set(channel, set);
    if (this.#sub.status === 'ready') {
      await this.#resubscribe().catch(() => undefined);
      return;
    }
    // Wait for the first attempt, bounded, so a cache built at start-up begins with L1 on.
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        const i = this.#listeners.indexOf(done);
        if (i >= 0) this.#listeners.splice(i, 1);
        resolve();
      };
      const timer = setTimeout(done, 1_000);
      this.#listeners.push(done);
    });
  }

  onConnectionChange(listener: (connected: boolean) => void): void {
    this.#listeners.push(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#connected = false;
    await Promise.all([this.#pub, this.#sub].map(async (c) => {
      try { await c.quit(); } catch { c.disconnect(); }
    }));
  }

  async #resubscribe(): Promise<void> {
    if (this.#handlers.size === 0 || this.#closed) return;
    await this.#sub.subscribe(...this.#handlers.keys());
    if (this.#sub.status === 'ready') this.#setConnected(true);
  }

  #deliver(channel: string, message: string): void {
    for (const handler of this.#handlers.get(channel) ?? []) {
      try {
        handler(message);
      } catch {
        // One subscriber's bug must not keep the message from the others.
      }
    }
  }

  #setConnected(connected: boolean): void {
    if (this.#connected === connected || (connected && this.#closed)) return;
    this.#connected = connected;
    for (const l of [...this.#listeners]) l(connected);
  }
}
