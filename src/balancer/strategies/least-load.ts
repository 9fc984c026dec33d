import { resolveLoadPerInFlight, resolveRandom } from './strategy-options.js';
import type { StrategyServer } from './strategy.js';
import { TwoChoicesStrategy } from './two-choices.js';

/** Options of {@link LeastLoadStrategy}. */
export interface LeastLoadOptions {
  /**
   * Uniform random numbers in [0, 1).
   * @defaultValue `Math.random`
   */
  random?: () => number;
  /**
   * Load charged per request in flight per unit of weight (`k` below).
   * @defaultValue {@link DEFAULT_LOAD_PER_IN_FLIGHT} (0.1)
   */
  loadPerInFlight?: number;
}

/**
 * Prefers the servers that report the least load, without herding.
 *
 * Servers report load (0..1 CPU) in the `scaleout-load` response header and in health
 * answers, so the balancer's view is stale between responses. A plain argmin over
 * reported load sends every request to whichever server last reported the lowest value
 * until its next report arrives: a herd, then a swing to the next server.
 *
 * So this is power of two choices over a score that mixes the stale signal with a fresh
 * one the balancer knows exactly, its own requests in flight:
 *
 *     score = load + k * inFlight / weight        (k = loadPerInFlight, default 0.1)
 *
 * - The in-flight term reacts on the very next pick: each request sent to the
 *   preferred server raises its score, so under concurrency it takes only until it is
 *   `Δload / k` requests (per unit of weight) ahead, then others take turns. With
 *   k = 0.1, a server at 0.1 CPU runs about 8 more requests at once than one at 0.9.
 * - k sets the trade-off: larger k trusts in-flight counts more (tends to
 *   least-connections, ignores the reports); smaller k trusts the reports more (closer
 *   to argmin, herds harder). 0.1 says ten requests in flight are worth a whole CPU,
 *   the right order for typical web handlers; raise it for slow, I/O-bound requests.
 * - Sampling two servers at random (rather than scanning all) means a good server is
 *   only a candidate in a fraction of picks once the pool is larger than two, which
 *   spreads further; with two servers it is the score alone that stops the herd.
 *
 * Weighted random by headroom (`1 - load`) was the alternative: it also avoids herding
 * but ignores in-flight counts entirely, so a slow server keeps getting its share of
 * new requests until its next report. Servers that have not reported count as load 0.
 */
export class LeastLoadStrategy<S extends StrategyServer = StrategyServer> extends TwoChoicesStrategy<S> {
  readonly name = 'least-load' as const;
  readonly #k: number;

  constructor(options: LeastLoadOptions = {}) {
    super(resolveRandom(options.random));
    this.#k = resolveLoadPerInFlight(options.loadPerInFlight);
  }

  protected prefers(b: S, a: S): boolean {
    return this.#score(b) < this.#score(a);
  }

  #score(s: S): number {
    // The load comes from a response header: a garbage value must not win every pick.
    const load = s.load > 0 ? s.load : 0;
    return load + (this.#k * s.inFlight) / s.weight;
  }
}
