import type { Mode } from './modes.js';
import { PROXY_LABELS } from './modes.js';
import type { Backends } from './backends.js';
import { acceptedConnections } from './backends.js';
import type { ProxyContext, ProxyDefinition, RunningProxy } from './proxies.js';
import type { Measurement } from './report.js';
import type { TimeWindowUs } from './cpu-profile.js';
import type { WrkScripts } from './wrk.js';
import { DEFAULT_THREADS, runWrk } from './wrk.js';
import { cpuBusyTicks, processTreeTicks } from './cpu-time.js';
import { checkRouting } from './routing-check.js';

/** How every proxy and mode is measured. */
export interface RunSettings {
  durationS: number;
  warmupS: number;
  connections: number;
  scripts: WrkScripts;
  ticksPerS: number;
  /** CPU for wrk; undefined leaves it unpinned. */
  loadCpu?: number;
  /** Cookie mode: let wrk learn the cookie from Set-Cookie (Lua hook) instead of sending the checked ones. */
  learnCookies: boolean;
}

/** What measuring one proxy in one mode gave. */
export interface RunOutcome {
  measurement?: Measurement;
  /** Routing checks that failed before the measurement (it still ran). */
  problems: string[];
  /** Why the run failed, when it did. */
  error?: string;
  /** The profile the proxy wrote and the span to read from it. */
  profile?: { file: string; window: TimeWindowUs };
}

const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);

/**
 * Starts the proxy, checks it routes as the mode says, warms it up, measures
 * it (wrk, the CPU time of its process tree, the backend connections it
 * opened) and stops it, whatever happens.
 */
export async function runOne(ctx: ProxyContext, backends: Backends, def: ProxyDefinition, mode: Mode, settings: RunSettings): Promise<RunOutcome> {
  const setup = def.modes[mode];
  if (setup === undefined) return { problems: [], error: `${PROXY_LABELS[def.name]} has no ${mode} mode` };
  let running: RunningProxy | undefined;
  let window: TimeWindowUs | undefined;
  const outcome: RunOutcome = { problems: [] };
  try {
    running = await def.start(ctx, mode);
    const check = def.name === 'direct'
      ? { problems: [], cookies: [] }
      : await checkRouting(running.url, mode, ctx.servers.length, running.clientCookieName);
    outcome.problems = check.problems;
    const wrkRun = {
      url: running.url,
      connections: settings.connections,
      threads: DEFAULT_THREADS,
      ...(mode === 'cookie' && settings.learnCookies ? { learnCookies: true } : {}),
      ...(mode === 'cookie' && !settings.learnCookies ? { cookies: check.cookies } : {}),
      ...(settings.loadCpu === undefined ? {} : { cpu: settings.loadCpu }),
    };
    if (mode === 'cookie' && !settings.learnCookies && check.cookies.length === 0) throw new Error('no working affinity cookie to send; see the routing check');
    if (settings.warmupS > 0) await runWrk({ ...wrkRun, durationS: settings.warmupS }, settings.scripts);
    const pid = running.process?.pid;
    const acceptedBefore = await acceptedConnections(backends);
    const ticksBefore = pid === undefined ? undefined : processTreeTicks(pid);
    const cpuBefore = cpuBusyTicks(ctx.cpu);
    const startUs = nowUs();
    const wrk = await runWrk({ ...wrkRun, durationS: settings.durationS }, settings.scripts);
    window = { startUs, endUs: nowUs() };
    const cpuAfter = cpuBusyTicks(ctx.cpu);
    const ticksAfter = pid === undefined ? undefined : processTreeTicks(pid);
    // Minus one: the "before" status request was itself accepted after it was counted.
    const upstreamConnections = (await acceptedConnections(backends)) - acceptedBefore - 1;
    if (running.process !== undefined && !running.process.alive()) throw new Error(`${def.name} exited during the run; see ${running.process.logFile}`);
    const cpuS = ticksAfter === undefined || ticksBefore === undefined ? 0 : (ticksAfter.total - ticksBefore.total) / settings.ticksPerS;
    const systemCpuS = ticksAfter === undefined || ticksBefore === undefined ? 0 : (ticksAfter.system - ticksBefore.system) / settings.ticksPerS;
    outcome.measurement = {
      proxy: def.name, mode, wrk, setup, upstreamConnections,
      ...(pid === undefined ? {} : { cpuS, systemCpuS, roundsPerCpuS: [cpuS > 0 ? wrk.requests / cpuS : 0] }),
      ...(pid === undefined || cpuBefore === undefined || cpuAfter === undefined
        ? {}
        : { othersCpuS: Math.max(0, (cpuAfter - cpuBefore) / settings.ticksPerS - cpuS) }),
    };
  } catch (err) {
    outcome.error = (err as Error).message;
  } finally {
    if (running?.process !== undefined) await ctx.group.stop(running.process);
    if (running?.cpuProfile !== undefined && window !== undefined) outcome.profile = { file: running.cpuProfile, window };
  }
  return outcome;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * Folds the rounds of one proxy and mode into one measurement: requests, time
 * and CPU are added up (so req/s and req per CPU-s are pooled over all rounds),
 * latency percentiles are the median of the rounds'.
 */
export function mergeRounds(rounds: Measurement[]): Measurement {
  const first = rounds[0];
  if (first === undefined) throw new Error('no rounds to merge');
  if (rounds.length === 1) return first;
  const sum = (f: (m: Measurement) => number): number => rounds.reduce((acc, m) => acc + f(m), 0);
  const requests = sum((m) => m.wrk.requests);
  const durationS = sum((m) => m.wrk.durationS);
  const cpuKnown = rounds.every((m) => m.cpuS !== undefined);
  return {
    ...first,
    wrk: {
      requests,
      durationS,
      requestsPerS: durationS > 0 ? requests / durationS : 0,
      p50Ms: median(rounds.map((m) => m.wrk.p50Ms)),
      p99Ms: median(rounds.map((m) => m.wrk.p99Ms)),
      non2xx: sum((m) => m.wrk.non2xx),
      socketErrors: sum((m) => m.wrk.socketErrors),
    },
    upstreamConnections: sum((m) => m.upstreamConnections),
    ...(cpuKnown ? {
      cpuS: sum((m) => m.cpuS ?? 0),
      systemCpuS: sum((m) => m.systemCpuS ?? 0),
      roundsPerCpuS: rounds.flatMap((m) => m.roundsPerCpuS ?? []),
    } : {}),
    ...(rounds.every((m) => m.othersCpuS !== undefined) ? { othersCpuS: sum((m) => m.othersCpuS ?? 0) } : {}),
  };
}
