import { createHash } from 'node:crypto';
import pg from 'pg';

/** Distinct statement texts a {@link PreparedSql} names; others run unnamed. @defaultValue 64 */
export const MAX_PREPARED_STATEMENTS = 64;

/** PostgreSQL's codes for a prepared statement the server does not have, or has already (a pooler in between). */
const POOLER_CODES = new Set(['26000', '42P05']);
/** A table changed shape under a prepared statement: `cached plan must not change result type`. */
const STALE_PLAN_CODE = '0A000';

export interface PreparedSqlOptions {
  connectionString: string;
  /** Name repeated statements (false: every statement unnamed, as behind PgBouncer in transaction mode). @defaultValue true */
  prepare?: boolean;
  /** Connections of the pool. @defaultValue 10 */
  max?: number;
  /** How its connections show in `pg_stat_activity`. */
  applicationName?: string;
}

/**
 * A pool whose statements run as named prepared statements: PostgreSQL parses and
 * rewrites each text once per connection instead of at every call. It is pg-boss's
 * database interface (`new PgBoss({ db })`) and the PostgreSQL tracker's pool.
 * pg-boss's statements are long (its insert, fetch and completion, and the backend's
 * statements that carry a job's record along), so on a busy queue parsing them is a
 * large share of the database's CPU.
 *
 * Plans stay custom (`plan_cache_mode = force_custom_plan`, set on each new
 * connection before its first statement): pg-boss partitions its job table by queue, and a generic plan would
 * lock every queue's partition at each execution.
 *
 * A text with a `;` (pg-boss's migrations: several commands in one string) cannot be
 * prepared and runs unnamed, as does any text past {@link MAX_PREPARED_STATEMENTS}.
 * A server that does not know a name, or knows it already (a connection pooler in
 * transaction mode hands each statement to another connection), turns naming off for
 * the pool and the statement runs again unnamed: both fail before it executes.
 */
export class PreparedSql {
  readonly pool: pg.Pool;
  #prepare: boolean;
  /** Statement text → its name, `null` for a text that is not named. */
  readonly #names = new Map<string, string | null>();
  #named = 0;
  #generation = 0;

  constructor(options: PreparedSqlOptions) {
    this.#prepare = options.prepare ?? true;
    this.pool = new pg.Pool({
      connectionString: options.connectionString, max: options.max ?? 10,
      ...(options.applicationName === undefined ? {} : { application_name: options.applicationName }),
      // Awaited by the pool before the connection's first query; a server without the setting keeps its default.
      onConnect: (client) => client.query('SET plan_cache_mode = force_custom_plan').then(() => undefined, () => undefined),
    });
    this.pool.on('error', () => { /* a dropped idle connection is replaced on the next query */ });
  }

  /** Whether repeated statements are named (false after a pooler refused a name). */
  get preparing(): boolean {
    return this.#prepare;
  }

  async executeSql(text: string, values: unknown[] = []): Promise<pg.QueryResult> {
    const name = this.#nameOf(text);
    if (name === null) return this.pool.query(text, values);
    try {
      return await this.pool.query({ name, text, values });
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'string' && POOLER_CODES.has(code)) {
        this.#prepare = false;
        return this.pool.query(text, values);
      }
      if (code === STALE_PLAN_CODE && /cached plan/.test((err as Error).message)) {
        // Connections keep the old statement under its name: later calls use a new one.
        this.#names.set(text, `${name.slice(0, name.lastIndexOf('_'))}_${++this.#generation}`);
        return this.pool.query(text, values);
      }
      throw err;
    }
  }

  #nameOf(text: string): string | null {
    if (!this.#prepare) return null;
    const known = this.#names.get(text);
    if (known !== undefined) return known;
    if (text.includes(';') || this.#named >= MAX_PREPARED_STATEMENTS) {
      if (this.#names.size < 4 * MAX_PREPARED_STATEMENTS) this.#names.set(text, null);
      return null;
    }
    const name = `scaleout_${createHash('sha256').update(text).digest('hex').slice(0, 24)}_${this.#generation}`;
    this.#names.set(text, name);
    this.#named += 1;
    return name;
  }

  async close(): Promise<void> {
    if (!this.pool.ended) await this.pool.end();
  }
}
