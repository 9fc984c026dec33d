import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, createDatabase, type DbResult } from '../../src/db/index.js';
import { query, startTestPostgresReplicaSet, type PostgresReplicaSet, type PostgresNode } from '../support/pg-replica-set.js';
import { waitFor } from '../support/wait-for.js';

// One replica set for the whole file: a primary and two asynchronous streaming replicas.
let replicaSet: PostgresReplicaSet;
let db: Database;
let primary: PostgresNode;
let replicaA: PostgresNode;
let replicaB: PostgresNode;

beforeAll(async () => {
  replicaSet = await startTestPostgresReplicaSet({ replicas: 2 });
  primary = replicaSet.primary;
  [replicaA, replicaB] = replicaSet.replicas as [PostgresNode, PostgresNode];
  db = createDatabase({
    primary: primary.url(),
    replicas: [replicaA.url(), replicaB.url()],
    checkIntervalMs: 100,
    maxLagMs: 300,
    readYourWritesWaitMs: 200,
  });
  await db.ready();
  await db.query('CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL)');
  await db.query('CREATE SEQUENCE counter');
  await db.query("CREATE FUNCTION bump() RETURNS int LANGUAGE sql VOLATILE AS 'SELECT 1'");
  await db.query("CREATE FUNCTION shout(t text) RETURNS text LANGUAGE sql STABLE AS 'SELECT upper(t)'");
  await waitForReadable(2);
});

afterAll(async () => {
  await db?.close();
  await replicaSet?.destroy();
});

function waitForReadable(count: number, exclude?: PostgresNode): Promise<true> {
  return waitFor(`${count} readable replicas`, async () => {
    const nodes = db.topology().nodes.filter((n) => n.readable && n.name !== nameOf(exclude));
    return nodes.length >= count || undefined;
  }, { timeoutMs: 15_000, intervalMs: 50 });
}

function nameOf(node: PostgresNode | undefined): string | undefined {
  return node === undefined ? undefined : `${node.host}:${node.port}`;
}

async function portsOf(times: number, sql = 'SELECT inet_server_port() AS port', params: unknown[] = []): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  for (let i = 0; i < times; i++) {
    const { rows } = await db.query<{ port: number }>(sql, params);
    const port = rows[0]?.port as number;
    counts.set(port, (counts.get(port) ?? 0) + 1);
  }
  return counts;
}

async function portOf(result: Promise<DbResult<{ port: number }>>): Promise<number> {
  return (await result).rows[0]?.port as number;
}

describe('routing by what a statement does', () => {
  it('spreads reads over both replicas and none to the primary', async () => {
    const counts = await portsOf(200);
    expect(counts.get(primary.port) ?? 0).toBe(0);
    expect(counts.get(replicaA.port) ?? 0).toBeGreaterThan(40);
    expect(counts.get(replicaB.port) ?? 0).toBeGreaterThan(40);
  });

  it('sends writes, locking reads, sequences, advisory locks, data-modifying CTEs and volatile functions to the primary', async () => {
    const onPrimary: (() => Promise<DbResult<{ port: number }>>)[] = [
      () => db.query<{ port: number }>('INSERT INTO items (name) VALUES ($1) RETURNING inet_server_port() AS port', ['a']),
      () => db.query<{ port: number }>('SELECT inet_server_port() AS port FROM items FOR UPDATE'),
      () => db.query<{ port: number }>("SELECT inet_server_port() AS port, nextval('counter')"),
      () => db.query<{ port: number }>('SELECT inet_server_port() AS port, pg_try_advisory_xact_lock(7)'),
      () => db.query<{ port: number }>("WITH x AS (INSERT INTO items (name) VALUES ('cte') RETURNING id) SELECT inet_server_port() AS port FROM x"),
      () => db.query<{ port: number }>('SELECT inet_server_port() AS port, bump()'),
      () => db.query<{ port: number }>('SELECT inet_server_port() AS port', [], { consistency: 'primary' }),
    ];
    for (const run of onPrimary) expect(await portOf(run())).toBe(primary.port);
  });

  it('keeps reads calling stable functions on the replicas', async () => {
    const counts = await portsOf(20, 'SELECT inet_server_port() AS port, shout($1)', ['x']);
    expect(counts.get(primary.port) ?? 0).toBe(0);
  });

  it('returns a token with every write and none with reads', async () => {
    const write = await db.query('INSERT INTO items (name) VALUES ($1)', ['token']);
    expect(write.token?.toString()).toMatch(/^t1\.[0-9a-f]+$/);
    const read = await db.query('SELECT 1');
    expect(read.token).toBeUndefined();
    const tx = await db.transaction(async (t) => (await t.query<{ id: number }>("INSERT INTO items (name) VALUES ('tx') RETURNING id")).rows[0]?.id);
    expect(typeof tx.value).toBe('number');
    expect(tx.token.lsn).toBeGreaterThanOrEqual(write.token?.lsn ?? 0n);
  });

  it('maps statement errors and serialization failures to ScaleoutErrors with the pg error as cause', async () => {
    await expect(db.query('INSERT INTO items (id, name) VALUES (1, $1)', ['dup']).then(() => db.query('INSERT INTO items (id, name) VALUES (1, $1)', ['dup'])))
      .rejects.toMatchObject({ code: 'SCALEOUT_DB_QUERY_FAILED', sqlState: '23505', retriable: false });

    // Two serializable transactions that each read what the other writes: one must fail.
    await db.query('CREATE TABLE ledger (who text, amount int)');
    let release!: () => void;
    const bothRead = new Promise<void>((resolve) => { release = resolve; });
    let reads = 0;
    const transfer = (who: string) => db.transaction(async (tx) => {
      await tx.query('SELECT sum(amount) FROM ledger');
      if (++reads === 2) release();
      await bothRead;
      await tx.query('INSERT INTO ledger VALUES ($1, 1)', [who]);
    }, { isolation: 'serializable' });
    const outcomes = await Promise.allSettled([transfer('a'), transfer('b')]);
    const failed = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    expect(failed).toHaveLength(1);
    expect(failed[0]?.reason).toMatchObject({ code: 'SCALEOUT_DB_SERIALIZATION_FAILURE', retriable: true });
    expect((failed[0]?.reason as Error).cause).toMatchObject({ code: '40001' });
  });
});

describe('replica lag', () => {
  it('stops reading a paused replica while users still read their own writes at once, and uses it again after resume', async () => {
    await query(replicaA, 'SELECT pg_wal_replay_pause()');
    let writing = true;
    const writer = (async () => {
      while (writing) {
        await db.query('INSERT INTO items (name) VALUES ($1)', ['lag']);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    try {
      await waitFor('the paused replica to lag out', async () => {
        const a = db.topology().nodes.find((n) => n.name === nameOf(replicaA));
        return (a && !a.readable && a.role === 'replica' && (a.lagBytes ?? 0) > 0) || undefined;
      }, { timeoutMs: 15_000, intervalMs: 50 });

      const counts = await portsOf(100);
      expect(counts.get(replicaA.port) ?? 0).toBe(0);
      expect(counts.get(replicaB.port) ?? 0).toBe(100);

      // Read-your-writes, through tokens and through a session handle.
      for (let i = 0; i < 20; i++) {
        const { rows, token } = await db.query<{ id: number }>('INSERT INTO items (name) VALUES ($1) RETURNING id', [`mine-${i}`]);
        const read = await db.query('SELECT name FROM items WHERE id = $1', [rows[0]?.id], { token });
        expect(read.rows).toEqual([{ name: `mine-${i}` }]);
      }
      const session = db.withToken();
      await session.query('INSERT INTO items (name) VALUES ($1)', ['session']);
      expect(session.token).toBeDefined();
      const seen = await session.query<{ n: number }>("SELECT count(*)::int AS n FROM items WHERE name = 'session'");
      expect(seen.rows[0]?.n).toBe(1);
    } finally {
      await query(replicaA, 'SELECT pg_wal_replay_resume()');
      writing = false;
      await writer;
    }
    await waitForReadable(2);
    const counts = await portsOf(100);
    expect(counts.get(replicaA.port) ?? 0).toBeGreaterThan(10);
  });

  it('waits for a replica to replay a token, then falls back to the primary when none does in time', async () => {
    await query(replicaA, 'SELECT pg_wal_replay_pause()');
    await query(replicaB, 'SELECT pg_wal_replay_pause()');
    try {
      const { rows, token } = await db.query<{ id: number }>('INSERT INTO items (name) VALUES ($1) RETURNING id', ['paused-both']);
      const read = await db.query<{ port: number; name: string }>('SELECT inet_server_port() AS port, name FROM items WHERE id = $1', [rows[0]?.id], { token });
      expect(read.rows).toEqual([{ port: primary.port, name: 'paused-both' }]);
    } finally {
      await query(replicaA, 'SELECT pg_wal_replay_resume()');
      await query(replicaB, 'SELECT pg_wal_replay_resume()');
    }
    await waitForReadable(2);
  });
});

describe('tokens from outside', () => {
  it.each(['garbage', '', 't0.1', 't1.xyz', '{"timeline":1}', 't1.1'.repeat(100)])('reads %j from the primary without crashing', async (token) => {
    const port = await portOf(db.query<{ port: number }>('SELECT inet_server_port() AS port', [], { token }));
    expect(port).toBe(primary.port);
    const session = db.session({ get: () => token, set: () => {} });
    expect(session.token).toBeUndefined();
    expect(await portOf(session.query<{ port: number }>('SELECT inet_server_port() AS port'))).toBe(primary.port);
  });

  it('reads a token from a future position from the primary after the bounded wait', async () => {
    const port = await portOf(db.query<{ port: number }>('SELECT inet_server_port() AS port', [], { token: 't1.ffffffffffff' }));
    expect(port).toBe(primary.port);
  });

  it('reads without a token from the replicas even in session consistency', async () => {
    const session = db.session({ get: () => undefined, set: () => {} });
    expect(await portOf(session.query<{ port: number }>('SELECT inet_server_port() AS port'))).not.toBe(primary.port);
  });
});

describe('bad input', () => {
  it('rejects malformed calls with ScaleoutErrors and keeps serving', async () => {
    await expect(db.query(42 as unknown as string)).rejects.toMatchObject({ code: 'SCALEOUT_DB_QUERY_FAILED' });
    await expect(db.query('SELECT $1::int', 'x' as unknown as unknown[])).rejects.toMatchObject({ code: 'SCALEOUT_DB_QUERY_FAILED' });
    await expect(db.query('SELECT 1', [], { consistency: 'strong' as 'primary' })).rejects.toMatchObject({ code: 'SCALEOUT_DB_INVALID_OPTIONS' });
    await expect(db.query('SELEKT 1')).rejects.toMatchObject({ code: 'SCALEOUT_DB_QUERY_FAILED', sqlState: '42601' });
    await expect(db.transaction(async () => 1, { isolation: 'chaos' as 'serializable' })).rejects.toMatchObject({ code: 'SCALEOUT_DB_INVALID_OPTIONS' });
    await expect(db.transaction(async () => { throw new TypeError('mine'); })).rejects.toThrow(TypeError);
    const listener = () => { throw new Error('a listener that throws'); };
    const off = db.on('topology', listener);
    off();
    expect((await db.query<{ n: number }>('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
  });
});

describe('role discovery', () => {
  it('finds the real primary when the configuration has the roles the wrong way round', async () => {
    const confused = createDatabase({ primary: replicaA.url(), replicas: [primary.url(), replicaB.url()], checkIntervalMs: 100 });
    try {
      await confused.ready();
      expect(confused.topology().primary).toBe(nameOf(primary));
      const { rows } = await confused.query<{ port: number }>("INSERT INTO items (name) VALUES ('discovered') RETURNING inet_server_port() AS port");
      expect(rows[0]?.port).toBe(primary.port);
      const roles = Object.fromEntries(confused.topology().nodes.map((n) => [n.name, n.role]));
      expect(roles).toEqual({ [nameOf(replicaA) as string]: 'replica', [nameOf(primary) as string]: 'primary', [nameOf(replicaB) as string]: 'replica' });
    } finally {
      await confused.close();
    }
  });

  it('fails closed: a node that is down from the start takes no queries and the rest keep working', async () => {
    const partial = createDatabase({ primary: primary.url(), replicas: ['postgres://postgres@127.0.0.1:1/app', replicaB.url()], checkIntervalMs: 100 });
    try {
      await partial.ready();
      const dead = partial.topology().nodes.find((n) => n.name === '127.0.0.1:1');
      expect(dead).toMatchObject({ healthy: false, readable: false });
      expect(dead?.lastError).toBeTruthy();
      for (let i = 0; i < 10; i++) await partial.query('SELECT 1');
    } finally {
      await partial.close();
    }
    await expect(partial.query('SELECT 1')).rejects.toMatchObject({ code: 'SCALEOUT_DB_CLOSED' });
  });
});

describe('external failover (runs last: it changes the roles)', () => {
  it('follows a replica promoted by someone else and fences the old primary, without failover enabled', async () => {
    const seen: string[] = [];
    const off = db.on('failover', (event) => seen.push(`${event.from}->${event.to}:${event.timeline}:${event.promotedByThisRouter}`));
    await replicaSet.promote(replicaB);
    await waitFor('the router to follow the promotion', async () => db.topology().primary === nameOf(replicaB) || undefined, { timeoutMs: 15_000, intervalMs: 50 });
    off();
    expect(seen).toEqual([`${nameOf(primary)}->${nameOf(replicaB)}:2:false`]);
    const roles = Object.fromEntries(db.topology().nodes.map((n) => [n.name, n.role]));
    expect(roles[nameOf(primary) as string]).toBe('fenced');
    const { rows } = await db.query<{ port: number }>("INSERT INTO items (name) VALUES ('after external failover') RETURNING inet_server_port() AS port");
    expect(rows[0]?.port).toBe(replicaB.port);
    await waitFor('the old primary to be fenced read-only', async () => {
      try {
        await query(primary, "INSERT INTO items (name) VALUES ('split brain')");
        return undefined;
      } catch (err) {
        return (err as { code?: string }).code === '25006' || undefined;
      }
    }, { timeoutMs: 15_000, intervalMs: 50 });
  });
});
