import { CacheKeyError } from './errors.js';

/** Longest key or tag the cache accepts, in characters. */
export const MAX_KEY_CHARS = 1_024;

export function assertKey(key: unknown, what = 'key'): asserts key is string {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_CHARS) {
    throw new CacheKeyError(`a cache ${what} must be a non-empty string of at most ${MAX_KEY_CHARS} characters, got ${typeof key === 'string' ? `${key.length} characters` : typeof key}`);
  }
}
