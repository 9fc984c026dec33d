import pg from 'pg';
import type { ShardsConfig } from './config.js';
import { databaseNameOf, resolveShardUrls } from './shard-urls.js';
import type { ShardsStatus } from './status.js';

/** A read of the shard directory that takes longer fails. @defaultValue 2000 */
export const SHARD_STATUS_TIMEOUT_MS = 2_000;

export interface ShardStatusReaderOptions {
  config: ShardsConfig;
  /** The primary's URL now (it moves with a failover); undefined: nothing to read. */
  baseUrl: () => string | undefined;
  intervalMs: number;
}

interface DirectoryRow {
  shard: string;
  buckets: number;
  moving: number;
}

/**
 * Reads the app's shard directory every `intervalMs` for `scaleout status`: bucket
 * counts per shard and the directory version. One short connection per read, to
 * whichever node is the primary at that moment, so a failover needs no reconnect
 * logic; status() reads the last result and never waits.
 */
export class ShardStatusReader {
  readonly #config: ShardsConfig;
  readonly #baseUrl: () => string | undefined;
  readonly #intervalMs: number;
  #last: ShardsStatus;
  #timer: NodeJS.Timeout | undefined;
  #reading: Promise<void> | undefined;
  #stopped = false;

  constructor(options: ShardStatusReaderOptions) {
    this.#config = options.config;
    this.#baseUrl = options.baseUrl;
    this.#intervalMs = options.intervalMs;
    const directory = options.config.directory === undefined ? '' : databaseNameOf(options.config.directory);
    this.#last = {
      directory, version: null, buckets: null, readAt: null, error: null,
      shards: options.config.databases.map((ref) => ({ name: databaseNameOf(ref), buckets: null, moving: 0 })),
    };
  }

  start(): void {
    this.#schedule(0);
  }

  snapshot(): ShardsStatus {
    return this.#last;
  }

  /** Reads the directory now (the result is what {@link snapshot} returns next). */
  readNow(): Promise<void> {
    this.#reading ??= this.#read().finally(() => {
      this.#reading = undefined;
    });
    return this.#reading;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      void this.readNow().finally(() => this.#schedule(this.#intervalMs));
    }, delayMs);
    this.#timer.unref();
  }

  async #read(): Promise<void> {
    const base = this.#baseUrl();
    if (base === undefined) return;
    const urls = resolveShardUrls(this.#config, base);
    const configured = [...urls.shards.keys()];
    const client = new pg.Client({
      connectionString: urls.directoryUrl, connectionTimeoutMillis: SHARD_STATUS_TIMEOUT_MS, query_timeout: SHARD_STATUS_TIMEOUT_MS,
      application_name: 'scaleout-status',
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      const exists = await client.query<{ present: boolean }>(
        "SELECT to_regclass('scaleout_shard_directory') IS NOT NULL AND to_regclass('scaleout_shard_meta') IS NOT NULL AS present");
      if (exists.rows[0]?.present !== true) {
        this.#last = { ...this.#last, directory: urls.directoryName, version: null, buckets: null, readAt: new Date().toISOString(), error: null };
        return;
      }
      const meta = await client.query<{ version: string; buckets: number }>('SELECT version::text AS version, buckets FROM scaleout_shard_meta WHERE id = 1');
      const rows = await client.query<DirectoryRow>(
        `SELECT shard, count(*)::int AS buckets, (count(*) FILTER (WHERE state <> 'active'))::int AS moving
           FROM scaleout_shard_directory GROUP BY shard ORDER BY shard`);
      const byName = new Map(rows.rows.map((r) => [r.shard, r]));
      const names = [...configured, ...rows.rows.map((r) => r.shard).filter((n) => !configured.includes(n))];
      this.#last = {
        directory: urls.directoryName,
        version: meta.rows[0]?.version ?? null,
        buckets: meta.rows[0]?.buckets ?? null,
        shards: names.map((name) => ({ name, buckets: byName.get(name)?.buckets ?? 0, moving: byName.get(name)?.moving ?? 0 })),
        readAt: new Date().toISOString(),
        error: null,
      };
    } catch (err) {
      // Keep the last counts: a failover or a restart makes a read fail now and then.
      this.#last = { ...this.#last, directory: urls.directoryName, error: String((err as Error)?.message ?? err).split('\n')[0] ?? 'unknown' };
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async stop(): Promise<void> {
    this.kill();
    await this.#reading?.catch(() => undefined);
  }

  kill(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
  }
}
