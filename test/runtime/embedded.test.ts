import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeStatus } from '../../src/runtime/index.js';
import { findRedisServer } from '../../src/runtime/index.js';
import { cleanEnv, copyApp, isAlive, removeApp, UpProcess } from './support/runtime-harness.js';
import { get } from '../support/http-client.js';
import { waitFor } from '../support/wait-for.js';

// The default engines, once: no DATABASE_URL and no REDIS_URL, so `scaleout up` runs
// the embedded PostgreSQL (a primary and one streaming replica) and a redis-server.
describe.skipIf(findRedisServer() === undefined)('scaleout up with the embedded engines', () => {
  let dir: string;
  let up: UpProcess;
  let status: RuntimeStatus;

  beforeAll(async () => {
    dir = await copyApp('hello', { app: { instances: 1 }, engines: { postgres: {}, redis: { appendonly: false } } });
    up = UpProcess.start(dir, cleanEnv());
    status = await up.waitRunning(180_000);
  }, 200_000);

  afterAll(async () => {
    await up?.stop('SIGKILL');
    await removeApp(dir);
  });

  it('starts PostgreSQL with a replica and redis-server, and says which', async () => {
    const postgres = status.processes.filter((p) => p.role === 'postgres');
    expect(postgres.map((p) => [p.id, p.detail, p.state])).toEqual([['pg0', 'primary', 'running'], ['pg1', 'replica', 'running']]);
    const redis = status.processes.find((p) => p.role === 'redis')!;
    expect(redis).toMatchObject({ state: 'running', detail: 'redis-server' });
    expect(status.profile).toBe('redis');
    expect(existsSync(join(dir, '.scaleout', 'pg', 'pg0'))).toBe(true);

    const app = await get(status.appUrl!);
    expect(app.body.env).toMatchObject({ redis: `redis://${redis.address}`, profile: 'redis' });
    expect(String(app.body.env?.database)).toContain(postgres[0]!.address!);

    // The supervisor's own database router sees the primary and the streaming replica.
    const db = await waitFor('the db topology', async () => {
      const s = await up.status();
      return s.db !== null && s.db.nodes.length === 2 && s.db.nodes.every((n) => n.healthy) ? s.db : undefined;
    }, { timeoutMs: 30_000, intervalMs: 50 });
    expect(db.primary).toBe(postgres[0]!.address);
    expect(db.nodes.map((n) => n.role).sort()).toEqual(['primary', 'replica']);

    const output = await up.stop('SIGTERM');
    expect(output.code).toBe(0);
    expect(output.stdout).toMatch(/postgres: embedded primary 127\.0\.0\.1:\d+ \+ 1 streaming replica/);
    expect(output.stdout).toMatch(/redis: redis-server on 127\.0\.0\.1:\d+/);
    for (const p of status.processes) if (p.pid !== null) expect(isAlive(p.pid), `${p.role} ${p.id} pid ${p.pid}`).toBe(false);
  });
});
