import { randomIndex, ServerList } from './server-list.js';
import type { PickContext, Strategy, StrategyName, StrategyServer } from './strategy.js';

/**
 * Power of two random choices, the sampling half: draw two distinct eligible servers
 * (never `exclude`) in O(1) and let the subclass say which of the two is better.
 * p2c compares requests in flight, least-load compares reported load.
 */
export abstract class TwoChoicesStrategy<S extends StrategyServer> implements Strategy<S> {
  abstract readonly name: StrategyName;
  readonly #list = new ServerList<S>();
  readonly #random: () => number;

  constructor(random: () => number) {
    this.#random = random;
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
    return this.prefers(sb, sa) ? sb : sa;
  }

  /** True when `b` should take the request rather than `a` (the first drawn wins ties). */
  protected abstract prefers(b: S, a: S): boolean;
}
