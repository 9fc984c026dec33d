import { BalancerConfigError } from '../errors.js';

/**
 * Options for {@link createStrategy}; each strategy reads only the ones it uses.
 */
export interface StrategyOptions {
  /**
   * Source of uniform numbers in [0, 1) for the randomised strategies (p2c, least-load).
   * Inject a seeded one to make picks reproducible.
   * @defaultValue `Math.random`
   */
  random?: () => number;
  /**
   * Bounded-load factor of the hash strategy: no server takes more than this multiple of
   * its weight share of the requests in flight. 1 is perfectly even but moves many keys
   * off their home server; larger values keep keys home longer; `Infinity` turns the
   * bound off.
   * @defaultValue {@link DEFAULT_HASH_BALANCE_FACTOR} (1.25)
   */
  hashBalanceFactor?: number;
  /**
   * Ring points the hash strategy gives the heaviest server (lighter ones get fewer in
   * proportion to weight). More points even out key shares at the cost of memory and
   * rebuild time on `update()`.
   * @defaultValue {@link DEFAULT_HASH_VIRTUAL_NODES} (160)
   */
  hashVirtualNodes?: number;
  /**
   * How much load (0..1 CPU) the least-load strategy charges for each request in flight
   * per unit of weight. See {@link LeastLoadStrategy} for why it exists.
   * @defaultValue {@link DEFAULT_LOAD_PER_IN_FLIGHT} (0.1)
   */
  loadPerInFlight?: number;
}

/** Default bounded-load factor of the hash strategy (HAProxy's `hash-balance-factor` 125). */
export const DEFAULT_HASH_BALANCE_FACTOR = 1.25;

/** Default ring points of the heaviest server; 160 keeps key shares within ~8% of fair. */
export const DEFAULT_HASH_VIRTUAL_NODES = 160;

/** Default load charged per in-flight request per unit of weight by least-load. */
export const DEFAULT_LOAD_PER_IN_FLIGHT = 0.1;

/** The random source, or `Math.random`; throws BalancerConfigError if it is not a function. */
export function resolveRandom(random: unknown): () => number {
  if (random === undefined) return Math.random;
  if (typeof random !== 'function') {
    throw new BalancerConfigError(`strategy option "random" must be a function returning a number in [0, 1), got ${typeof random}`);
  }
  return random as () => number;
}

/** The hash balance factor, or its default; throws BalancerConfigError unless it is >= 1. */
export function resolveHashBalanceFactor(factor: unknown): number {
  if (factor === undefined) return DEFAULT_HASH_BALANCE_FACTOR;
  if (typeof factor !== 'number' || Number.isNaN(factor) || factor < 1) {
    throw new BalancerConfigError(
      `strategy option "hashBalanceFactor" must be a number >= 1 (e.g. 1.25, or Infinity to turn the bound off), got ${String(factor)}`);
  }
  return factor;
}

/** The least-load in-flight charge, or its default; throws BalancerConfigError unless finite and >= 0. */
export function resolveLoadPerInFlight(load: unknown): number {
  if (load === undefined) return DEFAULT_LOAD_PER_IN_FLIGHT;
  if (typeof load !== 'number' || !Number.isFinite(load) || load < 0) {
    throw new BalancerConfigError(
      `strategy option "loadPerInFlight" must be a finite number >= 0 (e.g. 0.1), got ${String(load)}`);
  }
  return load;
}

/** The hash ring points per server, or the default; throws BalancerConfigError unless an integer in 1..10000. */
export function resolveHashVirtualNodes(count: unknown): number {
  if (count === undefined) return DEFAULT_HASH_VIRTUAL_NODES;
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > 10_000) {
    throw new BalancerConfigError(
      `strategy option "hashVirtualNodes" must be an integer from 1 to 10000 (e.g. 160), got ${String(count)}`);
  }
  return count;
}
