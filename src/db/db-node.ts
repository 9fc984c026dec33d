import pg from 'pg';
import type { Lsn } from './lsn.js';
import { parseLsn, timelineOfWalFile } from './lsn.js';
import type { DatabaseLogger } from './options.js';
import type { NodeRole } from './topology.js';
import { WalPositionReader } from './wal-position.js';

/** A pooled connection taken out for several statements; `release` once, passing what broke it, if anything. */
export interface Checkout {
  client: pg.PoolClient;
  release(broken?: unknown): void;
}

/** What one check of a node found. */
export interface Observation {
  inRecovery: boolean;
  /** Primary only. */
  currentLsn: Lsn | undefined;
  receiveLsn: Lsn | undefined;
  replayLsn: Lsn | undefined;
  /** The replica's `clock_timestamp() - pg_last_xact_replay_timestamp()`. */
  replayAgeMs: number | undefined;
  replayPaused: boolean | undefined;
  /** `default_transaction_read_only` is on (a fenced node). */
  readOnly: boolean;
  timeline: number | undefined;
  /** Replica only: its WAL receiver is streaming from a primary right now (undefined: cannot tell). */
  receiverStreaming: boolean | undefined;
}

// Columns every check reads. The CASEs keep primary-only and replica-only functions
// from raising on the other kind of node.
const CHECK_COLUMNS = `SELECT pg_is_in_recovery() AS recovery,
  CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END AS current_lsn,
  CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_walfile_name(pg_current_wal_lsn()) END AS walfile,
  pg_last_wal_receive_lsn()::text AS receive_lsn,
  pg_last_wal_replay_lsn()::text AS replay_lsn,
  CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END AS paused,
  (extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000)::float8 AS replay_age_ms,
  current_setting('default_transaction_read_only') AS read_only`;

// One round trip answers everything the router needs.
const FULL_CHECK_SQL = `${CHECK_COLUMNS},
  (SELECT received_tli FROM pg_stat_wal_receiver) AS receiver_tli,
  (SELECT status FROM pg_stat_wal_receiver) AS receiver_status,
  (SELECT timeline_id FROM pg_control_checkpoint()) AS checkpoint_tli`;

// For roles without pg_monitor rights: no timeline for replicas, so the
// timeline guard on replicas is off (documented in docs/replication.md).
const BASIC_CHECK_SQL = `${CHECK_COLUMNS},
  NULL::int AS receiver_tli, NULL::text AS receiver_status, NULL::int AS checkpoint_tli`;

const REPLAY_LSN_QUERY = { name: 'scaleout_replay_lsn', text: 'SELECT pg_last_wal_replay_lsn()::text AS lsn' };

interface CheckRow {
  recovery: boolean;
  current_lsn: string | null;
  walfile: string | null;
  receive_lsn: string | null;
  replay_lsn: string | null;
  paused: boolean | null;
  replay_age_ms: number | null;
  read_only: string;
  receiver_tli: number | null;
  receiver_status: string | null;
  checkpoint_tli: number | null;
}

/**
 * One PostgreSQL server: its query pool, a dedicated connection for checks (so a
 * full pool never looks like a dead node), and what the router knows about it.
 * The monitor writes the state fields; the router reads them on its hot path.
 */
export class DbNode {
  /** `host:port`, the node's identity in topology and events. */
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly config: pg.PoolConfig;
  readonly connections: pg.Pool;
  /** Position in the configuration, for stable output. */
  readonly index: number;

  role: NodeRole = 'unknown';
  fenced = false;
  /** The fence (read-only default) was applied on the node itself. */
  fenceApplied = false;
  healthy = false;
  readable = false;
  consecutiveFailures = 0;
  /** Router-clock time of the first failure in the current run of failures. */
  failingSinceMs: number | undefined;
  lastError: string | undefined;
  checkedAtMs: number | undefined;
  observation: Observation | undefined;
  /** Highest replay position seen, from checks or on-demand polls. */
  replayLsn: Lsn | undefined;
  caughtUpAtMs: number | undefined;
  lagBytes: number | undefined;
  lagMs: number | undefined;
  /** Queries this router has in flight here. */
  outstanding = 0;
  /** Writes this router has in flight here (decides how their tokens are read). */
  writesInFlight = 0;
  /** Shared reads of the WAL position for tokens of concurrent writes. */
  readonly positions: WalPositionReader;

  #check: pg.Client | undefined;
  #checkSql = FULL_CHECK_SQL;
  #poll: Promise<Lsn | undefined> | undefined;
  #logger: DatabaseLogger;

  constructor(config: pg.PoolConfig, index: number, connectionOptions: { max: number; idleTimeoutMillis: number; connectionTimeoutMillis: number }, logger: DatabaseLogger) {
    // A Client resolves URL, config and PG* environment the way pg does; it is never connected.
    const probe = new pg.Client(config);
    this.host = probe.host;
    this.port = probe.port;
    this.name = `${this.host}:${this.port}`;
    this.index = index;
    this.config = config;
    this.#logger = logger;
    this.positions = new WalPositionReader({ ...config, connectionTimeoutMillis: config.connectionTimeoutMillis ?? connectionOptions.connectionTimeoutMillis });
    this.connections = new pg.Pool({
      ...config,
      max: config.max ?? connectionOptions.max,
      idleTimeoutMillis: config.idleTimeoutMillis ?? connectionOptions.idleTimeoutMillis,
      connectionTimeoutMillis: config.connectionTimeoutMillis ?? connectionOptions.connectionTimeoutMillis,
      // Writes send the statement and the WAL-position query in one round trip.
      pipeline: true,
    });
    // An idle connection dying (node killed) must not crash the process.
    this.connections.on('error', (err) => this.#logger.warn({ node: this.name, err: err.message }, 'idle database connection failed'));
  }

  /** Runs one check with a deadline; throws when the node does not answer in time. */
  async check(timeoutMs: number): Promise<Observation> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`check timed out after ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([this.#runCheck(timeoutMs), deadline]);
    } catch (err) {
      this.#dropCheckClient();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  async #runCheck(timeoutMs: number): Promise<Observation> {
    const client = await this.#checkClient(timeoutMs);
    let row: CheckRow | undefined;
    try {
      row = (await client.query<CheckRow>(this.#checkSql)).rows[0];
    } catch (err) {
      if ((err as { code?: string }).code !== '42501' || this.#checkSql === BASIC_CHECK_SQL) throw err;
      this.#checkSql = BASIC_CHECK_SQL;
      row = (await client.query<CheckRow>(this.#checkSql)).rows[0];
    }
    if (!row) throw new Error('check returned no row');
    const timeline = row.recovery
      ? (row.receiver_tli ?? row.checkpoint_tli ?? undefined)
      : timelineOfWalFile(row.walfile);
    return {
      inRecovery: row.recovery,
      currentLsn: parseLsn(row.current_lsn),
      receiveLsn: parseLsn(row.receive_lsn),
      replayLsn: parseLsn(row.replay_lsn),
      replayAgeMs: row.replay_age_ms ?? undefined,
      replayPaused: row.paused ?? undefined,
      readOnly: row.read_only === 'on',
      timeline: timeline === null ? undefined : Number(timeline),
      receiverStreaming: row.receiver_status === null
        ? (this.#checkSql === BASIC_CHECK_SQL ? undefined : false)
        : row.receiver_status === 'streaming',
    };
  }

  async #checkClient(timeoutMs: number): Promise<pg.Client> {
    if (this.#check) return this.#check;
    const client = new pg.Client({ ...this.config, connectionTimeoutMillis: timeoutMs, application_name: 'scaleout-db-check' });
    client.on('error', () => {
      if (this.#check === client) this.#check = undefined;
    });
    this.#check = client;
    try {
      await client.connect();
    } catch (err) {
      if (this.#check === client) this.#check = undefined;
      client.end().catch(() => {});
      throw err;
    }
    return client;
  }

  #dropCheckClient(): void {
    const client = this.#check;
    this.#check = undefined;
    client?.end().catch(() => {});
  }

  /**
   * Asks the node how far it has replayed, sharing one query among concurrent
   * callers. Raises the known replay position; undefined when the node cannot answer.
   */
  pollReplay(): Promise<Lsn | undefined> {
    if (this.#poll) return this.#poll;
    this.#poll = (async () => {
      try {
        const result = await this.connections.query<{ lsn: string | null }>(REPLAY_LSN_QUERY);
        const lsn = parseLsn(result.rows[0]?.lsn);
        this.noteReplay(lsn);
        return lsn;
      } catch {
        return undefined;
      } finally {
        this.#poll = undefined;
      }
    })();
    return this.#poll;
  }

  /** Records a replay position seen anywhere; replay only moves forward on one timeline. */
  noteReplay(lsn: Lsn | undefined): void {
    if (lsn !== undefined && (this.replayLsn === undefined || lsn > this.replayLsn)) this.replayLsn = lsn;
  }

  /** Takes a connection out of the pool for statements that must share it. */
  async checkout(): Promise<Checkout> {
    const client = await this.connections.connect();
    let failed: Error | undefined;
    // pg-pool leaves a checked-out client without an 'error' listener: a server dying
    // between two statements would otherwise crash the process.
    const onError = (err: Error) => { failed = err; };
    client.on('error', onError);
    let released = false;
    return {
      client,
      release: (broken?: unknown) => {
        if (released) return;
        released = true;
        client.removeListener('error', onError);
        const reason = failed ?? (broken === undefined || broken === false ? undefined : broken instanceof Error ? broken : new Error('connection discarded'));
        client.release(reason);
      },
    };
  }

  /** Runs an administrative statement (promotion, fencing, re-pointing) on this node. */
  async admin<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params?: unknown[]): Promise<R[]> {
    return (await this.connections.query<R>(text, params)).rows;
  }

  async close(): Promise<void> {
    this.#dropCheckClient();
    this.positions.close();
    await this.connections.end().catch(() => {});
  }
}
