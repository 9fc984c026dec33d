import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SessionOptionsError } from './errors.js';
import {
  DEFAULT_POSTGRES_SESSION_STORE, DEFAULT_REDIS_SESSION_STORE, DEFAULT_SESSION, resolvePostgresSessionStoreOptions,
  resolveRedisSessionStoreOptions, resolveSessionOptions,
} from './options.js';
import type { SessionStore } from './store.js';

const store = { getAll: async () => undefined, create: async () => undefined } as unknown as SessionStore;
const keys = [{ id: 'k1', secret: 'x'.repeat(32) }];
const docs = readFileSync(new URL('../../docs/sessions.md', import.meta.url), 'utf8');

function thrown(resolve: () => unknown): SessionOptionsError {
  try {
    resolve();
  } catch (err) {
    expect(err).toBeInstanceOf(SessionOptionsError);
    expect((err as SessionOptionsError).code).toBe('SCALEOUT_SESSION_INVALID_OPTIONS');
    return err as SessionOptionsError;
  }
  throw new Error('resolved without an error');
}

describe('session options', () => {
  it('resolve to the defaults docs/sessions.md gives', () => {
    const resolved = resolveSessionOptions({ store, keys });
    expect(resolved).toMatchObject({ ttlMs: 24 * 3_600_000, touchIntervalMs: 60_000 });
    expect(docs).toContain(`\`ttlMs\` (${resolved.ttlMs / 3_600_000} h), \`touchIntervalMs\` (${resolved.touchIntervalMs / 1_000} s, at most half`);
    const { cookie } = resolved;
    expect(docs).toContain(`\`cookie: { name: '${cookie.name}', domain, path: '${cookie.path}', sameSite: '${cookie.sameSite}',\nsecure: '${String(cookie.secure)}', persistent: ${String(cookie.persistent)} }\``);
    expect(docs).toContain(`\`table\` (\`${DEFAULT_POSTGRES_SESSION_STORE.table}\``);
    expect(docs).toContain(`\`cleanupIntervalMs\` (default ${DEFAULT_POSTGRES_SESSION_STORE.cleanupIntervalMs / 1_000} s), in batches of \`cleanupBatchSize\` (default ${DEFAULT_POSTGRES_SESSION_STORE.cleanupBatchSize})`);
    expect(docs).toContain(`under \`keyPrefix\` (default \`${DEFAULT_REDIS_SESSION_STORE.keyPrefix}\`)`);
    // A short TTL pulls the touch interval down to half of it.
    expect(resolveSessionOptions({ store, keys, ttlMs: 10_000 }).touchIntervalMs).toBe(5_000);
    expect(DEFAULT_SESSION.touchIntervalMs).toBe(60_000);
  });

  it('fill a store\'s location from the environment, then the local default', () => {
    expect(resolveRedisSessionStoreOptions({}, {}).url).toBe('redis://127.0.0.1:6379');
    expect(resolveRedisSessionStoreOptions({}, { REDIS_URL: 'redis://r:1' }).url).toBe('redis://r:1');
    expect(resolveRedisSessionStoreOptions({ url: 'redis://given:2' }, { REDIS_URL: 'redis://r:1' }).url).toBe('redis://given:2');
    expect(resolvePostgresSessionStoreOptions({}, { DATABASE_URL: 'postgres://d/x' })).toMatchObject({ connectionString: 'postgres://d/x', createTable: true, queryTimeoutMs: 2_000 });
  });

  it('refuse bad input with the sessions\' options error, naming the field', () => {
    expect(thrown(() => resolveSessionOptions({ store, keys, ttlMs: 500 })).message).toMatch(/ttlMs/);
    expect(thrown(() => resolveSessionOptions({ store, keys, ttlMs: 10_000, touchIntervalMs: 10_000 })).message).toMatch(/touchIntervalMs: use an integer from 0 up to below ttlMs \(10000\)/);
    expect(thrown(() => resolveSessionOptions({ store, keys, cookie: { name: 'a;b' } })).message).toMatch(/cookie.name/);
    expect(thrown(() => resolveSessionOptions({ store, keys, cookie: { sameSite: 'none', secure: false } })).message).toMatch(/SameSite=None cookies without Secure/);
    expect(thrown(() => resolveSessionOptions({ store, keys: [] })).message).toMatch(/session.keys is missing/);
    expect(thrown(() => resolveSessionOptions({ store: {} as SessionStore, keys })).message).toMatch(/session.store must be a session store/);
    expect(thrown(() => resolveRedisSessionStoreOptions({ commandTimeoutMs: 0 })).message).toMatch(/commandTimeoutMs/);
    expect(thrown(() => resolvePostgresSessionStoreOptions({ table: 'Bad-Name' })).message).toMatch(/table: use \[schema\.\]name/);
    expect(thrown(() => resolvePostgresSessionStoreOptions({ cleanupIntervalMs: -1 })).message).toMatch(/cleanupIntervalMs/);
  });
});
