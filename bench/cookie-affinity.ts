/**
 * Cost of resolving the affinity cookie, which the balancer does on every request of a
 * pool with cookie affinity: a returning client (value in the verified cache), a value
 * not in the cache (one HMAC-SHA256), and the cheap rejections.
 *
 *     npx tsx bench/cookie-affinity.ts
 */
import { CookieAffinity, newOpaqueServerId } from '../src/balancer/affinity/index.js';
import { resolveCookieAffinityOptions } from '../src/balancer/options.js';

const keys = [{ id: 'k1', secret: 'x'.repeat(32) }];
const nowMs = Date.now();
const cached = new CookieAffinity(resolveCookieAffinityOptions({ keys }));
const uncached = new CookieAffinity(resolveCookieAffinityOptions({ keys, cacheMaxEntries: 0 }));
const id = newOpaqueServerId();
const set = cached.setCookieHeader(id, nowMs, false);
const pair = set.slice(0, set.indexOf(';'));
const typical = `_ga=GA1.2.1234567890.1700000000; session=s%3Aabcdefghijklmnopqrstuvwxyz.0123456789; theme=dark; ${pair}; consent=yes`;
const forgedMac = typical.replace(pair, `${pair.slice(0, -1)}${pair.endsWith('A') ? 'B' : 'A'}`);
const withoutOurs = '_ga=GA1.2.1234567890.1700000000; session=s%3Aabcdefghijklmnopqrstuvwxyz.0123456789; theme=dark';

let sink = 0;
function measure(label: string, fn: () => unknown, iterations = 300_000): number {
  for (let i = 0; i < 20_000; i++) fn(); // warm up the JIT
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) if (fn() !== undefined) sink++;
  const ns = Number(process.hrtime.bigint() - start) / iterations;
  console.log(`${label.padEnd(44)} ${ns.toFixed(0).padStart(6)} ns/op`);
  return ns;
}

if (cached.resolve(typical, nowMs).opaqueId !== id || uncached.resolve(typical, nowMs).opaqueId !== id) {
  throw new Error('benchmark setup is wrong: the cookie does not resolve');
}
if (uncached.resolve(forgedMac, nowMs).valid) {
  throw new Error('benchmark setup is wrong: a forged cookie resolves');
}

console.log(`node ${process.version}, ${process.arch}`);
const hit = measure('resolve, verified cache hit', () => cached.resolve(typical, nowMs));
const miss = measure('resolve, uncached (HMAC-SHA256)', () => uncached.resolve(typical, nowMs));
measure('resolve, no affinity cookie', () => cached.resolve(withoutOurs, nowMs));
measure('resolve, no Cookie header', () => cached.resolve(undefined, nowMs));
measure('resolve, forged MAC (HMAC, never cached)', () => cached.resolve(forgedMac, nowMs));
measure('setCookieHeader (sign)', () => uncached.setCookieHeader(id, nowMs, true), 100_000);
console.log(`uncached / cached: ${(miss / hit).toFixed(1)}x`);
if (sink === 0) console.log('');
