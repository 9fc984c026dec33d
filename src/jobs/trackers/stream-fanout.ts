import type { Redis } from 'ioredis';

/** One stream entry: its id and its field, value pairs. */
export type StreamEntry = [id: string, fields: string[]];

/** How long one blocking read waits before it checks whether anyone still listens. */
export const DEFAULT_FANOUT_BLOCK_MS = 1_000;
/** How many entries one read takes at most. */
const READ_COUNT = 1_000;

interface Subscription {
  deliver(entry: StreamEntry): void;
}

/**
 * One blocking reader of one Redis stream per process, handing each entry to the local
 * subscribers of its route (a job id): a thousand SSE watchers of one queue hold one
 * Redis connection, not a thousand. Runs while anyone listens.
 */
export class StreamFanout {
  readonly #open: () => Redis;
  readonly #key: string;
  readonly #route: (fields: string[]) => string | undefined;
  readonly #subs = new Map<string, Set<Subscription>>();
  #reader: Redis | undefined;
  /** Resolves with the id the reader reads after; every later entry reaches the subscribers. */
  #positioned: Promise<void> | undefined;
  #closed = false;

  constructor(open: () => Redis, key: string, route: (fields: string[]) => string | undefined) {
    this.#open = open;
    this.#key = key;
    this.#route = route;
  }

  /**
   * Registers `deliver` for the entries of `route`; resolves once the reader has a
   * position, so that every entry added after this call resolves reaches `deliver`
   * (read the stored ones with XRANGE after that, and nothing falls in between).
   */
  async subscribe(route: string, deliver: (entry: StreamEntry) => void): Promise<() => void> {
    const sub: Subscription = { deliver };
    let set = this.#subs.get(route);
    if (set === undefined) this.#subs.set(route, set = new Set());
    set.add(sub);
    const unsubscribe = (): void => {
      const s = this.#subs.get(route);
      s?.delete(sub);
      if (s?.size === 0) this.#subs.delete(route);
    };
    try {
      await (this.#positioned ??= this.#start());
    } catch (err) {
      unsubscribe();
      throw err;
    }
    return unsubscribe;
  }

  #start(): Promise<void> {
    const reader = this.#open();
    this.#reader = reader;
    return new Promise<void>((resolve, reject) => {
      void (async () => {
        let after: string;
        try {
          const last = await reader.xrevrange(this.#key, '+', '-', 'COUNT', 1);
          after = last[0]?.[0] ?? '0-0';
        } catch (err) {
          this.#stop(reader);
          reject(err);
          return;
        }
        resolve();
        while (!this.#closed && this.#subs.size > 0 && this.#reader === reader) {
          let reply: [string, StreamEntry[]][] | null;
          try {
            reply = await reader.xread('COUNT', READ_COUNT, 'BLOCK', DEFAULT_FANOUT_BLOCK_MS, 'STREAMS', this.#key, after) as typeof reply;
          } catch {
            // Closed, or the connection dropped: ioredis reconnects and the next read
            // goes on after the last id seen, so nothing is skipped.
            if (this.#closed || this.#reader !== reader) return;
            await new Promise((r) => setTimeout(r, 100));
            continue;
          }
          for (const [, entries] of reply ?? []) {
            for (const entry of entries) {
              after = entry[0];
              const route = this.#route(entry[1]);
              const subs = route === undefined ? undefined : this.#subs.get(route);
              if (subs !== undefined) for (const s of [...subs]) s.deliver(entry);
            }
          }
        }
        this.#stop(reader);
      })();
    });
  }

  #stop(reader: Redis): void {
    if (this.#reader === reader) {
      this.#reader = undefined;
      this.#positioned = undefined;
    }
    reader.disconnect();
  }

  close(): void {
    this.#closed = true;
    if (this.#reader !== undefined) this.#stop(this.#reader);
  }
}
