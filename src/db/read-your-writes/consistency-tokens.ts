import type { ConsistencyToken } from '../consistency-token.js';
import type { TokenStore } from '../database.js';

/** Longest token text kept; real ones are about 20 characters. */
export const MAX_TOKEN_CHARS = 64;
/** Most databases tracked per user. */
export const MAX_TOKEN_DATABASES = 16;

/**
 * One user's consistency tokens, one per database they wrote to, as kept in their
 * session: `{ "orders_1": "t1.3000148" }`. Databases on separate servers have
 * unrelated WAL positions, so each keeps its own token.
 *
 * Made from what the session held at the start of a request, handed to the database
 * calls through {@link readYourWrites}, and written back when a write moved one
 * ({@link changed}). {@link readYourWritesFromSession} does all three.
 */
export class ConsistencyTokens {
  readonly #tokens: Record<string, string> = {};
  #changed = false;

  /** `stored` is whatever the session held; anything malformed is dropped (reads then go to the primary). */
  constructor(stored?: unknown) {
    if (typeof stored !== 'object' || stored === null || Array.isArray(stored)) return;
    for (const [name, token] of Object.entries(stored).slice(0, MAX_TOKEN_DATABASES)) {
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
