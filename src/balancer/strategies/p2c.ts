import { resolveRandom } from './strategy-options.js';
import { randomIndex, ServerList } from './server-list.js';
import type { PickContext, Strategy, StrategyServer } from './strategy.js';

/** Options of {@link P2cStrategy}. */
export interface P2cOptions {
  /**
   * Uniform random numbers in [0, 1).
   * @defaultValue `Math.random`
   */
  random?: () => number;
}

/**
 * Power of two random choices: sample two distinct eligible servers at random and take
 * the one with fewer requests in flight per unit of weight (the first sampled on a tie).
 *
 * Random sampling means no shared ordering for concurrent balancers to herd on, and the
 * comparison keeps the maximum load exponentially closer to the mean than one random
 * choice (Mitzenmacher). O(1) per pick whatever the pool size.
 */
export class P2cStrategy<S extends StrategyServer = StrategyServer> implements Strategy<S> {
  readonly name = 'p2c' as const;
  #list = new ServerList<S>();
  readonly #random: () => number;

  constructor(options: P2cOptions = {}) {
    this.#random = resolveRandom(options.random);
  }

  update(servers: readonly S[]): void {
    this.#list.update(servers);
  }

  pick(ctx: PickContext): S | undefined {
    const items = this.#list.items;
    const skip = this.#list.indexOf(ctx.exclude);
    const m = skip >= 0 ? items.length - 1 : items.length;
    if (m <= 0) return undefined;
    if (m === 1) return items[skip === 0 ? 1 : 0];
    // Draw two distinct positions among the m eligible ones, then step over `skip`.
    let a = randomIndex(this.#random, m);
    let b = randomIndex(this.#random, m - 1);
    if (b >= a) b++;
    if (skip >= 0) {
      if (a >= skip) a++;
      if (b >= skip) b++;
    }
    const sa = items[a]!;
    const sb = items[b]!;
    return sb.inFlight * sa.weight < sa.inFlight * sb.weight ? sb : sa;
  }
}
