import { AsyncLocalStorage } from 'node:async_hooks';
import type { ConsistencyToken, TokenStore } from 'scaleout/db';

/** Longest token text kept; real ones are about 20 characters. */
const MAX_TOKEN_CHARS = 64;
/** Most databases tracked per user; the shop has a handful. */
const MAX_DATABASES = 16;

/**
 * One user's consistency tokens, one per database (shard) they wrote to, as kept in
 * their session: `{ "shop_shard_1": "t1.3000148" }`. Databases on separate servers
 * have unrelated WAL positions, so each keeps its own token.
 *
 * Loaded at the start of a request, handed to the database layer through
 * {@link withTokens}, and written back to the session when a write moved one.
 */
export class TokenBag {
  readonly #tokens: Record<string, string> = {};
  #changed = false;

  /** `stored` is whatever the session held; anything malformed is dropped (reads then go to the primary). */
  constructor(stored: unknown) {
    if (typeof stored !== 'object' || stored === null || Array.isArray(stored)) return;
    for (const [name, token] of Object.entries(stored).slice(0, MAX_DATABASES)) {
      if (typeof token === 'string' && token.length <= MAX_TOKEN_CHARS) this.#tokens[name] = token;
    }
  }

  /** The token store of one database, as `Database.session(store)` wants it. */
  store(database: string): TokenStore {
    return {
      get: () => this.#tokens[database],
      set: (token: ConsistencyToken) => {
        this.#tokens[database] = token.toString();
        this.#changed = true;
      },
    };
  }

  /** True once a write moved a token: the session needs the new value. */
  get changed(): boolean {
    return this.#changed;
  }

  toJSON(): Record<string, string> {
    return { ...this.#tokens };
  }
}

/** How reads made inside {@link withTokens} or {@link withPrimaryReads} are routed. */
export interface ReadContext {
  tokens: TokenBag | undefined;
  /** Read the primary: for what must not miss a row written a moment ago by anyone. */
  primary: boolean;
}

const current = new AsyncLocalStorage<ReadContext>();

/**
 * Runs `fn` with `bag` as the tokens of every database call made inside it. The shard
 * backends are built once per process, so the request's tokens reach them through the
 * async context rather than through arguments.
 */
export function withTokens<T>(bag: TokenBag, fn: () => Promise<T>): Promise<T> {
  return current.run({ tokens: bag, primary: false }, fn);
}

/** Runs `fn` with every read on the primary. */
export function withPrimaryReads<T>(fn: () => Promise<T>): Promise<T> {
  return current.run({ tokens: current.getStore()?.tokens, primary: true }, fn);
}

/** How the request being served wants its reads routed, if it said. */
export function readContext(): ReadContext | undefined {
  return current.getStore();
}
