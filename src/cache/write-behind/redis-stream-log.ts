import { Redis } from 'ioredis';
import type { Queryable, TransactionClient } from '../../db/index.js';
import { CacheOptionsError } from '../errors.js';
import { cacheRedisUrl } from '../cache-options.js';
import { streamIdVersion } from '../version.js';
import type { AppliedBatch, LoggedWrite, WriteBehindLog } from './write-behind-log.js';

/** A stream name: letters, digits and `_ : . -`. */
export const STREAM_NAME = /^[A-Za-z0-9_:.-]{1,200}$/;
/** @defaultValue */
export const DEFAULT_WRITE_BEHIND_OFFSETS_TABLE = 'scaleout_write_behind_offsets';

export interface RedisStreamLogOptions {
  /** The Redis stream that is the log. One per kind of write (one flusher applies it). */
  stream: string;
  /** A connection to use; it stays open on `close()`. Give it `appendonly yes` (see docs/caching.md). */
  client?: Redis;
  /** @defaultValue `process.env.REDIS_URL`, else `redis://127.0.0.1:6379` */
  url?: string;
  /**
   * The table, in the flusher's database, that records the newest entry applied per
   * stream (in the transaction that applies it). @defaultValue {@link DEFAULT_WRITE_BEHIND_OFFSETS_TABLE}
   */
  offsetsTable?: string;
}

interface StreamEntry extends LoggedWrite { ms: bigint; seq: bigint }

/**
 * Write-behind log in a Redis stream: an entry is acknowledged once `XADD` returns,
 * that is once it is in Redis's append-only file (in the page cache; on disk within
 * `appendfsync`'s interval). The flusher applies a batch and records its newest id in
 * an offsets table in the same transaction, then `XDEL`s it: an entry read again after
 * a crash between the two is skipped.
 *
 * ```text
 *   XRANGE batch ─► BEGIN; lock offset row; skip ids ≤ offset; apply; offset := last id; COMMIT ─► XDEL batch
 * ```
 */
export class RedisStreamLog implements WriteBehindLog {
  readonly description: string;
  readonly #stream: string;
  readonly #client: Redis;
  readonly #ownsClient: boolean;
  readonly #table: string;
  #schema: Promise<void> | undefined;

  constructor(options: RedisStreamLogOptions) {
    if (typeof options?.stream !== 'string' || !STREAM_NAME.test(options.stream)) {
      throw new CacheOptionsError(`write-behind stream must be 1 to 200 letters, digits or _ : . -, got ${String(options?.stream)}`);
    }
    const table = options.offsetsTable ?? DEFAULT_WRITE_BEHIND_OFFSETS_TABLE;
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(table)) throw new CacheOptionsError(`offsetsTable must be lower-case letters, digits and _, got ${table}`);
    this.#table = `"${table}"`;
    this.#stream = options.stream;
    this.description = `redis stream ${options.stream}`;
    if (options.client !== undefined) {
      this.#client = options.client;
      this.#ownsClient = false;
    } else {
      this.#client = new Redis(cacheRedisUrl(options.url), {
        // A command is sent once: resent after a reconnect an XADD could land twice in the log.
        enableOfflineQueue: false,
        autoResendUnfulfilledCommands: false,
        maxRetriesPerRequest: 0,
        connectTimeout: 1_000,
        lazyConnect: false,
      });
      this.#ownsClient = true;
    }
    this.#client.on('error', () => undefined);
  }

  async append(key: string, text: string): Promise<{ id: string; version: bigint }> {
    const client = await this.#connected();
    const id = await client.xadd(this.#stream, '*', 'k', key, 'v', text);
    if (id === null) throw new Error('XADD returned no id');
    return { id, version: streamIdVersion(id) };
  }

  async pending(): Promise<number> {
    return (await this.#connected()).xlen(this.#stream);
  }

  async applyOldest(db: Pick<Queryable, 'transaction'>, max: number,
    apply: (tx: TransactionClient, entries: readonly LoggedWrite[]) => Promise<void>,
    committed?: (batch: AppliedBatch) => void): Promise<AppliedBatch> {
    await this.#ensureSchema(db);
    await this.#connected();
    const reply = await this.#client.xrange(this.#stream, '-', '+', 'COUNT', max);
    if (reply.length === 0) return { read: 0, applied: 0 };
    const entries = reply.map(([id, fields]) => parseEntry(id, fields));
    const { value: applied } = await db.transaction(async (tx) => {
      await tx.query(`INSERT INTO ${this.#table} (stream) VALUES ($1) ON CONFLICT DO NOTHING`, [this.#stream]);
      const { rows } = await tx.query<{ ms: string; seq: string }>(
        `SELECT last_ms::text AS ms, last_seq::text AS seq FROM ${this.#table} WHERE stream = $1 FOR UPDATE`, [this.#stream]);
      const doneMs = BigInt(rows[0]!.ms);
      const doneSeq = BigInt(rows[0]!.seq);
      const fresh = entries.filter((e) => e.ms > doneMs || (e.ms === doneMs && e.seq > doneSeq));
      if (fresh.length > 0) {
        await apply(tx, fresh);
        const newest = entries[entries.length - 1]!;
        await tx.query(`UPDATE ${this.#table} SET last_ms = $2, last_seq = $3 WHERE stream = $1`,
          [this.#stream, newest.ms.toString(), newest.seq.toString()]);
      }
      return fresh.length;
    });
    committed?.({ read: entries.length, applied });
    // After the commit: a crash before this line only means the entries are read and skipped again.
    await this.#client.xdel(this.#stream, ...entries.map((e) => e.id));
    return { read: entries.length, applied };
  }

  async waitForEntries(ms: number): Promise<void> {
    // Wakes as soon as an entry arrives (applied ones were removed, so any entry is new).
    await (await this.#connected()).xread('COUNT', 1, 'BLOCK', ms, 'STREAMS', this.#stream, '0-0');
  }

  // Without an offline queue a command sent while the first connection is still being
  // made fails at once: wait for that attempt to end, either way (then the command
  // fails fast if it failed).
  async #connected(): Promise<Redis> {
    const client = this.#client;
    if (client.status === 'wait') client.connect().catch(() => undefined);
    if (client.status === 'connecting' || client.status === 'connect') {
      await new Promise((resolve) => { client.once('ready', resolve); client.once('close', resolve); });
    }
    return client;
  }

  async close(): Promise<void> {
    if (this.#ownsClient) await this.#client.quit().catch(() => { this.#client.disconnect(); });
  }

  #ensureSchema(db: Pick<Queryable, 'transaction'>): Promise<void> {
    this.#schema ??= db.transaction(async (tx) => {
      // Concurrent CREATE ... IF NOT EXISTS can still collide in the catalog.
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`scaleout_write_behind:${this.#table}`]);
      await tx.query(`CREATE TABLE IF NOT EXISTS ${this.#table} (
        stream text PRIMARY KEY, last_ms bigint NOT NULL DEFAULT 0, last_seq bigint NOT NULL DEFAULT 0)`);
    }).then(() => undefined, (err: unknown) => {
      this.#schema = undefined;
      throw err;
    });
    return this.#schema;
  }
}

function parseEntry(id: string, fields: string[]): StreamEntry {
  const [ms, seq] = id.split('-');
  let key = '';
  let value: unknown = null;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 'k') key = fields[i + 1]!;
    else if (fields[i] === 'v') value = JSON.parse(fields[i + 1]!);
  }
  return { id, ms: BigInt(ms!), seq: BigInt(seq!), key, value };
}
