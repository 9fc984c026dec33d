import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findRedisServer } from '../../src/runtime/index.js';
import type { ProcessStatus, RuntimeStatus } from '../../src/runtime/index.js';
import { findMemcached } from '../../src/runtime/engines/memcached-engine.js';
import { cleanEnv, UpProcess } from './support/runtime-harness.js';
import { waitFor } from '../support/wait-for.js';
import { assertBuilt, copyShop, processesUnder } from '../e2e/support/built-cli.js';
import type { ShopCopy } from '../e2e/support/built-cli.js';

/** The environment a running process was started with. */
function environOf(pid: number): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

async function configGet(url: string, name: string): Promise<string | undefined> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    const reply = await client.config('GET', name) as string[];
    return reply[1];
  } finally {
    client.disconnect();
  }
}

// The shop under `scaleout up` with `engines.memcached` set: the cache's engines are
// started, supervised and handed to the instances next to the sessions' Redis.
describe.skipIf(findRedisServer() === undefined || findMemcached() === undefined)('scaleout up runs the cache engines', () => {
  let shop: ShopCopy;
  let up: UpProcess;

  const byRole = (s: RuntimeStatus, role: string): ProcessStatus | undefined => s.processes.find((p) => p.role === role);

  beforeAll(async () => {
    assertBuilt();
    shop = await copyShop();
    const configFile = join(shop.dir, 'scaleout.config.ts');
    const config = await readFile(configFile, 'utf8');
    const patched = config.replace('redis: { appendonly: true },', 'redis: { appendonly: true, cache: { maxmemoryMb: 16 } },\n    memcached: { memoryMb: 16 },');
    if (patched === config) throw new Error(`cannot find engines.redis in ${configFile}; update this test`);
    await writeFile(configFile, patched);
    up = UpProcess.startBuilt(shop.dir, cleanEnv());
    await up.waitRunning(200_000);
  }, 240_000);

  afterAll(async () => {
    if (up !== undefined && !up.exited && await up.stopWithin('SIGTERM', 30_000) === undefined) await up.stopWithin('SIGKILL', 10_000);
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
  }, 60_000);

  it('gives the cache a Redis that evicts (allkeys-lru) while the sessions\' Redis never does, and tells every instance', async () => {
    const status = await up.status();
    const sessions = byRole(status, 'redis');
    const cache = byRole(status, 'redis-cache');
    expect(sessions).toMatchObject({ state: 'running' });
    expect(cache).toMatchObject({ state: 'running' });
    expect(cache!.address).not.toBe(sessions!.address);
    expect(await configGet(`redis://${sessions!.address}`, 'maxmemory-policy')).toBe('noeviction');
    expect(await configGet(`redis://${cache!.address}`, 'maxmemory-policy')).toBe('allkeys-lru');
    expect(await configGet(`redis://${cache!.address}`, 'maxmemory')).toBe(String(16 * 1024 * 1024));

    const apps = status.processes.filter((p) => p.role === 'app' && p.pid !== null);
    expect(apps.length).toBeGreaterThan(0);
    for (const app of apps) {
      const env = environOf(app.pid!);
      expect(env.REDIS_URL).toBe(`redis://${sessions!.address}`);
      expect(env.CACHE_REDIS_URL).toBe(`redis://${cache!.address}`);
      expect(env.MEMCACHED_URL).toBe(byRole(status, 'memcached')!.address);
    }
  }, 60_000);

  it('lists memcached in status and restarts it on the same port when it is killed', async () => {
    const before = byRole(await up.status(), 'memcached');
    expect(before).toMatchObject({ state: 'running', restarts: 0 });
    expect(before!.pid).not.toBeNull();
    process.kill(before!.pid!, 'SIGKILL');

    const after = await waitFor('memcached restarted', async () => {
      const memcached = byRole(await up.status(), 'memcached');
      return memcached?.state === 'running' && memcached.pid !== null && memcached.pid !== before!.pid ? memcached : undefined;
    }, { timeoutMs: 30_000, intervalMs: 50 });
    expect(after.address).toBe(before!.address);
    expect(after.restarts).toBe(1);
    expect(after.detail).toContain('killed by SIGKILL');
    expect(up.stderr).toContain('memcached killed by SIGKILL; restarting it now on the same port');
  }, 60_000);

  it('stops the cache engines with the deployment', async () => {
    const status = await up.status();
    const pids = ['memcached', 'redis-cache'].map((role) => byRole(status, role)!.pid!);
    const result = await up.stop('SIGTERM');
    expect(result.code, result.stderr).toBe(0);
    await waitFor('the cache engines gone', () => pids.every((pid) => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    }), { timeoutMs: 20_000, intervalMs: 100 });
  }, 60_000);
});
