import { decodeEntry, newVersionToken } from './entry.js';
import type { CacheEntry } from './entry.js';
import type { L1Tier } from './l1-tier.js';
import type { L2Guard } from './l2-guard.js';

/** L2 key of an entry. */
export const V = 'v:';
/** L2 key of a tag's version. */
export const TAG = 't:';

/** An entry as read from L2, checked against its tags' current versions. */
export interface L2Read {
  /** Undefined when missing, corrupt or built with an old tag version. */
  entry: CacheEntry | undefined;
  /** The tags' current versions. */
  tokens: Record<string, string>;
  bytes: number;
}

/**
 * Reads entries and tag versions from L2, and tells L1 every tag version it sees, so
 * L1 copies built with an older one stop matching.
 */
export class L2Entries {
  readonly #l2: L2Guard | undefined;
  readonly #l1: L1Tier | undefined;

  constructor(l2: L2Guard | undefined, l1: L1Tier | undefined) {
    this.#l2 = l2;
    this.#l1 = l1;
  }

  /** The entry under `key` and its tags' versions, in one round trip (two when a tag is new). */
  async read(key: string, tags: readonly string[]): Promise<L2Read> {
    const keys = [V + key];
    for (const t of tags) keys.push(TAG + t);
    const reply = await this.#l2!.call('get', (s) => s.getMany(keys));
    const tokens: Record<string, string> = {};
    const missing: string[] = [];
    tags.forEach((t, i) => {
      const token = reply[i + 1];
      if (token === undefined) missing.push(t);
      else { tokens[t] = token; this.#l1?.setTag(t, token); }
    });
    if (missing.length > 0) Object.assign(tokens, await this.tagTokens(missing, true));
    let entry = decodeEntry(reply[0]);
    if (entry !== undefined) {
      for (const t of tags) {
        if (entry.t?.[t] !== tokens[t]) { entry = undefined; break; }
      }
    }
    return { entry, tokens, bytes: reply[0]?.length ?? 0 };
  }

  /**
   * The current version of each tag. A tag never seen gets a fresh random version
   * (`add`, so racing instances agree): were a missing tag read as a fixed value, an
   * entry built before Memcached evicted the tag could match again after a later bump.
   */
  async tagTokens(tags: readonly string[], create: boolean): Promise<Record<string, string>> {
    const tokens: Record<string, string> = {};
    if (tags.length === 0 || this.#l2 === undefined) return tokens;
    const l2 = this.#l2;
    const reply = await l2.call('get', (s) => s.getMany(tags.map((t) => TAG + t)));
    await Promise.all(tags.map(async (t, i) => {
      let token = reply[i];
      if (token === undefined && create) {
        const fresh = newVersionToken();
        token = await l2.call('add', (s) => s.add(TAG + t, fresh, undefined))
          ? fresh
          : (await l2.call('get', (s) => s.getMany([TAG + t])))[0];
      }
      if (token !== undefined) { tokens[t] = token; this.#l1?.setTag(t, token); }
    }));
    return tokens;
  }
}
