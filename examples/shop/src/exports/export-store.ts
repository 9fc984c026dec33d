import { Redis } from 'ioredis';
import pg from 'pg';
import type { SqlExecutor } from 'scaleout/jobs';

/** How long a finished CSV stays downloadable. @defaultValue 86400 */
export const EXPORT_TTL_SECONDS = 24 * 60 * 60;

/**
 * Where an export's owner and finished CSV live, readable by every instance: Redis
 * under the redis profile, the catalogue database under the postgres profile.
 */
export interface ExportStore {
  /** Records who started export `id`; with `db`, inside that transaction (the job's). */
  setOwner(id: string, userId: string, db?: SqlExecutor): Promise<void>;
  owner(id: string): Promise<string | null>;
  setCsv(id: string, csv: string): Promise<void>;
  csv(id: string): Promise<string | null>;
  close(): Promise<void>;
}

export class RedisExportStore implements ExportStore {
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(url: string, prefix: string) {
    this.#prefix = prefix;
    this.#redis = new Redis(url, { maxRetriesPerRequest: 2 });
    this.#redis.on('error', () => undefined);
  }

  async setOwner(id: string, userId: string): Promise<void> {
    await this.#redis.set(this.#key('owner', id), userId, 'EX', EXPORT_TTL_SECONDS);
  }

  owner(id: string): Promise<string | null> {
    return this.#redis.get(this.#key('owner', id));
  }

  async setCsv(id: string, csv: string): Promise<void> {
    await this.#redis.set(this.#key('csv', id), csv, 'EX', EXPORT_TTL_SECONDS);
  }

  csv(id: string): Promise<string | null> {
    return this.#redis.get(this.#key('csv', id));
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
  }

  #key(kind: 'owner' | 'csv', id: string): string {
    return `${this.#prefix}:export:${kind}:${id}`;
  }
}

/** The `order_exports` table of the catalogue database (migration 003-order-exports). */
export class PostgresExportStore implements ExportStore {
  readonly #pool: pg.Pool;

  constructor(databaseUrl: string) {
    this.#pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
    this.#pool.on('error', () => undefined);
  }

  async setOwner(id: string, userId: string, db?: SqlExecutor): Promise<void> {
    const run = db ?? this.#pool;
    // Expired rows go as new ones come: the table stays as small as a day of exports.
    await run.query('DELETE FROM order_exports WHERE expires_at < now()');
    await run.query(`INSERT INTO order_exports (id, owner, expires_at) VALUES ($1, $2, now() + $3 * interval '1 second')
      ON CONFLICT (id) DO NOTHING`, [id, userId, EXPORT_TTL_SECONDS]);
  }

  async owner(id: string): Promise<string | null> {
    const { rows } = await this.#pool.query<{ owner: string }>('SELECT owner FROM order_exports WHERE id = $1 AND expires_at > now()', [id]);
    return rows[0]?.owner ?? null;
  }

  async setCsv(id: string, csv: string): Promise<void> {
    await this.#pool.query(`UPDATE order_exports SET csv = $2, expires_at = now() + $3 * interval '1 second' WHERE id = $1`, [id, csv, EXPORT_TTL_SECONDS]);
  }

  async csv(id: string): Promise<string | null> {
    const { rows } = await this.#pool.query<{ csv: string | null }>('SELECT csv FROM order_exports WHERE id = $1 AND expires_at > now()', [id]);
    return rows[0]?.csv ?? null;
  }

  /** Runs `fn` in a transaction of the catalogue database. */
  async transaction<T>(fn: (db: SqlExecutor) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
