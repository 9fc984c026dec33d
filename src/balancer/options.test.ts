import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BalancerConfigError } from './errors.js';
import { ChunkedScanner, CHUNKED_ERROR, DEFAULT_CHUNKED_SCANNER_LIMITS, resolveChunkedScannerOptions } from './http/index.js';
import {
  DEFAULT_LIMITS, DEFAULT_RESPONSE_CACHE, parseBalancerOptions, parsePoolOptions, poolInputOf, resolveActiveCheckerOptions, resolveCookieAffinityOptions, resolveHealthTrackerOptions,
  resolveOutlierEjectorOptions, resolveStallDetectorOptions, resolveStickTableOptions,
} from './options.js';

/** `| \`health.intervalMs\` / \`timeoutMs\` | 2000 / 1000 | ...` rows of a docs options table, as name → value text. */
function documentedDefaults(doc: string, heading: string): Map<string, string> {
  const text = readFileSync(new URL(`../../docs/${doc}`, import.meta.url), 'utf8');
  const section = text.slice(text.indexOf(heading));
  const rows = new Map<string, string>();
  for (const line of section.split('\n').slice(1)) {
    if (line.startsWith('#')) break;
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length < 4 || !cells[1]!.startsWith('`')) continue;
    const names = cells[1]!.split(' / ').map((n) => n.replaceAll('`', ''));
    const values = cells[2]!.split(' / ').map((v) => v.replaceAll('`', ''));
    const prefix = names[0]!.includes('.') ? names[0]!.slice(0, names[0]!.lastIndexOf('.') + 1) : '';
    names.forEach((name, i) => rows.set(name.includes('.') ? name : prefix + name, values[i]!));
  }
  return rows;
}

describe('balancer options', () => {
  it('resolve to the defaults docs/balancing.md lists', () => {
    const documented = documentedDefaults('balancing.md', '### Options');
    expect(documented.size).toBeGreaterThanOrEqual(10);
    const pool = parsePoolOptions({ health: {} });
    const resolved: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(pool.health!)) resolved[`health.${key}`] = value;
    for (const [key, value] of Object.entries(pool.outlier)) resolved[`outlier.${key}`] = value;
    for (const [name, value] of documented) expect(String(resolved[name]), name).toBe(value);
  });

  it('resolve a pool\'s response cache to the defaults docs/balancing.md lists, and leave it off unless asked', () => {
    const documented = documentedDefaults('balancing.md', '### Response cache options');
    expect(documented.size).toBe(3);
    const cache = parsePoolOptions({ cache: {} }).cache!;
    expect(cache).toEqual(DEFAULT_RESPONSE_CACHE);
    for (const [name, value] of documented) expect(String(cache[name.slice('cache.'.length) as keyof typeof cache]), name).toBe(value);
    expect(parsePoolOptions({}).cache).toBeUndefined();
    const sized = parsePoolOptions({ cache: { maxBytes: 1 << 20, maxAgeMs: 500 } });
    expect(parsePoolOptions(poolInputOf(sized))).toEqual(sized);
  });

  it('fill what a config cannot set, and cap the fast interval at the interval', () => {
    expect(parsePoolOptions({ health: { intervalMs: 100 } }).health).toMatchObject({ fastIntervalMs: 100, jitterRatio: 0.1, initialState: 'up' });
    expect(resolveActiveCheckerOptions()).toMatchObject({ path: '/healthz', intervalMs: 2000, rise: 2, fall: 3, maxBodyBytes: 16_384 });
    expect(resolveStickTableOptions()).toMatchObject({ idleTimeoutMs: 1_800_000, maxEntries: 100_000, maxKeyLength: 256 });
    expect(resolveCookieAffinityOptions({ keys: [{ id: 'k', secret: 'x'.repeat(32) }] }))
      .toMatchObject({ cookieName: 'scaleout_srv', maxAgeSec: 86_400, path: '/', cacheMaxEntries: 10_000 });
  });

  it('keep the chunked body limits with the other limits, resolved once for the scanners', () => {
    const options = parseBalancerOptions({ listen: [{ address: '127.0.0.1:0' }], pools: { app: { servers: [] } } });
    expect(options.limits).toMatchObject({ maxChunkLineBytes: 4096, maxTrailerBytes: 16_384 });
    expect(DEFAULT_CHUNKED_SCANNER_LIMITS).toEqual({ maxLineBytes: DEFAULT_LIMITS.maxChunkLineBytes, maxTrailerBytes: DEFAULT_LIMITS.maxTrailerBytes });
    // A configured line limit is the one a scanner enforces.
    const scanner = new ChunkedScanner(resolveChunkedScannerOptions({ maxLineBytes: 64 }));
    const line = Buffer.from(`1;${'x'.repeat(80)}\r\na\r\n0\r\n\r\n`, 'latin1');
    expect(scanner.scan(line, 0, line.length)).toBe(CHUNKED_ERROR);
    expect(new ChunkedScanner().scan(line, 0, line.length)).toBe(line.length);
  });

  it.each([
    ['health rise 0', () => resolveHealthTrackerOptions({ rise: 0 }), /rise/],
    ['health initialState', () => resolveHealthTrackerOptions({ initialState: 'maybe' as 'up' }), /initialState/],
    ['health path', () => resolveActiveCheckerOptions({ path: 'healthz' }), /path/],
    ['health jitter', () => resolveActiveCheckerOptions({ jitterRatio: 0.9 }), /0 to 0.5/],
    ['health host header', () => resolveActiveCheckerOptions({ hostHeader: 'a\nb' }), /hostHeader/],
    ['outlier order', () => resolveOutlierEjectorOptions({ baseEjectionMs: 10, maxEjectionMs: 5 }), /below baseEjectionMs/],
    ['outlier percent', () => resolveOutlierEjectorOptions({ maxEjectionPercent: Number.NaN }), /maxEjectionPercent/],
    ['stall', () => resolveStallDetectorOptions({ stallMs: -1 }), /stallMs/],
    ['stick table', () => resolveStickTableOptions({ maxEntries: 1.5 }), /maxEntries/],
    ['cookie without keys', () => resolveCookieAffinityOptions({}), /signing keys/],
    ['cookie name', () => resolveCookieAffinityOptions({ keys: [{ id: 'k', secret: 'x'.repeat(32) }], cookieName: 'a;b' }), /cookieName/],
    ['pool health field', () => parsePoolOptions({ health: { jitterRatio: 0.2 } }), /health.jitterRatio: unknown field/],
    ['chunk line limit', () => parseBalancerOptions({ listen: [{ address: '127.0.0.1:0' }], pools: { app: { servers: [] } }, limits: { maxChunkLineBytes: 10 } }), /limits.maxChunkLineBytes/],
    ['trailer limit', () => parseBalancerOptions({ listen: [{ address: '127.0.0.1:0' }], pools: { app: { servers: [] } }, limits: { maxTrailerBytes: 1.5 } }), /limits.maxTrailerBytes/],
    ['cache object above the total', () => parsePoolOptions({ cache: { maxBytes: 4096, maxObjectBytes: 8192 } }), /cache.maxObjectBytes: must not be above maxBytes/],
    ['cache max age', () => parsePoolOptions({ cache: { maxAgeMs: 0 } }), /cache.maxAgeMs/],
    ['cache field', () => parsePoolOptions({ cache: { size: 10 } }), /cache.size: unknown field/],
    ['scanner line limit', () => resolveChunkedScannerOptions({ maxLineBytes: 0 }), /maxLineBytes is 0/],
  ])('refuse %s with the balancer config error, naming the field', (_what, resolve, message) => {
    let thrown: unknown;
    try {
      resolve();
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(BalancerConfigError);
    expect((thrown as BalancerConfigError).code).toBe('SCALEOUT_BALANCER_CONFIG');
    expect((thrown as Error).message).toMatch(message);
  });

  it('turns resolved pool options back into options that resolve to the same (a balancer worker parses them again)', () => {
    const resolved = parsePoolOptions({ health: { path: '/ready', intervalMs: 200 }, strategy: 'least-load' });
    expect(parsePoolOptions(poolInputOf(resolved))).toEqual(resolved);
    const plain = parsePoolOptions({});
    expect(parsePoolOptions(poolInputOf(plain))).toEqual(plain);
  });
});
