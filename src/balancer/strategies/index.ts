import { BalancerConfigError } from '../errors.js';
import { HashStrategy } from './hash.js';
import { LeastConnectionsStrategy } from './least-connections.js';
import { LeastLoadStrategy } from './least-load.js';
import { P2cStrategy } from './p2c.js';
import { RoundRobinStrategy } from './round-robin.js';
import { STRATEGY_NAMES } from './strategy.js';
import type { Strategy, StrategyName, StrategyServer } from './strategy.js';
import {
  resolveHashBalanceFactor, resolveHashVirtualNodes, resolveLoadPerInFlight, resolveRandom,
} from './strategy-options.js';
import type { StrategyOptions } from './strategy-options.js';
import { WeightedStrategy } from './weighted.js';

export { STRATEGY_NAMES } from './strategy.js';
export type { PickContext, Strategy, StrategyName, StrategyServer } from './strategy.js';
export {
  DEFAULT_HASH_BALANCE_FACTOR,
  DEFAULT_HASH_VIRTUAL_NODES,
  DEFAULT_LOAD_PER_IN_FLIGHT,
} from './strategy-options.js';
export type { StrategyOptions } from './strategy-options.js';
export { HashStrategy } from './hash.js';
export type { HashOptions } from './hash.js';
export { LeastConnectionsStrategy } from './least-connections.js';
export { LeastLoadStrategy } from './least-load.js';
export type { LeastLoadOptions } from './least-load.js';
export { P2cStrategy } from './p2c.js';
export type { P2cOptions } from './p2c.js';
export { RoundRobinStrategy } from './round-robin.js';
export { WeightedStrategy } from './weighted.js';

/**
 * A new strategy by name. Options are validated here, once, all of them even those the
 * named strategy ignores (a bad value in a config is a mistake either way): an invalid
 * value or an unknown name throws {@link BalancerConfigError}.
 *
 * @example
 * const strategy = createStrategy<Server>('hash', { hashBalanceFactor: 1.5 });
 * strategy.update(pool.eligibleServers());
 * const server = strategy.pick({ hashKey: req.headers['x-user'], exclude: undefined });
 */
export function createStrategy<S extends StrategyServer = StrategyServer>(
  name: StrategyName, options: StrategyOptions = {},
): Strategy<S> {
  resolveRandom(options.random);
  resolveHashBalanceFactor(options.hashBalanceFactor);
  resolveHashVirtualNodes(options.hashVirtualNodes);
  resolveLoadPerInFlight(options.loadPerInFlight);
  switch (name) {
    case 'round-robin': return new RoundRobinStrategy<S>();
    case 'weighted': return new WeightedStrategy<S>();
    case 'least-connections': return new LeastConnectionsStrategy<S>();
    case 'least-load': return new LeastLoadStrategy<S>(options);
    case 'p2c': return new P2cStrategy<S>(options);
    case 'hash': return new HashStrategy<S>(options);
    default:
      throw new BalancerConfigError(
        `unknown strategy "${String(name)}"; use one of ${STRATEGY_NAMES.join(', ')}`);
  }
}
