import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processesUsing } from '../../src/runtime/engines/data-dir.js';
import { dirname } from 'node:path';
import {
  promote, query, startTestPostgresCluster, type PostgresCluster, type PostgresNode,
} from '../support/pg-cluster.js';
import { waitFor } from '../support/wait-for.js';

function baseDirOf(cluster: PostgresCluster): string {
  return dirname(cluster.primary.dataDir);
}

async function readsRow(node: PostgresNode, table: string, id: number): Promise<boolean> {
  const rows = await query<{ id: number }>(node, `SELECT id FROM ${table} WHERE id = $1`, [id]);
  return rows.length === 1;
}

describe('startPostgresCluster: primary + 2 asynchronous replicas', () => {
  let cluster: PostgresCluster;

  beforeAll(async () => {
    cluster = await startTestPostgresCluster({ replicas: 2 });
  });
  afterAll(async () => {
    await cluster?.destroy();
  });

  it('streams a row written on the primary to both replicas, which are in recovery', async () => {
    expect(cluster.nodes).toHaveLength(3);
    expect(cluster.replicas).toHaveLength(2);
    await query(cluster.primary, 'CREATE TABLE items (id int PRIMARY KEY, name text)');
    await query(cluster.primary, "INSERT INTO items VALUES (1, 'one')");
    for (const replica of cluster.replicas) {
      await waitFor(`row on ${replica.name}`, () => readsRow(replica, 'items', 1), { timeoutMs: 30_000, intervalMs: 50 });
      const [row] = await query<{ recovery: boolean }>(replica, 'SELECT pg_is_in_recovery() AS recovery');
      expect(row?.recovery).toBe(true);
    }
    const [primaryRow] = await query<{ recovery: boolean }>(cluster.primary, 'SELECT pg_is_in_recovery() AS recovery');
    expect(primaryRow?.recovery).toBe(false);
    const streaming = await query<{ application_name: string; state: string }>(cluster.primary,
      'SELECT application_name, state FROM pg_stat_replication ORDER BY application_name');
    expect(streaming).toEqual(cluster.replicas.map((r) => ({ application_name: r.name, state: 'streaming' })));
  });

  it('fails over: kill the primary, promote a replica, the other follows it, the old primary is rebuilt', async () => {
    const [oldPrimary, next, other] = [cluster.primary, cluster.replicas[0], cluster.replicas[1]];
    if (next === undefined || other === undefined) throw new Error('expected two replicas');
    await query(cluster.primary, 'CREATE TABLE failover (id int PRIMARY KEY)');
    await query(cluster.primary, 'INSERT INTO failover VALUES (1)');
    await waitFor(`row 1 on ${next.name}`, () => readsRow(next, 'failover', 1), { timeoutMs: 30_000, intervalMs: 50 });
    await waitFor(`row 1 on ${other.name}`, () => readsRow(other, 'failover', 1), { timeoutMs: 30_000, intervalMs: 50 });

    oldPrimary.kill();
    await cluster.promote(next);
    expect(cluster.primary).toBe(next);
    await cluster.follow(other, next);
    await query(next, 'INSERT INTO failover VALUES (2)');
    await waitFor('row 2 on the follower', () => readsRow(other, 'failover', 2), { timeoutMs: 30_000, intervalMs: 50 });

    // Restarted after the failover, the old primary comes back writable (split brain:
    // fencing it is the router's job) and cannot simply follow the new one.
    await oldPrimary.start();
    const [restarted] = await query<{ recovery: boolean }>(oldPrimary, 'SELECT pg_is_in_recovery() AS recovery');
    expect(restarted?.recovery).toBe(false);
    await expect(cluster.follow(oldPrimary, next)).rejects.toMatchObject({ code: 'SCALEOUT_RUNTIME_POSTGRES_REPLICATION' });

    await cluster.rebuildAsReplica(oldPrimary, next);
    expect(oldPrimary.isRunning()).toBe(true);
    await query(next, 'INSERT INTO failover VALUES (3)');
    await waitFor('row 3 on the rebuilt node', () => readsRow(oldPrimary, 'failover', 3), { timeoutMs: 30_000, intervalMs: 50 });
    const [row] = await query<{ recovery: boolean }>(oldPrimary, 'SELECT pg_is_in_recovery() AS recovery');
    expect(row?.recovery).toBe(true);
    const names = (await query<{ application_name: string }>(next,
      "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming' ORDER BY 1")).map((r) => r.application_name);
    expect(names).toEqual([oldPrimary.name, other.name].sort());
  });

  it('stop() leaves no process of the cluster and is idempotent', async () => {
    const pids = cluster.nodes.map((n) => n.pid);
    expect(pids.every((p) => typeof p === 'number')).toBe(true);
    await cluster.stop();
    await cluster.stop();
    for (const node of cluster.nodes) {
      expect(node.isRunning()).toBe(false);
      expect(node.pid).toBeUndefined();
      expect(await processesUsing(node.dataDir)).toEqual([]);
    }
    for (const pid of pids) expect(() => process.kill(pid as number, 0)).toThrow();
  });

  it('starts again over the same data, with the promoted node as the primary', async () => {
    const before = cluster;
    const primaryName = before.primary.name;
    cluster = await startTestPostgresCluster({ baseDir: baseDirOf(before), replicas: 2 });
    expect(cluster.primary.name).toBe(primaryName);
    expect(cluster.nodes.map((n) => n.name)).toEqual(before.nodes.map((n) => n.name));
    const rows = await query<{ n: number }>(cluster.primary, 'SELECT count(*)::int AS n FROM failover');
    expect(rows[0]?.n).toBe(3);
    for (const replica of cluster.replicas) await waitFor(`row 3 on ${replica.name}`, () => readsRow(replica, 'failover', 3), { timeoutMs: 30_000, intervalMs: 50 });
  });

  it('starts again after a failover made with plain SQL, rebuilding the fenced old primary', async () => {
    const [oldPrimary, next] = [cluster.primary, cluster.replicas[0]];
    if (next === undefined) throw new Error('expected a replica');
    oldPrimary.kill();
    await promote(next);
    expect(await cluster.refreshRoles()).toBe(next);
    await query(next, 'INSERT INTO failover VALUES (4)');
    await cluster.stop();

    cluster = await startTestPostgresCluster({ baseDir: baseDirOf(cluster), replicas: 2 });
    expect(cluster.primary.name).toBe(next.name);
    for (const replica of cluster.replicas) {
      await waitFor(`row 4 on ${replica.name}`, () => readsRow(replica, 'failover', 4), { timeoutMs: 30_000, intervalMs: 50 });
      const [row] = await query<{ recovery: boolean }>(replica, 'SELECT pg_is_in_recovery() AS recovery');
      expect(row?.recovery).toBe(true);
    }
  });
});

describe('startPostgresCluster: synchronous', () => {
  let cluster: PostgresCluster;

  beforeAll(async () => {
    cluster = await startTestPostgresCluster({ replicas: 1, synchronous: true });
  });
  afterAll(async () => {
    await cluster?.destroy();
  });

  it('names the nodes in synchronous_standby_names and commits with a replica up', async () => {
    const [setting] = await query<{ synchronous_standby_names: string }>(cluster.primary, 'SHOW synchronous_standby_names');
    expect(setting?.synchronous_standby_names).toBe(`ANY 1 (${cluster.nodes.map((n) => n.name).join(', ')})`);
    await query(cluster.primary, 'CREATE TABLE sync_items (id int PRIMARY KEY)');
    await query(cluster.primary, 'INSERT INTO sync_items VALUES (1)');
    const [state] = await query<{ sync_state: string }>(cluster.primary, 'SELECT sync_state FROM pg_stat_replication');
    expect(state?.sync_state).toBe('quorum');
  });

  it('adds a replica online, which streams and is named in synchronous_standby_names', async () => {
    const added = await cluster.addReplica();
    expect(cluster.replicas).toContain(added);
    await waitFor('row on the added replica', () => readsRow(added, 'sync_items', 1), { timeoutMs: 30_000, intervalMs: 50 });
    const [setting] = await query<{ synchronous_standby_names: string }>(cluster.primary, 'SHOW synchronous_standby_names');
    expect(setting?.synchronous_standby_names).toContain(added.name);
  });
});
