import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSupervisorFile } from '../../src/runtime/index.js';
import type { RuntimeStatus } from '../../src/runtime/index.js';
import { StaticTier } from '../../src/static/index.js';
import { bumpVersion, cleanEnv, copyApp, removeApp, runCli, UpProcess } from './support/runtime-harness.js';
import { get as getAny } from '../support/http-client.js';
import type { RequestOptions } from '../support/http-client.js';
import { waitFor } from '../support/wait-for.js';

// The `static` role under a real `scaleout up`: static servers in a pool of the
// balancer in front of the app, a page published into STATIC_DIR served as a file,
// a miss answered by the app, and the route kept across a blue-green deploy.

/** A browser's GET: the static tier serves HTML to clients that take it (a JSON client goes to the app). */
const get = (url: string, options: RequestOptions = {}) => getAny(url, { html: true, ...options });

const statics = (s: RuntimeStatus) => s.processes.filter((p) => p.role === 'static');

describe('the static role under scaleout up', () => {
  let dir: string;
  let up: UpProcess;
  let appUrl: string;
  let tier: StaticTier;

  beforeAll(async () => {
    dir = await copyApp('hello', { static: { paths: ['/pages'], instances: 2 } });
    up = UpProcess.start(dir, cleanEnv());
    const status = await up.waitRunning();
    appUrl = status.appUrl!;
    // The app is told where the tier is, as a pre-renderer in it would be.
    const env = await getAny(new URL('/env?names=STATIC_DIR', appUrl).href);
    tier = new StaticTier({ dir: env.body.env.STATIC_DIR as string });
  });

  afterAll(async () => {
    await up?.stop('SIGTERM');
    await removeApp(dir);
  });

  it('runs the static servers as their own role in the balancer pool "static"', async () => {
    const status = await up.status();
    expect(statics(status).map((p) => [p.id, p.state, p.pool])).toEqual([['static-1', 'running', 'static'], ['static-2', 'running', 'static']]);
    const text = await runCli(['status', dir]);
    expect(text.stdout).toMatch(/static\s+static-1\s+\d+/);
    const three = await runCli(['scale', 'static=3', dir]);
    expect(three.code, three.stderr).toBe(0);
    expect(statics(await up.status()).map((p) => p.id)).toEqual(['static-1', 'static-2', 'static-3']);
    const two = await runCli(['scale', 'static=2', dir]);
    expect(two.code, two.stderr).toBe(0);
    expect(statics(await up.status()).map((p) => p.id)).toEqual(['static-1', 'static-2']);
  });

  it('answers a page that is not pre-rendered from the app, and a published one from a static server with validators', async () => {
    const miss = await get(new URL('/pages/about', appUrl).href);
    expect(miss.status).toBe(200);
    expect(miss.instance).toMatch(/^app-/);

    await tier.publish({ put: [{ path: '/pages/about', body: '<h1>baked</h1>' }] });
    const hit = await get(new URL('/pages/about', appUrl).href);
    expect(hit.status).toBe(200);
    expect(hit.text).toBe('<h1>baked</h1>');
    expect(hit.instance).toMatch(/^static-/);
    expect(hit.headers.etag).toBeDefined();
    const again = await get(new URL('/pages/about', appUrl).href, { headers: { 'if-none-match': hit.headers.etag as string } });
    expect(again.status).toBe(304);
    // Other paths, and clients that want JSON, go to the app.
    expect((await get(new URL('/other', appUrl).href)).instance).toMatch(/^app-/);
    expect((await getAny(new URL('/pages/about', appUrl).href)).instance).toMatch(/^app-/);

    // The balancer's cache of the static pool answers the repeat: the static servers saw one GET.
    const file = readSupervisorFile(dir)!;
    const pool = await (await fetch(new URL('/pools/static', file.adminUrl!), { headers: { authorization: `Bearer ${file.adminToken!}` } })).json() as { cache: { stores: number; hits: number } };
    expect(pool.cache.stores).toBeGreaterThanOrEqual(1);

    await tier.purge(['/pages/about']);
    // The balancer's copy lives at most a second (Surrogate-Control: max-age=1): then the app answers.
    await waitFor('the purged page answered by the app', async () => (await get(new URL('/pages/about', appUrl).href)).instance?.startsWith('app-'), { timeoutMs: 5_000 });
  });

  it('keeps answering while a static server is killed and restarted', async () => {
    await tier.publish({ put: [{ path: '/pages/k', body: 'kept' }] });
    const victim = statics(await up.status())[0]!;
    process.kill(victim.pid!, 'SIGKILL');
    for (let i = 0; i < 20; i++) {
      const res = await get(new URL('/pages/k', appUrl).href);
      expect(res.status).toBe(200);
    }
    await waitFor('static-1 back', async () => {
      const s = statics(await up.status()).find((p) => p.id === victim.id);
      return s?.state === 'running' && s.pid !== victim.pid;
    }, { timeoutMs: 20_000 });
  });

  it('keeps the static pool and routes when the balancer is killed and restarted', async () => {
    const balancer = (await up.status()).processes.find((p) => p.role === 'balancer')!;
    process.kill(balancer.pid!, 'SIGKILL');
    const hit = await waitFor('a static page through the restarted balancer', async () => {
      const res = await get(new URL('/pages/k', appUrl).href);
      return res.status === 200 && res.instance?.startsWith('static-') ? res : undefined;
    }, { timeoutMs: 20_000 });
    expect(hit.text).toBe('kept');
    expect((await get(new URL('/pages/none', appUrl).href)).instance).toMatch(/^app-/);
  });

  it('keeps the static route across a blue-green deploy', async () => {
    await bumpVersion(dir, 'v2');
    const deploy = await runCli(['deploy', dir, '--strategy', 'blue-green']);
    expect(deploy.code, deploy.stderr).toBe(0);
    const hit = await get(new URL('/pages/k', appUrl).href);
    expect(hit.text).toBe('kept');
    expect(hit.instance).toMatch(/^static-/);
    const miss = await get(new URL('/pages/new', appUrl).href);
    expect(JSON.parse(miss.text).version).toBe('v2');
  });
});
