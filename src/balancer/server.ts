import { randomBytes } from 'node:crypto';
import type { Clock } from '../internal/clock.js';
import { slowStartWeight } from './health/slow-start.js';
import { LatencyWindow } from './latency-window.js';
import type { StrategyServer } from './strategies/strategy.js';

/**
 * One member of a pool: an address the balancer proxies to.
 *
 * A server's availability has three independent inputs, and its `state` is derived:
 *
 *     health (active checks)  ─┐
 *     ejection (live traffic) ─┼─► state: up | down | ejected | draining | drained
 *     admin (drain/undrain)   ─┘
 *
 *  - `up`: takes new clients.
 *  - `down`: failed its active checks; takes nothing.
 *  - `ejected`: failed live requests in a row; takes nothing until its ejection ends.
 *  - `draining`: takes no new clients; in-flight requests finish (sticky clients may stay
 *    until the drain deadline).
 *  - `drained`: draining with nothing in flight: safe to stop.
 */
export type ServerState = 'up' | 'down' | 'ejected' | 'draining' | 'drained';

export interface ServerCounters {
  requests: number;
  responses2xx: number;
  responses3xx: number;
  responses4xx: number;
  responses5xx: number;
  /** Could not connect, or the connection failed before a response. */
  failures: number;
  /** Requests re-sent to another server after failing on this one. */
  retries: number;
  /** Requests that ended with a 504 from the balancer. */
  timeouts: number;
}

export interface ServerSpec {
  /** Name unique within the pool (e.g. `a`, an instance id). */
  id: string;
  host: string;
  port: number;
  /** @defaultValue 1 */
  weight?: number;
}

export class Server implements StrategyServer {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  /**
   * Opaque id carried in the affinity cookie: it never reveals the server's name or
   * address. Derived from the balancer keys, so balancers sharing keys agree on it.
   */
  readonly cookieId: string;
  readonly counters: ServerCounters = {
    requests: 0, responses2xx: 0, responses3xx: 0, responses4xx: 0, responses5xx: 0,
    failures: 0, retries: 0, timeouts: 0,
  };
  /** Its exchanges' times, from the request sent to it to the response's end (see LatencyWindow). */
  readonly latency = new LatencyWindow();
  inFlight = 0;
  /**
   * Of those in flight, the ones whose request the server has whole and that wait for
   * their response head (for stall detection): not uploads still arriving, nor
   * responses that stream.
   */
  awaiting = 0;
  /** Last reported load (0 idle .. 1 saturated), from responses and health answers. */
  load = 0;
  healthy = true;
  lastHealthReason = '';
  ejectedUntilMs = 0;
  draining = false;
  /** While draining: sticky clients may stay until this time (0: they move at once). */
  drainStickyUntilMs = 0;

  readonly #clock: Clock;
  #configuredWeight: number;
  #slowStartFromMs = 0;
  #slowStartUntilMs = 0;

  constructor(spec: ServerSpec, clock: Clock, cookieId: string = randomBytes(12).toString('base64url')) {
    this.id = spec.id;
    this.host = spec.host;
    this.port = spec.port;
    this.#configuredWeight = spec.weight ?? 1;
    this.#clock = clock;
    this.cookieId = cookieId;
  }

  get address(): string {
    return this.host.includes(':') ? `[${this.host}]:${this.port}` : `${this.host}:${this.port}`;
  }

  get configuredWeight(): number {
    return this.#configuredWeight;
  }

  set configuredWeight(weight: number) {
    this.#configuredWeight = weight;
  }

  /** Effective weight: the configured weight, ramped up while in slow start. */
  get weight(): number {
    if (this.#slowStartUntilMs !== 0) {
      const now = this.#clock.now();
      if (now < this.#slowStartUntilMs) {
        return slowStartWeight(this.#configuredWeight, this.#slowStartFromMs, now, this.#slowStartUntilMs - this.#slowStartFromMs);
      }
      this.#slowStartUntilMs = 0;
    }
    return this.#configuredWeight;
  }

  /** Start ramping traffic up from now (a server that came back). */
  beginSlowStart(windowMs: number): void {
    if (windowMs <= 0) return;
    this.#slowStartFromMs = this.#clock.now();
    this.#slowStartUntilMs = this.#slowStartFromMs + windowMs;
  }

  get inSlowStart(): boolean {
    return this.#slowStartUntilMs !== 0 && this.#clock.now() < this.#slowStartUntilMs;
  }

  isEjected(nowMs: number): boolean {
    return this.ejectedUntilMs > nowMs;
  }

  /** May take a new client. */
  isEligible(nowMs: number): boolean {
    return this.healthy && !this.draining && !(this.ejectedUntilMs > nowMs);
  }

  /** May keep a client that is already stuck to it. */
  acceptsSticky(nowMs: number): boolean {
    if (!this.healthy || this.ejectedUntilMs > nowMs) return false;
    return !this.draining || nowMs < this.drainStickyUntilMs;
  }

  state(nowMs: number): ServerState {
    if (this.draining) return this.inFlight === 0 ? 'drained' : 'draining';
    if (!this.healthy) return 'down';
    if (this.ejectedUntilMs > nowMs) return 'ejected';
    return 'up';
  }

  /** Requests sent to this server so far (for stall detection). */
  get requests(): number {
    return this.counters.requests;
  }

  /** Response heads received from this server so far (for stall detection). */
  get answers(): number {
    const c = this.counters;
    return c.responses2xx + c.responses3xx + c.responses4xx + c.responses5xx;
  }

  countResponse(status: number): void {
    if (status < 300) this.counters.responses2xx++;
    else if (status < 400) this.counters.responses3xx++;
    else if (status < 500) this.counters.responses4xx++;
    else this.counters.responses5xx++;
  }
}
