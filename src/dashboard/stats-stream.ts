import type http from 'node:http';
import type { BalancerSnapshot } from '../balancer/index.js';
import { parseHealthBody } from '../internal/wire.js';
import type { CacheCounts } from '../internal/wire.js';
import { DEFAULT_HEALTH_PATH } from '../runtime/index.js';
import type { ChaosFault, ControlHost, QueueStats, RuntimeStatus } from '../runtime/index.js';
import type { LoadRunner, LoadView } from './load-runner.js';
import { ProcessUsageSampler } from './process-usage.js';
import type { ProcessUsage } from './process-usage.js';

/** How often a frame goes to every open stats stream. @defaultValue 1000 */
export const STATS_INTERVAL_MS = 1000;
/** A client that lets this much pile up unread is cut off (it reconnects and starts afresh). @defaultValue 1048576 */
export const STATS_MAX_BUFFERED_BYTES = 1024 * 1024;
/** An instance's health answer (for its cache counts) is waited for this long per frame. @defaultValue 500 */
export const INSTANCE_READ_TIMEOUT_MS = 500;

/** One frame of `/dashboard/api/stats`: everything the panels draw, at one instant. */
export interface StatsFrame {
  at: number;
  status: RuntimeStatus;
  /** The balancer's pools, servers, counters and p50/p99 (null while there is none). */
  balancer: BalancerSnapshot | null;
  /** CPU and memory by process id (the supervisor's ids: `app-1`, `balancer`, ...). */
  usage: Record<string, ProcessUsage>;
  /** Cache lookups since start by instance id, from each instance's health body (apps with a cache only). */
  cache: Record<string, CacheCounts>;
  /** Every configured worker's queues: depth, and finished counts where the engine keeps them. */
  queues: QueueStats[];
  /** Chaos faults in force. */
  faults: ChaosFault[];
  load: LoadView;
}

/**
 * The live panels' feed, as Server-Sent Events: one frame a second to every open
 * stream, built once per tick whatever the number of viewers, and nothing at all
 * while no one watches (the timer stops with the last stream).
 */
export class StatsStream {
  readonly #host: ControlHost;
  readonly #load: LoadRunner;
  readonly #usage = new ProcessUsageSampler();
  readonly #clients = new Set<http.ServerResponse>();
  #timer: NodeJS.Timeout | undefined;
  #ticking = false;

  constructor(host: ControlHost, load: LoadRunner) {
    this.#host = host;
    this.#load = load;
  }

  /** One frame now (also what `GET /dashboard/api/status` answers). */
  async frame(): Promise<StatsFrame> {
    const status = this.#host.status();
    const [snapshot, cache, queues] = await Promise.all([
      this.#host.balancerSnapshot().catch(() => undefined),
      readCacheCounts(status),
      readQueues(this.#host),
    ]);
    const balancer = snapshot ?? null;
    const byPid = new Map<number, string>();
    for (const p of status.processes) if (p.pid !== null) byPid.set(p.pid, p.id);
    const usage: Record<string, ProcessUsage> = {};
    for (const [pid, u] of this.#usage.sample(byPid.keys())) usage[byPid.get(pid)!] = u;
    return { at: Date.now(), status, balancer, usage, cache, queues, faults: this.#host.chaos?.list() ?? [], load: this.#load.view };
  }

  attach(res: http.ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write('retry: 1000\n\n');
    this.#clients.add(res);
    res.on('close', () => {
      this.#clients.delete(res);
      if (this.#clients.size === 0) this.#stop();
    });
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => void this.#tick(), STATS_INTERVAL_MS);
      this.#timer.unref();
    }
    void this.#tick();
  }

  async #tick(): Promise<void> {
    // A slow balancer read must not stack up ticks.
    if (this.#ticking) return;
    this.#ticking = true;
    try {
      const text = `event: stats\ndata: ${JSON.stringify(await this.frame())}\n\n`;
      for (const res of this.#clients) {
        if (res.writableLength > STATS_MAX_BUFFERED_BYTES) res.destroy();
        else res.write(text);
      }
    } finally {
      this.#ticking = false;
    }
  }

  #stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/** The queues, or none when the engine does not answer within a frame's read timeout. */
async function readQueues(host: ControlHost): Promise<QueueStats[]> {
  if (host.queues === undefined) return [];
  try {
    return await Promise.race([host.queues(), new Promise<QueueStats[]>((resolve) => setTimeout(resolve, INSTANCE_READ_TIMEOUT_MS, []).unref())]);
  } catch {
    return [];
  }
}

/**
 * Each running instance's cache counts, from its health body (the scaleout plugin adds
 * them when it has a cache): one small GET per instance per frame. An instance that is
 * slow or has no cache is left out of this frame.
 */
async function readCacheCounts(status: RuntimeStatus): Promise<Record<string, CacheCounts>> {
  const out: Record<string, CacheCounts> = {};
  await Promise.all(status.processes.filter((p) => p.role === 'app' && p.state === 'running' && p.address !== null).map(async (p) => {
    try {
      const res = await fetch(`http://${p.address}${DEFAULT_HEALTH_PATH}`, { signal: AbortSignal.timeout(INSTANCE_READ_TIMEOUT_MS) });
      const text = await res.text();
      const counts = text.length > 64 * 1024 ? undefined : parseHealthBody(text).cache;
      if (counts !== undefined) out[p.id] = counts;
    } catch {
      // Gone or slow: nothing for it in this frame.
    }
  }));
  return out;
}
