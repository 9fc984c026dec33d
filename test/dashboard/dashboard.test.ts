import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSupervisorFile } from '../../src/runtime/index.js';
import type { RuntimeStatus } from '../../src/runtime/index.js';
import { DASHBOARD_CSP } from '../../src/dashboard/server.js';
import { cleanEnv, copyApp, EXTERNAL_ENGINES, REPO_DIR, removeApp, startLoad, UpProcess } from '../runtime/support/runtime-harness.js';
import { request } from '../support/http-client.js';
import { waitFor } from '../support/wait-for.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(REPO_DIR, '.artifacts', 'dashboard');
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const VIEWPORT = { width: 1400, height: 900 };

// One chromium for the file, launched on first use; each describe gets a fresh context
// of its own (own cookies and storage), which costs far less than another launch.
let browser: Promise<Browser> | undefined;
const freshContext = async (): Promise<BrowserContext> => {
  browser ??= chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  return (await browser).newContext({ viewport: VIEWPORT });
};
afterAll(async () => {
  await (await browser?.catch(() => undefined))?.close();
});

// A real `scaleout up` of the hello fixture (no engines), driven by Debian's chromium.
// The dashboard's script comes from dist/: the build must be fresh (npm test builds first).
describe.skipIf(!existsSync(CHROMIUM))('dashboard', () => {
  let dir: string;
  let up: UpProcess;
  let status: RuntimeStatus;
  let base: string;
  let token: string;
  let context: BrowserContext;
  let page: Page;
  /** What the browser complained about: a CSP violation or a script error shows here. */
  const browserErrors: string[] = [];

  beforeAll(async () => {
    dir = await copyApp('hello', { app: { instances: 2, restart: { initialMs: 1000, maxMs: 2000 } } });
    up = UpProcess.start(dir, cleanEnv());
    status = await up.waitRunning();
    const file = readSupervisorFile(dir)!;
    base = `http://${file.control}`;
    token = file.token;
    await mkdir(ARTIFACTS, { recursive: true });
    context = await freshContext();
    page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error' && !/401/.test(message.text())) browserErrors.push(message.text());
    });
    page.on('pageerror', (err) => browserErrors.push(err.message));
  });

  afterAll(async () => {
    await context?.close();
    // A SIGKILL heals nothing: a partition left by a failed test is undone here.
    if (base !== undefined) await fetch(`${base}/chaos/heal`, { method: 'POST', headers: { authorization: `Bearer ${token}` } }).catch(() => undefined);
    await up?.stop('SIGKILL');
    if (dir !== undefined) await removeApp(dir);
  });

  it('refuses the page data, the actions and the event stream without the token', async () => {
    for (const path of ['/dashboard/api/status', '/dashboard/api/events', '/dashboard/app.js']) {
      const res = await fetch(`${base}${path}`);
      expect(res.status, path).toBe(401);
      await res.body?.cancel();
    }
    const kill = await fetch(`${base}/dashboard/api/processes/app-1/kill`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(kill.status).toBe(401);
    const partition = await fetch(`${base}/dashboard/api/chaos`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"fault":"partition","target":"app-1"}' });
    expect(partition.status).toBe(401);
    // A forged cookie and a wrong token are refused too.
    const forged = await fetch(`${base}/dashboard/api/status`, { headers: { cookie: `scaleout_dashboard=${token}` } });
    expect(forged.status).toBe(401);
    const wrong = await fetch(`${base}/dashboard/login`, { method: 'POST', body: new URLSearchParams({ token: 'nope' }), redirect: 'manual' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();

    await page.goto(`${base}/dashboard`);
    expect(await page.locator('#topology').count()).toBe(0);
    await page.screenshot({ path: join(ARTIFACTS, 'login.png') });
  });

  it('logs in with the token into an HttpOnly, SameSite=Strict cookie and renders every process', async () => {
    const res = await fetch(`${base}/dashboard/login`, { method: 'POST', body: new URLSearchParams({ token }), redirect: 'manual' });
    expect(res.status).toBe(303);
    expect(res.headers.get('set-cookie')).toMatch(/HttpOnly; SameSite=Strict/);
    expect(res.headers.get('content-security-policy')).toBe(DASHBOARD_CSP);

    await page.fill('#token', token);
    await page.click('#login');
    await page.waitForSelector('#topology svg');
    for (const p of status.processes) {
      await page.waitForSelector(`#topology [data-id="${p.id}"]`, { timeout: 5000 });
    }
    await page.waitForSelector('#topology [data-id="app-1"][data-colour="green"]');
    await page.waitForSelector('#live.on');
    expect(await page.locator('#events li').count()).toBeGreaterThan(0);
    // Under a steady load, each instance shows the req/s the balancer counted for it.
    const load = startLoad(status.appUrl!, { connections: 2, overallRate: 40 });
    try {
      for (const id of ['app-1', 'app-2']) {
        await page.waitForSelector(`#topology [data-id="${id}"] text.metric >> text=/[1-9][0-9.]* req\\/s/`, { timeout: 10_000 });
      }
      await page.screenshot({ path: join(ARTIFACTS, 'topology.png'), fullPage: true });
      // The nodes panel: the balancer's p50/p99 per instance (over its window, so > 0 once
      // traffic went through), and CPU and memory from /proc for every process with a pid.
      for (const id of ['app-1', 'app-2']) {
        await page.waitForSelector(`#nodes tr[data-id="${id}"] td.p99 >> text=/^(0\\.[1-9]|0\\.0[1-9]|[1-9])[0-9.]* ms$/`, { timeout: 10_000 });
        await page.waitForSelector(`#nodes tr[data-id="${id}"] td.p50 >> text=/ms$/`);
      }
      for (const id of ['app-1', 'balancer', 'supervisor']) {
        await page.waitForSelector(`#nodes tr[data-id="${id}"] td.cpu >> text=/^[0-9.]+ %$/`, { timeout: 10_000 });
        await page.waitForSelector(`#nodes tr[data-id="${id}"] td.mem >> text=/^[0-9.]+ MB$/`);
      }
      await page.waitForSelector('#summary >> text=/p99 [0-9.]+ ms/');
      await page.locator('#nodes').screenshot({ path: join(ARTIFACTS, 'nodes.png') });
    } finally {
      expect((await load.stop()).errors).toBe(0);
    }
    const cookies = await context.cookies();
    expect(cookies.find((c) => c.name === 'scaleout_dashboard')).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    // No script reads the cookie.
    expect(await page.evaluate('document.cookie')).toBe('');
    // The script and stylesheet came from this origin under the CSP, with nothing refused.
    expect(browserErrors).toEqual([]);
  });

  it('starts a bounded load from the page, one at a time, and shows its result next to the balancer\'s count', async () => {
    await page.selectOption('#load-scenario', 'mixed');
    await page.fill('#load-rps', '40');
    await page.fill('#load-duration', '2');
    await page.click('#load-start');
    await page.waitForSelector('#load-status[data-running="true"]', { timeout: 3000 });
    // A second load while one runs is refused.
    const second = await page.evaluate(async () => (await fetch('/dashboard/api/load', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"rps":10,"durationS":1}' })).text());
    expect(second).toContain('SCALEOUT_BENCH_BUSY');
    // Out of bounds is refused too.
    const tooMuch = await page.evaluate(async () => (await fetch('/dashboard/api/load', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"rps":100000,"durationS":1}' })).text());
    expect(tooMuch).toMatch(/SCALEOUT_BENCH_(OPTIONS|BUSY)/);
    // The browser logs those two refusals (409) as failed loads: they were asked for.
    const refusals = browserErrors.filter((e) => /status of 409/.test(e));
    expect(refusals).toHaveLength(2);
    browserErrors.splice(0, browserErrors.length, ...browserErrors.filter((e) => !/status of 409/.test(e)));
    await page.waitForSelector('#load-status[data-running="false"]', { timeout: 15_000 });
    const text = await page.locator('#load-status').textContent();
    const match = /last load: (\d+) responses \(balancer: (\d+)\)/.exec(text ?? '');
    expect(match, text ?? '').not.toBeNull();
    expect(Number(match![1])).toBe(80);
    expect(Number(match![2])).toBe(80);
    // The load browsed product pages, which the fixture serves from its little cache: the
    // instances' cache counts (from their health bodies) show as a hit ratio.
    for (const id of ['app-1', 'app-2']) await page.waitForSelector(`#nodes tr[data-id="${id}"] td.cache >> text=/[0-9]+ %/`, { timeout: 10_000 });
    await page.screenshot({ path: join(ARTIFACTS, 'load.png'), fullPage: true });
    expect(browserErrors).toEqual([]);
  });

  it('kill turns the node red within 2 s, and green again once supervision restarted it', async () => {
    const before = (await up.status()).processes.find((p) => p.id === 'app-1')!;
    await page.click('#topology [data-id="app-1"]');
    await page.waitForSelector('#kill:not([disabled])');
    const clickedAt = performance.now();
    await page.click('#kill');
    await page.waitForSelector('#topology [data-id="app-1"][data-colour="red"]', { timeout: 2000 });
    expect(performance.now() - clickedAt).toBeLessThan(2000);
    await page.screenshot({ path: join(ARTIFACTS, 'killed.png'), fullPage: true });
    // The kill and the restart are events in the log.
    await page.waitForSelector('#events li[data-kind="instance-exited"]', { timeout: 5000 });

    await page.waitForSelector('#topology [data-id="app-1"][data-colour="green"]', { timeout: 20_000 });
    await page.waitForSelector('#events li[data-kind="instance-restarted"]', { timeout: 5000 });
    const after = await waitFor('app-1 up again', async () => (await up.status()).processes.find((p) => p.id === 'app-1' && p.state === 'running'));
    expect(after.pid).not.toBe(before.pid);
    expect(after.restarts).toBe((before.restarts ?? 0) + 1);
    await page.screenshot({ path: join(ARTIFACTS, 'restarted.png'), fullPage: true });
  });

  it('kills through the control API as well, and refuses the supervisor and unknown ids with a code', async () => {
    const before = (await up.status()).processes.find((p) => p.id === 'app-2')!;
    const call = (path: string): Promise<Response> => fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    const answer = await (await call('/processes/app-2/kill')).text();
    expect(answer).toContain(`"pid":${before.pid}`);
    const after = await waitFor('app-2 restarted', async () => (await up.status()).processes.find((p) => p.id === 'app-2' && p.state === 'running' && p.pid !== before.pid), { timeoutMs: 20_000 });
    expect(after.restarts).toBe((before.restarts ?? 0) + 1);
    expect(await (await call('/processes/supervisor/kill')).text()).toContain('SCALEOUT_RUNTIME_PROCESS_ACTION_INVALID');
    expect(await (await call('/processes/app-99/restart')).text()).toContain('SCALEOUT_RUNTIME_PROCESS_ACTION_INVALID');
    expect(await (await call('/processes/balancer/drain')).text()).toContain('SCALEOUT_RUNTIME_PROCESS_ACTION_INVALID');
  });

  it('scales the app from the page', async () => {
    await page.selectOption('#scale-role', 'app');
    await page.fill('#scale-count', '3');
    await page.click('#scale');
    await page.waitForSelector('#topology [data-id="app-3"][data-colour="green"]', { timeout: 30_000 });
    await page.waitForSelector('#action-result.ok');
    expect(browserErrors).toEqual([]);
  });

  it('drains an instance (amber) and brings it back with restart (green)', async () => {
    const before = (await up.status()).processes.find((p) => p.id === 'app-3')!;
    await page.click('#topology [data-id="app-3"]');
    await page.waitForSelector('#drain:not([disabled])');
    await page.click('#drain');
    await page.waitForSelector('#topology [data-id="app-3"][data-colour="amber"]', { timeout: 5000 });
    await page.screenshot({ path: join(ARTIFACTS, 'drained.png'), fullPage: true });
    await page.click('#restart');
    await page.waitForSelector('#events li[data-kind="instance-restarted"] >> text=app-3', { timeout: 20_000 });
    await page.waitForSelector('#topology [data-id="app-3"][data-colour="green"]', { timeout: 20_000 });
    const after = (await up.status()).processes.find((p) => p.id === 'app-3')!;
    expect(after.pid).not.toBe(before.pid);
    expect(browserErrors).toEqual([]);
  });

  it('partitions an instance from the page: the node shows the fault and goes red as the balancer ejects it; heal all brings it back', async () => {
    await page.click('#topology [data-id="app-2"]');
    await page.waitForSelector('#chaos-partition:not([disabled])');
    // A form post (no JSON content type) is refused, as for every button.
    const formPost = await page.evaluate(async () => (await fetch('/dashboard/api/chaos', { method: 'POST', body: 'fault=partition&target=app-1' })).status);
    expect(formPost).toBe(415);
    const bad = await page.evaluate(async () => (await fetch('/dashboard/api/chaos', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"fault":"explode","target":"app-1"}' })).text());
    expect(bad).toContain('SCALEOUT_RUNTIME_CHAOS_INVALID');
    browserErrors.splice(0, browserErrors.length, ...browserErrors.filter((e) => !/status of 4(15|00)/.test(e)));

    await page.click('#chaos-partition');
    await page.waitForSelector('#topology [data-id="app-2"][data-fault="partition"]', { timeout: 5000 });
    await page.waitForSelector('#faults li[data-target="app-2"][data-fault="partition"]');
    // The balancer's health checks time out: the node goes red while the process still runs.
    await page.waitForSelector('#topology [data-id="app-2"][data-colour="red"]', { timeout: 15_000 });
    expect((await up.status()).processes.find((p) => p.id === 'app-2')!.state).toBe('running');
    await page.waitForSelector('#events li[data-kind="chaos-fault"]');
    await page.screenshot({ path: join(ARTIFACTS, 'partitioned.png'), fullPage: true });

    await page.click('#chaos-heal');
    await page.waitForSelector('#topology [data-id="app-2"][data-fault=""]', { timeout: 5000 });
    await page.waitForSelector('#topology [data-id="app-2"][data-colour="green"]', { timeout: 15_000 });
    await page.waitForSelector('#events li[data-kind="chaos-healed"]');
    expect(await page.locator('#faults li[data-target]').count()).toBe(0);
    expect(browserErrors).toEqual([]);
  });

  it('is named with its URL in what scaleout up prints when ready', async () => {
    const result = await up.stop('SIGTERM');
    expect(result.stdout).toContain(`dashboard ${base}/dashboard`);
  });
});

// With engines: they are drawn in their own column, linked from the instances, and the
// data tier's nodes are listed with their lag.
describe.skipIf(!existsSync(CHROMIUM))('dashboard with engines', () => {
  let dir: string;
  let up: UpProcess;
  let context: BrowserContext;

  beforeAll(async () => {
    dir = await copyApp('hello', { app: { instances: 2 }, engines: { postgres: {}, redis: {} } });
    up = UpProcess.start(dir, cleanEnv(EXTERNAL_ENGINES));
    await up.waitRunning();
    context = await freshContext();
  });

  afterAll(async () => {
    await context?.close();
    await up?.stop('SIGKILL');
    if (dir !== undefined) await removeApp(dir);
  });

  it('draws the engines and the replication table', async () => {
    const file = readSupervisorFile(dir)!;
    const page = await context.newPage();
    await page.goto(`http://${file.control}/dashboard`);
    await page.fill('#token', file.token);
    await page.click('#login');
    const status = await up.status();
    const engines = status.processes.filter((p) => p.role === 'postgres' || p.role === 'redis' || p.role === 'redis-cache' || p.role === 'memcached');
    expect(engines.length).toBeGreaterThan(0);
    for (const p of status.processes) await page.waitForSelector(`#topology [data-id="${p.id}"]`);
    // Two instances, each linked to every engine, plus the balancer's links to them.
    expect(await page.locator('#topology path.edge').count()).toBe(2 + 2 * engines.length);
    await page.waitForSelector('#db table');
    // Engines have a pid too: their memory is shown.
    for (const p of engines.filter((e) => e.pid !== null)) await page.waitForSelector(`#nodes tr[data-id="${p.id}"] td.mem >> text=/B$/`, { timeout: 10_000 });
    await page.screenshot({ path: join(ARTIFACTS, 'engines.png'), fullPage: true });
  });
});

// With workers: the queue panel shows the depth of the worker's queue, read from BullMQ
// on Redis, and the jobs it completes per second.
describe.skipIf(!existsSync(CHROMIUM))('dashboard with workers', () => {
  const prefix = `dash-${process.pid}-${randomBytes(4).toString('hex')}`;
  const redis = new Redis(EXTERNAL_ENGINES.REDIS_URL);
  let dir: string;
  let up: UpProcess;
  let context: BrowserContext;

  beforeAll(async () => {
    dir = await copyApp('workers', {
      app: { env: { SCALEOUT_JOBS_MODULE: join(REPO_DIR, 'src/jobs/index.ts'), JOBS_PREFIX: prefix } },
      workers: { exports: { instances: 1, backendPrefix: prefix } },
    });
    up = UpProcess.start(dir, cleanEnv({ REDIS_URL: EXTERNAL_ENGINES.REDIS_URL }));
    await up.waitRunning(60_000);
    context = await freshContext();
  }, 70_000);

  afterAll(async () => {
    await context?.close();
    await up?.stop('SIGKILL');
    if (dir !== undefined) await removeApp(dir);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('shows the exports queue\'s depth and its completed jobs per second', async () => {
    const file = readSupervisorFile(dir)!;
    const page = await context.newPage();
    await page.goto(`http://${file.control}/dashboard`);
    await page.fill('#token', file.token);
    await page.click('#login');
    // Idle: a real 0 from the engine, not a dash.
    await page.waitForSelector('#queues tr[data-queue="exports"] td.depth >> text=/^0$/', { timeout: 10_000 });
    // One worker runs two jobs at a time, 400 ms each: 24 jobs wait for a few seconds.
    const status = await up.status();
    const answer = await request('POST', new URL('/enqueue?n=24&from=0&ms=400', status.appUrl!).href);
    expect(answer.status, answer.text).toBe(200);
    await page.waitForSelector('#queues tr[data-queue="exports"] td.depth >> text=/^[1-9][0-9]*$/', { timeout: 5000 });
    await page.waitForSelector('#queues tr[data-queue="exports"] td.completed >> text=/^([1-9][0-9.]*|0\\.[1-9])$/', { timeout: 10_000 });
    await page.locator('#queues-panel').screenshot({ path: join(ARTIFACTS, 'queues.png') });
    await waitFor('24 jobs done', async () => (await redis.scard(`${prefix}:done`)) === 24, { timeoutMs: 30_000 });
    await page.waitForSelector('#queues tr[data-queue="exports"] td.depth >> text=/^0$/', { timeout: 5000 });
  }, 60_000);
});
