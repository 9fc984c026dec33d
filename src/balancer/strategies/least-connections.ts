import { ServerList } from './server-list.js';
import type { PickContext, Strategy, StrategyServer } from './strategy.js';

/**
 * The server with the fewest requests in flight per unit of weight (`inFlight / weight`).
 *
 * Ties are broken by rotation: the scan starts just after the previous winner. Without
 * that, at low concurrency (every server at 0 in flight) the first server in the list
 * would win every tie and take all the traffic.
 *
 * Weights only show under concurrency: with requests that finish before the next one
 * arrives every server is at 0 and they take turns evenly. Use `weighted` when the
 * split must follow weights at any load.
 */
export class LeastConnectionsStrategy<S extends StrategyServer = StrategyServer> implements Strategy<S> {
  readonly name = 'least-connections' as const;
  #list = new ServerList<S>();
  #next = 0;

  update(servers: readonly S[]): void {
    this.#list.update(servers);
  }

  pick(ctx: PickContext): S | undefined {
    const items = this.#list.items;
    const n = items.length;
    const skip = this.#list.indexOf(ctx.exclude);
    const start = this.#next < n ? this.#next : 0;
    let best = -1;
    let bestInFlight = 0;
    let bestWeight = 1;
    for (let k = 0; k < n; k++) {
      const i = start + k < n ? start + k : start + k - n;
      if (i === skip) continue;
      const s = items[i]!;
      // a/wa < b/wb without dividing: exact for integer counts and weights, so ties
      // are real ties and rotate.
      if (best < 0 || s.inFlight * bestWeight < bestInFlight * s.weight) {
        best = i;
        bestInFlight = s.inFlight;
        bestWeight = s.weight;
      }
    }
    if (best < 0) return undefined;
    this.#next = best + 1;
    return items[best];
  }
}
