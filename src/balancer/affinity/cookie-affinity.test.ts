import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../internal/clock.js';
import { Keyring } from '../../internal/keyring.js';
import { BalancerConfigError } from '../errors.js';
import { CookieAffinity, DEFAULT_AFFINITY_COOKIE_NAME, newOpaqueServerId, type CookieAffinityOptions } from './cookie-affinity.js';
import { resolveCookieAffinityOptions } from '../options.js';

const k1 = { id: 'k1', secret: 'a'.repeat(32) };
const k2 = { id: 'k2', secret: 'b'.repeat(32) };
const NOW = 1_700_000_000_000;

function make(options: Partial<CookieAffinityOptions> = {}): CookieAffinity {
  return new CookieAffinity(resolveCookieAffinityOptions({ keys: [k1], ...options }));
}

/** The `name=value` part of a Set-Cookie header, as a browser sends it back. */
function pair(setCookie: string): string {
  return setCookie.slice(0, setCookie.indexOf(';'));
}

describe('CookieAffinity', () => {
  const id = newOpaqueServerId();

  it('makes opaque 16-byte base64url server ids', () => {
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(Buffer.from(id, 'base64url')).toHaveLength(16);
    expect(newOpaqueServerId()).not.toBe(id);
  });

  it('round trips: the cookie it sets resolves to the same server', () => {
    const a = make();
    const header = a.setCookieHeader(id, NOW, false);
    expect(header).toMatch(new RegExp(`^${DEFAULT_AFFINITY_COOKIE_NAME}=${id}~[0-9a-z]+\\.k1\\.[A-Za-z0-9_-]{22}; Path=/; Max-Age=86400; HttpOnly; SameSite=Lax$`));
    expect(a.resolve(pair(header), NOW)).toEqual({ opaqueId: id, valid: true, present: true, needsReissue: false });
    expect(a.shouldSetCookie(a.resolve(pair(header), NOW), id)).toBe(false);
  });

  it('adds Secure for https clients and honours name, path and lifetime options', () => {
    const a = make({ cookieName: 'lb', path: '/app', maxAgeSec: 60 });
    const header = a.setCookieHeader(id, NOW, true);
    expect(header).toMatch(/^lb=.*; Path=\/app; Max-Age=60; HttpOnly; SameSite=Lax; Secure$/);
    expect(a.resolve(pair(header), NOW).opaqueId).toBe(id);
  });

  it('reports a missing cookie', () => {
    const a = make();
    for (const h of [undefined, '', 'other=1', 'scaleout_srv', `x${DEFAULT_AFFINITY_COOKIE_NAME}=abc`]) {
      expect(a.resolve(h, NOW)).toEqual({ opaqueId: undefined, valid: false, present: false, needsReissue: true });
    }
  });

  it('re-issues past half the lifetime, and rejects expired cookies', () => {
    const clock = new ManualClock(NOW);
    const a = make({ maxAgeSec: 100, clock });
    const cookie = pair(a.setCookieHeader(id));
    clock.advance(49_000);
    expect(a.resolve(cookie)).toMatchObject({ valid: true, needsReissue: false });
    clock.advance(1_000);
    expect(a.resolve(cookie)).toMatchObject({ valid: true, needsReissue: true, opaqueId: id });
    clock.advance(50_000);
    expect(a.resolve(cookie)).toEqual({ opaqueId: undefined, valid: false, present: true, needsReissue: true });
    // also when the value was never cached
    expect(make({ maxAgeSec: 100 }).resolve(cookie, clock.now()).valid).toBe(false);
  });

  it('wants a new cookie when the chosen server differs from the cookie', () => {
    const a = make();
    const r = a.resolve(pair(a.setCookieHeader(id, NOW)), NOW);
    expect(a.shouldSetCookie(r, newOpaqueServerId())).toBe(true);
  });

  it('rejects a forged cookie: valid format, wrong MAC', () => {
    const a = make({ cacheMaxEntries: 0 });
    const value = pair(a.setCookieHeader(id, NOW)).split('=')[1]!;
    const mac = value.slice(-22);
    const forgedMac = `${value.slice(0, -22)}${mac[0] === 'A' ? 'B' : 'A'}${mac.slice(1)}`;
    const otherServer = value.replace(id, newOpaqueServerId());
    const longerLife = value.replace(/~[0-9a-z]+\./, `~${(Math.floor(NOW / 1000) + 10 ** 8).toString(36)}.`);
    for (const v of [forgedMac, otherServer, longerLife]) {
      expect(a.resolve(`scaleout_srv=${v}`, NOW)).toMatchObject({ valid: false, present: true, opaqueId: undefined });
    }
  });

  it('rejects cookies signed with an unknown key', () => {
    const other = new CookieAffinity(resolveCookieAffinityOptions({ keys: [k2] }));
    const cookie = pair(other.setCookieHeader(id, NOW));
    expect(make().resolve(cookie, NOW).valid).toBe(false);
  });

  it('rejects a valid signature over a payload of another shape', () => {
    const ring = new Keyring([k1]);
    const a = make({ keyring: ring });
    const exp = (Math.floor(NOW / 1000) + 100).toString(36);
    for (const payload of [`${id}`, `${id}~`, `~${exp}`, `${id}~${exp}~1`, `a.b~${exp}`, `${id}~ZZ`, `${id}~${'z'.repeat(11)}`]) {
      expect(a.resolve(`scaleout_srv=${ring.sign(payload)}`, NOW).valid).toBe(false);
    }
  });

  it('tolerates garbled values', () => {
    const a = make();
    const good = pair(a.setCookieHeader(id, NOW)).split('=')[1]!;
    const garbled = [
      'scaleout_srv=', 'scaleout_srv==', 'scaleout_srv=a=b=c', `scaleout_srv=${good}=x`, `scaleout_srv=${good}x`,
      `scaleout_srv=${'A'.repeat(10_000)}`, `scaleout_srv=${good.repeat(3)}`, 'scaleout_srv=..', 'scaleout_srv="',
      `scaleout_srv=${randomBytes(64).toString('latin1')}`, 'scaleout_srv=\u0000\uffff\ud800',
    ];
    for (const h of garbled) expect(a.resolve(h, NOW)).toMatchObject({ valid: false, present: true, needsReissue: true });
    expect(a.resolve(';;;;=;=;', NOW)).toMatchObject({ valid: false, present: false });
  });

  it('accepts a quoted value and blanks around pairs', () => {
    const a = make();
    const value = pair(a.setCookieHeader(id, NOW)).split('=')[1]!;
    expect(a.resolve(`a=1;\t scaleout_srv="${value}" ;b=2`, NOW).opaqueId).toBe(id);
  });

  it('finds our cookie among others, by exact name', () => {
    const a = make();
    const cookie = pair(a.setCookieHeader(id, NOW));
    const value = cookie.split('=')[1]!;
    const header = `session=abc; my_scaleout_srv=junk; scaleout_srv_x=junk; theme=dark; ${cookie}; last=1`;
    expect(a.resolve(header, NOW)).toMatchObject({ opaqueId: id, valid: true });
    expect(a.resolve(`x=scaleout_srv=${value}`, NOW).valid).toBe(false);
    expect(a.resolve(`x=a scaleout_srv=${value}`, NOW).valid).toBe(false);
  });

  it('takes the first valid one of duplicate cookies', () => {
    const a = make();
    const other = newOpaqueServerId();
    const c1 = pair(a.setCookieHeader(id, NOW));
    const c2 = pair(a.setCookieHeader(other, NOW));
    expect(a.resolve(`${c1}; ${c2}`, NOW).opaqueId).toBe(id);
    expect(a.resolve(`${c2}; ${c1}`, NOW).opaqueId).toBe(other);
    expect(a.resolve(`scaleout_srv=forged; ${c2}; ${c1}`, NOW).opaqueId).toBe(other);
  });

  it('rotates keys: old cookies still verify, new ones use the new key', () => {
    const before = make();
    const oldCookie = pair(before.setCookieHeader(id, NOW));
    const rotated = new CookieAffinity(resolveCookieAffinityOptions({ keys: [k2, k1] }));
    expect(rotated.resolve(oldCookie, NOW)).toMatchObject({ valid: true, opaqueId: id });
    const newCookie = pair(rotated.setCookieHeader(id, NOW));
    expect(newCookie).toContain('.k2.');
    expect(new CookieAffinity(resolveCookieAffinityOptions({ keys: [k2] })).resolve(newCookie, NOW).valid).toBe(true);
    expect(before.resolve(newCookie, NOW).valid).toBe(false);
  });

  it('shares cookies between balancers with the same keys', () => {
    const a = make();
    const b = new CookieAffinity(resolveCookieAffinityOptions({ keyring: new Keyring([k1]) }));
    expect(b.resolve(pair(a.setCookieHeader(id, NOW)), NOW)).toMatchObject({ valid: true, opaqueId: id });
    expect(a.resolve(pair(b.setCookieHeader(id, NOW)), NOW)).toMatchObject({ valid: true, opaqueId: id });
  });

  it('gives the same answers with the cache and without, and keeps it bounded', () => {
    const cached = make({ cacheMaxEntries: 3 });
    const plain = make({ cacheMaxEntries: 0 });
    const ids = Array.from({ length: 10 }, () => newOpaqueServerId());
    const cookies = ids.map((i) => pair(cached.setCookieHeader(i, NOW)));
    for (let round = 0; round < 3; round++) {
      cookies.forEach((c, i) => {
        expect(cached.resolve(c, NOW).opaqueId).toBe(ids[i]);
        expect(plain.resolve(c, NOW).opaqueId).toBe(ids[i]);
      });
    }
  });

  it('never throws on random headers', () => {
    const a = make();
    const good = pair(a.setCookieHeader(id, NOW));
    const alphabet = 'scaleout_srv=;" .~\t,\\abcXYZ019-_\u0000\u00e9\ud83d';
    let seed = 42;
    const rand = (n: number): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 5_000; i++) {
      let h = '';
      const len = rand(120);
      for (let j = 0; j < len; j++) {
        const r = rand(20);
        h += r === 0 ? good : r === 1 ? 'scaleout_srv=' : alphabet[rand(alphabet.length)];
      }
      const res = a.resolve(h, NOW);
      expect(typeof res.valid).toBe('boolean');
      if (res.valid) expect(res.opaqueId).toBe(id);
    }
  });

  it('rejects invalid options and ids with a clear error', () => {
    expect(() => new CookieAffinity(resolveCookieAffinityOptions({}))).toThrow(/signing keys/);
    expect(() => make({ cookieName: 'bad name' })).toThrow(BalancerConfigError);
    expect(() => make({ cookieName: 'a;b' })).toThrow(/cookie name/);
    expect(() => make({ cookieName: '' })).toThrow(BalancerConfigError);
    expect(() => make({ maxAgeSec: 0 })).toThrow(/maxAgeSec/);
    expect(() => make({ maxAgeSec: 1.5 })).toThrow(/maxAgeSec/);
    expect(() => make({ maxAgeSec: 500 * 86_400 })).toThrow(/400 days/);
    expect(() => make({ path: 'app' })).toThrow(/path/);
    expect(() => make({ path: '/a;b' })).toThrow(/path/);
    expect(() => make({ cacheMaxEntries: -1 })).toThrow(/cacheMaxEntries/);
    expect(() => make().setCookieHeader('server-1.internal', NOW)).toThrow(/newOpaqueServerId/);
    expect(() => make().setCookieHeader('', NOW)).toThrow(BalancerConfigError);
  });
});
