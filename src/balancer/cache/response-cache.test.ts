import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../internal/clock.js';
import { resolveResponseCacheOptions } from '../options.js';
import { CachedResponse, ResponseCache } from './response-cache.js';

const HEAD = 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\netag: "e"\r\n';
const NOT_MODIFIED = 'HTTP/1.1 304 Not Modified\r\netag: "e"\r\n';

function entry(key: string, storedAtMs: number, lifetimeMs = 1000, body = 'hello'): CachedResponse {
  return new CachedResponse({
    key, head: HEAD, notModifiedHead: NOT_MODIFIED, body: Buffer.from(body), etag: '"e"', varyNames: [], varyValues: [],
    storedAtMs, lifetimeMs, initialAgeSec: 0,
  });
}

describe('a cached response', () => {
  it('is one buffer: head, its Age, the empty line, the body; Age moves once a second', () => {
    const cached = entry('h a /p', 10_000);
    const first = cached.wire(10_000);
    expect(first.toString('latin1')).toBe(`${HEAD}age: 0\r\n\r\nhello`);
    expect(cached.headLength).toBe(first.length - 5);
    // The same bytes within the second: nothing rebuilt.
    expect(cached.wire(10_999)).toBe(first);
    const later = cached.wire(12_500);
    expect(later.toString('latin1')).toBe(`${HEAD}age: 2\r\n\r\nhello`);
    // What was written before is not changed under a socket that still queues it.
    expect(first.toString('latin1')).toContain('age: 0');
    expect(cached.notModified(12_500).toString('latin1')).toBe(`${NOT_MODIFIED}age: 2\r\n\r\n`);
  });
});

describe('the response cache', () => {
  it('answers while fresh and drops what is stale', () => {
    const clock = new ManualClock(5_000);
    const cache = new ResponseCache(resolveResponseCacheOptions({ clock }));
    cache.set(entry('h a /p', clock.now(), 1000));
    expect(cache.get('h a /p', 5_999)).toBeDefined();
    expect(cache.get('h a /p', 6_000)).toBeUndefined();
    expect(cache.snapshot()).toMatchObject({ entries: 0, stores: 1 });
  });

  it('holds at most maxBytes, evicting the least recently used', () => {
    const cache = new ResponseCache(resolveResponseCacheOptions({ maxBytes: 4096, maxObjectBytes: 2048 }));
    const body = 'x'.repeat(700);
    for (let i = 0; i < 10; i++) {
      cache.set(entry(`h a /p${i}`, 0, 60_000, body));
      cache.get('h a /p0', 1); // kept in use
    }
    const { bytes, entries } = cache.snapshot();
    expect(bytes).toBeLessThanOrEqual(4096);
    expect(entries).toBeLessThan(10);
    expect(cache.get('h a /p0', 1)).toBeDefined();
    expect(cache.get('h a /p1', 1)).toBeUndefined();
  });

  it('purges everything or one path prefix, on every host', () => {
    const cache = new ResponseCache(resolveResponseCacheOptions());
    for (const key of ['h a /products/1', 's b /products/2', 'h a /about']) cache.set(entry(key, 0, 60_000));
    expect(cache.purge('/products')).toBe(2);
    expect(cache.get('h a /about', 1)).toBeDefined();
    expect(cache.purge()).toBe(1);
    expect(cache.snapshot()).toMatchObject({ entries: 0, purged: 3 });
  });
});
