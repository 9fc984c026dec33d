import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { openSync, closeSync, readFileSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBalancer } from '../../src/balancer/index.js';
import type { Balancer } from '../../src/balancer/index.js';
import { freePort } from '../support/free-port.js';
import { query, startTestPostgresReplicaSet } from '../support/pg-replica-set.js';
import { waitFor } from '../support/wait-for.js';
import type { PostgresReplicaSet } from '../support/pg-replica-set.js';
import { REDIS_URL, redisScratch, TEST_SESSION_KEYS_ENV } from './support.js';
import { HttpClient } from '../support/http-client.js';

// Three real shop processes behind a real balancer (round robin, no affinity), against
// a PostgreSQL primary with one asynchronous streaming replica and the local Redis.

const REPO = resolve(import.meta.dirname, '../..');
const ENTRY = join(REPO, 'examples/shop/src/server.ts');
const INSTANCE_IDS = ['shop-a', 'shop-b', 'shop-c'];

interface Instance {
  id: string;
  port: number;
  child: ChildProcess;
  exited: Promise<unknown>;
}

const redis = redisScratch();
const logDir = mkdtempSync(join(tmpdir(), 'scaleout-shop-test-'));
let replicaSet: PostgresReplicaSet;
let balancer: Balancer;
let base: string;
const instances: Instance[] = [];

async function startInstance(id: string, env: Record<string, string>): Promise<Instance> {
  const port = await freePort('127.0.0.1');
  const log = openSync(join(logDir, `${id}.log`), 'a');
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY], {
    cwd: REPO,
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1', INSTANCE_ID: id },
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  return { id, port, child, exited: once(child, 'exit') };
}

async function healthy(instance: Instance): Promise<boolean> {
  if (instance.child.exitCode !== null) {
    throw new Error(`${instance.id} exited: ${readFileSync(join(logDir, `${instance.id}.log`), 'utf8').slice(-2000)}`);
  }
  try {
    return (await fetch(`http://127.0.0.1:${instance.port}/healthz`)).ok;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  replicaSet = await startTestPostgresReplicaSet({ replicas: 1 });
  const replica = replicaSet.replicas[0]!;
  const env = {
    DATABASE_URL: replicaSet.primary.url(),
    DATABASE_REPLICA_URLS: replica.url(),
    REDIS_URL,
    SCALEOUT_PROFILE: 'redis',
    SCALEOUT_SESSION_KEYS: TEST_SESSION_KEYS_ENV,
    SCALEOUT_BUILD_ID: 'multi-test',
    SHOP_SESSION_PREFIX: redis.prefix,
  };
  instances.push(...await Promise.all(INSTANCE_IDS.map((id) => startInstance(id, env))));
  await Promise.all(instances.map((i) => waitFor(`${i.id} to be healthy`, () => healthy(i), { timeoutMs: 90_000, intervalMs: 100 })));
  balancer = await startBalancer({
    listen: '127.0.0.1:0',
    pools: {
      web: {
        strategy: 'round-robin',
        servers: instances.map((i) => ({ id: i.id, address: `127.0.0.1:${i.port}` })),
        health: { path: '/healthz', intervalMs: 200, timeoutMs: 1000, rise: 1, fall: 1 },
      },
    },
  });
  base = `http://${balancer.addresses[0]}`;
}, 180_000);

afterAll(async () => {
  await balancer?.close();
  for (const i of instances) if (i.child.exitCode === null && i.child.signalCode === null) i.child.kill('SIGTERM');
  await Promise.all(instances.map((i) => Promise.race([i.exited, new Promise((r) => setTimeout(r, 15_000))])));
  for (const i of instances) if (i.child.exitCode === null && i.child.signalCode === null) i.child.kill('SIGKILL');
  await replicaSet?.destroy();
  await redis.clean();
  rmSync(logDir, { recursive: true, force: true });
}, 120_000);

/**
 * Scans of the orders table on the replica, over both shard databases: only order reads
 * touch it there, so a rise shows that reads were served by the replica.
 */
async function replicaOrderScans(): Promise<number> {
  let total = 0;
  for (const shard of ['shop_shard_0', 'shop_shard_1']) {
    const rows = await query<{ n: string | null }>(replicaSet.replicas[0]!,
      "SELECT sum(coalesce(seq_scan, 0) + coalesce(idx_scan, 0)) AS n FROM pg_stat_user_tables WHERE relname = 'orders'", [], shard);
    total += Number(rows[0]?.n ?? 0);
  }
  return total;
}

function servedBy(answer: { headers: Record<string, string | string[] | undefined> }): string {
  return String(answer.headers['x-scaleout-instance']);
}

describe('three instances behind the balancer', () => {
  it('counts 50 concurrent adds to one cart exactly, spread over all three instances', async () => {
    const client = new HttpClient(base);
    expect((await client.login('alice', 'wonderland')).status).toBe(200);
    const answers = await Promise.all(Array.from({ length: 50 }, () =>
      client.request('POST', '/cart/items', { json: { productId: 3, qty: 1 } })));
    expect(answers.map((a) => a.status)).toEqual(Array(50).fill(200));
    expect(new Set(answers.map(servedBy))).toEqual(new Set(INSTANCE_IDS));
    const cart = await client.request('GET', '/cart');
    expect(cart.body.items).toEqual([expect.objectContaining({ productId: 3, qty: 50 })]);
    await client.request('DELETE', '/cart/items/3');
  });

  it('shows a placed order on the very next read, 200 times in a row, whichever instance answers', async () => {
    const client = new HttpClient(base);
    expect((await client.login('bob', 'builder')).status).toBe(200);
    const readers = new Set<string>();
    const scansBefore = await replicaOrderScans();
    for (let i = 0; i < 200; i++) {
      expect((await client.request('POST', '/cart/items', { json: { productId: 6, qty: 1 } })).status).toBe(200);
      const placed = await client.request('POST', '/orders');
      expect(placed.status).toBe(201);
      const list = await client.request('GET', '/orders?limit=1');
      expect(list.status).toBe(200);
      expect(list.body.orders[0]?.id, `try ${i}`).toBe(placed.body.id);
      const one = await client.request('GET', `/orders/${placed.body.id}`);
      expect(one.status, `try ${i}`).toBe(200);
      readers.add(servedBy(list)).add(servedBy(one));
    }
    expect(readers).toEqual(new Set(INSTANCE_IDS));
    // The reads did go to the replica (a backend publishes its statistics within seconds).
    await waitFor('order reads on the replica', async () => (await replicaOrderScans()) > scansBefore, { timeoutMs: 20_000, intervalMs: 50 });
  }, 120_000);

  it('keeps the login and the cart when the instance that served them is killed', async () => {
    const client = new HttpClient(base);
    expect((await client.login('carol', 'cheshire')).status).toBe(200);
    await client.request('POST', '/cart/items', { json: { productId: 1, qty: 2 } });
    const last = await client.request('POST', '/cart/items', { json: { productId: 9, qty: 1 } });
    expect(last.status).toBe(200);
    const victim = instances.find((i) => i.id === servedBy(last))!;
    victim.child.kill('SIGKILL');
    await victim.exited;

    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const me = await client.request('GET', '/me');
      expect(me.status).toBe(200);
      expect(me.body.user.username).toBe('carol');
      const cart = await client.request('GET', '/cart');
      expect(cart.status).toBe(200);
      expect(cart.body.items.map((item: { productId: number; qty: number }) => [item.productId, item.qty])).toEqual([[1, 2], [9, 1]]);
      seen.add(servedBy(me)).add(servedBy(cart));
    }
    expect(seen.has(victim.id)).toBe(false);
    expect(seen.size).toBe(2);
  });
});
