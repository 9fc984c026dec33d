import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { openStoreRedis } from '../../internal/store-connections.js';
import {
  SessionFieldNotIntegerError, SessionStoreError, SessionStoreUnavailableError,
} from '../errors.js';
import {
  assertFieldName, assertFieldNames, assertId, assertIncrement, assertTtlMs, decodeValue, encodeFields,
} from '../fields.js';
import type { RegenerateOptions, SessionFields, SessionStore, StoredSession } from '../store.js';
import {
  CREATE, DELETE_FIELDS, DESTROY, DESTROY_ALL_FOR_USER, GET_ALL, INCREMENT_FIELD, META_FIELD, REGENERATE,
  SET_FIELDS, TOUCH,
} from './redis-scripts.js';
import type { RedisScript } from './redis-scripts.js';
import { DEFAULT_REDIS_SESSION_STORE, resolveRedisSessionStoreOptions } from '../options.js';

/** @defaultValue 'scaleout:session:' */
export const DEFAULT_REDIS_KEY_PREFIX = DEFAULT_REDIS_SESSION_STORE.keyPrefix;
/** How long opening a connection may take before operations fail. */
export const DEFAULT_REDIS_CONNECT_TIMEOUT_MS = DEFAULT_REDIS_SESSION_STORE.connectTimeoutMs;
/** How long one command may take before it fails (the request gets a 503, not a hang). */
export const DEFAULT_REDIS_COMMAND_TIMEOUT_MS = DEFAULT_REDIS_SESSION_STORE.commandTimeoutMs;
/** Upper bound of the pause between reconnection attempts while Redis is away. */
export const DEFAULT_REDIS_RECONNECT_MAX_DELAY_MS = DEFAULT_REDIS_SESSION_STORE.reconnectMaxDelayMs;

export interface RedisSessionStoreOptions {
  /**
   * A connection to use instead of opening one; it stays open on `close()`. To fail fast
   * while Redis is away give it `enableOfflineQueue: false`, `maxRetriesPerRequest: 1`
   * and a `commandTimeout`, as the store does for connections it opens itself.
   */
  client?: Redis;
  /**
   * Where Redis is, when the store opens its own connection.
   * @defaultValue `process.env.REDIS_URL`, else `redis://127.0.0.1:6379`
   */
  url?: string;
  /** Extra ioredis options for the store's own connection (the fail-fast ones win). */
  redisOptions?: RedisOptions;
  /**
   * Prefix of every key the store writes; give each app (or test run) its own.
   * @defaultValue {@link DEFAULT_REDIS_KEY_PREFIX}
   */
  keyPrefix?: string;
  /** @defaultValue {@link DEFAULT_REDIS_CONNECT_TIMEOUT_MS} */
  connectTimeoutMs?: number;
  /** @defaultValue {@link DEFAULT_REDIS_COMMAND_TIMEOUT_MS} */
  commandTimeoutMs?: number;
  /** @defaultValue {@link DEFAULT_REDIS_RECONNECT_MAX_DELAY_MS} */
  reconnectMaxDelayMs?: number;
}

/**
 * Sessions in Redis: one hash per session (field -> JSON text), expiry by Redis TTL,
 * every operation one Lua script, so it is atomic and one round trip.
 *
 * @example
 * ```ts
 * const store = new RedisSessionStore({ url: process.env.REDIS_URL });
 * ```
 */
export class RedisSessionStore implements SessionStore {
  readonly name = 'redis';
  readonly #client: Redis;
  readonly #ownsClient: boolean;
  readonly #sessPrefix: string;
  readonly #userPrefix: string;
  readonly #connectTimeoutMs: number;
  // True once the first connection attempt has ended either way; from then on
  // operations never wait for a connection.
  #firstAttemptDone: boolean;
  #lastError: Error | undefined;
  #closed = false;

  constructor(options: RedisSessionStoreOptions = {}) {
    const { keyPrefix: prefix, connectTimeoutMs, commandTimeoutMs, reconnectMaxDelayMs, url } = resolveRedisSessionStoreOptions(options);
    this.#sessPrefix = `${prefix}s:`;
    this.#userPrefix = `${prefix}u:`;
    this.#connectTimeoutMs = connectTimeoutMs;

    if (options.client !== undefined) {
      this.#client = options.client;
      this.#ownsClient = false;
    } else {
      // Failing fast while Redis is away, a session request waits at most one timeout, then gets a 503.
      this.#client = openStoreRedis(url, {
        connectTimeoutMs: this.#connectTimeoutMs, commandTimeoutMs, reconnectMaxDelayMs,
        // A connection that stops answering while commands wait is dropped and
        // reopened, instead of timing out every command until TCP keepalive notices.
        socketTimeout: true,
        ...(options.redisOptions === undefined ? {} : { redisOptions: options.redisOptions }),
      });
      this.#ownsClient = true;
    }
    this.#firstAttemptDone = this.#client.status !== 'wait' && this.#client.status !== 'connecting' && this.#client.status !== 'connect';
    this.#client.on('ready', () => { this.#firstAttemptDone = true; this.#lastError = undefined; });
    this.#client.on('close', () => { this.#firstAttemptDone = true; });
    // Without a listener ioredis prints every connection error; keep the last as the cause.
    this.#client.on('error', (err: Error) => { this.#firstAttemptDone = true; this.#lastError = err; });
  }

  async create(id: string, fields: SessionFields, ttlMs: number, userId?: string): Promise<void> {
    assertId(id);
    assertTtlMs(ttlMs);
    if (userId !== undefined) assertId(userId, 'user id');
    const pairs = encodeFields(fields);
    await this.#run(CREATE, [this.#sessKey(id), this.#userKey(userId ?? '')],
      [String(ttlMs), userId ?? '', id, this.#sessPrefix, ...pairs.flat()]);
  }

  async getAll(id: string): Promise<StoredSession | undefined> {
    assertId(id);
    const reply = await this.#run(GET_ALL, [this.#sessKey(id)], []);
    if (!Array.isArray(reply)) return undefined;
    const [pttl, flat] = reply as [number, string[]];
    const fields: SessionFields = {};
    let userId: string | undefined;
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const name = flat[i]!;
      const value = flat[i + 1]!;
      if (name === META_FIELD) userId = value === '' ? undefined : value;
      else fields[name] = decodeValue(value);
    }
    // A key without TTL (-1) was written by something else; treat it as just touched.
    return { fields, userId, expiresInMs: pttl >= 0 ? pttl : Number.MAX_SAFE_INTEGER };
  }

  async setFields(id: string, fields: SessionFields): Promise<boolean> {
    assertId(id);
    const pairs = encodeFields(fields);
    return (await this.#run(SET_FIELDS, [this.#sessKey(id)], pairs.flat())) === 1;
  }

  async deleteFields(id: string, keys: readonly string[]): Promise<boolean> {
    assertId(id);
    assertFieldNames(keys);
    return (await this.#run(DELETE_FIELDS, [this.#sessKey(id)], [...keys])) === 1;
  }

  async incrementField(id: string, key: string, by: number): Promise<number | undefined> {
    assertId(id);
    assertFieldName(key);
    assertIncrement(key, by);
    try {
      const reply = await this.#run(INCREMENT_FIELD, [this.#sessKey(id)], [key, String(by)]);
      return reply === null ? undefined : Number(reply);
    } catch (err) {
      if (err instanceof SessionStoreError && /not an integer|overflow/i.test(String((err.cause as Error)?.message))) {
        throw new SessionFieldNotIntegerError(key, { cause: err.cause });
      }
      throw err;
    }
  }

  async touch(id: string, ttlMs: number): Promise<boolean> {
    assertId(id);
    assertTtlMs(ttlMs);
    return (await this.#run(TOUCH, [this.#sessKey(id)], [String(ttlMs), this.#userPrefix])) === 1;
  }

  async destroy(id: string): Promise<void> {
    assertId(id);
    await this.#run(DESTROY, [this.#sessKey(id)], [this.#userPrefix, id]);
  }

  async destroyAllForUser(userId: string): Promise<number> {
    assertId(userId, 'user id');
    return Number(await this.#run(DESTROY_ALL_FOR_USER, [this.#userKey(userId)], [this.#sessPrefix]));
  }

  async regenerate(oldId: string, newId: string, options: RegenerateOptions): Promise<boolean> {
    assertId(oldId);
    assertId(newId);
    assertTtlMs(options.ttlMs);
    if (options.userId !== undefined) assertId(options.userId, 'user id');
    const pairs = encodeFields(options.fields ?? {});
    const reply = await this.#run(REGENERATE, [this.#sessKey(oldId), this.#sessKey(newId)], [
      String(options.ttlMs), oldId, newId, this.#userPrefix, this.#sessPrefix,
      options.userId === undefined ? 'keep' : 'set', options.userId ?? '', ...pairs.flat(),
    ]);
    return reply === 1;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#ownsClient) return;
    try {
      await this.#client.quit();
    } catch {
      this.#client.disconnect();
    }
  }

  #sessKey(id: string): string {
    return this.#sessPrefix + id;
  }

  #userKey(userId: string): string {
    return this.#userPrefix + userId;
  }

  async #run(s: RedisScript, keys: string[], args: string[]): Promise<unknown> {
    if (this.#closed) throw new SessionStoreUnavailableError('redis', { cause: new Error('the store was closed') });
    await this.#ready();
    try {
      try {
        return await this.#client.evalsha(s.sha, s.keys, ...keys, ...args);
      } catch (err) {
        if (!/NOSCRIPT/.test((err as Error).message)) throw err;
        // First use on this server (or after a restart/SCRIPT FLUSH): send the body once.
        return await this.#client.eval(s.lua, s.keys, ...keys, ...args);
      }
    } catch (err) {
      throw classify(err);
    }
  }

  /**
   * While the first connection attempt runs, wait for it (bounded), so an app that
   * serves requests right after starting does not answer 503. After that, never wait:
   * no connection means fail now and let the reconnect loop bring it back.
   */
  async #ready(): Promise<void> {
    const status = this.#client.status;
    if (status === 'ready') return;
    const waitable = status === 'wait' || ((status === 'connecting' || status === 'connect') && !this.#firstAttemptDone);
    if (!waitable) {
      throw new SessionStoreUnavailableError('redis', { cause: this.#lastError ?? new Error(`connection is ${status}`) });
    }
    if (status === 'wait') this.#client.connect().catch(() => undefined);
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error): void => {
        clearTimeout(timer);
        this.#client.off('ready', onReady);
        this.#client.off('error', onError);
        this.#client.off('end', onEnd);
        if (err === undefined) resolve();
        else reject(new SessionStoreUnavailableError('redis', { cause: err }));
      };
      const onReady = (): void => done();
      const onError = (err: Error): void => done(err);
      const onEnd = (): void => done(new Error('connection ended'));
      const timer = setTimeout(() => done(new Error(`no connection within ${this.#connectTimeoutMs} ms`)), this.#connectTimeoutMs);
      this.#client.once('ready', onReady);
      this.#client.once('error', onError);
      this.#client.once('end', onEnd);
    });
  }
}

// Replies Redis sends while it cannot serve yet; everything else it says is a refusal.
const TRANSIENT_REPLY = /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|READONLY)\b/;

function classify(err: unknown): Error {
  const e = err as Error;
  if (e?.name === 'ReplyError' && !TRANSIENT_REPLY.test(e.message)) return new SessionStoreError('redis', { cause: e });
  return new SessionStoreUnavailableError('redis', { cause: e });
}
