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
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MODES, PROXY_LABELS, PROXY_NAMES, isMode, isProxyName, type Mode, type ProxyName } from './support/modes.js';
import { ProcessGroup } from './support/process-group.js';
import { acquireRunLock } from './support/run-lock.js';
import { startBackends } from './support/backends.js';
import { PROXIES, type ProxyContext } from './support/proxies.js';
import { clockTicksPerSecond } from './support/cpu-time.js';
import { DEFAULT_CONNECTIONS, DEFAULT_THREADS, writeWrkScripts } from './support/wrk.js';
import { formatMarkdown, formatText, perCpuS, ratioLines, tableRows, targetLines, type Measurement } from './support/report.js';
import { describeMachine, machineLine } from './support/machine.js';
import { formatTopSelfTime, type TimeWindowUs } from './support/cpu-profile.js';
import { writeSection } from './support/docs-section.js';
import { mergeRounds, runOne, type RunSettings } from './support/runner.js';
import { snapshotScaleout } from './support/scaleout-snapshot.js';

/** Seconds wrk measures each proxy and mode, per round. @defaultValue 5 */
export const DEFAULT_DURATION_S = 5;
/** Seconds of load before each measured run, for JIT, pools and caches. @defaultValue 2 */
export const DEFAULT_WARMUP_S = 2;
/**
 * How many times every proxy and mode is measured; rounds are interleaved and
 * pooled, so a burst of other work on the machine does not land on one proxy
 * or one mode alone. @defaultValue 3
 */
export const DEFAULT_ROUNDS = 3;
/** The CPU the proxy under test runs on. @defaultValue 1 */
export const PROXY_CPU = 1;
/** The CPU wrk and the backends share. @defaultValue 0 */
export const LOAD_CPU = 0;

const USAGE = `Usage: tsx bench/balancer.ts [options]

  --only LIST        proxies to run, comma-separated: ${PROXY_NAMES.join(',')} (default: all)
  --mode LIST        modes to run, comma-separated: ${MODES.join(',')} (default: all)
  --duration S       seconds measured per proxy and mode (default ${DEFAULT_DURATION_S})
  --warmup S         seconds of warm-up load before each measurement (default ${DEFAULT_WARMUP_S})
  --rounds N         measure everything N times, interleaved, and pool the results (default ${DEFAULT_ROUNDS})
  --connections N    wrk connections (default ${DEFAULT_CONNECTIONS})
  --learn-cookies    cookie mode: wrk learns the cookie from Set-Cookie in Lua (slower wrk) instead of
                     sending the cookies the routing check collected
  --cpu-prof         after the measured rounds, profile the scaleout balancer in one more run per mode
                     (not in the table: profiling slows it) and print its top self-time functions
  --scaleout-arg A   pass A to 'scaleout balancer' (repeatable)
  --docs / --no-docs write docs/benchmarks.md (default: only for a full run)
  --help             this text
`;

interface Options {
  proxies: ProxyName[];
  modes: Mode[];
  durationS: number;
  warmupS: number;
  rounds: number;
  connections: number;
  learnCookies: boolean;
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
      rounds: { type: 'string' },
      connections: { type: 'string' },
      'cpu-prof': { type: 'boolean', default: false },
      'learn-cookies': { type: 'boolean', default: false },
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
  const filtered = values.only !== undefined || values.mode !== undefined;
  return {
    proxies: list(values.only, PROXY_NAMES, isProxyName, 'only'),
    modes: list(values.mode, MODES, isMode, 'mode'),
    durationS: Math.round(number(values.duration, DEFAULT_DURATION_S, 'duration', 1)),
    warmupS: Math.round(number(values.warmup, DEFAULT_WARMUP_S, 'warmup', 0)),
    rounds: Math.round(number(values.rounds, DEFAULT_ROUNDS, 'rounds', 1)),
    connections: Math.round(number(values.connections, DEFAULT_CONNECTIONS, 'connections', 1)),
    learnCookies: values['learn-cookies'],
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

const loadLine = (): string => loadavg().map((l) => l.toFixed(2)).join(', ');

/** How many functions of the cookie-mode profile the docs list. @defaultValue 15 */
const DOCS_PROFILE_FUNCTIONS = 15;

function docsBody(opts: Options, results: Measurement[], notes: string[], machine: string, loads: string[], profile: string[]): string {
  const args = opts.argv.length === 0 ? '' : ` -- ${opts.argv.join(' ')}`;
  const rounds = opts.rounds === 1 ? '' : `, ${opts.rounds} interleaved rounds pooled`;
  return [
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench:balancer${args}\`.`,
    '',
    `Machine: ${machine}. Load average (1, 5, 15 min) at start and end: ${loads.join(' / ')}.`,
    '',
    `Method: each proxy runs alone on CPU ${PROXY_CPU} (\`taskset\`); wrk (${DEFAULT_THREADS} threads, ${opts.connections} connections, ` +
      `${opts.durationS} s after a ${opts.warmupS} s warm-up${rounds}) and the backends (one nginx worker serving a 200-byte body on two ports, ` +
      '`scaleout-load: 0.3`, `/healthz`) share CPU 0. Every proxy keeps connections alive on both sides, adds the forwarding headers and a ' +
      'request id, and has one worker/thread. *req per CPU-s* is the requests completed divided by the user + system CPU time of the ' +
      "proxy's whole process tree during the measured run (from `/proc/<pid>/stat`); it is the fair comparison when a proxy's CPU is " +
      'below 100% (then CPU 0, wrk and the backends, was the limit). *CPU µs per req* splits that time into user and kernel (system) ' +
      'time: the kernel part is the socket reads and writes and loopback TCP, about the same for every proxy that reads and writes ' +
      'once per message, so the user part is where proxies differ. *backend conns* counts the connections the backends accepted during ' +
      'the measured run (health checks included): near zero means the proxy reused its upstream connections. ' +
      "*rounds spread* is half the range of the rounds' req per CPU-s; *others on its CPU* is the share of the proxy's CPU that other " +
      'processes used during the measured runs (from `/proc/stat`): both say how far to trust a row. ' +
      'Before measuring, a few requests check that each proxy routes as its mode says. ' +
      'Other work on the machine adds noise (the benchmark itself keeps about 3 processes busy; a load average well above that means ' +
      'others shared the CPUs): compare within one run.',
    '',
    opts.learnCookies
      ? 'In cookie mode each wrk thread keeps the first `Set-Cookie` it receives and sends it on every later request (wrk\'s Lua API ' +
        'has no per-connection hook); the Lua response hook this needs slows wrk in this mode only.'
      : 'In cookie mode the clients are sticky: before measuring, the harness takes real `Set-Cookie` values from the proxy\'s first ' +
        'answers, one per server, checks that each keeps its requests on that server without being set again, and gives one to each wrk ' +
        'thread, which sends it on every request of all its connections. The measured path is "verify the cookie and route", spread over ' +
        'the servers as evenly as round-robin, and wrk does exactly the same work as in the other modes (a static request; a Lua ' +
        'response hook that learns cookies would slow wrk in this mode only: `--learn-cookies` measures that way). nginx sets no cookie: ' +
        'it gets client cookies chosen to reach each server.',
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
    ...(profile.length === 0 ? [] : [
      '',
      'Where the scaleout balancer spends its CPU with cookie affinity (a separate run under `node --cpu-prof`, which slows it; ' +
        'self time per function). Native functions such as `writeLatin1String` include the system call they make, so their share is ' +
        'mostly the kernel\'s:',
      '',
      '```',
      ...profile,
      '```',
    ]),
  ].join('\n');
}

function describeResult(m: Measurement): string {
  const wrk = m.wrk;
  const per = perCpuS(m);
  const cpu = per === undefined || m.cpuS === undefined ? '' : `, ${Math.round(per).toLocaleString('en-US')} req/CPU-s (CPU ${m.cpuS.toFixed(2)} s)`;
  const errors = wrk.non2xx + wrk.socketErrors > 0 ? `, ERRORS: ${wrk.non2xx} non-2xx, ${wrk.socketErrors} socket` : '';
  return `${Math.round(wrk.requestsPerS).toLocaleString('en-US')} req/s, p50 ${wrk.p50Ms.toFixed(3)} ms, p99 ${wrk.p99Ms.toFixed(3)} ms${cpu}, ` +
    `${m.upstreamConnections} backend conns${errors}`;
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

  acquireRunLock(join(workDir, 'run.lock'));
  const group = new ProcessGroup(join(workDir, 'pids.json'));
  group.reapLeftovers(workDir);
  // Logs of earlier runs would be mistaken for this one's.
  for (const entry of readdirSync(workDir)) if (entry.endsWith('.log')) rmSync(join(workDir, entry), { force: true });
  const cpuProfDir = opts.cpuProf ? join(workDir, 'prof') : undefined;
  if (cpuProfDir !== undefined) {
    rmSync(cpuProfDir, { recursive: true, force: true });
    mkdirSync(cpuProfDir, { recursive: true });
  }

  const scaleoutRoot = join(workDir, 'scaleout');
  const machine = machineLine(describeMachine());
  const loads = [loadLine()];
  process.stdout.write(`Machine: ${machine}\nLoad average: ${loads[0]}\n`);
  const rounds = new Map<string, Measurement[]>();
  const notes: string[] = [];
  const profiles = new Map<Mode, { file: string; window: TimeWindowUs }>();

  try {
    const backends = await startBackends(group, workDir, pinned ? LOAD_CPU : 0);
    const baseCtx: Omit<ProxyContext, 'round'> = {
      group, repoRoot, scaleoutRoot, workDir, servers: backends.servers, cpu: pinned ? PROXY_CPU : 0, scaleoutArgs: opts.scaleoutArgs,
    };
    const settings: RunSettings = {
      durationS: opts.durationS, warmupS: opts.warmupS, connections: opts.connections,
      scripts: writeWrkScripts(workDir), ticksPerS: clockTicksPerSecond(), learnCookies: opts.learnCookies,
      ...(pinned ? { loadCpu: LOAD_CPU } : {}),
    };
    const definitions = PROXIES.filter((p) => opts.proxies.includes(p.name));
    const unavailable = new Set<ProxyName>();
    for (const def of definitions) {
      const reason = def.name === 'scaleout' ? snapshotScaleout(repoRoot, scaleoutRoot) ?? def.available({ ...baseCtx, round: 0 }) : def.available({ ...baseCtx, round: 0 });
      if (reason !== undefined) {
        unavailable.add(def.name);
        process.stdout.write(`skipping ${PROXY_LABELS[def.name]}: ${reason}\n`);
        notes.push(`${PROXY_LABELS[def.name]}: not run (${reason})`);
        continue;
      }
      for (const mode of opts.modes) {
        notes.push(`${PROXY_LABELS[def.name]}, ${mode}: ${def.modes[mode] ?? `n/a (${def.missing[mode] ?? 'not supported'})`}`);
      }
    }

    // Rounds outermost and modes before proxies, so the runs compared with each
    // other are close in time and drift on a shared machine hits all alike.
    for (let round = 1; round <= opts.rounds; round++) {
      if (opts.rounds > 1) process.stdout.write(`round ${round} of ${opts.rounds}\n`);
      for (const mode of opts.modes) {
        for (const def of definitions) {
          if (def.modes[mode] === undefined || unavailable.has(def.name)) continue;
          process.stdout.write(`${mode.padEnd(11)} ${PROXY_LABELS[def.name].padEnd(20)} `);
          const outcome = await runOne({ ...baseCtx, round }, backends, def, mode, settings);
          if (outcome.measurement !== undefined) {
            const key = `${mode}/${def.name}`;
            rounds.set(key, [...(rounds.get(key) ?? []), outcome.measurement]);
            process.stdout.write(`${describeResult(outcome.measurement)}\n`);
          } else {
            process.stdout.write(`FAILED: ${outcome.error ?? 'unknown error'}\n`);
            notes.push(`${PROXY_LABELS[def.name]}, ${mode}: failed in round ${round} (${(outcome.error ?? '').split('\n')[0] ?? ''})`);
          }
          for (const problem of outcome.problems) {
            process.stdout.write(`  WARNING: ${problem}\n`);
            notes.push(`${PROXY_LABELS[def.name]}, ${mode}: routing check: ${problem}`);
          }
        }
      }
    }
    // Profiling slows the profiled process (sampling signals, and the kernel time they
    // cost), so it gets runs of its own, after the measured ones and outside the table.
    const scaleout = definitions.find((d) => d.name === 'scaleout');
    if (cpuProfDir !== undefined && scaleout !== undefined && !unavailable.has('scaleout')) {
      for (const mode of opts.modes) {
        if (scaleout.modes[mode] === undefined) continue;
        process.stdout.write(`${mode.padEnd(11)} ${'profiled (not pooled)'.padEnd(20)} `);
        const outcome = await runOne({ ...baseCtx, round: opts.rounds + 1, cpuProfDir }, backends, scaleout, mode, settings);
        process.stdout.write(outcome.measurement === undefined ? `FAILED: ${outcome.error ?? 'unknown error'}\n` : `${describeResult(outcome.measurement)}\n`);
        if (outcome.profile !== undefined) profiles.set(mode, outcome.profile);
      }
    }
    if (!backends.process.alive()) throw new Error('the backends died during the run; see bench/.work/backends.log');
  } finally {
    await group.stopAll();
  }
  loads.push(loadLine());

  const results = [...rounds.values()].map(mergeRounds);
  process.stdout.write(`\n${formatText(tableRows(results))}\n\n`);
  for (const line of ratioLines(results)) process.stdout.write(`${line}\n`);
  process.stdout.write('\n');
  for (const line of targetLines(results)) process.stdout.write(`${line}\n`);
  process.stdout.write(`\nLoad average at start and end: ${loads.join(' / ')}\n`);

  for (const [mode, { file, window }] of profiles) {
    process.stdout.write(`\nscaleout balancer, ${mode}: top self time during the profiled run (${file})\n`);
    if (!existsSync(file)) {
      process.stdout.write('  no profile written: the balancer must exit normally on SIGTERM for node --cpu-prof to write it\n');
      continue;
    }
    for (const line of formatTopSelfTime(file, scaleoutRoot, [window])) process.stdout.write(`${line}\n`);
  }

  if (opts.writeDocs && results.length > 0) {
    const file = join(repoRoot, 'docs/benchmarks.md');
    // Paths in failure notes are this machine's; the docs name them from the repository root.
    const portableNotes = notes.map((l) => l.split(`${repoRoot}/`).join(''));
    const cookieProfile = profiles.get('cookie');
    const profileLines = cookieProfile === undefined || !existsSync(cookieProfile.file) ? []
      : formatTopSelfTime(cookieProfile.file, scaleoutRoot, [cookieProfile.window], DOCS_PROFILE_FUNCTIONS);
    writeSection(file, 'Balancer', docsBody(opts, results, portableNotes, machine, loads, profileLines),
      `# Benchmarks\n\nEach benchmark in \`bench/\` runs scaleout and its peers in one run on the same machine and prints ratios; ` +
      `absolute numbers depend on the machine, ratios within one run are what to compare. Each section names its machine and command.\n\n` +
      `Machine: ${machine}.`);
    process.stdout.write(`\nwrote the Balancer section of ${file}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:balancer failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
