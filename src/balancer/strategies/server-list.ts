import type { StrategyServer } from './strategy.js';

/**
 * The servers of the last `update()`, with an id index so `pick()` finds the excluded
 * server in O(1) without scanning. Servers are matched by id, not object identity, so an
 * `exclude` taken from an older snapshot still matches.
 */
export class ServerList<S extends StrategyServer> {
  #items: readonly S[] = [];
  #indexById = new Map<string, number>();

  /** The servers, in the order given to the last `update()`. */
  get items(): readonly S[] {
    return this.#items;
  }

  /** Replaces the list (copied, so later mutation of the caller's array has no effect). */
  update(servers: readonly S[]): void {
    this.#items = servers.slice();
    const index = new Map<string, number>();
    for (let i = 0; i < this.#items.length; i++) {
      // A duplicated id keeps its first position: exclusion then skips that one.
      const id = this.#items[i]!.id;
      if (!index.has(id)) index.set(id, i);
    }
    this.#indexById = index;
  }

  /** Position of `server` (by id) in the list, or -1 when absent or undefined. */
  indexOf(server: StrategyServer | undefined): number {
    if (server === undefined) return -1;
    return this.#indexById.get(server.id) ?? -1;
  }
}

/**
 * Maps `random()` onto an integer in [0, n), clamped so a source that returns 1, a
 * negative number or NaN cannot produce an index outside the list.
 */
export function randomIndex(random: () => number, n: number): number {
  const i = Math.floor(random() * n);
  return i >= 0 ? (i < n ? i : n - 1) : 0;
}
