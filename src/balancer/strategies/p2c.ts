import { resolveRandom } from './strategy-options.js';
import type { StrategyServer } from './strategy.js';
import { TwoChoicesStrategy } from './two-choices.js';

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
export class P2cStrategy<S extends StrategyServer = StrategyServer> extends TwoChoicesStrategy<S> {
  readonly name = 'p2c' as const;

  constructor(options: P2cOptions = {}) {
    super(resolveRandom(options.random));
  }

  protected prefers(b: S, a: S): boolean {
    return b.inFlight * a.weight < a.inFlight * b.weight;
  }
}
