/**
 * The balancer on more than one core: the scaleout balancer as one process and with
 * `--workers 1` and `--workers 2`, against HAProxy `nbthread 1/2` and nginx
 * `worker_processes 1/2`, in one run, over the same two backends, round-robin with
 * keep-alive on both sides. Prints req/s, latency, the proxy's CPU time (its whole
 * process tree, from /proc) and requests per CPU-second, the 2-to-1 ratios of each
 * proxy, and writes docs/benchmarks.md (## Balancer on several cores).
 *
 * Nothing is pinned: a proxy with two workers needs both CPUs, and on a 2-CPU machine
 * wrk and the backends run on the same two. See the docs section for what that can
 * and cannot show.
 *
 * Run: npm run bench:balancer-workers [-- --duration 5 --rounds 2 --only haproxy,scaleout]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startBackends } from './support/backends.js';
import type { Backends } from './support/backends.js';
import { clockTicksPerSecond, cpuBusyTicks, processTreeTicks } from './support/cpu-time.js';
import { writeSection } from './support/docs-section.js';
import { describeMachine, machineLine } from './support/machine.js';
import { freePort, httpGet, httpStatus, waitForPort } from './support/net.js';
import { haproxyConfig, nginxProxyConfig } from './support/peer-configs.js';
import { ProcessGroup } from './support/process-group.js';
import type { Started } from './support/process-group.js';
import { acquireRunLock } from './support/run-lock.js';
import { SCALEOUT_BIN, snapshotScaleout } from './support/scaleout-snapshot.js';
import { DEFAULT_CONNECTIONS, DEFAULT_THREADS, runWrk, writeWrkScripts } from './support/wrk.js';
import type { WrkResult } from './support/wrk.js';

/** Seconds wrk measures each case, per round. @defaultValue 5 */
export const DEFAULT_DURATION_S = 5;
/** Seconds of load before each measured run. @defaultValue 2 */
export const DEFAULT_WARMUP_S = 3;
/** Rounds, interleaved and pooled. @defaultValue 2 */
export const DEFAULT_ROUNDS = 2;
/** How long a proxy may take to proxy its first 200. @defaultValue 30000 */
const READY_TIMEOUT_MS = 30_000;
const ADMIN_TOKEN = 'bench-only-admin-token-0123456789';

type PeerName = 'haproxy' | 'nginx' | 'scaleout';
const PEERS: readonly PeerName[] = ['haproxy', 'nginx', 'scaleout'];

interface Case {
  peer: PeerName;
  label: string;
  /** Cores the proxy may use: the 1 or 2 of the ratio. */
  cores: 1 | 2;
  /** `--workers` of the scaleout balancer; undefined: one process. */
  workers?: number;
}

const CASES: readonly Case[] = [
  { peer: 'haproxy', label: 'HAProxy nbthread 1', cores: 1 },
  { peer: 'haproxy', label: 'HAProxy nbthread 2', cores: 2 },
  { peer: 'nginx', label: 'nginx worker_processes 1', cores: 1 },
  { peer: 'nginx', label: 'nginx worker_processes 2', cores: 2 },
  { peer: 'scaleout', label: 'scaleout, one process', cores: 1 },
  { peer: 'scaleout', label: 'scaleout --workers 1', cores: 1, workers: 1 },
  { peer: 'scaleout', label: 'scaleout --workers 2', cores: 2, workers: 2 },
];

interface Measured {
  requests: number;
  durationS: number;
  p50Ms: number[];
  p99Ms: number[];
  errors: number;
  cpuS: number;
  /** Busy time of every CPU of the machine during the runs. */
  machineBusyS: number;
  /** Requests per worker process (scaleout with workers), from its admin API. */
  perWorker: number[][];
}

const USAGE = `Usage: tsx bench/balancer-workers.ts [options]

  --only LIST     proxies to run, comma-separated: ${PEERS.join(',')} (default: all)
  --duration S    seconds measured per case (default ${DEFAULT_DURATION_S})
  --warmup S      seconds of warm-up load before each measurement (default ${DEFAULT_WARMUP_S})
  --rounds N      measure every case N times, interleaved, and pool them (default ${DEFAULT_ROUNDS})
  --connections N wrk connections (default ${DEFAULT_CONNECTIONS})
  --no-docs       do not write docs/benchmarks.md (a full run writes it)
  --help          this text
`;

async function waitUntilProxying(started: Started, port: number): Promise<void> {
  await waitForPort('127.0.0.1', port, READY_TIMEOUT_MS, started.alive);
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline && started.alive()) {
    try {
      if (await httpStatus('127.0.0.1', port, '/') === 200) return;
    } catch {
      // Not yet.
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${started.name} did not proxy a 200 within ${READY_TIMEOUT_MS} ms; see ${started.logFile}`);
}

async function startCase(group: ProcessGroup, c: Case, backends: Backends, workDir: string, scaleoutRoot: string): Promise<{ started: Started; port: number; adminPort?: number }> {
  const port = await freePort();
  const servers = backends.servers;
  const slug = c.label.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
  let started: Started;
  if (c.peer === 'haproxy') {
    const config = join(workDir, `${slug}.cfg`);
    writeFileSync(config, haproxyConfig(port, servers, 'round-robin').replace('nbthread 1', `nbthread ${c.cores}`));
    started = group.start({ name: 'haproxy', command: 'haproxy', args: ['-db', '-f', config], logFile: join(workDir, `${slug}.log`) });
  } else if (c.peer === 'nginx') {
    const config = join(workDir, `${slug}.conf`);
    writeFileSync(config, nginxProxyConfig(workDir, port, servers, 'round-robin').replace('worker_processes 1;', `worker_processes ${c.cores};`));
    started = group.start({ name: 'nginx', command: 'nginx', args: ['-c', config, '-g', 'daemon off;'], logFile: join(workDir, `${slug}.log`) });
  } else {
    const adminPort = c.workers === undefined ? undefined : await freePort();
    started = group.start({
      name: 'scaleout',
      command: process.execPath,
      args: [
        join(scaleoutRoot, SCALEOUT_BIN), 'balancer', '--listen', `127.0.0.1:${port}`,
        ...servers.flatMap((s) => ['--server', `${s.name}=127.0.0.1:${s.port}`]),
        '--strategy', 'round-robin', '--health-path', '/healthz',
        ...(c.workers === undefined ? [] : ['--workers', String(c.workers), '--admin', `127.0.0.1:${adminPort}`]),
      ],
      logFile: join(workDir, `${slug}.log`),
      env: { ...process.env, NODE_ENV: 'production', SCALEOUT_ADMIN_TOKEN: ADMIN_TOKEN },
    });
    await waitUntilProxying(started, port);
    if (adminPort === undefined) return { started, port };
    // The admin API answers once every worker serves; the first one proxies before that.
    await waitForPort('127.0.0.1', adminPort, READY_TIMEOUT_MS, started.alive);
    return { started, port, adminPort };
  }
  await waitUntilProxying(started, port);
  return { started, port };
}

/** Requests each worker sent to the servers, from the primary's admin API. */
async function workerRequests(adminPort: number): Promise<number[]> {
  const answer = await httpGet('127.0.0.1', adminPort, '/servers', { authorization: `Bearer ${ADMIN_TOKEN}` });
  const body = JSON.parse(answer.body) as { workers?: Array<{ requests: number }> };
  return (body.workers ?? []).map((w) => w.requests);
}

function machineBusyTicks(): number {
  let total = 0;
  for (let cpu = 0; cpu < cpus().length; cpu++) total += cpuBusyTicks(cpu) ?? 0;
  return total;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

function rows(results: Map<Case, Measured>): string[][] {
  const header = ['proxy', 'req/s', 'p50 ms', 'p99 ms', 'proxy CPU (cores busy)', 'req per CPU-s', 'machine busy', 'errors', 'requests per worker'];
  const body = [...results].map(([c, m]) => {
    const busy = m.cpuS / m.durationS;
    const machine = m.machineBusyS / m.durationS / cpus().length;
    const split = m.perWorker.length === 0 ? '' : m.perWorker.map((w) => {
      const total = w.reduce((a, b) => a + b, 0);
      return w.map((n) => `${Math.round((100 * n) / Math.max(1, total))}%`).join('/');
    }).join(', ');
    return [c.label, fmt(m.requests / m.durationS), median(m.p50Ms).toFixed(2), median(m.p99Ms).toFixed(2), busy.toFixed(2),
      fmt(m.cpuS > 0 ? m.requests / m.cpuS : 0), `${Math.round(100 * machine)}%`, String(m.errors), split];
  });
  return [header, ...body];
}

function ratioLines(results: Map<Case, Measured>): string[] {
  const lines: string[] = [];
  const find = (label: string): Measured | undefined => [...results].find(([c]) => c.label === label)?.[1];
  const rps = (m: Measured): number => m.requests / m.durationS;
  const perCpu = (m: Measured): number => (m.cpuS > 0 ? m.requests / m.cpuS : 0);
  const pairs: Array<[string, string]> = [
    ['HAProxy nbthread 2', 'HAProxy nbthread 1'], ['nginx worker_processes 2', 'nginx worker_processes 1'],
    ['scaleout --workers 2', 'scaleout, one process'], ['scaleout --workers 1', 'scaleout, one process'],
  ];
  for (const [two, one] of pairs) {
    const a = find(two);
    const b = find(one);
    if (a === undefined || b === undefined) continue;
    lines.push(`${two} / ${one}: ${(rps(a) / rps(b)).toFixed(2)}x req/s, ${(perCpu(a) / perCpu(b)).toFixed(2)}x req per CPU-s`);
  }
  const so2 = find('scaleout --workers 2');
  for (const peer of ['HAProxy nbthread 2', 'nginx worker_processes 2']) {
    const p = find(peer);
    if (so2 === undefined || p === undefined) continue;
    lines.push(`scaleout --workers 2 / ${peer}: ${(rps(so2) / rps(p)).toFixed(2)}x req/s, ${(perCpu(so2) / perCpu(p)).toFixed(2)}x req per CPU-s`);
  }
  return lines;
}

function formatText(table: string[][]): string {
  const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  return table.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')).join('\n');
}

function formatMarkdown(table: string[][]): string {
  const [header, ...body] = table;
  return [`| ${header!.join(' | ')} |`, `|${header!.map(() => '---').join('|')}|`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' }, duration: { type: 'string' }, warmup: { type: 'string' }, rounds: { type: 'string' },
      connections: { type: 'string' }, 'no-docs': { type: 'boolean', default: false }, help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const only = values.only?.split(',').map((s) => s.trim()) ?? [...PEERS];
  for (const name of only) if (!PEERS.includes(name as PeerName)) throw new Error(`--only does not know "${name}"; use ${PEERS.join(', ')}\n\n${USAGE}`);
  const durationS = Number(values.duration ?? DEFAULT_DURATION_S);
  const warmupS = Number(values.warmup ?? DEFAULT_WARMUP_S);
  const roundCount = Number(values.rounds ?? DEFAULT_ROUNDS);
  const connections = Number(values.connections ?? DEFAULT_CONNECTIONS);
  const writeDocs = !values['no-docs'] && values.only === undefined;

  for (const tool of ['haproxy', 'nginx', 'wrk']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status !== 0) throw new Error(`${tool} is missing; run bench/setup.sh`);
  }
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const workDir = join(repoRoot, 'bench/.work/workers');
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  acquireRunLock(join(repoRoot, 'bench/.work/run.lock'));
  const group = new ProcessGroup(join(workDir, 'pids.json'));
  const scaleoutRoot = join(repoRoot, 'bench/.work/scaleout-workers');
  const snapshotProblem = snapshotScaleout(repoRoot, scaleoutRoot);
  if (snapshotProblem !== undefined) throw new Error(snapshotProblem);
  const ticksPerS = clockTicksPerSecond();
  const machine = machineLine(describeMachine());
  const loads = [loadavg().map((l) => l.toFixed(2)).join(', ')];
  process.stdout.write(`Machine: ${machine}\nLoad average: ${loads[0]}\n`);
  const cases = CASES.filter((c) => only.includes(c.peer));
  const results = new Map<Case, Measured>();
  const scripts = writeWrkScripts(workDir);
  try {
    const backends = await startBackends(group, workDir);
    for (let round = 1; round <= roundCount; round++) {
      process.stdout.write(`round ${round} of ${roundCount}\n`);
      for (const c of cases) {
        process.stdout.write(`  ${c.label.padEnd(26)} `);
        const { started, port, adminPort } = await startCase(group, c, backends, workDir, scaleoutRoot);
        try {
          const url = `http://127.0.0.1:${port}/`;
          if (warmupS > 0) await runWrk({ url, durationS: warmupS, connections, threads: DEFAULT_THREADS }, scripts);
          const before = adminPort === undefined ? [] : await workerRequests(adminPort);
          const ticksBefore = processTreeTicks(started.pid).total;
          const busyBefore = machineBusyTicks();
          const wrk: WrkResult = await runWrk({ url, durationS, connections, threads: DEFAULT_THREADS }, scripts);
          const busyAfter = machineBusyTicks();
          const ticksAfter = processTreeTicks(started.pid).total;
          const after = adminPort === undefined ? [] : await workerRequests(adminPort);
          if (!started.alive()) throw new Error(`${c.label} exited during the run; see ${started.logFile}`);
          const m = results.get(c) ?? { requests: 0, durationS: 0, p50Ms: [], p99Ms: [], errors: 0, cpuS: 0, machineBusyS: 0, perWorker: [] };
          m.requests += wrk.requests;
          m.durationS += wrk.durationS;
          m.p50Ms.push(wrk.p50Ms);
          m.p99Ms.push(wrk.p99Ms);
          m.errors += wrk.non2xx + wrk.socketErrors;
          const cpuS = (ticksAfter - ticksBefore) / ticksPerS;
          m.cpuS += cpuS;
          m.machineBusyS += (busyAfter - busyBefore) / ticksPerS;
          if (after.length > 0) m.perWorker.push(after.map((n, i) => n - (before[i] ?? 0)));
          results.set(c, m);
          process.stdout.write(`${fmt(wrk.requestsPerS)} req/s, CPU ${cpuS.toFixed(2)} s, ${fmt(cpuS > 0 ? wrk.requests / cpuS : 0)} req/CPU-s` +
            `${after.length > 0 ? `, per worker ${m.perWorker.at(-1)!.join('/')}` : ''}\n`);
        } finally {
          await group.stop(started);
        }
      }
    }
  } finally {
    await group.stopAll();
  }
  loads.push(loadavg().map((l) => l.toFixed(2)).join(', '));
  // Rows in the order of CASES, whatever order they finished in.
  const ordered = new Map([...results].sort(([a], [b]) => CASES.indexOf(a) - CASES.indexOf(b)));
  const table = rows(ordered);
  process.stdout.write(`\n${formatText(table)}\n\n${ratioLines(ordered).join('\n')}\nLoad average at start and end: ${loads.join(' / ')}\n`);
  if (!writeDocs) return;
  const busyMachine = loadavg()[0]! > 2 * cpus().length;
  const body = [
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench:balancer-workers\` (${durationS} s per case after a ${warmupS} s warm-up, ` +
      `${roundCount} interleaved rounds pooled; wrk ${DEFAULT_THREADS} threads, ${connections} connections, keep-alive; round-robin over two backends ` +
      'with active health checks, as in the section above).',
    '',
    `Machine: ${machine}. Load average (1, 5, 15 min) at start and end: ${loads.join(' / ')}. The machine was shared with other work ` +
      '(seven other engineers building and testing on it), so absolute numbers are noisy: compare the ratios, which come from one run.',
    '',
    formatMarkdown(table),
    '',
    ...ratioLines(ordered).map((l) => `- ${l}`),
    '',
    '*proxy CPU* is the user + system time of the proxy\'s whole process tree (HAProxy\'s threads, nginx\'s master and workers, the ' +
      'scaleout primary and its workers) divided by the measured time: how many cores it kept busy. *machine busy* is the share of all ' +
      'CPUs busy during the runs (wrk, the backends, the proxy, and anything else on the machine). *requests per worker* is how the ' +
      'kernel spread the accepted connections over the scaleout workers, per round (from the primary\'s `GET /servers`).',
    '',
    'What two cores shared with the load generator can and cannot show. Nothing is pinned: the proxy, wrk and the backends all run on ' +
      'the same two CPUs. With one worker the proxy is the bottleneck and the other CPU carries wrk and the backends; with two, the proxy ' +
      'takes CPU away from them, so req/s cannot double, and a 2-worker proxy that wins less than 2x is not a scaling failure. What the run ' +
      'does show: (1) whether a second worker adds throughput at all when a core is left (req/s ratio); (2) what running on two cores costs ' +
      'per request (req per CPU-s ratio: accept contention, more system calls per wake-up, less batching; near 1.0 means the second worker ' +
      'is as efficient as the first); (3) how evenly the kernel spreads connections over workers waiting on one socket; (4) the scaleout ' +
      'balancer against HAProxy and nginx given the same cores. What it cannot show: scaling beyond two cores, the throughput of two ' +
      'dedicated cores, or latency under a load generator that is not starved. On a machine with spare cores, pin wrk and the backends ' +
      'away from the proxy to measure that.',
    ...(busyMachine ? [
      '',
      `This run's machine was busy with other work (load average ${loads[0]} at the start, on ${cpus().length} CPUs), so each proxy got a ` +
        'fraction of a core (*proxy CPU*). The scheduler shares CPU time per runnable thread, so a proxy with two busy threads or processes ' +
        'can get up to twice the share of a one-threaded one against the same competing work (compare *proxy CPU* of the 1 and 2 rows): ' +
        'the 2-to-1 req/s ratios then say more about that share than about the proxy, and they swing from run to run. *req per CPU-s* is the figure that holds up under contention, since it divides by the CPU time ' +
        'the proxy did get; it still drops when a proxy gets so little CPU that each wake-up finds fewer requests to batch, and for the ' +
        'scaleout workers when each process\'s JIT warms up on only its share of the warm-up traffic.',
    ] : []),
  ].join('\n');
  writeSection(join(repoRoot, 'docs/benchmarks.md'), 'Balancer on several cores', body, '# Benchmarks\n');
  process.stdout.write('\nwrote the "Balancer on several cores" section of docs/benchmarks.md\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:balancer-workers failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
