import pg from 'pg';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../src/db/index.js';
import type { Database } from '../../src/db/index.js';
import type { ProcessStatus, RuntimeStatus } from '../../src/runtime/index.js';
import { cleanEnv, copyApp, isAlive, removeApp, runCli, UpProcess } from './support/runtime-harness.js';
import { get } from '../support/http-client.js';
import { waitFor } from '../support/wait-for.js';

const nodeUrl = (address: string): string => `postgres://postgres@${address}/app`;
const postgresOf = (s: RuntimeStatus): ProcessStatus[] => s.processes.filter((p) => p.role === 'postgres');

// `scaleout up` with the embedded PostgreSQL, a primary and one synchronous replica:
// the supervisor's router is the only one that fails over; the writer below follows
// roles like an app instance's router does.
describe('scaleout up: failover of the embedded PostgreSQL', () => {
  let dir: string;
  let up: UpProcess;
  let status: RuntimeStatus;
  let writer: Database;

  beforeAll(async () => {
    dir = await copyApp('hello', { app: { instances: 1 }, engines: { postgres: { replicas: 1, synchronous: true }, redis: false } });
    up = UpProcess.start(dir, cleanEnv());
    status = await up.waitRunning(180_000);
  }, 200_000);

  afterAll(async () => {
    await writer?.close().catch(() => undefined);
    await up?.stop('SIGKILL');
    await removeApp(dir);
  });

  it('promotes the replica when the primary is killed, loses no acknowledged write, and rebuilds the old primary as a replica', async () => {
    const [primary, replica] = postgresOf(status);
    expect(primary).toMatchObject({ id: 'pg0', detail: 'primary', state: 'running' });
    expect(replica).toMatchObject({ id: 'pg1', detail: 'replica', state: 'running' });
    expect(status.db).toMatchObject({ failover: true, primary: primary!.address });

    writer = createDatabase({ primary: nodeUrl(primary!.address!), replicas: [nodeUrl(replica!.address!)], checkIntervalMs: 200 });
    await writer.query('CREATE TABLE acked (id int PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())');

    const acked: number[] = [];
    const failures = new Map<string, number>();
    let next = 1;
    let writing = true;
    const loop = (async () => {
      while (writing) {
        const id = next++;
        try {
          await writer.query('INSERT INTO acked (id) VALUES ($1)', [id]);
          acked.push(id);
        } catch (err) {
          const code = (err as { code?: string }).code ?? 'other';
          failures.set(code, (failures.get(code) ?? 0) + 1);
          // The write's outcome is unknown: it is not counted, and a new id is used.
          await delay(50);
        }
      }
    })();
    await waitFor('50 acknowledged writes', () => acked.length >= 50, { timeoutMs: 30_000, intervalMs: 50 });

    const killedAt = performance.now();
    process.kill(primary!.pid!, 'SIGKILL');
    const afterFailover = await waitFor('the supervisor to promote pg1', async () => {
      const s = await up.status();
      return s.db?.primary === replica!.address && (s.db.timeline ?? 0) > 1 ? s : undefined;
    }, { timeoutMs: 10_000, intervalMs: 50 });
    const promotedAfterMs = performance.now() - killedAt;
    expect(promotedAfterMs, `promoted ${Math.round(promotedAfterMs)} ms after the kill; the guard promises about 1.5 s`).toBeLessThan(5_000);
    expect(postgresOf(afterFailover).find((p) => p.id === 'pg1')?.detail).toBe('primary');

    // Writes resume on the new primary (once the old one streams again: the commits are synchronous).
    const ackedAtFailover = acked.length;
    await waitFor('30 more acknowledged writes', () => acked.length >= ackedAtFailover + 30, { timeoutMs: 60_000, intervalMs: 50 });
    writing = false;
    await loop;

    const check = new pg.Client({ connectionString: nodeUrl(replica!.address!) });
    await check.connect();
    try {
      const { rows } = await check.query<{ id: number }>('SELECT id FROM acked');
      const stored = new Set(rows.map((r) => r.id));
      expect(acked.filter((id) => !stored.has(id)), 'acknowledged writes missing on the new primary').toEqual([]);
      expect((await check.query('SELECT pg_is_in_recovery() AS r')).rows[0]).toEqual({ r: false });
    } finally {
      await check.end();
    }

    // The old primary comes back rebuilt, as a replica streaming from pg1.
    const rebuilt = await waitFor('pg0 rebuilt as a replica', async () => {
      const s = await up.status();
      const pg0 = postgresOf(s).find((p) => p.id === 'pg0');
      const node = s.db?.nodes.find((n) => n.name === primary!.address);
      return pg0?.state === 'running' && pg0.detail === 'replica' && node?.role === 'replica' && node.healthy && node.lagBytes !== null ? s : undefined;
    }, { timeoutMs: 60_000, intervalMs: 50 });
    const pg0 = postgresOf(rebuilt).find((p) => p.id === 'pg0')!;
    expect(pg0.pid).not.toBe(primary!.pid);
    expect(isAlive(primary!.pid!)).toBe(false);
    expect(postgresOf(rebuilt).find((p) => p.id === 'pg1')).toMatchObject({ detail: 'primary', state: 'running' });
    expect(up.stderr).toMatch(/failover to pg1 \(timeline 2\)/);
    expect(up.stderr).not.toMatch(/did not come back/);
    // A report for the lead: how long it took on this machine.
    console.log(`failover: promoted ${Math.round(promotedAfterMs)} ms after the kill; writes that failed meanwhile: ${JSON.stringify(Object.fromEntries(failures))}`);

    // An instance started now gets the new primary as DATABASE_URL (and every node in all).
    const scaled = await runCli(['scale', 'app=2', dir]);
    expect(scaled.code, scaled.stderr).toBe(0);
    const env = await waitFor('an answer from app-2', async () => {
      const res = await get(rebuilt.appUrl!);
      return res.instance === 'app-2' ? res.body.env : undefined;
    }, { timeoutMs: 20_000, intervalMs: 50 });
    expect(String(env.database)).toContain(replica!.address!);
  }, 150_000);

  it('rebuilds a replica by hand and refuses to rebuild the primary', async () => {
    const refused = await runCli(['db', 'rebuild', 'pg1', dir]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/pg1 is the primary.*SCALEOUT_RUNTIME_DB_INVALID/);
    const unknown = await runCli(['db', 'rebuild', 'pg7', dir]);
    expect(unknown.stderr).toMatch(/no PostgreSQL node "pg7"; the nodes are pg0, pg1/);
    const noShards = await runCli(['reshard', dir, '--to', 'shard_2']);
    expect(noShards.code).toBe(1);
    expect(noShards.stderr).toMatch(/no db\.shards section.*\[SCALEOUT_RUNTIME_DB_NO_SHARDS\]/);

    const done = await runCli(['db', 'rebuild', 'pg0', dir]);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toMatch(/pg0 rebuilt as a replica of pg1 in \d+\.\d s/);
    const s = await up.status();
    expect(postgresOf(s).map((p) => [p.id, p.detail, p.state])).toEqual([['pg0', 'replica', 'running'], ['pg1', 'primary', 'running']]);
  }, 60_000);

  it('fails over on request: the primary stops cleanly, the replica takes over, the old primary follows', async () => {
    const done = await runCli(['db', 'failover', dir]);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toMatch(/stopping pg1, the primary/);
    expect(done.stdout).toMatch(/pg1 rebuilt: streams from pg0/);
    expect(done.stdout).toMatch(/primary: pg1 → pg0 \(timeline 3\), promoted \d+\.\d s after the stop; pg1 is a replica now/);
    const s = await waitFor('both nodes healthy', async () => {
      const st = await up.status();
      return st.db?.nodes.every((n) => n.healthy) === true ? st : undefined;
    }, { timeoutMs: 20_000, intervalMs: 50 });
    expect(postgresOf(s).map((p) => [p.id, p.detail])).toEqual([['pg0', 'primary'], ['pg1', 'replica']]);
    expect(s.db).toMatchObject({ primary: postgresOf(s)[0]!.address, timeline: 3 });
  }, 60_000);
});
