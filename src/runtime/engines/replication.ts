import { setTimeout as delay } from 'node:timers/promises';
import { PostgresPromoteError, PostgresReplicationError } from './errors.js';
import { queryRows, withClient, type ServerAddress } from './pg-client.js';
import type { PostgresServer } from './postgres-node.js';

// Defined with the replica set's other defaults; still exported from here.
export { DEFAULT_REPLICATION_TIMEOUT_MS } from './postgres-replica-set-options.js';
/** How long `pg_promote` waits for the promotion to finish. @defaultValue `60` */
export const DEFAULT_PROMOTE_WAIT_SECONDS = 60;

const POLL_MS = 50;
// What a replica logs when it holds WAL the primary never had: it will never
// stream from it, so waiting longer is pointless.
const DIVERGED = /is not in this server's history|forked off current database system timeline|is ahead of the WAL flush position/;

function lastLines(text: string, count: number): string {
  return text.split('\n').slice(-count).join('\n');
}

/** Whether the server is a replica (in recovery). */
export async function isInRecovery(node: ServerAddress): Promise<boolean> {
  const rows = await queryRows<{ recovery: boolean }>(node, 'SELECT pg_is_in_recovery() AS recovery');
  return rows[0]?.recovery === true;
}

/** The primary's current WAL write position. */
export async function currentWalLsn(primary: ServerAddress): Promise<string> {
  const rows = await queryRows<{ lsn: string }>(primary, 'SELECT pg_current_wal_lsn()::text AS lsn');
  const lsn = rows[0]?.lsn;
  if (lsn === undefined) throw new Error('pg_current_wal_lsn() returned no row');
  return lsn;
}

/**
 * Waits until `primary`'s pg_stat_replication shows `replica` streaming and, when
 * `lsn` is given, until the replica has replayed up to it (so what the primary
 * committed before is visible there). Fails at once when the replica's log (since
 * `logMark`) shows its timeline diverged from the primary's.
 */
export async function waitForStreaming(
  primary: PostgresServer,
  replica: PostgresServer,
  options: { lsn?: string; timeoutMs: number; logMark?: number },
): Promise<void> {
  const { timeoutMs } = options;
  const deadline = performance.now() + timeoutMs;
  let streaming = false;
  let lastError: unknown;
  const mark = options.logMark ?? replica.logMark();
  for (;;) {
    const diverged = replica.logSince(mark).find((line) => DIVERGED.test(line));
    if (diverged !== undefined && !streaming) {
      throw new PostgresReplicationError(replica.name, primary.name, `its timeline diverged: ${diverged}`);
    }
    if (!replica.isRunning()) {
      throw new PostgresReplicationError(replica.name, primary.name,
        `the replica stopped; its log ends with:\n${lastLines(replica.logTail(), 15)}`);
    }
    try {
      if (!streaming) {
        const rows = await queryRows<{ state: string }>(primary,
          'SELECT state FROM pg_stat_replication WHERE application_name = $1', [replica.name]);
        streaming = rows.some((r) => r.state === 'streaming');
      }
      if (streaming) {
        if (options.lsn === undefined) return;
        const rows = await queryRows<{ caught_up: boolean | null }>(replica,
          'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS caught_up', [options.lsn]);
        if (rows[0]?.caught_up === true) return;
      }
    } catch (err) {
      lastError = err;
    }
    if (performance.now() > deadline) {
      throw new PostgresReplicationError(replica.name, primary.name,
        `${streaming ? `not replayed to ${options.lsn ?? ''}` : 'not streaming'} after ${timeoutMs} ms; the replica's log ends with:\n${lastLines(replica.logTail(), 15)}`,
        { cause: lastError });
    }
    await delay(POLL_MS);
  }
}

/**
 * Promotes a replica to primary with `pg_promote(true, waitSeconds)`: it stops
 * replaying, switches to a new timeline and accepts writes once this resolves.
 *
 * Only the SQL call: fencing the old primary and re-pointing the other replicas
 * are separate steps (see `PostgresReplicaSet.follow` and `rebuildAsReplica`).
 */
export async function promote(node: ServerAddress & { readonly name: string },
  waitSeconds = DEFAULT_PROMOTE_WAIT_SECONDS): Promise<void> {
  let promoted: boolean | undefined;
  try {
    promoted = await withClient(node, async (client) => {
      const { rows } = await client.query<{ promoted: boolean }>('SELECT pg_promote(true, $1) AS promoted', [waitSeconds]);
      return rows[0]?.promoted;
    });
  } catch (err) {
    throw new PostgresPromoteError(node.name, err instanceof Error ? err.message : String(err), { cause: err });
  }
  if (promoted !== true) throw new PostgresPromoteError(node.name, `promotion did not finish within ${waitSeconds} s`);
}
