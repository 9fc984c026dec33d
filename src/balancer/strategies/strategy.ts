/**
 * How a pool picks a server. Every strategy implements this one interface and passes
 * the shared contract suite in `strategy-contract.test.ts`.
 *
 * The pool calls `update()` whenever the set of eligible servers changes (membership,
 * health, ejection, drain, weight): rare events, so strategies precompute there
 * (rings, weight tables) and keep `pick()` cheap: it runs once per request.
 */
export interface StrategyServer {
  readonly id: string;
  /** Effective weight now (configured weight scaled by slow start); > 0. */
  readonly weight: number;
  /** Requests currently being proxied to this server. */
  readonly inFlight: number;
  /** Last load the server reported (0 idle .. 1 saturated; may exceed 1), 0 when unknown. */
  readonly load: number;
}

export interface PickContext {
  /** Key for the hash strategy (header, cookie or client IP value); undefined when absent. */
  hashKey: string | undefined;
  /** A server that must not be picked (the one a retried request just failed on). */
  exclude: StrategyServer | undefined;
}

export type StrategyName = 'round-robin' | 'weighted' | 'least-connections' | 'least-load' | 'p2c' | 'hash';

export const STRATEGY_NAMES: readonly StrategyName[] = [
  'round-robin', 'weighted', 'least-connections', 'least-load', 'p2c', 'hash',
];

export interface Strategy<S extends StrategyServer = StrategyServer> {
  readonly name: StrategyName;
  /** The eligible servers changed; called with the new full list (possibly empty). */
  update(servers: readonly S[]): void;
  /** A server for this request, or undefined when none is eligible (after `exclude`). */
  pick(ctx: PickContext): S | undefined;
}
