import type { Clock } from '../internal/clock.js';
import { decide, freshMemory } from './autoscale-policy.js';
import type { Decision } from './autoscale-policy.js';
import type { AutoscaleConfig } from './config.js';
import { OperationInProgressError } from './errors.js';
import type { SupervisorEvent } from './events.js';

export type AutoscaleMetric = 'cpu' | 'p99Ms' | 'queueDepth';

export interface AutoscalerOptions {
  /** `app` or `worker:<name>`: what `scale` changes, and the `source` of the events. */
  role: string;
  config: AutoscaleConfig;
  metric: AutoscaleMetric;
  /** Processes of the role in service now. */
  count: () => number;
  /** The metric now (mean CPU percent per process, the pool's p99 in ms, jobs waiting per process); undefined: no figure yet. */
  read: () => Promise<number | undefined>;
  /** The same path as `scaleout scale <role>=<n>`: new processes from the current build, removed ones drained first. */
  scale: (to: number) => Promise<unknown>;
  clock: Clock;
  emit: (event: SupervisorEvent) => void;
}

/**
 * Keeps one role's process count near its target: reads the metric every
 * `intervalMs`, asks the policy ({@link decide}) and scales through the supervisor.
 * Each change is an `autoscale` event with its reason; holding at max and cooling
 * down are said once when they begin, not at every sample.
 */
export class Autoscaler {
  readonly #options: AutoscalerOptions;
  readonly #memory = freshMemory();
  #timer: NodeJS.Timeout | undefined;
  #tick: Promise<void> | undefined;
  #stopped = false;
  /** The last decision said, so a hold is not repeated every sample. */
  #said: Decision['action'] | undefined;

  constructor(options: AutoscalerOptions) {
    this.#options = options;
  }

  start(): void {
    this.#schedule();
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#tick = this.#sample().finally(() => {
        this.#tick = undefined;
        this.#schedule();
      });
    }, this.#options.config.intervalMs);
    this.#timer.unref();
  }

  async #sample(): Promise<void> {
    const { config, metric, role } = this.#options;
    const value = await this.#options.read().catch(() => undefined);
    if (value === undefined || this.#stopped) return;
    const from = this.#options.count();
    const target = config.target[metric]!;
    const decision = decide({ min: config.min, max: config.max, target, cooldownMs: config.cooldownMs }, this.#memory, from, value, this.#options.clock.now());
    if (decision.action === 'steady') {
      this.#said = undefined;
      return;
    }
    const event = { kind: 'autoscale', source: role, role, from, to: decision.to, metric, value: Math.round(value * 10) / 10, target, reason: decision.reason } as const;
    if (decision.action === 'hold-at-max' || decision.action === 'cooldown') {
      if (this.#said !== decision.action) this.#options.emit({ ...event, decision: decision.action });
      this.#said = decision.action;
      return;
    }
    this.#said = decision.action;
    this.#options.emit({ ...event, decision: decision.action });
    try {
      await this.#options.scale(decision.to);
    } catch (err) {
      // Another operation (a deploy, a manual scale) runs: the next sample decides again.
      this.#memory.lastChangeAt = undefined;
      if (err instanceof OperationInProgressError || this.#stopped) return;
      this.#options.emit({ ...event, decision: 'failed', reason: `${decision.action} to ${decision.to} failed: ${String((err as Error)?.message ?? err).split('\n')[0]}` });
    }
  }

  /** No more samples; resolves once a scale in progress ended. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#tick;
  }
}
