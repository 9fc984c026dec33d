import pg from 'pg';
import { CacheBusUnavailableError, CacheClosedError, CacheOptionsError } from '../errors.js';
import { cachePostgresUrl, resolveBusOptions } from '../cache-options.js';
import type { Bus } from './bus.js';

export interface PostgresBusOptions {
  /** @defaultValue `process.env.DATABASE_URL`, else `postgres://postgres@127.0.0.1:5432/postgres` */
  connectionString?: string;
  /** How long connecting or a publish may take. @defaultValue 1000 */
  timeoutMs?: number;
}

const CHANNEL = /^[a-z_][a-z0-9_]{0,62}$/;
// NOTIFY payloads must be shorter than 8000 bytes.
const MAX_PAYLOAD_BYTES = 7_999;

/**
 * A bus on PostgreSQL LISTEN/NOTIFY, for the `postgres` profile: one dedicated
 * connection listens (reopened with backoff when it breaks), publishing uses a small
 * pool. Channel names are lower-case identifiers.
 *
 * @example
 * ```ts
 * const bus = new PostgresBus({ connectionString: process.env.DATABASE_URL });
 * ```
 */
export class PostgresBus implements Bus {
  readonly name = 'postgres';
  readonly #connectionString: string;
  readonly #timeoutMs: number;
  readonly #connections: pg.Pool;
  // Several caches may share one bus (and one channel).
  readonly #handlers = new Map<string, Set<(message: string) => void>>();
  readonly #listeners: ((connected: boolean) => void)[] = [];
  #listener: pg.Client | undefined;
  #connecting: Promise<void> | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #attempts = 0;
  #connected = false;
  #closed = false;

  constructor(options: PostgresBusOptions = {}) {
    this.#connectionString = cachePostgresUrl(options.connectionString);
    this.#timeoutMs = resolveBusOptions({ timeoutMs: options.timeoutMs }).timeoutMs;
    this.#connections = new pg.Pool({
      connectionString: this.#connectionString, max: 2,
      connectionTimeoutMillis: this.#timeoutMs, query_timeout: this.#timeoutMs,
    });
    this.#connections.on('error', () => undefined);
  }

  get connected(): boolean {
    return this.#connected;
  }

  async publish(channel: string, message: string): Promise<void> {
    if (this.#closed) throw new CacheClosedError('PostgreSQL bus');
    assertChannel(channel);
    if (Buffer.byteLength(message) > MAX_PAYLOAD_BYTES) {
      throw new CacheOptionsError(`a PostgreSQL bus message must be shorter than 8000 bytes, got ${Buffer.byteLength(message)}`);
    }
    try {
      await this.#connections.query('SELECT pg_notify($1, $2)', [channel, message]);
    } catch (err) {
      throw new CacheBusUnavailableError('postgres', { cause: err });
    }
  }

  async subscribe(channel: string, handler: (message: string) => void): Promise<void> {
    if (this.#closed) throw new CacheClosedError('PostgreSQL bus');
    assertChannel(channel);
    const set = this.#handlers.get(channel) ?? new Set();
    set.add(handler);
    this.#handlers.set(channel, set);
    if (this.#listener !== undefined && this.#connected) {
      await this.#listener.query(`LISTEN "${channel}"`).catch(() => undefined);
      return;
    }
    await this.#connect();
  }

  onConnectionChange(listener: (connected: boolean) => void): void {
    this.#listeners.push(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#connected = false;
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    await this.#listener?.end().catch(() => undefined);
    await this.#connections.end().catch(() => undefined);
  }

  #connect(): Promise<void> {
    this.#connecting ??= this.#open().finally(() => { this.#connecting = undefined; });
    return this.#connecting;
  }

  async #open(): Promise<void> {
    const client = new pg.Client({ connectionString: this.#connectionString, connectionTimeoutMillis: this.#timeoutMs, keepAlive: true });
    let lost = false;
    const onLost = (): void => {
      if (lost) return;
      lost = true;
      if (this.#listener === client) this.#listener = undefined;
      this.#setConnected(false);
      client.end().catch(() => undefined);
      this.#scheduleReconnect();
    };
    client.on('error', onLost);
    client.on('end', onLost);
    client.on('notification', (n) => this.#deliver(n.channel, n.payload ?? ''));
    try {
      await client.connect();
      for (const channel of this.#handlers.keys()) await client.query(`LISTEN "${channel}"`);
    } catch {
      onLost();
      return;
    }
    if (this.#closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#listener = client;
    this.#attempts = 0;
    this.#setConnected(true);
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#retryTimer !== undefined) return;
    const delayMs = Math.min(20 * 2 ** Math.min(this.#attempts++, 10), 1_000);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#connect().catch(() => undefined);
    }, delayMs);
    this.#retryTimer.unref();
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

function assertChannel(channel: string): void {
  if (!CHANNEL.test(channel)) {
    throw new CacheOptionsError(`bus channel "${channel}" is invalid; use lower-case letters, digits and _ (at most 63)`);
  }
}
