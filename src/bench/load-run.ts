import type autocannon from 'autocannon';
import { bucketOf, LATENCY_BUCKETS, quantileMs } from '../balancer/latency-window.js';
import type { BalancerSnapshot } from '../balancer/index.js';
import type { BenchReport, BenchSecond, BenchServer } from './bench-report.js';
import { BenchOptionsError, BenchRunError, BenchTargetError } from './errors.js';
import { DEFAULT_BENCH_PRODUCTS, SCENARIOS, scenarioRequests } from './scenarios.js';
import { findWrk, runWrk } from './wrk-driver.js';
import type { WrkResult } from './wrk-driver.js';
import type { ScenarioName, ScenarioOptions } from './scenarios.js';

/** Seconds of load when no duration is given. @defaultValue 10 */
export const DEFAULT_BENCH_DURATION_S = 10;
/** Longest run: the per-second timeline stays bounded. @defaultValue 3600 */
export const MAX_BENCH_DURATION_S = 3600;
/** Connections when none are given. @defaultValue 10 */
export const DEFAULT_BENCH_CONNECTIONS = 10;
/** @defaultValue 1000 */
export const MAX_BENCH_CONNECTIONS = 1000;
/** @defaultValue 1000000 */
export const MAX_BENCH_RPS = 1_000_000;
/** A request without an answer for this long counts as a timeout. @defaultValue 10 */
export const BENCH_TIMEOUT_S = 10;
/** How often the balancer's counters are read during the run. @defaultValue 1000 */
export const BALANCER_SAMPLE_MS = 1000;
/** How often `onProgress` is called. @defaultValue 250 */
export const PROGRESS_INTERVAL_MS = 250;

/** The load generators `scaleout bench` drives. */
export const BENCH_TOOLS = ['autocannon', 'wrk'] as const;
export type BenchTool = typeof BENCH_TOOLS[number];

export interface BenchOptions extends ScenarioOptions {
  /** @defaultValue 'browse' */
  scenario?: ScenarioName;
  /**
   * `wrk` (when on the PATH) pushes harder from its own process, but has no fixed rate
   * and runs `browse` only. @defaultValue 'autocannon'
   */
  tool?: BenchTool;
  /** Requests per second in all; undefined: as fast as the connections go. */
  rps?: number;
  /** @defaultValue {@link DEFAULT_BENCH_DURATION_S} */
  durationS?: number;
  /** @defaultValue {@link DEFAULT_BENCH_CONNECTIONS} (never more than `rps`) */
  connections?: number;
}

/** Where the load goes, and how to read the balancer's own counters. */
export interface BenchTarget {
  appUrl: string;
  /** The balancer's admin view (`GET /servers`); undefined when there is none right now. */
  snapshot(): Promise<BalancerSnapshot | undefined>;
}

export interface BenchProgress {
  elapsedS: number;
  durationS: number;
  responses: number;
  errors: number;
  /** Responses in the last second. */
  currentRps: number;
}

export interface BenchRun {
  readonly done: Promise<BenchReport>;
  /** End the run early; `done` resolves with what was measured. */
  stop(): void;
}

interface Validated { scenario: ScenarioName; rps: number | undefined; durationS: number; connections: number; tool: BenchTool; wrk: string | undefined }

/** Checks the options once; a {@link BenchOptionsError} names the option, the value and what is allowed. */
export function validateBenchOptions(options: BenchOptions): Validated {
  const scenario = options.scenario ?? 'browse';
  if (!SCENARIOS.includes(scenario)) throw new BenchOptionsError(`scenario "${String(scenario)}" is unknown; use one of ${SCENARIOS.join(', ')}`);
  const whole = (name: string, value: number | undefined, max: number): void => {
    if (value !== undefined && (!Number.isInteger(value) || value < 1 || value > max)) {
      throw new BenchOptionsError(`${name} ${String(value)} is not allowed; use a whole number from 1 to ${max}`);
    }
  };
  whole('rps', options.rps, MAX_BENCH_RPS);
  whole('duration (seconds)', options.durationS, MAX_BENCH_DURATION_S);
  whole('connections', options.connections, MAX_BENCH_CONNECTIONS);
  whole('products', options.products, 1_000_000);
  const durationS = options.durationS ?? DEFAULT_BENCH_DURATION_S;
  const tool = options.tool ?? 'autocannon';
  if (!BENCH_TOOLS.includes(tool)) throw new BenchOptionsError(`tool "${String(tool)}" is unknown; use one of ${BENCH_TOOLS.join(', ')}`);
  let wrk: string | undefined;
  if (tool === 'wrk') {
    if (options.rps !== undefined) throw new BenchOptionsError('wrk keeps no fixed rate: leave out rps, or use the autocannon tool');
    if (scenario !== 'browse') throw new BenchOptionsError(`wrk runs the browse scenario only (${scenario} carries a session cookie from request to request); use the autocannon tool`);
    wrk = findWrk();
    if (wrk === undefined) throw new BenchOptionsError('wrk is not on the PATH; install it (Debian: apt-get install wrk) or use the autocannon tool');
  }
  // autocannon splits the rate over the connections: a connection with a share of 0 would run unlimited.
  const connections = Math.min(options.connections ?? DEFAULT_BENCH_CONNECTIONS, options.rps ?? Infinity);
  return { scenario, rps: options.rps, durationS, connections, tool, wrk };
}

/**
 * Runs a load through the balancer with autocannon and measures it from both sides:
 * every response as the client saw it (per second: count, p50, p99), and the
 * balancer's admin counters before, during (each second, per server) and after.
 *
 * With a rate, the run sends exactly `rps × duration` requests and waits for every
 * answer, so the client's count and the balancer's agree to the request. Without one,
 * it stops at the deadline, and the exchanges still in flight then (at most one per
 * connection) are counted by the balancer only.
 */
export function startBench(target: BenchTarget, options: BenchOptions = {}, onProgress?: (progress: BenchProgress) => void): BenchRun {
  const v = validateBenchOptions(options);
  let instance: autocannon.Instance | undefined;
  let stopped = false;
  const abort = new AbortController();
  const done = (async (): Promise<BenchReport> => {
    const before = await readSnapshot(target);
    const startedAt = new Date();
    const t0 = performance.now();
    const overall = new Uint32Array(LATENCY_BUCKETS);
    const seconds: Array<{ counts: Uint32Array; responses: number; errors: number }> = [];
    const secondAt = (): { counts: Uint32Array; responses: number; errors: number } => {
      const t = Math.min(MAX_BENCH_DURATION_S + 60, Math.floor((performance.now() - t0) / 1000));
      while (seconds.length <= t) seconds.push({ counts: new Uint32Array(LATENCY_BUCKETS), responses: 0, errors: 0 });
      return seconds[t]!;
    };
    let responses = 0;
    let errors = 0;
    let latencySumMs = 0;
    let maxMs = 0;

    // Per server, requests in each second, from the balancer's counters; and the
    // balancer's exchanges and p50/p99 each second (the timeline when the client keeps none).
    const perSecond = new Map<string, number[]>();
    const balancerSeconds: BenchSecond[] = [];
    let last = before;
    const sample = async (): Promise<void> => {
      const now = await target.snapshot().catch(() => undefined);
      if (now === undefined) return;
      const t = Math.max(0, Math.round((performance.now() - t0) / 1000) - 1);
      const previous = serverRequests(last);
      for (const [key, requests] of serverRequests(now)) {
        const series = perSecond.get(key) ?? [];
        while (series.length < t) series.push(0);
        series[t] = (series[t] ?? 0) + requests - (previous.get(key) ?? 0);
        perSecond.set(key, series);
      }
      const latency = Object.values(now.pools)[0]?.latency;
      balancerSeconds.push({ t, responses: totalExchanges(now) - totalExchanges(last), errors: 0, p50Ms: latency?.p50Ms ?? 0, p99Ms: latency?.p99Ms ?? 0 });
      last = now;
    };
    const sampler = setInterval(() => void sample(), BALANCER_SAMPLE_MS);
    const progress = onProgress === undefined ? undefined : setInterval(() => {
      const elapsedS = (performance.now() - t0) / 1000;
      const previous = seconds[Math.floor(elapsedS) - 1];
      if (v.tool === 'wrk') {
        // wrk says nothing until it ends: the balancer's counts stand in.
        const counted = totalExchanges(last) - totalExchanges(before);
        onProgress({ elapsedS, durationS: v.durationS, responses: counted, errors: 0, currentRps: balancerSeconds.at(-1)?.responses ?? 0 });
        return;
      }
      onProgress({ elapsedS, durationS: v.durationS, responses, errors, currentRps: previous?.responses ?? secondAt().responses });
    }, PROGRESS_INTERVAL_MS);

    let result: Pick<autocannon.Result, '1xx' | '2xx' | '3xx' | '4xx' | '5xx' | 'timeouts'>;
    let wrkResult: WrkResult | undefined;
    try {
      if (v.tool === 'wrk') {
        wrkResult = await runWrk(v.wrk!, target.appUrl, { durationS: v.durationS, connections: v.connections, products: options.products ?? DEFAULT_BENCH_PRODUCTS, timeoutS: BENCH_TIMEOUT_S }, abort.signal);
        responses = wrkResult.responses;
        errors = wrkResult.errors + wrkResult.timeouts;
        maxMs = wrkResult.latency.maxMs;
        // wrk tells "not 2xx or 3xx" apart, no more: those are counted as 5xx, the rest as 2xx.
        result = { '1xx': 0, '2xx': responses - wrkResult.non2xx3xx, '3xx': 0, '4xx': 0, '5xx': wrkResult.non2xx3xx, timeouts: wrkResult.timeouts };
      } else {
        // Loaded here, not at import: it takes a good part of a second, and every `scaleout`
        // command (and the supervisor, through the dashboard) imports this module.
        const { default: run } = await import('autocannon');
        result = await new Promise<autocannon.Result>((resolve, reject) => {
          if (stopped) {
            reject(new BenchRunError('the run was stopped before it started'));
            return;
          }
          instance = run({
            url: target.appUrl,
            connections: v.connections,
            requests: scenarioRequests(v.scenario, options),
            timeout: BENCH_TIMEOUT_S,
            ...(v.rps === undefined ? { duration: v.durationS } : { overallRate: v.rps, amount: v.rps * v.durationS }),
          }, (err, res) => (err ? reject(new BenchRunError(`autocannon failed: ${(err as Error).message}`, { cause: err })) : resolve(res)));
          instance.on('response', (_client: unknown, _status: number, _bytes: number, responseTimeMs: number) => {
            const second = secondAt();
            const b = bucketOf(responseTimeMs * 1000);
            second.counts[b]!++;
            second.responses++;
            overall[b]!++;
            responses++;
            latencySumMs += responseTimeMs;
            if (responseTimeMs > maxMs) maxMs = responseTimeMs;
          });
          instance.on('reqError', () => {
            secondAt().errors++;
            errors++;
          });
          if (stopped) instance.stop();
          // A rated run ends when every request was answered: if the app goes away, some
          // never are. Past the planned time plus one request timeout, it ends anyway.
          if (v.rps !== undefined) {
            const deadline = setTimeout(() => instance?.stop(), (v.durationS + BENCH_TIMEOUT_S + 5) * 1000);
            instance.on('done', () => clearTimeout(deadline));
          }
        });
      }
    } finally {
      clearInterval(sampler);
      if (progress !== undefined) clearInterval(progress);
    }
    const elapsedS = (performance.now() - t0) / 1000;
    const after = await readSnapshot(target);
    await sample().catch(() => undefined);

    const timeline: BenchSecond[] = wrkResult !== undefined ? balancerSeconds : seconds.map((s, t) => ({
      t, responses: s.responses, errors: s.errors, p50Ms: quantileMs(s.counts, s.responses, 0.5), p99Ms: quantileMs(s.counts, s.responses, 0.99),
    }));
    const beforeRequests = serverRequests(before);
    const servers: BenchServer[] = [];
    for (const [pool, p] of Object.entries(after.pools)) {
      for (const s of p.servers) {
        const key = `${pool}/${s.id}`;
        servers.push({
          pool, id: s.id,
          requests: s.counters.requests - (beforeRequests.get(key) ?? 0),
          perSecond: perSecond.get(key) ?? [],
          p50Ms: s.latency?.p50Ms ?? 0,
          p99Ms: s.latency?.p99Ms ?? 0,
        });
      }
    }
    const byClass = { '1xx': result['1xx'], '2xx': result['2xx'], '3xx': result['3xx'], '4xx': result['4xx'], '5xx': result['5xx'] };
    return {
      scenario: v.scenario,
      tool: v.tool,
      timelineSource: wrkResult === undefined ? 'client' : 'balancer',
      rps: v.rps ?? null,
      connections: v.connections,
      durationS: v.durationS,
      elapsedS: round(elapsedS, 2),
      appUrl: target.appUrl,
      startedAt: startedAt.toISOString(),
      totals: { responses, errors, timeouts: result.timeouts, byClass, throughputRps: round(responses / Math.max(elapsedS, 0.001), 1) },
      // A quantile is its bucket's upper bound: never above the largest value seen.
      latency: wrkResult !== undefined ? wrkResult.latency : {
        p50Ms: round(Math.min(maxMs, quantileMs(overall, responses, 0.5)), 3),
        p90Ms: round(Math.min(maxMs, quantileMs(overall, responses, 0.9)), 3),
        p99Ms: round(Math.min(maxMs, quantileMs(overall, responses, 0.99)), 3),
        maxMs: round(maxMs, 3),
        meanMs: round(responses === 0 ? 0 : latencySumMs / responses, 3),
      },
      timeline,
      servers,
      balancer: {
        exchanges: totalExchanges(after) - totalExchanges(before),
        requests: [...serverRequests(after)].reduce((sum, [key, n]) => sum + n - (beforeRequests.get(key) ?? 0), 0),
      },
    };
  })();
  return {
    done,
    stop: () => {
      stopped = true;
      instance?.stop();
      abort.abort();
    },
  };
}

async function readSnapshot(target: BenchTarget): Promise<BalancerSnapshot> {
  let snapshot: BalancerSnapshot | undefined;
  try {
    snapshot = await target.snapshot();
  } catch (err) {
    throw new BenchTargetError(`the balancer's admin API does not answer: ${(err as Error).message}`, { cause: err });
  }
  if (snapshot === undefined) throw new BenchTargetError('there is no balancer to send the load through (yet)');
  return snapshot;
}

function serverRequests(snapshot: BalancerSnapshot): Map<string, number> {
  const map = new Map<string, number>();
  for (const [pool, p] of Object.entries(snapshot.pools)) for (const s of p.servers) map.set(`${pool}/${s.id}`, s.counters.requests);
  return map;
}

function totalExchanges(snapshot: BalancerSnapshot): number {
  return Object.values(snapshot.pools).reduce((sum, p) => sum + (p.exchanges ?? 0), 0);
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
