import { BenchBusyError, BenchOptionsError, BenchTargetError, SCENARIOS, startBench } from '../bench/index.js';
import type { BenchProgress, ScenarioName } from '../bench/index.js';
import type { ControlHost } from '../runtime/index.js';

/** The dashboard's load is bounded: at most this rate. @defaultValue 200 */
export const DASHBOARD_LOAD_MAX_RPS = 200;
/** ... and at most this long. @defaultValue 60 */
export const DASHBOARD_LOAD_MAX_DURATION_S = 60;
/** Connections of the dashboard's load. @defaultValue 4 */
export const DASHBOARD_LOAD_CONNECTIONS = 4;

/** What the dashboard shows of its load: the one running, or how the last one ended. */
export interface LoadView {
  running: boolean;
  scenario: ScenarioName | null;
  rps: number | null;
  progress: BenchProgress | null;
  /** The last load's outcome. */
  last: {
    responses: number;
    errors: number;
    throughputRps: number;
    p50Ms: number;
    p99Ms: number;
    /** The balancer's count of the same exchanges. */
    balancerExchanges: number;
  } | null;
  error: string | null;
}

/**
 * The "start a load" button: the bench of `scaleout bench`, run inside the supervisor
 * against its own balancer, one at a time, bounded in rate and time so a click cannot
 * turn the dashboard into a denial of service.
 */
export class LoadRunner {
  readonly #host: ControlHost;
  #view: LoadView = { running: false, scenario: null, rps: null, progress: null, last: null, error: null };

  constructor(host: ControlHost) {
    this.#host = host;
  }

  get view(): LoadView {
    return this.#view;
  }

  /** Starts a load and returns at once; its progress and end show in `view`. */
  start(input: { scenario?: unknown; rps?: unknown; durationS?: unknown }): LoadView {
    if (this.#view.running) throw new BenchBusyError();
    const scenario = (input.scenario ?? 'browse') as ScenarioName;
    if (!SCENARIOS.includes(scenario)) throw new BenchOptionsError(`scenario must be one of ${SCENARIOS.join(', ')}`);
    const rps = bounded('rps', input.rps ?? 50, DASHBOARD_LOAD_MAX_RPS);
    const durationS = bounded('durationS', input.durationS ?? 10, DASHBOARD_LOAD_MAX_DURATION_S);
    const appUrl = this.#host.status().appUrl;
    if (appUrl === null) throw new BenchTargetError('there is no balancer to send the load through (yet)');
    const run = startBench({ appUrl, snapshot: () => this.#host.balancerSnapshot() },
      { scenario, rps, durationS, connections: DASHBOARD_LOAD_CONNECTIONS },
      (progress) => (this.#view = { ...this.#view, progress }));
    this.#view = { running: true, scenario, rps, progress: null, last: this.#view.last, error: null };
    run.done.then((report) => {
      this.#view = {
        running: false, scenario, rps, progress: null, error: null,
        last: {
          responses: report.totals.responses, errors: report.totals.errors, throughputRps: report.totals.throughputRps,
          p50Ms: report.latency.p50Ms, p99Ms: report.latency.p99Ms, balancerExchanges: report.balancer.exchanges,
        },
      };
    }, (err: unknown) => {
      this.#view = { ...this.#view, running: false, progress: null, error: (err as Error)?.message ?? String(err) };
    });
    return this.#view;
  }
}

function bounded(name: string, value: unknown, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new BenchOptionsError(`${name} must be a whole number from 1 to ${max}`);
  }
  return value;
}
