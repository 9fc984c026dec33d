import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { isHealthyStatus, LOAD_HEADER, parseHealthBody } from '../../internal/wire.js';
import { BalancerConfigError } from '../errors.js';
import { DEFAULT_HEALTH, type ResolvedActiveCheckerOptions, type ResolvedHealthTrackerOptions } from '../options.js';
import { HealthTracker, type HealthState, type HealthTrackerOptions } from './health-tracker.js';

/** @defaultValue '/healthz' (the wire contract's health path) */
export const DEFAULT_CHECK_PATH = DEFAULT_HEALTH.path;
/** @defaultValue 2000 */
export const DEFAULT_CHECK_INTERVAL_MS = DEFAULT_HEALTH.intervalMs;
/** @defaultValue 1000 */
export const DEFAULT_CHECK_TIMEOUT_MS = DEFAULT_HEALTH.timeoutMs;
/** @defaultValue 250 */
export const DEFAULT_CHECK_FAST_INTERVAL_MS = DEFAULT_HEALTH.fastIntervalMs;
/** @defaultValue 0.1 */
export const DEFAULT_CHECK_JITTER_RATIO = DEFAULT_HEALTH.jitterRatio;
/** @defaultValue 16_384 */
export const DEFAULT_CHECK_MAX_BODY_BYTES = DEFAULT_HEALTH.maxBodyBytes;
/** Response header in which a server may report its load. */
export { LOAD_HEADER };

/** A server to probe. */
export interface CheckTarget {
  id: string;
  host: string;
  port: number;
}

/** The outcome of one probe. */
export interface ProbeResult {
  ok: boolean;
  /** Why, in a few words: `HTTP 200`, `HTTP 503`, `no answer within 1000 ms`, `connect ECONNREFUSED ...`. */
  reason: string;
  /** HTTP status, when an answer came. */
  status: number | undefined;
  /** Load the server reported (`scaleout-load` header, else `{ "load": n }` body), on success. */
  load: number | undefined;
}

/** What a caller may set; {@link resolveActiveCheckerOptions} fills the rest. */
export interface ActiveCheckerOptions extends HealthTrackerOptions {
  /** Request path probed with GET. @defaultValue DEFAULT_CHECK_PATH ('/healthz') */
  path?: string;
  /** Time between the end of one probe and the start of the next. @defaultValue DEFAULT_CHECK_INTERVAL_MS (2 s) */
  intervalMs?: number;
  /** A probe without a complete answer by then fails. @defaultValue DEFAULT_CHECK_TIMEOUT_MS (1 s) */
  timeoutMs?: number;
  /**
   * Interval while a server is changing state (an up server that failed its last probe,
   * a down one that passed it), as HAProxy's `fastinter`: a failing server is confirmed
   * down, and a recovered one brought back, in a fraction of the regular interval.
   * Never longer than `intervalMs`.
   * @defaultValue DEFAULT_CHECK_FAST_INTERVAL_MS (250 ms)
   */
  fastIntervalMs?: number;
  /**
   * Each interval is stretched or shrunk by up to this share, at random, so servers
   * are not probed in lockstep. 0..0.5.
   * @defaultValue DEFAULT_CHECK_JITTER_RATIO (0.1)
   */
  jitterRatio?: number;
  /** Host header sent; default: the target's host and port. */
  hostHeader?: string;
  /** Body bytes read looking for `{ load }`; a longer body still counts as success. @defaultValue DEFAULT_CHECK_MAX_BODY_BYTES (16 KiB) */
  maxBodyBytes?: number;
  /**
   * A server went up or down (after rise/fall counting, or `markDown`). `answered`:
   * the probe that decided got an HTTP answer (a 503, say), so the server is alive.
   */
  onChange?: (id: string, state: HealthState, reason: string, answered: boolean) => void;
  /** A successful probe carried a load figure. */
  onLoad?: (id: string, load: number) => void;
}

/** What the checker runs with: every default filled, validated once. */
export type ActiveCheckerRunOptions = ResolvedActiveCheckerOptions & Pick<ActiveCheckerOptions, 'onChange' | 'onLoad'>;

interface Entry {
  readonly target: CheckTarget;
  readonly tracker: HealthTracker;
  timer: NodeJS.Timeout | undefined;
  probe: { promise: Promise<ProbeResult>; cancel: () => void } | undefined;
  /** Bumped by stop/remove, so results of probes started before are ignored. */
  generation: number;
}

/**
 * Active health checks: `GET <path>` to every server every `intervalMs`, on a fresh
 * connection each time (`Connection: close`, no agent), so a probe also proves the
 * server still accepts connections. 2xx and 3xx pass; anything else, a timeout, or a
 * broken connection fails. Results go through a {@link HealthTracker} per server
 * (rise/fall), and only state changes are reported.
 *
 * The first probe of each server is placed at a random point of the first interval,
 * and each later one follows the previous probe's end by the interval ± jitter, so
 * probes neither overlap for a server nor bunch up across servers. Timers are unref'd:
 * the checker never keeps a process alive.
 *
 * @example
 * const checker = new ActiveChecker({ ...resolveActiveCheckerOptions({ intervalMs: 2000 }), onChange: (id, state, why) => log(id, state, why) });
 * checker.add({ id: 'app-1', host: '10.0.0.5', port: 3000 });
 * checker.start();
 */
export class ActiveChecker {
  readonly #path: string;
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #fastIntervalMs: number;
  readonly #jitter: number;
  readonly #hostHeader: string | undefined;
  readonly #maxBodyBytes: number;
  readonly #trackerOptions: ResolvedHealthTrackerOptions;
  readonly #onChange: ActiveCheckerOptions['onChange'];
  readonly #onLoad: ActiveCheckerOptions['onLoad'];
  readonly #entries = new Map<string, Entry>();
  #running = false;

  constructor(options: ActiveCheckerRunOptions) {
    this.#path = options.path;
    this.#intervalMs = options.intervalMs;
    this.#timeoutMs = options.timeoutMs;
    this.#fastIntervalMs = options.fastIntervalMs;
    this.#jitter = options.jitterRatio;
    this.#hostHeader = options.hostHeader;
    this.#maxBodyBytes = options.maxBodyBytes;
    this.#trackerOptions = { rise: options.rise, fall: options.fall, initialState: options.initialState };
    this.#onChange = options.onChange;
    this.#onLoad = options.onLoad;
  }

  /** Starts probing a server. A server whose id is already checked is refused. */
  add(target: CheckTarget): void {
    const { id, host, port } = target;
    if (typeof id !== 'string' || id.length === 0) throw new BalancerConfigError('a health check target needs a non-empty id');
    if (typeof host !== 'string' || host.length === 0) throw new BalancerConfigError(`health check target "${id}" needs a host`);
    if (!Number.isSafeInteger(port) || port < 1 || port > 65_535) {
      throw new BalancerConfigError(`health check target "${id}" has port ${String(port)}; use 1-65535`);
    }
    if (this.#entries.has(id)) throw new BalancerConfigError(`server "${id}" is already health checked; remove it first`);
    const entry: Entry = {
      target: { id, host, port }, tracker: new HealthTracker(this.#trackerOptions),
      timer: undefined, probe: undefined, generation: 0,
    };
    this.#entries.set(id, entry);
    if (this.#running) this.#schedule(entry, Math.random() * this.#intervalMs);
  }

  /** Stops probing a server; a probe in flight is cancelled and its result dropped. */
  remove(id: string): void {
    const entry = this.#entries.get(id);
    if (entry === undefined) return;
    this.#entries.delete(id);
    this.#halt(entry);
  }

  /** The server's state by active checks, or undefined when it is not checked. */
  state(id: string): HealthState | undefined {
    return this.#entries.get(id)?.tracker.state;
  }

  get running(): boolean {
    return this.#running;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    for (const entry of this.#entries.values()) this.#schedule(entry, Math.random() * this.#intervalMs);
  }

  /** Cancels every timer and probe in flight; states are kept for a later `start()`. */
  stop(): void {
    this.#running = false;
    for (const entry of this.#entries.values()) this.#halt(entry);
  }

  /**
   * Probes `id` now (or joins the probe in flight) and counts the result like any
   * other. Never rejects; resolves to undefined for an unknown id.
   */
  checkNow(id: string): Promise<ProbeResult | undefined> {
    const entry = this.#entries.get(id);
    if (entry === undefined) return Promise.resolve(undefined);
    return this.#probe(entry);
  }

  /**
   * One probe of `id` with its own timeout, outside the schedule and not counted: the
   * caller decides what the answer means (see `markDown`). Resolves to undefined for an
   * unknown id, or when the server is removed or checking stops meanwhile.
   */
  async probe(id: string, timeoutMs: number): Promise<ProbeResult | undefined> {
    const entry = this.#entries.get(id);
    if (entry === undefined) return undefined;
    const generation = entry.generation;
    const result = await probeOnce(entry.target, this.#path, this.#hostHeader, timeoutMs, this.#maxBodyBytes).promise;
    return entry.generation === generation && this.#entries.get(id) === entry ? result : undefined;
  }

  /**
   * Takes `id` down now, without waiting for `fall` failed probes; it comes back after
   * `rise` passed ones, probed at the fast interval. True when it was up.
   */
  markDown(id: string, reason: string): boolean {
    const entry = this.#entries.get(id);
    if (entry === undefined || !entry.tracker.forceDown()) return false;
    if (this.#onChange !== undefined) {
      const onChange = this.#onChange;
      guarded(() => onChange(id, 'down', reason, false));
    }
    if (this.#running && entry.probe === undefined) this.#schedule(entry, this.#fastIntervalMs);
    return true;
  }

  #schedule(entry: Entry, delayMs: number): void {
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      void this.#probe(entry);
    }, delayMs);
    entry.timer.unref();
  }

  #nextDelayMs(entry: Entry): number {
    const base = entry.tracker.changing ? this.#fastIntervalMs : this.#intervalMs;
    return base * (1 + this.#jitter * (2 * Math.random() - 1));
  }

  #halt(entry: Entry): void {
    entry.generation++;
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    entry.timer = undefined;
    const probe = entry.probe;
    entry.probe = undefined;
    probe?.cancel();
  }

  #probe(entry: Entry): Promise<ProbeResult> {
    if (entry.probe !== undefined) return entry.probe.promise;
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    entry.timer = undefined;
    const generation = entry.generation;
    const probe = probeOnce(entry.target, this.#path, this.#hostHeader, this.#timeoutMs, this.#maxBodyBytes);
    entry.probe = probe;
    void probe.promise.then((result) => {
      if (entry.generation !== generation) return;
      entry.probe = undefined;
      this.#count(entry, result);
      if (this.#running && this.#entries.get(entry.target.id) === entry) this.#schedule(entry, this.#nextDelayMs(entry));
    });
    return probe.promise;
  }

  #count(entry: Entry, result: ProbeResult): void {
    const id = entry.target.id;
    if (result.ok && result.load !== undefined && this.#onLoad !== undefined) {
      const onLoad = this.#onLoad;
      guarded(() => onLoad(id, result.load!));
    }
    const change = entry.tracker.record(result.ok);
    if (change !== undefined && this.#onChange !== undefined) {
      const onChange = this.#onChange;
      guarded(() => onChange(id, change, result.reason, result.status !== undefined));
    }
  }
}

/** One probe on its own connection. `cancel` settles it as failed at once. */
function probeOnce(
  target: CheckTarget, path: string, hostHeader: string | undefined, timeoutMs: number, maxBodyBytes: number,
): { promise: Promise<ProbeResult>; cancel: () => void } {
  let settle!: (result: ProbeResult) => void;
  const promise = new Promise<ProbeResult>((resolve) => { settle = resolve; });
  let req: ClientRequest | undefined;
  let done = false;
  const finish = (ok: boolean, reason: string, status?: number, load?: number): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    req?.destroy();
    settle({ ok, reason, status, load });
  };
  const timer = setTimeout(() => finish(false, `no answer within ${timeoutMs} ms`), timeoutMs);
  timer.unref();
  const onResponse = (res: IncomingMessage): void => {
    const status = res.statusCode ?? 0;
    const reason = `HTTP ${status}`;
    if (!isHealthyStatus(status)) {
      finish(false, reason, status);
      return;
    }
    const headerLoad = parseLoad(res.headers[LOAD_HEADER]);
    if (headerLoad !== undefined || maxBodyBytes === 0) {
      finish(true, reason, status, headerLoad);
      return;
    }
    const chunks: Buffer[] = [];
    let bytes = 0;
    res.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > maxBodyBytes) finish(true, reason, status);
      else chunks.push(chunk);
    });
    res.on('end', () => finish(true, reason, status, loadFromBody(Buffer.concat(chunks))));
    res.on('error', (err) => finish(false, `answer cut off (${err.message})`, status));
    res.on('aborted', () => finish(false, 'answer cut off', status));
  };
  try {
    req = request({
      host: target.host,
      port: target.port,
      path,
      method: 'GET',
      agent: false,
      setHost: hostHeader === undefined,
      headers: {
        ...(hostHeader === undefined ? {} : { host: hostHeader }),
        connection: 'close',
        accept: 'application/json',
        'user-agent': 'scaleout-health-check',
      },
    }, onResponse);
    req.on('error', (err) => finish(false, err.message));
    req.end();
  } catch (err) {
    finish(false, err instanceof Error ? err.message : String(err));
  }
  return { promise, cancel: () => finish(false, 'cancelled') };
}

function parseLoad(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const load = Number(value);
  return Number.isFinite(load) && load >= 0 ? load : undefined;
}

function loadFromBody(body: Buffer): number | undefined {
  // Most bodies that are not a JSON object are skipped without parsing.
  if (body.length === 0 || body[0] !== 0x7b /* { */) return undefined;
  return parseHealthBody(body.toString('utf8')).load;
}

function guarded(callback: () => void): void {
  try {
    callback();
  } catch (err) {
    // A listener's bug must not stop health checking or crash the balancer.
    process.emitWarning(`health check listener threw: ${err instanceof Error ? err.message : String(err)}`);
  }
}
