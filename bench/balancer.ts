/**
 * The balancer benchmark: the scaleout balancer against HAProxy, nginx and
 * @fastify/http-proxy, in one run, over the same two backends, per mode
 * (round-robin, cookie affinity, least-load). Prints req/s, p50/p99 latency
 * and requests per CPU-second of each proxy, the ratios to HAProxy and to the
 * Node peer, and writes the results to docs/benchmarks.md (## Balancer).
 *
 *   CPU 1: the proxy under test (its whole process tree)
 *   CPU 0: wrk, the backends (one nginx worker, two ports), this harness
 *
 * Run: npm run bench:balancer [-- --only scaleout,haproxy --mode cookie --duration 5 --cpu-prof]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, existsSync, rmSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MODES, PROXY_LABELS, PROXY_NAMES, isMode, isProxyName, type Mode, type ProxyName } from './support/modes.js';
import { ProcessGroup } from './support/process-group.js';
import { startBackends } from './support/backends.js';
import { PROXIES, type ProxyContext, type RunningProxy } from './support/proxies.js';
import { clockTicksPerSecond, processTreeTicks } from './support/cpu-time.js';
import { DEFAULT_CONNECTIONS, DEFAULT_THREADS, runWrk, writeWrkScripts, type WrkScripts } from './support/wrk.js';
import { formatMarkdown, formatText, ratioLines, tableRows, targetLines, type Measurement } from './support/report.js';
import { describeMachine, machineLine } from './support/machine.js';
import { formatTopSelfTime } from './support/cpu-profile.js';
import { writeSection } from './support/docs-section.js';

/** Seconds wrk measures each proxy and mode. @defaultValue 10 */
export const DEFAULT_DURATION_S = 10;
/** Seconds of load before each measured run, for JIT, pools and caches. @defaultValue 2 */
export const DEFAULT_WARMUP_S = 2;
/** The CPU the proxy under test runs on. @defaultValue 1 */
export const PROXY_CPU = 1;
/** The CPU wrk and the backends share. @defaultValue 0 */
export const LOAD_CPU = 0;

const USAGE = `Usage: tsx bench/balancer.ts [options]

  --only LIST        proxies to run, comma-separated: ${PROXY_NAMES.join(',')} (default: all)
  --mode LIST        modes to run, comma-separated: ${MODES.join(',')} (default: all)
  --duration S       seconds measured per proxy and mode (default ${DEFAULT_DURATION_S})
  --warmup S         seconds of warm-up load before each measurement (default ${DEFAULT_WARMUP_S})
  --connections N    wrk connections (default ${DEFAULT_CONNECTIONS})
  --cpu-prof         profile the scaleout balancer and print its top self-time functions
  --scaleout-arg A   pass A to 'scaleout balancer' (repeatable)
  --docs / --no-docs write docs/benchmarks.md (default: only for a full run)
  --help             this text
`;

interface Options {
  proxies: ProxyName[];
  modes: Mode[];
  durationS: number;
  warmupS: number;
  connections: number;
  cpuProf: boolean;
  scaleoutArgs: string[];
  writeDocs: boolean;
  argv: string[];
}

class UsageError extends Error {}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      only: { type: 'string' },
      mode: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      'cpu-prof': { type: 'boolean', default: false },
      'scaleout-arg': { type: 'string', multiple: true },
      docs: { type: 'boolean' },
      'no-docs': { type: 'boolean' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const list = <T extends string>(text: string | undefined, all: readonly T[], is: (v: string) => v is T, flag: string): T[] => {
    if (text === undefined) return [...all];
    const picked = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
    for (const p of picked) if (!is(p)) throw new UsageError(`--${flag} does not know "${p}"; use one of ${all.join(', ')}`);
    return all.filter((a) => picked.includes(a));
  };
  const number = (text: string | undefined, fallback: number, flag: string, min: number): number => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isFinite(n) || n < min) throw new UsageError(`--${flag} must be a number >= ${min}, got "${text}"`);
    return n;
  };
  const proxies = list(values.only, PROXY_NAMES, isProxyName, 'only');
  const modes = list(values.mode, MODES, isMode, 'mode');
  const filtered = values.only !== undefined || values.mode !== undefined;
  return {
    proxies,
    modes,
    durationS: number(values.duration, DEFAULT_DURATION_S, 'duration', 1),
    warmupS: number(values.warmup, DEFAULT_WARMUP_S, 'warmup', 0),
    connections: Math.round(number(values.connections, DEFAULT_CONNECTIONS, 'connections', 1)),
    cpuProf: values['cpu-prof'],
    scaleoutArgs: values['scaleout-arg'] ?? [],
    writeDocs: values['no-docs'] === true ? false : values.docs ?? !filtered,
    argv,
  };
}

function hasTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

function ensureTools(repoRoot: string): void {
  if (['haproxy', 'nginx', 'wrk', 'taskset', 'getconf'].every(hasTool)) return;
  process.stdout.write('A benchmark tool is missing; running bench/setup.sh\n');
  const setup = spawnSync('bash', [join(repoRoot, 'bench/setup.sh')], { stdio: 'inherit' });
  if (setup.status !== 0) throw new Error('bench/setup.sh failed; install haproxy, nginx and wrk by hand (Debian: apt-get install haproxy nginx-light wrk)');
}

/** Keeps the harness (and its threads) off the proxy's CPU. */
function pinSelf(cpu: number): void {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(process.pid)], { stdio: 'ignore' });
  } catch {
    process.stderr.write('warning: could not pin the harness with taskset; numbers will be noisier\n');
  }
}

async function measure(ctx: ProxyContext, proxy: RunningProxy, mode: Mode, opts: Options, scripts: WrkScripts, ticksPerS: number) {
  const wrkRun = {
    url: proxy.url,
    connections: opts.connections,
    threads: DEFAULT_THREADS,
    sticky: mode === 'cookie',
    cpu: ctx.cpu === PROXY_CPU ? LOAD_CPU : undefined,
    ...(proxy.clientCookie === undefined ? {} : { clientCookie: proxy.clientCookie }),
  };
  if (opts.warmupS > 0) await runWrk({ ...wrkRun, durationS: opts.warmupS }, scripts);
  const pid = proxy.process?.pid;
  const before = pid === undefined ? 0 : processTreeTicks(pid);
  const wrk = await runWrk({ ...wrkRun, durationS: opts.durationS }, scripts);
  const after = pid === undefined ? 0 : processTreeTicks(pid);
  return { wrk, cpuS: pid === undefined ? undefined : (after - before) / ticksPerS };
}

function docsBody(opts: Options, results: Measurement[], notes: string[], machine: string): string {
  const args = opts.argv.length === 0 ? '' : ` -- ${opts.argv.join(' ')}`;
  return [
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench:balancer${args}\`.`,
    '',
    `Machine: ${machine}.`,
    '',
    `Method: each proxy runs alone on CPU ${PROXY_CPU} (\`taskset\`); wrk (${DEFAULT_THREADS} thread, ${opts.connections} connections, ` +
      `${opts.durationS} s after a ${opts.warmupS} s warm-up) and the backends (one nginx worker serving a 200-byte body on two ports, ` +
      '`scaleout-load: 0.3`, `/healthz`) share CPU 0. Every proxy keeps connections alive on both sides, adds the forwarding headers and a ' +
      'request id, and has one worker/thread. *req per CPU-s* is the requests completed divided by the user + system CPU time of the ' +
      "proxy's whole process tree during the measured run (from `/proc/<pid>/stat`); it is the fair comparison when a proxy's CPU is " +
      'below 100% (then CPU 0, wrk and the backends, was the limit). Other work on the machine adds noise: compare within one run.',
    '',
    'In cookie mode wrk sends the sticky cookie back: its Lua API has no per-connection hook, so each wrk thread keeps the first ' +
      '`Set-Cookie` it receives and sends it on every later request, and the measured path is "verify the cookie and route".',
    '',
    formatMarkdown(tableRows(results)),
    '',
    'Ratios (the scaleout balancer to its peers, same mode):',
    '',
    ...ratioLines(results).map((l) => `- ${l}`),
    '',
    'Targets (cookie affinity and health checks on):',
    '',
    ...targetLines(results).map((l) => `- ${l}`),
    '',
    'What each proxy runs per mode:',
    '',
    ...notes.map((l) => `- ${l}`),
  ].join('\n');
}

async function main(): Promise<void> {
  let opts: Options;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const workDir = join(repoRoot, 'bench/.work');
  mkdirSync(workDir, { recursive: true });
  ensureTools(repoRoot);

  const pinned = cpus().length >= 2;
  if (pinned) pinSelf(LOAD_CPU);
  else process.stderr.write('warning: fewer than 2 CPUs; the proxy and the load share a CPU\n');
  const proxyCpu = pinned ? PROXY_CPU : 0;
  const loadCpu = pinned ? LOAD_CPU : undefined;

  const group = new ProcessGroup(join(workDir, 'pids.json'));
  group.reapLeftovers(workDir);
  const cpuProfDir = opts.cpuProf ? join(workDir, 'prof') : undefined;
  if (cpuProfDir !== undefined) {
    rmSync(cpuProfDir, { recursive: true, force: true });
    mkdirSync(cpuProfDir, { recursive: true });
  }

  const machine = machineLine(describeMachine());
  process.stdout.write(`Machine: ${machine}\n`);
  const ticksPerS = clockTicksPerSecond();
  const scripts = writeWrkScripts(workDir);
  const results: Measurement[] = [];
  const notes: string[] = [];
  const profiles: { mode: Mode; file: string }[] = [];

  try {
    const backends = await startBackends(group, workDir, loadCpu ?? 0);
    const ctx: ProxyContext = {
      group, repoRoot, workDir, servers: backends.servers, cpu: proxyCpu, scaleoutArgs: opts.scaleoutArgs,
      ...(cpuProfDir === undefined ? {} : { cpuProfDir }),
    };
    const definitions = PROXIES.filter((p) => opts.proxies.includes(p.name));
    const unavailable = new Map<ProxyName, string>();
    for (const def of definitions) {
      const reason = def.available(ctx);
      if (reason !== undefined) {
        unavailable.set(def.name, reason);
        process.stdout.write(`skipping ${PROXY_LABELS[def.name]}: ${reason}\n`);
      }
      for (const mode of opts.modes) {
        const setup = def.modes[mode];
        notes.push(`${PROXY_LABELS[def.name]}, ${mode}: ${setup ?? `n/a (${def.missing[mode] ?? 'not supported'})`}`);
      }
    }

    for (const mode of opts.modes) {
      for (const def of definitions) {
        const setup = def.modes[mode];
        if (setup === undefined || unavailable.has(def.name)) continue;
        process.stdout.write(`${mode.padEnd(11)} ${PROXY_LABELS[def.name].padEnd(20)} `);
        let running: RunningProxy | undefined;
        try {
          running = await def.start(ctx, mode);
          const { wrk, cpuS } = await measure(ctx, running, mode, opts, scripts, ticksPerS);
          const m: Measurement = { proxy: def.name, mode, wrk, setup, ...(cpuS === undefined ? {} : { cpuS }) };
          results.push(m);
          const per = cpuS === undefined ? '' : `, ${Math.round(wrk.requests / cpuS).toLocaleString('en-US')} req/CPU-s (CPU ${cpuS.toFixed(2)} s)`;
          const errors = wrk.non2xx + wrk.socketErrors > 0 ? `, ERRORS: ${wrk.non2xx} non-2xx, ${wrk.socketErrors} socket` : '';
          process.stdout.write(`${Math.round(wrk.requestsPerS).toLocaleString('en-US')} req/s, p50 ${wrk.p50Ms.toFixed(3)} ms, p99 ${wrk.p99Ms.toFixed(3)} ms${per}${errors}\n`);
        } catch (err) {
          process.stdout.write(`FAILED: ${(err as Error).message}\n`);
          notes.push(`${PROXY_LABELS[def.name]}, ${mode}: failed in this run (${(err as Error).message.split('\n')[0] ?? ''})`);
        } finally {
          if (running?.process !== undefined) await group.stop(running.process);
          if (running?.cpuProfile !== undefined) profiles.push({ mode, file: running.cpuProfile });
        }
      }
    }
    if (!backends.process.alive()) throw new Error('the backends died during the run; see bench/.work/backends.log');
  } finally {
    await group.stopAll();
  }

  const rows = tableRows(results);
  process.stdout.write(`\n${formatText(rows)}\n\n`);
  for (const line of ratioLines(results)) process.stdout.write(`${line}\n`);
  process.stdout.write('\n');
  for (const line of targetLines(results)) process.stdout.write(`${line}\n`);

  for (const { mode, file } of profiles) {
    process.stdout.write(`\nscaleout balancer, ${mode}: top self time (${file})\n`);
    if (!existsSync(file)) {
      process.stdout.write('  no profile written: the balancer must exit normally on SIGTERM for node --cpu-prof to write it\n');
      continue;
    }
    for (const line of formatTopSelfTime(file, repoRoot)) process.stdout.write(`${line}\n`);
  }

  if (opts.writeDocs && results.length > 0) {
    const file = join(repoRoot, 'docs/benchmarks.md');
    writeSection(file, 'Balancer', docsBody(opts, results, notes, machine),
      `# Benchmarks\n\nEach benchmark in \`bench/\` runs scaleout and its peers in one run on the same machine and prints ratios; ` +
      `absolute numbers depend on the machine, ratios within one run are what to compare. Each section names its machine and command.\n\n` +
      `Machine of the latest runs: ${machine}.`);
    process.stdout.write(`\nwrote the Balancer section of ${file}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:balancer failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
