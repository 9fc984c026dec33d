import pg from 'pg';
import { type Lsn, parseLsn } from './lsn.js';

const POSITION_QUERY = { name: 'scaleout_wal_position', text: 'SELECT pg_current_wal_insert_lsn()::text AS lsn' };

/**
 * Reads the primary's WAL insert position for many writes at once.
 *
 * A write's token needs a position read after its commit was acknowledged. Under
 * load, one position query serves every write acknowledged before it was sent, so
 * the cost is one tiny statement per round trip instead of one per write:
 *
 *   writes acked:  w1 w2 w3 │ w4 w5 ...        (│ = a position query is sent)
 *   query A sent ───────────┘  answers w1..w3
 *   query B sent when A answers, for w4, w5... (at most one query waits queued)
 *
 * It uses its own connection, so it never waits behind the pool.
 */
export class WalPositionReader {
  #config: pg.ClientConfig;
  #client: Promise<pg.Client> | undefined;
  #shared = new ReadAfterCall<Lsn | undefined>(() => this.#read());
  #closed = false;

  constructor(config: pg.ClientConfig) {
    this.#config = config;
  }

  /** A position read by a query sent after this call; undefined when the node cannot answer. */
  after(): Promise<Lsn | undefined> {
    return this.#shared.after();
  }

  async #read(): Promise<Lsn | undefined> {
    try {
      const client = await this.#connect();
      const result = await client.query<{ lsn: string | null }>(POSITION_QUERY);
      return parseLsn(result.rows[0]?.lsn);
    } catch {
      this.#drop();
      return undefined;
    }
  }

  #connect(): Promise<pg.Client> {
    if (this.#closed) return Promise.reject(new Error('closed'));
    this.#client ??= (async () => {
      const client = new pg.Client({ ...this.#config, application_name: 'scaleout-db-position' });
      client.on('error', () => this.#drop());
      await client.connect();
      return client;
    })();
    return this.#client;
  }

  #drop(): void {
    const client = this.#client;
    this.#client = undefined;
    client?.then((c) => c.end()).catch(() => {});
  }

  close(): void {
    this.#closed = true;
    this.#drop();
  }
}

/**
 * Shares one read among concurrent callers, with one guarantee: a caller's answer
 * comes from a read *started after* it called. At most one read runs and one waits.
 * `read` must not reject.
 */
export class ReadAfterCall<T> {
  #read: () => Promise<T>;
  #inFlight: Promise<T> | undefined;
  #queued: Promise<T> | undefined;

  constructor(read: () => Promise<T>) {
    this.#read = read;
  }

  after(): Promise<T> {
    if (this.#queued) return this.#queued;
    if (!this.#inFlight) return this.#start();
    // The running read may have started before this call: wait for the next one.
    const queued = this.#inFlight.then(() => {
      this.#queued = undefined;
      return this.#start();
    });
    this.#queued = queued;
    return queued;
  }

  #start(): Promise<T> {
    const started: Promise<T> = this.#read().finally(() => {
      if (this.#inFlight === started) this.#inFlight = undefined;
    });
    this.#inFlight = started;
    return started;
  }
}
