import { ServerList } from './server-list.js';
import type { PickContext, Strategy, StrategyServer } from './strategy.js';

/**
 * Plain rotation over the eligible servers, ignoring weight and load. The excluded
 * server is stepped over; if it is the only one, there is nothing to pick.
 *
 * The position survives `update()`, so a pool whose membership changes often does not
 * send every first request to the same server.
 *
 * @example
 * const rr = new RoundRobinStrategy();
 * rr.update([a, b, c]);
 * rr.pick({ hashKey: undefined, exclude: undefined }); // a, then b, c, a, ...
 */
export class RoundRobinStrategy<S extends StrategyServer = StrategyServer> implements Strategy<S> {
  readonly name = 'round-robin' as const;
  #list = new ServerList<S>();
  #next = 0;

  update(servers: readonly S[]): void {
    this.#list.update(servers);
  }

  pick(ctx: PickContext): S | undefined {
    const items = this.#list.items;
    const n = items.length;
    if (n === 0) return undefined;
    let i = this.#next < n ? this.#next : 0;
    if (i === this.#list.indexOf(ctx.exclude)) {
      if (n === 1) return undefined;
      i = i + 1 === n ? 0 : i + 1;
    }
    this.#next = i + 1;
    return items[i];
  }
}
