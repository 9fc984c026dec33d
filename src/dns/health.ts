import { request } from 'node:http';
import { connect } from 'node:net';
import type { DnsHealthOptions } from './options.js';

/** One balancer as the DNS server sees it. */
export interface BalancerTarget {
  /** `ip:port` as configured. */
  readonly address: string;
  readonly host: string;
  readonly port: number;
  readonly family: 4 | 6;
}

export interface BalancerHealthEvent {
  readonly kind: 'balancer-down' | 'balancer-up';
  readonly address: string;
  readonly detail: string;
}

/**
 * Probes every balancer on its own timer and keeps an up/down state with rise/fall, so
 * one lost probe does not flap answers. Balancers start up: a fresh server answers at
 * once, and a dead one is out after `fall` probes, as the balancer's own checks do.
 */
export class BalancerHealth {
  readonly #targets: readonly BalancerTarget[];
  readonly #options: DnsHealthOptions;
  readonly #onEvent: (event: BalancerHealthEvent) => void;
  readonly #up = new Map<string, boolean>();
  readonly #streak = new Map<string, number>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #stopped = false;

  constructor(targets: readonly BalancerTarget[], options: DnsHealthOptions, onEvent: (event: BalancerHealthEvent) => void = () => {}) {
    this.#targets = targets;
    this.#options = options;
    this.#onEvent = onEvent;
    for (const t of targets) {
      this.#up.set(t.address, true);
      this.#streak.set(t.address, 0);
    }
  }

  start(): void {
    for (const target of this.#targets) this.#schedule(target, 0);
  }

  stop(): void {
    this.#stopped = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  isUp(address: string): boolean {
    return this.#up.get(address) === true;
  }

  /** The balancers that pass their checks, in configured order. */
  live(): BalancerTarget[] {
    return this.#targets.filter((t) => this.#up.get(t.address) === true);
  }

  #schedule(target: BalancerTarget, delayMs: number): void {
    if (this.#stopped) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      void this.#probeOnce(target);
    }, delayMs);
    timer.unref();
    this.#timers.add(timer);
  }

  async #probeOnce(target: BalancerTarget): Promise<void> {
    const started = performance.now();
    const problem = await probe(target, this.#options);
    if (this.#stopped) return;
    this.#record(target, problem);
    const elapsedMs = performance.now() - started;
    this.#schedule(target, Math.max(0, this.#options.intervalMs - elapsedMs));
  }

  #record(target: BalancerTarget, problem: string | undefined): void {
    const up = this.#up.get(target.address) === true;
    const passed = problem === undefined;
    // The streak counts consecutive results against the current state.
    if (passed === up) {
      this.#streak.set(target.address, 0);
      return;
    }
    const streak = (this.#streak.get(target.address) ?? 0) + 1;
    const needed = up ? this.#options.fall : this.#options.rise;
    if (streak < needed) {
      this.#streak.set(target.address, streak);
      return;
    }
    this.#streak.set(target.address, 0);
    this.#up.set(target.address, passed);
    this.#onEvent({
      kind: passed ? 'balancer-up' : 'balancer-down',
      address: target.address,
      detail: passed ? `passed ${needed} check(s)` : `failed ${needed} check(s): ${problem}`,
    });
  }
}

/** One check: undefined when healthy, else why not. Never throws. */
export function probe(target: BalancerTarget, options: DnsHealthOptions): Promise<string | undefined> {
  return options.path === null ? probeTcp(target, options.timeoutMs) : probeHttp(target, options.path, options.timeoutMs);
}

function probeTcp(target: BalancerTarget, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: target.host, port: target.port });
    const timer = setTimeout(() => finish(`no TCP connection within ${timeoutMs} ms`), timeoutMs);
    function finish(problem: string | undefined): void {
      clearTimeout(timer);
      socket.destroy();
      resolve(problem);
    }
    socket.once('connect', () => finish(undefined));
    socket.on('error', (err) => finish(`TCP connect failed: ${err.message}`));
  });
}

function probeHttp(target: BalancerTarget, path: string, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (problem: string | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(problem);
    };
    const req = request({
      host: target.host, port: target.port, path, method: 'GET', agent: false,
      headers: { 'user-agent': 'scaleout-dns-health', connection: 'close' },
    }, (res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      finish(status >= 200 && status < 400 ? undefined : `GET ${path} answered ${status}`);
    });
    const timer = setTimeout(() => finish(`GET ${path} did not answer within ${timeoutMs} ms`), timeoutMs);
    // `on`, not `once`: destroying a pending request emits one more error after we are done.
    req.on('error', (err) => finish(`GET ${path} failed: ${err.message}`));
    req.end();
  });
}
