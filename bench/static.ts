/**
 * The static tier's benchmark: pre-rendered pages served through the balancer by the
 * static server (the `static` role, as `scaleout up` places it: a `fallthrough` route
 * in front of an app pool), against nginx serving the same files, in the same run.
 *
 *   CPU 1: the serving side: nginx (one worker), or the balancer + one static server
 *   CPU 0: wrk (cycling over the pages) and this harness
 *
 * Prints req/s, p50/p99 and requests per CPU-second of the serving processes (from
 * /proc), and the ratio to nginx (target: 0.7 or more per CPU-second). Also measures
 * the static server alone (no balancer) and the balancer as a plain proxy (its cache
 * off) to show what the hop costs; the target row is the balancer with the static
 * pool's response cache on, as `scaleout up` runs it.
 *
 * Run: npm run bench:static [-- --duration 5 --pages 100 --docs]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { StaticTier } from '../src/static/index.js';
import { clockTicksPerSecond, processTreeTicks } from './support/cpu-time.js';
import { writeSection } from './support/docs-section.js';
import { describeMachine, machineLine } from './support/machine.js';
import { freePort, httpStatus, waitForPort } from './support/net.js';
import { ProcessGroup, type Started } from './support/process-group.js';
import { tempPaths } from './support/backends.js';
import { parseWrkOutput, type WrkResult } from './support/wrk.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SERVE_CPU = 1;
const LOAD_CPU = 0;

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    pages: { type: 'string', default: '100' },
    connections: { type: 'string', default: '32' },
    docs: { type: 'boolean', default: false },
  },
});
const durationS = Number(args.duration);
const warmupS = Number(args.warmup);
const pageCount = Number(args.pages);
const connections = Number(args.connections);
if (!(durationS >= 1) || !(warmupS >= 0) || !(pageCount >= 1) || !(connections >= 1)) {
  console.error('usage: tsx bench/static.ts [--duration S] [--warmup S] [--pages N] [--connections N] [--docs]');
  process.exit(2);
}
for (const tool of ['nginx', 'wrk', 'taskset']) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
    console.error(`bench:static needs ${tool} (Debian: apt-get install nginx-light wrk util-linux)`);
    process.exit(1);
  }
}

const workDir = join(tmpdir(), `scaleout-bench-static-${process.pid}`);
const tierDir = join(workDir, 'tier');
mkdirSync(workDir, { recursive: true });
const group = new ProcessGroup(join(tmpdir(), 'scaleout-bench-static.pids'));
group.reapLeftovers('scaleout-bench-static');

/** A product page of about 6 KB, like the shop's. */
function pageHtml(id: number): string {
  const related = Array.from({ length: 3 }, (_, i) => `<li><a href="/products/${id + i + 1}">Product ${id + i + 1}</a> $${(id % 50) + i}.00</li>`).join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Product ${id}</title><style>${'body{margin:0}'.repeat(200)}</style></head>` +
    `<body><header><a href="/products">Products</a><span id="account"><a href="/login">Log in</a></span></header>` +
    `<main><h1>Product ${id}</h1><p>${'A fine product. '.repeat(150)}</p><ul>${related}</ul></main>` +
    '<script src="/assets/visitor.js" defer></script></body></html>';
}

// wrk cycles over every page; done() prints the machine-readable line parseWrkOutput reads.
const WRK_SCRIPT = `
local i = 0
local n = ${pageCount}
request = function()
  i = i + 1
  return wrk.format(nil, "/products/" .. ((i % n) + 1))
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK_RESULT {"requests":%d,"durationUs":%d,"p50Us":%.1f,"p99Us":%.1f,"status":%d,"socket":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
`;

function wrk(url: string, seconds: number): WrkResult {
  const script = join(workDir, 'pages.lua');
  writeFileSync(script, WRK_SCRIPT);
  const out = spawnSync('taskset', ['-c', String(LOAD_CPU), 'wrk', '-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '5s', '-s', script, url], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`wrk failed: ${out.stderr}`);
  return parseWrkOutput(out.stdout);
}

interface Row { name: string; result: WrkResult; cpuS: number; perCpuS: number }

/** Warm up, then measure `url` while summing the CPU of `serving` (their process trees). */
function measure(name: string, url: string, serving: Started[]): Row {
  if (warmupS > 0) wrk(url, warmupS);
  const ticks = (): number => serving.reduce((sum, s) => sum + processTreeTicks(s.pid).total, 0);
  const before = ticks();
  const result = wrk(url, durationS);
  const cpuS = (ticks() - before) / clockTicksPerSecond();
  if (result.non2xx > 0 || result.socketErrors > 0) console.warn(`${name}: ${result.non2xx} non-2xx answers, ${result.socketErrors} socket errors`);
  return { name, result, cpuS, perCpuS: cpuS > 0 ? result.requests / cpuS : 0 };
}

async function main(): Promise<void> {
  const tier = new StaticTier({ dir: tierDir });
  await tier.publish({ put: Array.from({ length: pageCount }, (_, i) => ({ path: `/products/${i + 1}`, body: pageHtml(i + 1) })) });
  const rows: Row[] = [];

  // nginx over the current generation, the way a site would serve the folder.
  const nginxPort = await freePort();
  const nginxConf = join(workDir, 'nginx.conf');
  writeFileSync(nginxConf, `# scaleout-bench-static
worker_processes 1;
pid ${join(workDir, 'nginx.pid')};
error_log ${join(workDir, 'nginx.error.log')};
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  default_type text/html;
  ${tempPaths(join(workDir, 'nginx-tmp'))}
  server {
    listen 127.0.0.1:${nginxPort};
    root ${join(tierDir, 'current')};
    location / { try_files $uri $uri/index.html =404; add_header Cache-Control "public, max-age=0, must-revalidate"; }
  }
}
`);
  const nginx = group.start({ name: 'nginx', command: 'nginx', args: ['-c', nginxConf, '-g', 'daemon off;'], cpu: SERVE_CPU, logFile: join(workDir, 'nginx.log') });
  await waitForPort('127.0.0.1', nginxPort, undefined, nginx.alive);
  if (await httpStatus('127.0.0.1', nginxPort, '/products/1') !== 200) throw new Error('nginx does not serve /products/1');
  rows.push(measure('nginx (1 worker)', `http://127.0.0.1:${nginxPort}`, [nginx]));
  await group.stop(nginx);

  // The static server as the runtime starts it (dist/runtime/static-child.js).
  const staticPort = await freePort();
  const staticServer = group.start({
    name: 'static', command: process.execPath, args: [join(REPO, 'dist/runtime/static-child.js')], cpu: SERVE_CPU, logFile: join(workDir, 'static.log'),
    env: { ...process.env, NODE_ENV: 'production', PORT: String(staticPort), HOST: '127.0.0.1', INSTANCE_ID: 'static-1', STATIC_DIR: tierDir },
  });
  await waitForPort('127.0.0.1', staticPort, undefined, staticServer.alive);
  rows.push(measure('scaleout static server alone', `http://127.0.0.1:${staticPort}`, [staticServer]));

  // Through the balancer, with the runtime's routes: the pages' prefix falls through to an
  // app pool. Once as a plain proxy, once with the static pool's response cache on, as
  // `scaleout up` sets it (the static server says Surrogate-Control: max-age=1).
  for (const cache of [false, true]) {
    const balancerPort = await freePort();
    const balancerConf = join(workDir, `balancer-${cache ? 'cache' : 'proxy'}.json`);
    writeFileSync(balancerConf, JSON.stringify({
      listen: `127.0.0.1:${balancerPort}`,
      pools: {
        static: {
          servers: [{ id: 'static-1', address: `127.0.0.1:${staticPort}` }], health: { path: '/healthz', intervalMs: 1000 }, slowStartMs: 0,
          ...(cache ? { cache: {} } : {}),
        },
        app: { servers: [{ id: 'app-1', address: `127.0.0.1:${staticPort}` }] },
      },
      routes: [{ pathPrefix: '/products', pool: 'static', fallthrough: true }, { pool: 'app' }],
    }));
    const balancer = group.start({
      name: 'balancer', command: process.execPath, args: [join(REPO, 'bin/scaleout.js'), 'balancer', '--config', balancerConf], cpu: SERVE_CPU,
      logFile: join(workDir, 'balancer.log'), env: { ...process.env, NODE_ENV: 'production' }, cwd: REPO,
    });
    await waitForPort('127.0.0.1', balancerPort, undefined, balancer.alive);
    for (let i = 0; i < 50 && await httpStatus('127.0.0.1', balancerPort, '/products/1') !== 200; i++) await new Promise((r) => setTimeout(r, 100));
    rows.push(measure(`scaleout balancer${cache ? ' (cache on)' : ''} + static server`, `http://127.0.0.1:${balancerPort}`, [balancer, staticServer]));
    await group.stop(balancer);
  }
  await group.stopAll();

  const nginxRow = rows[0]!;
  const proxied = rows[2]!;
  const through = rows[3]!;
  const lines = [
    '| server | req/s | p50 ms | p99 ms | CPU s | req per CPU-s | vs nginx per CPU-s |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.name} | ${r.result.requestsPerS.toFixed(0)} | ${r.result.p50Ms.toFixed(2)} | ${r.result.p99Ms.toFixed(2)} | ${r.cpuS.toFixed(2)} | ${r.perCpuS.toFixed(0)} | ${(r.perCpuS / nginxRow.perCpuS).toFixed(2)}x |`),
  ];
  const ratio = through.perCpuS / nginxRow.perCpuS;
  const proxyRatio = proxied.perCpuS / nginxRow.perCpuS;
  console.log(`static tier: ${pageCount} pages of ${Buffer.byteLength(pageHtml(1))} bytes, wrk -t1 -c${connections}, ${durationS} s after ${warmupS} s warm-up\n`);
  console.log(lines.join('\n'));
  console.log(`\nthrough the balancer with its cache vs nginx, requests per CPU-second: ${ratio.toFixed(2)}x (target 0.7x: ${ratio >= 0.7 ? 'met' : 'not met'}); as a plain proxy: ${proxyRatio.toFixed(2)}x`);
  if (args.docs) {
    writeSection(join(REPO, 'docs/benchmarks.md'), 'Static tier', [
      `\`npm run bench:static\` (${new Date().toISOString().slice(0, 10)}; ${machineLine(describeMachine())}; the machine was shared with other work (load average ${loadavg()[0]!.toFixed(1)} at the end of the run), so absolute figures move a lot between runs: compare the ratios of one run).`,
      '',
      `${pageCount} pre-rendered pages of ${Buffer.byteLength(pageHtml(1))} bytes, requested in turn by wrk (\`-t1 -c${connections}\`, ${durationS} s after a ${warmupS} s warm-up, pinned to CPU ${LOAD_CPU}); ` +
      `the serving side pinned to CPU ${SERVE_CPU}: nginx with one worker (sendfile) serving the current generation's folder, or the scaleout balancer (the runtime's routes: the prefix falls through to an app pool) plus one static server, ` +
      'the balancer as a plain proxy (cache off) and with the static pool\'s response cache on (`cache: {}`, as `scaleout up` sets it; the static server says `Surrogate-Control: max-age=1`, so each page is fetched from it about once a second). ' +
      'CPU is user + system time of the serving processes from /proc.',
      '',
      ...lines,
      '',
      `Through the balancer with its cache on, scaleout serves ${ratio.toFixed(2)}x the requests per CPU-second that nginx does (target 0.7x: ${ratio >= 0.7 ? 'met' : 'not met'}); ` +
      `as a plain proxy ${proxyRatio.toFixed(2)}x.`,
      '',
      'Where the CPU goes: as a plain proxy every request costs a proxy hop (the balancer parses it, picks the static pool, writes it upstream and passes ' +
      'the answer back) plus a Node HTTP server, so that row is about the harmonic sum of the static server alone and the balancer alone (see ## Balancer). ' +
      'With the cache, a repeat costs the balancer one head parse, one lookup and one write of a prebuilt buffer, and the static server nothing; ' +
      'what is left against nginx is Node\'s per-request cost of a read and a write through its stream layer (the write itself is most of the profile).',
    ].join('\n'), '# Benchmarks');
  }
}

main().catch(async (err: unknown) => {
  console.error(err);
  process.exitCode = 1;
}).finally(async () => {
  await group.stopAll();
  rmSync(workDir, { recursive: true, force: true });
});
