import pg from 'pg';
import { type Conninfo, formatConninfo, parseConninfo } from './conninfo.js';
import type { DbNode, Observation } from './db-node.js';
import { formatLsn } from './lsn.js';
import type { DatabaseLogger, ResolvedOptions } from './options.js';

/** How a failover attempt ended. */
export type FailoverOutcome =
  | { kind: 'promoted'; node: DbNode; byThisRouter: boolean }
  | { kind: 'aborted'; reason: string };

/** What the failover needs from the monitor. */
export interface FailoverContext {
  nodes: readonly DbNode[];
  oldPrimary: DbNode;
  oldTimeline: number | undefined;
  options: ResolvedOptions;
  logger: DatabaseLogger;
}

interface Follower {
  node: DbNode;
  conninfo: Conninfo;
  slot: string;
  applicationName: string;
}

/**
 * Promotes the most advanced replica and points the others at it.
 *
 * Several routers (one per app instance) may run this at the same moment. They agree
 * without talking to each other because every step is deterministic or idempotent:
 * - the candidate is the replica with the highest received WAL position, ties broken
 *   by name; once the primary is dead no new WAL exists, so every router that reaches
 *   the same replicas picks the same one;
 * - a node that is already out of recovery on a newer timeline means someone else
 *   promoted: this router adopts it instead of promoting another;
 * - `pg_promote` on a node that was just promoted fails with "recovery is not in
 *   progress", which counts as success;
 * - re-pointing a replica writes the same `primary_conninfo` whoever does it.
 * The race that remains: routers that reach different sets of replicas (a network
 * partition between app instances and replicas) can pick different candidates. The
 * guard below (the candidate's own WAL receiver must have lost the primary too) makes
 * that need a partition that cuts the primary off from the candidate as well.
 */
export async function runFailover(ctx: FailoverContext): Promise<FailoverOutcome> {
  const { options, logger, oldPrimary } = ctx;
  const others = ctx.nodes.filter((n) => n !== oldPrimary && !n.fenced);
  const checks = await Promise.allSettled([oldPrimary, ...others].map((n) => n.check(options.checkTimeoutMs)));
  if (checks[0]?.status === 'fulfilled' && !checks[0].value.inRecovery) {
    return { kind: 'aborted', reason: 'the primary answered again' };
  }
  const seen: { node: DbNode; obs: Observation }[] = [];
  others.forEach((node, i) => {
    const check = checks[i + 1];
    if (check?.status === 'fulfilled') seen.push({ node, obs: check.value });
  });

  const oldTimeline = ctx.oldTimeline ?? 0;
  const adopted = seen.find((s) => !s.obs.inRecovery && (s.obs.timeline ?? 0) > oldTimeline);
  if (adopted) return { kind: 'promoted', node: adopted.node, byThisRouter: false };

  const replicas = seen
    .filter((s) => s.obs.inRecovery && (s.obs.timeline === undefined || s.obs.timeline >= oldTimeline))
    .sort((a, b) => {
      const pa = a.obs.receiveLsn ?? a.obs.replayLsn ?? 0n;
      const pb = b.obs.receiveLsn ?? b.obs.replayLsn ?? 0n;
      if (pa !== pb) return pa > pb ? -1 : 1;
      return a.node.name < b.node.name ? -1 : a.node.name > b.node.name ? 1 : 0;
    });
  const candidate = replicas[0];
  if (!candidate) return { kind: 'aborted', reason: 'no replica is reachable' };
  if (candidate.obs.receiverStreaming === true) {
    return { kind: 'aborted', reason: `${candidate.node.name} still streams from the primary, so the primary is not down for it` };
  }

  const followers = await Promise.all(replicas.slice(1).map((r) => describeFollower(r.node)));
  logger.warn({
    from: oldPrimary.name, to: candidate.node.name,
    receiveLsn: candidate.obs.receiveLsn === undefined ? null : formatLsn(candidate.obs.receiveLsn),
  }, 'promoting replica');

  // A node that was fenced once carries read-only defaults in its auto.conf.
  await tryAdmin(candidate.node, 'ALTER SYSTEM RESET default_transaction_read_only', logger);
  if (options.failover.synchronous) {
    // Set before promotion, so that not one commit on the new primary is acknowledged
    // without a standby having it.
    const names = followers.map((f) => `"${f.applicationName.replace(/"/g, '')}"`);
    if (names.length > 0) {
      await tryAdmin(candidate.node, `ALTER SYSTEM SET synchronous_standby_names = ${pg.escapeLiteral(`ANY 1 (${names.join(', ')})`)}`, logger);
    } else {
      logger.warn({ node: candidate.node.name }, 'no replica left to replicate to synchronously; the new primary runs asynchronously');
      await tryAdmin(candidate.node, 'ALTER SYSTEM RESET synchronous_standby_names', logger);
    }
  }
  await tryAdmin(candidate.node, 'SELECT pg_reload_conf()', logger);

  try {
    const rows = await candidate.node.admin<{ promoted: boolean }>('SELECT pg_promote(true, $1) AS promoted', [options.failover.promoteTimeoutS]);
    if (rows[0]?.promoted === false) {
      return { kind: 'aborted', reason: `${candidate.node.name} did not finish promotion within ${options.failover.promoteTimeoutS} s` };
    }
  } catch (err) {
    // Another router promoted it first.
    if (!/recovery is not in progress/i.test((err as Error).message)) {
      return { kind: 'aborted', reason: `pg_promote failed on ${candidate.node.name}: ${(err as Error).message}` };
    }
  }

  await Promise.all(followers.map((f) => repoint(f, candidate.node, logger)));
  return { kind: 'promoted', node: candidate.node, byThisRouter: true };
}

async function describeFollower(node: DbNode): Promise<Follower> {
  let conninfo: Conninfo = new Map();
  let slot = '';
  try {
    const rows = await node.admin<{ conninfo: string; slot: string }>(
      "SELECT current_setting('primary_conninfo') AS conninfo, current_setting('primary_slot_name') AS slot");
    conninfo = parseConninfo(rows[0]?.conninfo ?? '');
    slot = rows[0]?.slot ?? '';
  } catch {
    // Without the right to read primary_conninfo, a fresh one is built from the router's own settings.
  }
  if (!conninfo.has('user') && node.config.user) conninfo.set('user', node.config.user);
  if (!conninfo.has('user')) {
    const user = new pg.Client(node.config).user;
    if (user) conninfo.set('user', user);
  }
  const applicationName = conninfo.get('application_name') || `scaleout_${node.name.replace(/[^A-Za-z0-9]/g, '_')}`;
  conninfo.set('application_name', applicationName);
  return { node, conninfo, slot, applicationName };
}

async function repoint(follower: Follower, primary: DbNode, logger: DatabaseLogger): Promise<void> {
  const info = new Map(follower.conninfo);
  info.delete('hostaddr');
  info.set('host', primary.host);
  info.set('port', String(primary.port));
  if (follower.slot) {
    await tryAdmin(primary,
      'SELECT pg_create_physical_replication_slot($1, true) WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)',
      logger, [follower.slot]);
  }
  await tryAdmin(follower.node, `ALTER SYSTEM SET primary_conninfo = ${pg.escapeLiteral(formatConninfo(info))}`, logger);
  // primary_conninfo is reloadable since PostgreSQL 13: the WAL receiver restarts
  // against the new primary and follows its timeline (recovery_target_timeline = latest).
  await tryAdmin(follower.node, 'SELECT pg_reload_conf()', logger);
}

async function tryAdmin(node: DbNode, sql: string, logger: DatabaseLogger, params?: unknown[]): Promise<boolean> {
  try {
    await node.admin(sql, params);
    return true;
  } catch (err) {
    logger.warn({ node: node.name, sql: sql.slice(0, 80), err: (err as Error).message }, 'failover step failed');
    return false;
  }
}

/**
 * Makes an old primary refuse writes by default, belt and braces on top of the
 * router never sending it any: other clients that still connect to it get read-only
 * transactions. (A session can still `SET transaction_read_only = off`; only
 * rebuilding the node as a replica fences it for good.)
 */
export async function fenceNode(node: DbNode, logger: DatabaseLogger): Promise<boolean> {
  const set = await tryAdmin(node, 'ALTER SYSTEM SET default_transaction_read_only = on', logger);
  return set && await tryAdmin(node, 'SELECT pg_reload_conf()', logger);
}

/** Undoes `fenceNode` on a node that came back as a replica (it may be promoted one day). */
export async function unfenceNode(node: DbNode, logger: DatabaseLogger): Promise<boolean> {
  const reset = await tryAdmin(node, 'ALTER SYSTEM RESET default_transaction_read_only', logger);
  return reset && await tryAdmin(node, 'SELECT pg_reload_conf()', logger);
}

/**
 * With synchronous failover, a replica that joins later (an old primary rebuilt as a
 * replica) must count for `ANY 1 (...)` too, or losing the one replica named at
 * failover time would block every commit. Names come from what actually streams.
 */
export async function includeStreamingReplicas(primary: DbNode, logger: DatabaseLogger): Promise<boolean> {
  let names: string[];
  try {
    const rows = await primary.admin<{ name: string }>(
      "SELECT DISTINCT application_name AS name FROM pg_stat_replication WHERE state = 'streaming' AND application_name <> '' ORDER BY 1");
    names = rows.map((r) => r.name.replace(/"/g, ''));
  } catch (err) {
    logger.warn({ node: primary.name, err: (err as Error).message }, 'cannot list streaming replicas');
    return false;
  }
  if (names.length === 0) return false;
  const list = `ANY 1 (${names.map((n) => `"${n}"`).join(', ')})`;
  const set = await tryAdmin(primary, `ALTER SYSTEM SET synchronous_standby_names = ${pg.escapeLiteral(list)}`, logger);
  return set && await tryAdmin(primary, 'SELECT pg_reload_conf()', logger);
}
