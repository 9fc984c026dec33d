import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDatabase, type Database, type FailoverEvent } from '../../src/db/index.js';
import { query, startTestPostgresReplicaSet, type PostgresReplicaSet, type PostgresNode } from '../support/pg-replica-set.js';
import { waitFor } from '../support/wait-for.js';
import { nameOf, SteadyWriter } from './failover-support.js';

// Synchronous replication (ANY 1 of the replicas): every acknowledged commit is on a
// replica's disk, and the router promotes the replica that received the most WAL.
let replicaSet: PostgresReplicaSet;
let db: Database;
const events: FailoverEvent[] = [];

beforeAll(async () => {
  replicaSet = await startTestPostgresReplicaSet({ replicas: 2, synchronous: true });
  db = createDatabase({
    primary: replicaSet.primary.url(),
    replicas: replicaSet.replicas.map((r) => r.url()),
    checkIntervalMs: 200,
    failover: { enabled: true, failAfterChecks: 3, synchronous: true },
  });
  db.on('failover', (event) => events.push(event));
  await db.ready();
  await db.query('CREATE TABLE acks (id int PRIMARY KEY)');
});

afterAll(async () => {
  await db?.close();
  await replicaSet?.destroy();
});

it('loses no acknowledged write when the primary is killed under steady writes', async () => {
  const oldPrimary = replicaSet.primary;
  const writer = new SteadyWriter(db, 'acks');
  await waitFor('100 writes before the kill', async () => writer.acknowledged.length >= 100 || undefined, { timeoutMs: 30_000, intervalMs: 50 });
  oldPrimary.kill();
  const event = await waitFor('the failover event', async () => events[0], { timeoutMs: 10_000 });
  const ackedAtFailover = writer.acknowledged.length;
  await waitFor('50 writes after the failover', async () => writer.acknowledged.length >= ackedAtFailover + 50 || undefined, { timeoutMs: 15_000, intervalMs: 50 });
  await writer.stop();

  expect(event).toMatchObject({ from: nameOf(oldPrimary), timeline: 2, promotedByThisRouter: true });
  const newPrimary = replicaSet.nodes.find((n) => nameOf(n) === event.to) as PostgresNode;
  const other = replicaSet.nodes.find((n) => n !== oldPrimary && n !== newPrimary) as PostgresNode;
  writer.errorCodes();

  const present = new Set((await query<{ id: number }>(newPrimary, 'SELECT id FROM acks')).map((r) => r.id));
  expect(writer.acknowledged.filter((id) => !present.has(id))).toEqual([]);

  // The new primary waits for the remaining replica on every commit.
  const [setting] = await query<{ names: string }>(newPrimary, "SELECT current_setting('synchronous_standby_names') AS names");
  expect(setting?.names).toBe(`ANY 1 ("${other.name}")`);
  await waitFor('the remaining replica to replicate synchronously', async () => {
    const rows = await query<{ state: string }>(newPrimary, "SELECT sync_state AS state FROM pg_stat_replication WHERE application_name = $1", [other.name]);
    return rows[0]?.state === 'quorum' || undefined;
  }, { timeoutMs: 20_000, intervalMs: 50 });

  // The old primary, rebuilt as a replica, counts for the quorum too.
  await oldPrimary.start();
  await replicaSet.rebuildAsReplica(oldPrimary, newPrimary);
  await waitFor('the rebuilt node in synchronous_standby_names', async () => {
    const [row] = await query<{ names: string }>(newPrimary, "SELECT current_setting('synchronous_standby_names') AS names");
    return row?.names === `ANY 1 ("${[oldPrimary.name, other.name].sort().join('", "')}")` || undefined;
  }, { timeoutMs: 20_000, intervalMs: 50 });
  const { rows } = await db.query<{ id: number }>('INSERT INTO acks (id) VALUES (-1) RETURNING id');
  expect(rows).toEqual([{ id: -1 }]);
});
