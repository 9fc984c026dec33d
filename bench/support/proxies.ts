import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Mode, ProxyName } from './modes.js';
import type { ProcessGroup, Started } from './process-group.js';
import type { ServerAddress } from './peer-configs.js';
import { haproxyConfig, nginxProxyConfig } from './peer-configs.js';
import { freePort, httpStatus, waitForPort } from './net.js';
import { STICKY_COOKIE } from './modes.js';
import { SCALEOUT_BIN } from './scaleout-snapshot.js';

/** How long a proxy may take to answer 200 through to a server. @defaultValue 20000 */
export const DEFAULT_READY_TIMEOUT_MS = 20_000;

/** Everything a proxy needs to start. */
export interface ProxyContext {
  group: ProcessGroup;
  repoRoot: string;
  /** Where the scaleout build under test is (a snapshot of dist/ and bin/, see snapshotScaleout). */
  scaleoutRoot: string;
  workDir: string;
  servers: ServerAddress[];
  /** The CPU the proxy (and everything it starts) is pinned to. */
  cpu: number;
  /** Where the scaleout balancer writes its .cpuprofile, when profiling. */
  cpuProfDir?: string;
  /** Extra arguments for `scaleout balancer`. */
  scaleoutArgs: string[];
  /** Which round of the run this is (1-based), for file names. */
  round: number;
}

/** A proxy that answers on `url`. */
export interface RunningProxy {
  url: string;
  /** The process whose tree's CPU time is charged to the proxy; none for `direct`. */
  process?: Started;
  /** The cookie a client must bring, for proxies that route on one they never set (nginx `hash`). */
  clientCookieName?: string;
  /** The .cpuprofile the process writes on exit, when profiling. */
  cpuProfile?: string;
}

/** One proxy: how it does each mode (or why it cannot), and how to start it. */
export interface ProxyDefinition {
  name: ProxyName;
  /** Per mode: what the proxy runs for it (printed with the results), or undefined when it has no equivalent. */
  modes: Partial<Record<Mode, string>>;
  /** Why a mode is missing, per missing mode. */
  missing: Partial<Record<Mode, string>>;
  available(ctx: ProxyContext): string | undefined;
  start(ctx: ProxyContext, mode: Mode): Promise<RunningProxy>;
}

/** The affinity cookie key the benchmark gives the scaleout balancer (a benchmark secret, not a real one). */
const BENCH_COOKIE_SECRET = 'bench-only-affinity-key-0123456789abcdef';


/** Waits for the line a Node proxy prints once it listens, for at most {@link DEFAULT_READY_TIMEOUT_MS}. */
async function waitForFirstLine(started: Started): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${started.name} printed nothing within ${DEFAULT_READY_TIMEOUT_MS} ms; see ${started.logFile}`)), DEFAULT_READY_TIMEOUT_MS);
  });
  try {
    return await Promise.race([started.firstLine, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function waitUntilProxying(started: Started, port: number): Promise<void> {
  await waitForPort('127.0.0.1', port, DEFAULT_READY_TIMEOUT_MS, started.alive);
  const deadline = Date.now() + DEFAULT_READY_TIMEOUT_MS;
  let last = 'no answer';
  let delayMs = 20;
  while (Date.now() < deadline) {
    if (!started.alive()) break;
    try {
      const status = await httpStatus('127.0.0.1', port, '/');
      if (status === 200) return;
      last = `status ${status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    // Servers become eligible after the proxy's first health check; poll for that.
    await new Promise((r) => setTimeout(r, delayMs));
    delayMs = Math.min(delayMs * 2, 250);
  }
  throw new Error(`${started.name} did not proxy a 200 within ${DEFAULT_READY_TIMEOUT_MS} ms (last: ${last}); see ${started.logFile}`);
}

const direct: ProxyDefinition = {
  name: 'direct',
  modes: { 'round-robin': 'wrk straight to server a' },
  missing: { cookie: 'no proxy: the ceiling is measured once', 'least-load': 'no proxy: the ceiling is measured once' },
  available: () => undefined,
  start: async (ctx) => {
    const first = ctx.servers[0];
    if (first === undefined) throw new Error('no backend server is running');
    return { url: `http://127.0.0.1:${first.port}/` };
  },
};

const haproxy: ProxyDefinition = {
  name: 'haproxy',
  modes: {
    'round-robin': 'balance roundrobin, check inter 2s',
    cookie: 'cookie SRV insert indirect nocache, check inter 2s',
    'least-load': 'balance leastconn (nearest equivalent), check inter 2s',
  },
  missing: {},
  available: () => undefined,
  start: async (ctx, mode) => {
    const port = await freePort();
    const config = join(ctx.workDir, `haproxy-${mode}.cfg`);
    writeFileSync(config, haproxyConfig(port, ctx.servers, mode));
    const started = ctx.group.start({
      name: 'haproxy', command: 'haproxy', args: ['-db', '-f', config], cpu: ctx.cpu, logFile: join(ctx.workDir, `haproxy-${mode}.log`),
    });
    await waitUntilProxying(started, port);
    return { url: `http://127.0.0.1:${port}/`, process: started };
  },
};

const nginx: ProxyDefinition = {
  name: 'nginx',
  modes: {
    'round-robin': 'round robin (passive health only)',
    cookie: `hash $cookie_${STICKY_COOKIE} consistent (routes on a client cookie; cannot set one; passive health only)`,
    'least-load': 'least_conn (nearest equivalent; passive health only)',
  },
  missing: {},
  available: () => undefined,
  start: async (ctx, mode) => {
    const port = await freePort();
    const config = join(ctx.workDir, `nginx-proxy-${mode}.conf`);
    writeFileSync(config, nginxProxyConfig(ctx.workDir, port, ctx.servers, mode));
    const started = ctx.group.start({
      name: 'nginx', command: 'nginx', args: ['-c', config, '-g', 'daemon off;'], cpu: ctx.cpu, logFile: join(ctx.workDir, `nginx-proxy-${mode}.log`),
    });
    await waitUntilProxying(started, port);
    const running: RunningProxy = { url: `http://127.0.0.1:${port}/`, process: started };
    if (mode === 'cookie') running.clientCookieName = STICKY_COOKIE;
    return running;
  },
};

const fastify: ProxyDefinition = {
  name: 'fastify',
  modes: {
    'round-robin': 'undici pool per server, round robin in getUpstream (no health checks)',
    cookie: 'unsigned server-name cookie read in getUpstream (no health checks)',
  },
  missing: { 'least-load': 'no least-load or least-connections strategy' },
  available: () => undefined,
  start: async (ctx, mode) => {
    const port = await freePort();
    const started = ctx.group.start({
      name: 'fastify',
      command: process.execPath,
      args: [
        '--import', 'tsx', join(ctx.repoRoot, 'bench/support/fastify-proxy.ts'),
        '--listen', `127.0.0.1:${port}`, ...ctx.servers.flatMap((s) => ['--server', `${s.name}=127.0.0.1:${s.port}`]), '--mode', mode,
      ],
      cwd: ctx.repoRoot,
      cpu: ctx.cpu,
      logFile: join(ctx.workDir, `fastify-${mode}.log`),
      env: { ...process.env, NODE_ENV: 'production' },
    });
    await waitForFirstLine(started);
    await waitUntilProxying(started, port);
    return { url: `http://127.0.0.1:${port}/`, process: started };
  },
};

const scaleout: ProxyDefinition = {
  name: 'scaleout',
  modes: {
    'round-robin': '--strategy round-robin --health-path /healthz',
    cookie: '--strategy round-robin --affinity cookie --health-path /healthz',
    'least-load': '--strategy least-load --health-path /healthz',
  },
  missing: {},
  available: (ctx) => existsSync(join(ctx.scaleoutRoot, SCALEOUT_BIN)) ? undefined : `no scaleout build in ${ctx.scaleoutRoot}`,
  start: async (ctx, mode) => {
    const port = await freePort();
    const nodeArgs: string[] = [];
    let cpuProfile: string | undefined;
    if (ctx.cpuProfDir !== undefined) {
      const name = `scaleout-${mode}-round${ctx.round}.cpuprofile`;
      nodeArgs.push('--cpu-prof', '--cpu-prof-dir', ctx.cpuProfDir, '--cpu-prof-name', name);
      cpuProfile = join(ctx.cpuProfDir, name);
    }
    const balancerArgs = [
      'balancer', '--listen', `127.0.0.1:${port}`,
      ...ctx.servers.flatMap((s) => ['--server', `${s.name}=127.0.0.1:${s.port}`]),
      '--strategy', mode === 'least-load' ? 'least-load' : 'round-robin',
      // A fixed key keeps the cookie valid across the warm-up and measured runs.
      ...(mode === 'cookie' ? ['--affinity', 'cookie', '--key', `bench:${BENCH_COOKIE_SECRET}`] : []),
      '--health-path', '/healthz',
      ...ctx.scaleoutArgs,
    ];
    const started = ctx.group.start({
      name: 'scaleout',
      command: process.execPath,
      args: [...nodeArgs, join(ctx.scaleoutRoot, SCALEOUT_BIN), ...balancerArgs],
      cwd: ctx.repoRoot,
      cpu: ctx.cpu,
      logFile: join(ctx.workDir, `scaleout-${mode}.log`),
      env: { ...process.env, NODE_ENV: 'production' },
    });
    await waitForFirstLine(started);
    await waitUntilProxying(started, port);
    const running: RunningProxy = { url: `http://127.0.0.1:${port}/`, process: started };
    if (cpuProfile !== undefined) running.cpuProfile = cpuProfile;
    return running;
  },
};

/** Every proxy, in the order they run within a mode. */
export const PROXIES: readonly ProxyDefinition[] = [direct, haproxy, nginx, fastify, scaleout];
