import { performance } from 'node:perf_hooks';
import type { EventLoopUtilization } from 'node:perf_hooks';

/** How often the instance's load is measured. */
export const DEFAULT_LOAD_SAMPLE_INTERVAL_MS = 1_000;

/**
 * Measures how busy this instance is, as one number from 0 (idle) to 1 (cannot take
 * more work), on a timer so reading it costs nothing per request.
 *
 * load = max(event loop utilization, process CPU time / wall time), both over the last
 * interval, capped at 1.
 *
 * - Event loop utilization is the share of time the loop was running JavaScript or
 *   callbacks rather than waiting for I/O: at 1 every new request queues behind others.
 * - CPU share is measured against one core, because one Node instance runs its
 *   JavaScript on one thread; it catches work the loop does not see (garbage
 *   collection, worker threads, crypto and zlib in the thread pool).
 *
 * Taking the larger of the two means either kind of saturation shows.
 */
export class LoadSampler {
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #elu: EventLoopUtilization;
  #cpu: NodeJS.CpuUsage;
  #wallMs: number;
  #load = 0;
  #header = '0';

  /** @param intervalMs @defaultValue {@link DEFAULT_LOAD_SAMPLE_INTERVAL_MS} */
  constructor(intervalMs = DEFAULT_LOAD_SAMPLE_INTERVAL_MS) {
    this.#intervalMs = intervalMs;
    this.#elu = performance.eventLoopUtilization();
    this.#cpu = process.cpuUsage();
    this.#wallMs = performance.now();
  }

  /** The last measured load, 0..1 with two decimals. */
  get load(): number {
    return this.#load;
  }

  /** The load as header text, built once per sample. */
  get header(): string {
    return this.#header;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.sample(), this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Measure now, over the time since the previous sample. */
  sample(): number {
    const elu = performance.eventLoopUtilization();
    const cpu = process.cpuUsage();
    const wallMs = performance.now();
    const elapsedUs = (wallMs - this.#wallMs) * 1000;
    if (elapsedUs <= 0) return this.#load;
    const loop = performance.eventLoopUtilization(elu, this.#elu).utilization;
    const cpuShare = (cpu.user - this.#cpu.user + cpu.system - this.#cpu.system) / elapsedUs;
    this.#elu = elu;
    this.#cpu = cpu;
    this.#wallMs = wallMs;
    const load = Math.min(1, Math.max(0, loop, cpuShare));
    this.#load = Math.round(load * 100) / 100;
    this.#header = String(this.#load);
    return this.#load;
  }
}
