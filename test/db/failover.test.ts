import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConsistencyToken, createDatabase, type Database, type FailoverEvent } from '../../src/db/index.js';
import { query, startTestPostgresReplicaSet, type PostgresReplicaSet, type PostgresNode } from '../support/pg-replica-set.js';
import { waitFor } from '../support/wait-for.js';
import { nameOf, SteadyWriter } from './failover-support.js';

// One replica set for the file, asynchronous replication. The tests run in order: the
// first kills the primary, the next ones work with what the failover left.
let replicaSet: PostgresReplicaSet;
let db: Database;
// A second app instance with its own router: both see the same failure at once.
let peer: Database;
const peerEvents: FailoverEvent[] = [];
let oldPrimary: PostgresNode;
let newPrimary: PostgresNode;
let tokenBefore: ConsistencyToken;
const events: FailoverEvent[] = [];

beforeAll(async () => {
  replicaSet = await startTestPostgresReplicaSet({ replicas: 2 });
  oldPrimary = replicaSet.primary;
  db = createDatabase({
    primary: replicaSet.primary.url(),
    replicas: replicaSet.replicas.map((r) => r.url()),
    checkIntervalMs: 200,
    failover: { enabled: true, failAfterChecks: 3 },
  });
  db.on('failover', (event) => events.push(event));
  peer = createDatabase({
    primary: replicaSet.primary.url(),
    replicas: replicaSet.replicas.map((r) => r.url()),
    checkIntervalMs: 200,
    failover: { enabled: true, failAfterChecks: 3 },
  });
  peer.on('failover', (event) => peerEvents.push(event));
  await Promise.all([db.ready(), peer.ready()]);
  await db.query('CREATE TABLE acks (id int PRIMARY KEY)');
  await db.query('CREATE TABLE notes (id int PRIMARY KEY, body text)');
  const before = await db.query("INSERT INTO notes VALUES (0, 'written before the failover')");
  tokenBefore = before.token as ConsistencyToken;
  for (const replica of replicaSet.replicas) {
    await waitFor(`note on ${replica.name}`, async () => (await query(replica, 'SELECT 1 FROM notes WHERE id = 0')).length === 1, { timeoutMs: 30_000, intervalMs: 50 });
  }
});

afterAll(async () => {
  await peer?.close();
  await db?.close();
  await replicaSet?.destroy();
});

function roleOf(node: PostgresNode) {
  return db.topology().nodes.find((n) => n.name === nameOf(node));
}

describe('failover', () => {
  it('promotes a replica within 5 s of a SIGKILL of the primary under steady writes, without a restart of the router', async () => {
    const writer = new SteadyWriter(db, 'acks');
    await waitFor('50 writes before the kill', async () => writer.acknowledged.length >= 50 || undefined, { timeoutMs: 30_000, intervalMs: 50 });
    const killedAt = performance.now();
    oldPrimary.kill();
    const event = await waitFor('the failover event', async () => events[0], { timeoutMs: 10_000 });
    // 3 missed checks 200 ms apart, then the promotion: about 1 s; the rest is headroom for a busy machine.
    const promotedAfterMs = performance.now() - killedAt;
    console.log(`failover: promoted ${Math.round(promotedAfterMs)} ms after the kill (router: ${Math.round(event.durationMs)} ms from the first failed check)`);
    expect(promotedAfterMs).toBeLessThan(5_000);
    const ackedAtFailover = writer.acknowledged.length;
    await waitFor('50 writes after the failover', async () => writer.acknowledged.length >= ackedAtFailover + 50 || undefined, { timeoutMs: 15_000, intervalMs: 50 });
    await writer.stop();

    expect(event).toMatchObject({ from: nameOf(oldPrimary), timeline: 2 });
    // Both routers agree on the new primary, whichever of them promoted it.
    const peerEvent = await waitFor("the peer's failover event", async () => peerEvents[0], { timeoutMs: 10_000 });
    expect(peerEvent).toMatchObject({ from: nameOf(oldPrimary), to: event.to, timeline: 2 });
    expect(event.promotedByThisRouter || peerEvent.promotedByThisRouter).toBe(true);
    newPrimary = replicaSet.nodes.find((n) => nameOf(n) === event.to) as PostgresNode;
    const { rows: [written] } = await peer.query<{ port: number }>('INSERT INTO acks (id) VALUES (-2) RETURNING inet_server_port() AS port');
    expect(written?.port).toBe(newPrimary.port);
    expect(replicaSet.replicas.map(nameOf)).toContain(event.to);
    expect(db.topology()).toMatchObject({ primary: event.to, timeline: 2, failoverInProgress: false });
    expect(roleOf(oldPrimary)).toMatchObject({ role: 'fenced', fenced: true, healthy: false });

    // Writes in flight got clear, retriable errors.
    const codes = writer.errorCodes();
    expect(codes.length).toBeGreaterThan(0);
    expect(codes).toContain('SCALEOUT_DB_FAILOVER_IN_PROGRESS');

    // Asynchronous replication may lose the last writes the old primary acknowledged;
    // every write acknowledged after the failover must be there.
    const present = new Set((await query<{ id: number }>(newPrimary, 'SELECT id FROM acks')).map((r) => r.id));
    const after = writer.acknowledged.slice(ackedAtFailover);
    expect(after.filter((id) => !present.has(id))).toEqual([]);
    const lost = writer.acknowledged.filter((id) => !present.has(id));
    expect(lost.length).toBeLessThan(writer.acknowledged.length);
  });

  it('re-points the other replica at the new primary so it takes reads again', async () => {
    const other = replicaSet.nodes.find((n) => n !== oldPrimary && n !== newPrimary) as PostgresNode;
    await waitFor('the other replica to be readable', async () => roleOf(other)?.readable || undefined, { timeoutMs: 20_000, intervalMs: 50 });
    expect(roleOf(other)).toMatchObject({ role: 'replica', timeline: 2 });
    const { rows, token } = await db.query<{ id: number }>('INSERT INTO acks (id) VALUES (1000000) RETURNING id');
    const read = await db.query<{ id: number }>('SELECT id FROM acks WHERE id = $1', [rows[0]?.id], { token });
    expect(read.rows).toEqual([{ id: 1000000 }]);
  });

  it('honours a token from before the failover and ignores garbage tokens', async () => {
    expect(tokenBefore.timeline).toBe(1);
    const read = await db.query<{ body: string }>('SELECT body FROM notes WHERE id = 0', [], { token: tokenBefore });
    expect(read.rows).toEqual([{ body: 'written before the failover' }]);
    const viaString = await db.query<{ body: string }>('SELECT body FROM notes WHERE id = 0', [], { token: tokenBefore.toString() });
    expect(viaString.rows).toHaveLength(1);

    const session = db.withToken(tokenBefore);
    const write = await session.query("INSERT INTO notes VALUES (1, 'after')");
    expect(write.token?.timeline).toBe(2);
    expect(session.token?.timeline).toBe(2);
    expect((await session.query('SELECT body FROM notes WHERE id = 1')).rows).toEqual([{ body: 'after' }]);

    const garbage = await db.query<{ port: number }>('SELECT inet_server_port() AS port', [], { token: 'not-a-token' });
    expect(garbage.rows[0]?.port).toBe(newPrimary.port);
  });

  it('keeps the restarted old primary fenced: it gets no write, refuses writes from others, and returns once rebuilt', async () => {
    await oldPrimary.start();
    await waitFor('the old primary to be seen, fenced', async () => {
      const node = roleOf(oldPrimary);
      return (node?.healthy && node.role === 'fenced' && node.inRecovery === false) || undefined;
    }, { timeoutMs: 15_000, intervalMs: 50 });
    // Fencing on the node itself: default_transaction_read_only = on.
    await waitFor('the old primary to refuse writes', async () => {
      try {
        await query(oldPrimary, 'INSERT INTO acks (id) VALUES (-1)');
        return undefined;
      } catch (err) {
        return (err as { code?: string }).code === '25006' || undefined;
      }
    }, { timeoutMs: 15_000, intervalMs: 50 });

    const countOn = async (node: PostgresNode) => Number((await query<{ n: string }>(node, 'SELECT count(*) AS n FROM acks'))[0]?.n);
    const before = await countOn(oldPrimary);
    const ports = new Set<number>();
    for (let i = 0; i < 100; i++) {
      const { rows } = await db.query<{ port: number }>('INSERT INTO acks (id) VALUES ($1) RETURNING inet_server_port() AS port', [2_000_000 + i]);
      ports.add(rows[0]?.port as number);
      ports.add((await db.query<{ port: number }>('SELECT inet_server_port() AS port')).rows[0]?.port as number);
    }
    expect(ports.has(oldPrimary.port)).toBe(false);
    expect(await countOn(oldPrimary)).toBe(before);

    await replicaSet.rebuildAsReplica(oldPrimary, newPrimary);
    await waitFor('the rebuilt node to take reads', async () => {
      const node = roleOf(oldPrimary);
      return (node?.role === 'replica' && node.readable && !node.fenced) || undefined;
    }, { timeoutMs: 20_000, intervalMs: 50 });
    const served = new Set<number>();
    await waitFor('a read served by the rebuilt node', async () => {
      served.add((await db.query<{ port: number }>('SELECT inet_server_port() AS port')).rows[0]?.port as number);
      return served.has(oldPrimary.port) || undefined;
    }, { timeoutMs: 30_000, intervalMs: 1 });
    const [setting] = await query<{ ro: string }>(oldPrimary, "SELECT current_setting('default_transaction_read_only') AS ro");
    await waitFor('the fence to be lifted on the rebuilt node', async () => (await query<{ ro: string }>(oldPrimary, "SELECT current_setting('default_transaction_read_only') AS ro"))[0]?.ro === 'off' || undefined,
      { timeoutMs: 30_000, intervalMs: 50 });
    expect(setting).toBeDefined();
  });
});
