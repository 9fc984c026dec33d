import { readFile } from 'node:fs/promises';
import { findWrk } from '../../src/bench/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BalancerSnapshot } from '../../src/balancer/index.js';
import type { BenchReport } from '../../src/bench/index.js';
import { readSupervisorFile } from '../../src/runtime/index.js';
import type { RuntimeStatus } from '../../src/runtime/index.js';
import { cleanEnv, copyApp, removeApp, runCli, UpProcess } from '../runtime/support/runtime-harness.js';

// `scaleout bench` against a real `scaleout up` of the hello fixture (two instances, no
// engines): the report's counts must be the balancer's, read here independently.
describe('scaleout bench', () => {
  let dir: string;
  let up: UpProcess;
  let status: RuntimeStatus;

  beforeAll(async () => {
    dir = await copyApp('hello', { app: { instances: 2 } });
    up = UpProcess.start(dir, cleanEnv());
    status = await up.waitRunning();
  });

  afterAll(async () => {
    await up?.stop('SIGKILL');
    if (dir !== undefined) await removeApp(dir);
  });

  async function balancerCounts(): Promise<{ exchanges: number; responses: number }> {
    const file = readSupervisorFile(dir)!;
    const res = await fetch(new URL('/servers', status.adminUrl!), { headers: { authorization: `Bearer ${file.adminToken}` } });
    const snapshot = await res.json() as BalancerSnapshot;
    let exchanges = 0;
    let responses = 0;
    for (const pool of Object.values(snapshot.pools)) {
      exchanges += pool.exchanges;
      for (const s of pool.servers) responses += s.counters.responses2xx + s.counters.responses3xx + s.counters.responses4xx + s.counters.responses5xx;
    }
    return { exchanges, responses };
  }

  it('sends the load through the balancer, and its totals are the balancer\'s own counts', async () => {
    const before = await balancerCounts();
    const result = await runCli(['bench', dir, '--rps', '120', '--duration', '3', '--scenario', 'mixed', '--connections', '4', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const after = await balancerCounts();
    const report = JSON.parse(result.stdout) as BenchReport & { reportPath: string };

    // A rated run sends rps × duration requests and waits for every answer.
    expect(report.totals.responses).toBe(360);
    expect(report.totals.errors).toBe(0);
    expect(after.exchanges - before.exchanges).toBe(report.totals.responses);
    expect(after.responses - before.responses).toBe(report.totals.responses);
    expect(report.balancer.exchanges).toBe(report.totals.responses);
    // Both instances took part, and the per-instance counts add up to the balancer's.
    expect(report.servers.map((s) => s.id).sort()).toEqual(['app-1', 'app-2']);
    expect(report.servers.every((s) => s.requests > 0)).toBe(true);
    expect(report.servers.reduce((sum, s) => sum + s.requests, 0)).toBe(report.balancer.requests);
    expect(report.latency.p99Ms).toBeGreaterThan(0);
    expect(report.timeline.length).toBeGreaterThanOrEqual(3);

    const html = await readFile(report.reportPath, 'utf8');
    expect(html).toContain('<svg');
    expect(html).toContain('Latency over time');
    expect(html).toContain('Requests per instance');
    // Self-contained: no script, nothing loaded from anywhere.
    expect(html).not.toMatch(/<script|(src|href)="https?:/);
    // The progress went to stderr, the report to stdout.
    expect(result.stderr).toMatch(/\d+%/);
  });

  it('prints a table and the report path, and refuses bad options with exit code 2', async () => {
    const table = await runCli(['bench', dir, '--rps', '50', '--duration', '1', '--scenario', 'browse', '--connections', '2']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/responses\s+req\/s\s+p50 ms/);
    expect(table.stdout).toMatch(/app-1/);
    expect(table.stdout).toMatch(/report: .*\.html/);
    expect(table.stdout).toContain('they agree');

    const [bad, badRate] = await Promise.all([runCli(['bench', dir, '--scenario', 'nope']), runCli(['bench', dir, '--rps', 'lots'])]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/scenario/);
    expect(badRate.code).toBe(2);
  });

  it.skipIf(findWrk() === undefined)('drives wrk for browse, with the timeline from the balancer, and refuses a rate for it', async () => {
    const before = await balancerCounts();
    const result = await runCli(['bench', dir, '--tool', 'wrk', '--duration', '2', '--connections', '4', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const after = await balancerCounts();
    const report = JSON.parse(result.stdout) as BenchReport;
    expect(report.tool).toBe('wrk');
    expect(report.timelineSource).toBe('balancer');
    expect(report.totals.responses).toBeGreaterThan(0);
    expect(report.totals.byClass['5xx']).toBe(0);
    expect(report.latency.p99Ms).toBeGreaterThan(0);
    // wrk stops at the deadline: what was in flight then (one per connection at most) the balancer counted alone.
    const counted = after.exchanges - before.exchanges;
    expect(counted).toBeGreaterThanOrEqual(report.totals.responses);
    expect(counted).toBeLessThanOrEqual(report.totals.responses + 4);
    expect(report.balancer.exchanges).toBe(counted);

    const rated = await runCli(['bench', dir, '--tool', 'wrk', '--rps', '10']);
    expect(rated.code).toBe(1);
    expect(rated.stderr).toMatch(/no fixed rate/);
  });
});
