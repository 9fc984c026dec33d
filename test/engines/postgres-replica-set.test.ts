import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processesUsing } from '../../src/runtime/engines/data-dir.js';
import { dirname } from 'node:path';
import {
  promote, query, startTestPostgresReplicaSet, type PostgresReplicaSet, type PostgresNode,
} from '../support/pg-replica-set.js';
import { waitFor } from '../support/wait-for.js';

function baseDirOf(replicaSet: PostgresReplicaSet): string {
  return dirname(replicaSet.primary.dataDir);
}

async function readsRow(node: PostgresNode, table: string, id: number): Promise<boolean> {
  const rows = await query<{ id: number }>(node, `SELECT id FROM ${table} WHERE id = $1`, [id]);
  return rows.length === 1;
}

describe('startPostgresReplicaSet: primary + 2 asynchronous replicas', () => {
  let replicaSet: PostgresReplicaSet;

  beforeAll(async () => {
    replicaSet = await startTestPostgresReplicaSet({ replicas: 2 });
  });
  afterAll(async () => {
    await replicaSet?.destroy();
  });

  it('streams a row written on the primary to both replicas, which are in recovery', async () => {
    expect(replicaSet.nodes).toHaveLength(3);
    expect(replicaSet.replicas).toHaveLength(2);
    await query(replicaSet.primary, 'CREATE TABLE items (id int PRIMARY KEY, name text)');
    await query(replicaSet.primary, "INSERT INTO items VALUES (1, 'one')");
    for (const replica of replicaSet.replicas) {
      await waitFor(`row on ${replica.name}`, () => readsRow(replica, 'items', 1), { timeoutMs: 30_000, intervalMs: 50 });
      const [row] = await query<{ recovery: boolean }>(replica, 'SELECT pg_is_in_recovery() AS recovery');
      expect(row?.recovery).toBe(true);
    }
    const [primaryRow] = await query<{ recovery: boolean }>(replicaSet.primary, 'SELECT pg_is_in_recovery() AS recovery');
    expect(primaryRow?.recovery).toBe(false);
    const streaming = await query<{ application_name: string; state: string }>(replicaSet.primary,
      'SELECT application_name, state FROM pg_stat_replication ORDER BY application_name');
    expect(streaming).toEqual(replicaSet.replicas.map((r) => ({ application_name: r.name, state: 'streaming' })));
  });

  it('fails over: kill the primary, promote a replica, the other follows it, the old primary is rebuilt', async () => {
    const [oldPrimary, next, other] = [replicaSet.primary, replicaSet.replicas[0], replicaSet.replicas[1]];
    if (next === undefined || other === undefined) throw new Error('expected two replicas');
    await query(replicaSet.primary, 'CREATE TABLE failover (id int PRIMARY KEY)');
    await query(replicaSet.primary, 'INSERT INTO failover VALUES (1)');
    await waitFor(`row 1 on ${next.name}`, () => readsRow(next, 'failover', 1), { timeoutMs: 30_000, intervalMs: 50 });
    await waitFor(`row 1 on ${other.name}`, () => readsRow(other, 'failover', 1), { timeoutMs: 30_000, intervalMs: 50 });

    oldPrimary.kill();
    await replicaSet.promote(next);
    expect(replicaSet.primary).toBe(next);
    await replicaSet.follow(other, next);
    await query(next, 'INSERT INTO failover VALUES (2)');
    await waitFor('row 2 on the follower', () => readsRow(other, 'failover', 2), { timeoutMs: 30_000, intervalMs: 50 });

    // Restarted after the failover, the old primary comes back writable (split brain:
    // fencing it is the router's job) and cannot simply follow the new one.
    await oldPrimary.start();
    const [restarted] = await query<{ recovery: boolean }>(oldPrimary, 'SELECT pg_is_in_recovery() AS recovery');
    expect(restarted?.recovery).toBe(false);
    await expect(replicaSet.follow(oldPrimary, next)).rejects.toMatchObject({ code: 'SCALEOUT_RUNTIME_POSTGRES_REPLICATION' });

    await replicaSet.rebuildAsReplica(oldPrimary, next);
    expect(oldPrimary.isRunning()).toBe(true);
    await query(next, 'INSERT INTO failover VALUES (3)');
    await waitFor('row 3 on the rebuilt node', () => readsRow(oldPrimary, 'failover', 3), { timeoutMs: 30_000, intervalMs: 50 });
    const [row] = await query<{ recovery: boolean }>(oldPrimary, 'SELECT pg_is_in_recovery() AS recovery');
    expect(row?.recovery).toBe(true);
    const names = (await query<{ application_name: string }>(next,
      "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming' ORDER BY 1")).map((r) => r.application_name);
    expect(names).toEqual([oldPrimary.name, other.name].sort());
  });

  it('stop() leaves no process of the replica set and is idempotent', async () => {
    const pids = replicaSet.nodes.map((n) => n.pid);
    expect(pids.every((p) => typeof p === 'number')).toBe(true);
    await replicaSet.stop();
    await replicaSet.stop();
    for (const node of replicaSet.nodes) {
      expect(node.isRunning()).toBe(false);
      expect(node.pid).toBeUndefined();
      expect(await processesUsing(node.dataDir)).toEqual([]);
    }
    for (const pid of pids) expect(() => process.kill(pid as number, 0)).toThrow();
  });

  it('starts again over the same data, with the promoted node as the primary', async () => {
    const before = replicaSet;
    const primaryName = before.primary.name;
    replicaSet = await startTestPostgresReplicaSet({ baseDir: baseDirOf(before), replicas: 2 });
    expect(replicaSet.primary.name).toBe(primaryName);
    expect(replicaSet.nodes.map((n) => n.name)).toEqual(before.nodes.map((n) => n.name));
    const rows = await query<{ n: number }>(replicaSet.primary, 'SELECT count(*)::int AS n FROM failover');
    expect(rows[0]?.n).toBe(3);
    for (const replica of replicaSet.replicas) await waitFor(`row 3 on ${replica.name}`, () => readsRow(replica, 'failover', 3), { timeoutMs: 30_000, intervalMs: 50 });
  });

  it('starts again after a failover made with plain SQL, rebuilding the fenced old primary', async () => {
    const [oldPrimary, next] = [replicaSet.primary, replicaSet.replicas[0]];
    if (next === undefined) throw new Error('expected a replica');
    oldPrimary.kill();
    await promote(next);
    expect(await replicaSet.refreshRoles()).toBe(next);
    await query(next, 'INSERT INTO failover VALUES (4)');
    await replicaSet.stop();

    replicaSet = await startTestPostgresReplicaSet({ baseDir: baseDirOf(replicaSet), replicas: 2 });
    expect(replicaSet.primary.name).toBe(next.name);
    for (const replica of replicaSet.replicas) {
      await waitFor(`row 4 on ${replica.name}`, () => readsRow(replica, 'failover', 4), { timeoutMs: 30_000, intervalMs: 50 });
      const [row] = await query<{ recovery: boolean }>(replica, 'SELECT pg_is_in_recovery() AS recovery');
      expect(row?.recovery).toBe(true);
    }
  });
});

describe('startPostgresReplicaSet: synchronous', () => {
  let replicaSet: PostgresReplicaSet;

  beforeAll(async () => {
    replicaSet = await startTestPostgresReplicaSet({ replicas: 1, synchronous: true });
  });
  afterAll(async () => {
    await replicaSet?.destroy();
  });

  it('names the nodes in synchronous_standby_names and commits with a replica up', async () => {
    const [setting] = await query<{ synchronous_standby_names: string }>(replicaSet.primary, 'SHOW synchronous_standby_names');
    expect(setting?.synchronous_standby_names).toBe(`ANY 1 (${replicaSet.nodes.map((n) => n.name).join(', ')})`);
    await query(replicaSet.primary, 'CREATE TABLE sync_items (id int PRIMARY KEY)');
    await query(replicaSet.primary, 'INSERT INTO sync_items VALUES (1)');
    const [state] = await query<{ sync_state: string }>(replicaSet.primary, 'SELECT sync_state FROM pg_stat_replication');
    expect(state?.sync_state).toBe('quorum');
  });

  it('adds a replica online, which streams and is named in synchronous_standby_names', async () => {
    const added = await replicaSet.addReplica();
    expect(replicaSet.replicas).toContain(added);
    await waitFor('row on the added replica', () => readsRow(added, 'sync_items', 1), { timeoutMs: 30_000, intervalMs: 50 });
    const [setting] = await query<{ synchronous_standby_names: string }>(replicaSet.primary, 'SHOW synchronous_standby_names');
    expect(setting?.synchronous_standby_names).toContain(added.name);
  });
});
