import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findRedisServer } from '../../src/runtime/index.js';
import type { ProcessStatus, RuntimeStatus } from '../../src/runtime/index.js';
import { cleanEnv, isAlive, UpProcess } from './support/runtime-harness.js';
import { waitFor } from '../support/wait-for.js';
import { HttpClient } from '../support/http-client.js';
import { assertBuilt, copyShop, processesUnder } from '../e2e/support/built-cli.js';
import type { ShopCopy } from '../e2e/support/built-cli.js';

// The shop under `scaleout up` with its default engines (embedded PostgreSQL, a spawned
// redis-server holding the sessions): every process is supervised, and none outlives
// the supervisor. The tests run in order and share the deployment.
describe.skipIf(findRedisServer() === undefined)('scaleout up supervises every process', () => {
  let shop: ShopCopy;
  let up: UpProcess;
  let appUrl: string;

  const redisOf = (s: RuntimeStatus): ProcessStatus => s.processes.find((p) => p.role === 'redis')!;

  beforeAll(async () => {
    assertBuilt();
    shop = await copyShop();
    up = UpProcess.startBuilt(shop.dir, cleanEnv());
    appUrl = (await up.waitRunning(200_000)).appUrl!.replace(/\/$/, '');
  }, 240_000);

  afterAll(async () => {
    if (up !== undefined && !up.exited) await up.stopWithin('SIGKILL', 10_000);
    if (shop !== undefined) {
      for (const p of processesUnder(shop.root)) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // Gone meanwhile.
        }
      }
      await shop.remove();
    }
  });

  it('restarts a killed redis-server on the same port with its data: a logged-in session still works', async () => {
    const client = new HttpClient(appUrl);
    expect((await client.login('alice', 'wonderland')).status).toBe(200);
    expect((await client.request('POST', '/cart/items', { json: { productId: 3, qty: 2 } })).status).toBe(200);

    const before = redisOf(await up.status());
    expect(before).toMatchObject({ state: 'running', restarts: 0 });
    process.kill(before.pid!, 'SIGKILL');

    const after = await waitFor('redis-server restarted', async () => {
      const redis = redisOf(await up.status());
      return redis.state === 'running' && redis.pid !== null && redis.pid !== before.pid ? redis : undefined;
    }, { timeoutMs: 30_000, intervalMs: 50 });
    expect(after.address).toBe(before.address);
    expect(after.restarts).toBe(1);
    expect(after.detail).toContain('killed by SIGKILL');
    expect(up.stderr).toContain('redis-server killed by SIGKILL; restarting it now on the same port (append-only file kept)');

    // The instances' clients reconnect on their own; the session and the cart came back from the append-only file.
    const me = await waitFor('the session to answer again', async () => {
      const answer = await client.request('GET', '/me');
      return answer.status === 200 ? answer : undefined;
    }, { timeoutMs: 20_000, intervalMs: 100 });
    expect(me.body.user.username).toBe('alice');
    const cart = await client.request('GET', '/cart');
    expect(cart.body.items.map((item: { productId: number; qty: number }) => [item.productId, item.qty])).toEqual([[3, 2]]);
  }, 90_000);

  it('leaves no process behind when the supervisor is killed with SIGKILL, and starts again cleanly in the same folder', async () => {
    const status = await up.status();
    const pids = status.processes.filter((p) => p.role !== 'supervisor' && p.pid !== null).map((p) => p.pid!);
    expect(status.processes.filter((p) => p.role === 'postgres').length).toBeGreaterThan(0);
    const startedAt = performance.now();
    await up.stop('SIGKILL');
    // The reaper gives redis-server and PostgreSQL their stop signal; what hangs is killed after 10 s.
    await waitFor('no process of the app left', () => processesUnder(shop.root).length === 0 && pids.every((pid) => !isAlive(pid)),
      { timeoutMs: 20_000, intervalMs: 100 });
    console.log(`after SIGKILL of the supervisor, every process was gone within ${(performance.now() - startedAt).toFixed(0)} ms`);

    up = UpProcess.startBuilt(shop.dir, cleanEnv());
    const again = await up.waitRunning(200_000);
    const client = new HttpClient(again.appUrl!.replace(/\/$/, ''));
    expect((await client.login('alice', 'wonderland')).status).toBe(200);
    const result = await up.stop('SIGTERM');
    expect(result.code, result.stderr).toBe(0);
    await waitFor('no process of the app left after a clean stop', () => processesUnder(shop.root).length === 0, { timeoutMs: 20_000, intervalMs: 100 });
  }, 300_000);
});
