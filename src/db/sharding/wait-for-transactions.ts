import { setTimeout as delay } from 'node:timers/promises';
import type { Clock } from '../../internal/clock.js';
import type { Queryable } from './backend.js';
import { ReshardTimeoutError } from './errors.js';

/**
 * Waits until every transaction that was open in the shard's database when this was
 * called has ended. After a fence (or a capture flag) commits, a transaction that
 * started earlier may still write without having seen it: under READ COMMITTED
 * because its statement checked just before the commit, under REPEATABLE READ because
 * its snapshot predates it. Waiting out every virtual transaction id present now
 * (read-only ones too, since they may write later) closes both gaps, the way
 * CREATE INDEX CONCURRENTLY waits for old snapshots.
 *
 * `excludeApplicationName` names the reshard's own lock session, which may live in
 * the same database when the directory shares it with a shard, and never writes there.
 */
export async function waitForOpenTransactions(db: Queryable, shard: string, clock: Clock,
  timeoutMs: number, excludeApplicationName = ''): Promise<void> {
  const open = await db.query(
    `SELECT l.virtualxid, l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'virtualxid' AND l.mode = 'ExclusiveLock' AND l.granted
        AND a.datname = current_database() AND a.backend_type = 'client backend'
        AND l.pid <> pg_backend_pid() AND a.application_name IS DISTINCT FROM $1`, [excludeApplicationName]);
  let vxids = open.rows.map((r) => String(r.virtualxid));
  const startedMs = clock.now();
  let pauseMs = 2;
  while (vxids.length > 0) {
    const still = await db.query(
      `SELECT virtualxid, pid FROM pg_locks WHERE locktype = 'virtualxid' AND granted AND virtualxid = ANY($1::text[])`,
      [vxids]);
    if (still.rows.length === 0) return;
    const waitedMs = clock.now() - startedMs;
    if (waitedMs >= timeoutMs) throw new ReshardTimeoutError(shard, waitedMs, still.rows.map((r) => Number(r.pid)));
    vxids = still.rows.map((r) => String(r.virtualxid));
    await delay(pauseMs);
    pauseMs = Math.min(pauseMs * 2, 50);
  }
}
