import type { Clock } from '../../internal/clock.js';
import { DEFAULT_OUTLIER, type ResolvedOutlierEjectorOptions } from '../options.js';

/**
 * What went wrong with one proxied request, as far as outlier detection cares. Only
 * failures that are the server's fault are reported (see docs/balancing.md, Health):
 *
 *  - `server-error`: the server answered 5xx (other than 503), or cut a response short;
 *  - `connect`: refused, or reset after the whole request was sent and before any
 *    response byte (the balancer's own view, Envoy's "local origin" errors);
 *  - `timeout`: no response byte in time while the client was reading;
 *  - `stall`: the server went silent while other servers answered (ejects at once).
 */
export type FailureKind = 'server-error' | 'connect' | 'timeout' | 'stall';

/** @defaultValue 5 */
export const DEFAULT_CONSECUTIVE_SERVER_ERRORS = DEFAULT_OUTLIER.consecutiveServerErrors;
/** @defaultValue 3 */
export const DEFAULT_CONSECUTIVE_CONNECT_FAILURES = DEFAULT_OUTLIER.consecutiveConnectFailures;
/** @defaultValue 30_000 */
export const DEFAULT_BASE_EJECTION_MS = DEFAULT_OUTLIER.baseEjectionMs;
/** @defaultValue 300_000 */
export const DEFAULT_MAX_EJECTION_MS = DEFAULT_OUTLIER.maxEjectionMs;
/** @defaultValue 50 */
export const DEFAULT_MAX_EJECTION_PERCENT = DEFAULT_OUTLIER.maxEjectionPercent;

/** What a caller may set; {@link resolveOutlierEjectorOptions} fills the rest. */
export interface OutlierEjectorOptions {
  /**
   * 5xx responses in a row (no success between) that eject a server; 0 disables.
   * @defaultValue DEFAULT_CONSECUTIVE_SERVER_ERRORS (5)
   */
  consecutiveServerErrors?: number;
  /**
   * Connect failures or timeouts in a row that eject a server; 0 disables.
   * @defaultValue DEFAULT_CONSECUTIVE_CONNECT_FAILURES (3)
   */
  consecutiveConnectFailures?: number;
  /**
   * Ejection time for a first ejection; the n-th ejection lasts n times this.
   * @defaultValue DEFAULT_BASE_EJECTION_MS (30 s)
   */
  baseEjectionMs?: number;
  /**
   * Upper bound of one ejection.
   * @defaultValue DEFAULT_MAX_EJECTION_MS (5 min)
   */
  maxEjectionMs?: number;
  /**
   * Largest share of the pool's servers that may be ejected at once, 0..100; 0 disables
   * ejection. One server of a pool of two or more may always go, but never the last
   * one that can take traffic. See {@link OutlierEjector} for the rounding.
   * @defaultValue DEFAULT_MAX_EJECTION_PERCENT (50)
   */
  maxEjectionPercent?: number;
  /** @defaultValue systemClock */
  clock?: Clock;
}

/** What the ejector knows about one server, for the admin API and metrics. */
export interface OutlierStatus {
  ejected: boolean;
  /** End of the current ejection (epoch ms), undefined when not ejected. */
  ejectedUntilMs: number | undefined;
  /** Multiplier the next ejection would use minus one (after decay). */
  ejections: number;
  consecutiveServerErrors: number;
  consecutiveConnectFailures: number;
}

interface Member {
  serverErrors: number;
  connectFailures: number;
  /** Ejection multiplier as of `untilMs` (the end of the last ejection). */
  ejections: number;
  /** End of the last ejection; 0 when never ejected. Ejected while untilMs > now. */
  untilMs: number;
  /** Ejected and the return not yet handed out by `releaseExpired`. */
  pendingRelease: boolean;
  /** The last outcome reported was a success: this server answers fine right now. */
  answering: boolean;
}

/**
 * Passive outlier ejection from live traffic, after Envoy's outlier detection: the
 * proxy reports the outcome of every request, and a server that fails too many in a
 * row is taken out of rotation for a while, without waiting for active checks.
 *
 *     member ── N failures in a row ──► ejected ── ejection time passes ──► member
 *        ▲  (and the percent cap allows)           (releaseExpired reports  │
 *        └───────────────────────────────────────── it: apply slow start) ──┘
 *
 * Ejection time: `baseEjectionMs × n` for the n-th ejection, at most `maxEjectionMs`.
 * n decays by one for every `baseEjectionMs` the server spends out of ejection, so a
 * server that flaps is kept out longer and longer, while one that fails once a day
 * always gets the base time. n never exceeds `ceil(maxEjectionMs / baseEjectionMs)`,
 * so a long streak is forgotten within a bounded time too.
 *
 * Percent cap: an ejection is refused when it would leave more than
 * `maxEjectionPercent` of the members ejected, except that a pool of two or more may
 * always have one server ejected (as Envoy does: with 3 servers and 10 % one may still
 * go), and the last member that can take traffic is never ejected: not the last
 * non-ejected one, nor the last one the caller counts as eligible (`othersEligible`:
 * a server down by active checks or draining cannot stand in). A pool of one server
 * never ejects: sending traffic to a failing server beats answering 503 to everything. A
 * refused ejection keeps the failure counts, so the server goes as soon as room frees up.
 *
 * 5xx are relative (as Envoy's success-rate detection is, in spirit): a run of 5xx ejects
 * a server only while another member answers without error. When every server fails
 * alike (a shared engine is down), ejecting one would only push its load onto the others.
 *
 * Only members (see `setMembers`) are tracked; reports about other ids are ignored.
 * Reports about a server while it is ejected (late answers of requests sent before) are
 * ignored too: they would otherwise extend or re-trigger the ejection.
 */
export class OutlierEjector {
  readonly #serverErrorLimit: number;
  readonly #connectFailureLimit: number;
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #maxPercent: number;
  readonly #maxMultiplier: number;
  readonly #clock: Clock;
  readonly #members = new Map<string, Member>();

  constructor(options: ResolvedOutlierEjectorOptions) {
    this.#serverErrorLimit = options.consecutiveServerErrors;
    this.#connectFailureLimit = options.consecutiveConnectFailures;
    this.#baseMs = options.baseEjectionMs;
    this.#maxMs = options.maxEjectionMs;
    this.#maxPercent = options.maxEjectionPercent;
    this.#maxMultiplier = Math.ceil(this.#maxMs / this.#baseMs);
    this.#clock = options.clock;
  }

  /** Sets the pool's servers: keeps what is known about staying ones, forgets removed ones. */
  setMembers(ids: Iterable<string>): void {
    const next = new Set(ids);
    for (const id of this.#members.keys()) if (!next.has(id)) this.#members.delete(id);
    for (const id of next) {
      if (!this.#members.has(id)) {
        this.#members.set(id, { serverErrors: 0, connectFailures: 0, ejections: 0, untilMs: 0, pendingRelease: false, answering: false });
      }
    }
  }

  /** A request to `id` got a non-5xx answer: the failure runs end. */
  recordSuccess(id: string): void {
    const m = this.#members.get(id);
    if (m === undefined) return;
    m.serverErrors = 0;
    m.connectFailures = 0;
    m.answering = true;
  }

  /**
   * A request to `id` failed; true when this report ejected the server.
   * `othersEligible`: how many other servers could take its traffic (0 refuses).
   */
  recordFailure(id: string, kind: FailureKind, othersEligible = Number.POSITIVE_INFINITY): boolean {
    const m = this.#members.get(id);
    if (m === undefined) return false;
    const nowMs = this.#clock.now();
    if (m.untilMs > nowMs) return false;
    m.answering = false;
    let tripped: boolean;
    if (kind === 'server-error') {
      m.serverErrors++;
      tripped = this.#serverErrorLimit > 0 && m.serverErrors >= this.#serverErrorLimit && this.#othersAnswering(m, nowMs);
    } else if (kind === 'stall') {
      tripped = true;
    } else {
      m.connectFailures++;
      tripped = this.#connectFailureLimit > 0 && m.connectFailures >= this.#connectFailureLimit;
    }
    if (!tripped || othersEligible < 1 || !this.#mayEject(nowMs)) return false;
    const multiplier = Math.min(this.#decayed(m, nowMs) + 1, this.#maxMultiplier);
    m.ejections = multiplier;
    m.untilMs = nowMs + Math.min(this.#baseMs * multiplier, this.#maxMs);
    m.pendingRelease = true;
    m.serverErrors = 0;
    m.connectFailures = 0;
    return true;
  }

  /** Whether `id` is ejected at `nowMs`. */
  isEjected(id: string, nowMs: number = this.#clock.now()): boolean {
    const m = this.#members.get(id);
    return m !== undefined && m.untilMs > nowMs;
  }

  /** End of the current ejection of `id` (epoch ms), or undefined when it is not ejected. */
  ejectedUntil(id: string, nowMs: number = this.#clock.now()): number | undefined {
    const m = this.#members.get(id);
    return m !== undefined && m.untilMs > nowMs ? m.untilMs : undefined;
  }

  /**
   * Ids whose ejection ended by `nowMs` and that were not reported yet: the caller puts
   * them back into rotation (with slow start). Call it before picking, or from a timer
   * set to `nextReleaseMs()`.
   */
  releaseExpired(nowMs: number = this.#clock.now()): string[] {
    const released: string[] = [];
    for (const [id, m] of this.#members) {
      if (m.pendingRelease && m.untilMs <= nowMs) {
        m.pendingRelease = false;
        released.push(id);
      }
    }
    return released;
  }

  /** When the next ejection ends (epoch ms), or undefined when none is pending. */
  nextReleaseMs(): number | undefined {
    let next: number | undefined;
    for (const m of this.#members.values()) {
      if (m.pendingRelease && (next === undefined || m.untilMs < next)) next = m.untilMs;
    }
    return next;
  }

  /** What is known about `id`, or undefined when it is not a member. */
  status(id: string, nowMs: number = this.#clock.now()): OutlierStatus | undefined {
    const m = this.#members.get(id);
    if (m === undefined) return undefined;
    const ejected = m.untilMs > nowMs;
    return {
      ejected,
      ejectedUntilMs: ejected ? m.untilMs : undefined,
      ejections: ejected ? m.ejections : this.#decayed(m, nowMs),
      consecutiveServerErrors: m.serverErrors,
      consecutiveConnectFailures: m.connectFailures,
    };
  }

  /** Servers ejected at `nowMs`. */
  ejectedCount(nowMs: number = this.#clock.now()): number {
    let n = 0;
    for (const m of this.#members.values()) if (m.untilMs > nowMs) n++;
    return n;
  }

  #mayEject(nowMs: number): boolean {
    const total = this.#members.size;
    if (total < 2 || this.#maxPercent === 0) return false;
    const ejected = this.ejectedCount(nowMs);
    if (ejected + 1 >= total) return false;
    if (ejected === 0) return true;
    return (ejected + 1) * 100 <= this.#maxPercent * total;
  }

  #othersAnswering(self: Member, nowMs: number): boolean {
    for (const m of this.#members.values()) if (m !== self && m.answering && !(m.untilMs > nowMs)) return true;
    return false;
  }

  #decayed(m: Member, nowMs: number): number {
    if (m.ejections === 0) return 0;
    const healthyMs = Math.max(0, nowMs - m.untilMs);
    return Math.max(0, m.ejections - Math.floor(healthyMs / this.#baseMs));
  }
}
