import { describe, expect, it } from 'vitest';
import { HashStrategy } from './hash.js';
import { murmur3 } from '../../internal/murmur3.js';

interface FakeServer { id: string; weight: number; inFlight: number; load: number }
const server = (id: string, weight = 1): FakeServer => ({ id, weight, inFlight: 0, load: 0 });
const servers = (n: number, from = 0): FakeServer[] => Array.from({ length: n }, (_, i) => server(`10.0.0.${from + i}:8080`));
const keys = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);

function assign(h: HashStrategy<FakeServer>): string[] {
  return keys.map((hashKey) => h.pick({ hashKey, exclude: undefined })!.id);
}

function shares(ids: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const id of ids) m.set(id, (m.get(id) ?? 0) + 1 / ids.length);
  return m;
}

describe('HashStrategy ring', () => {
  it('sends a key to the same server every time', () => {
    const h = new HashStrategy<FakeServer>();
    h.update(servers(5));
    const first = h.pick({ hashKey: 'alice', exclude: undefined });
    for (let i = 0; i < 100; i++) expect(h.pick({ hashKey: 'alice', exclude: undefined })).toBe(first);
  });

  it('agrees with a plain scan of the ring: the first point clockwise of the key', () => {
    const list = [...servers(7), server('half', 0.5)];
    const points: { hash: number; id: string }[] = [];
    for (const s of list) {
      const count = Math.round(160 * s.weight);
      for (let r = 0; r < count; r++) points.push({ hash: murmur3(`${s.id}#${r}`), id: s.id });
    }
    const h = new HashStrategy<FakeServer>();
    h.update(list);
    for (const key of [...keys.slice(0, 3000), 'a', 'zzzz', '\uffff']) {
      const k = murmur3(key);
      let best: { hash: number; id: string } | undefined;
      let lowest = points[0]!;
      for (const p of points) {
        if (p.hash < lowest.hash || (p.hash === lowest.hash && p.id < lowest.id)) lowest = p;
        if (p.hash >= k && (best === undefined || p.hash < best.hash || (p.hash === best.hash && p.id < best.id))) best = p;
      }
      expect(h.pick({ hashKey: key, exclude: undefined })!.id).toBe((best ?? lowest).id);
    }
  });

  it('does not depend on the order of the server list', () => {
    const list = servers(10);
    const h1 = new HashStrategy<FakeServer>();
    h1.update(list);
    const h2 = new HashStrategy<FakeServer>();
    h2.update([...list].reverse());
    expect(assign(h2)).toEqual(assign(h1));
  });

  it('spreads keys roughly evenly over equal servers', () => {
    const h = new HashStrategy<FakeServer>();
    h.update(servers(10));
    for (const share of shares(assign(h)).values()) {
      expect(share).toBeGreaterThan(0.1 * 0.75);
      expect(share).toBeLessThan(0.1 * 1.25);
    }
  });

  it('adding an 11th server moves about 1/11 of keys, all of them to the new server', () => {
    const list = servers(10);
    const h = new HashStrategy<FakeServer>();
    h.update(list);
    const before = assign(h);
    const added = server('10.0.0.99:8080');
    h.update([...list, added]);
    const after = assign(h);
    let moved = 0;
    for (let i = 0; i < keys.length; i++) {
      if (before[i] === after[i]) continue;
      moved++;
      expect(after[i]).toBe(added.id);
    }
    expect(moved / keys.length).toBeGreaterThanOrEqual(0.05);
    expect(moved / keys.length).toBeLessThanOrEqual(0.15);
  });

  it('removing a server moves only that server\'s keys', () => {
    const list = servers(10);
    const h = new HashStrategy<FakeServer>();
    h.update(list);
    const before = assign(h);
    const gone = list[3]!;
    h.update(list.filter((s) => s !== gone));
    const after = assign(h);
    for (let i = 0; i < keys.length; i++) {
      if (before[i] === gone.id) expect(after[i]).not.toBe(gone.id);
      else expect(after[i]).toBe(before[i]);
    }
  });

  it('gives keys in proportion to weight', () => {
    const list = [server('a', 2), server('b', 1), server('c', 1)];
    const h = new HashStrategy<FakeServer>();
    h.update(list);
    const s = shares(assign(h));
    expect(s.get('a')).toBeGreaterThan(0.5 * 0.85);
    expect(s.get('a')).toBeLessThan(0.5 * 1.15);
  });

  it('moves keys only onto a server whose weight grows (slow start)', () => {
    const list = servers(6);
    const warming = list[2]!;
    warming.weight = 0.1;
    const h = new HashStrategy<FakeServer>();
    h.update(list);
    let before = assign(h);
    let owned = before.filter((id) => id === warming.id).length;
    for (const weight of [0.3, 0.6, 1]) {
      warming.weight = weight;
      h.update(list);
      const after = assign(h);
      for (let i = 0; i < keys.length; i++) if (after[i] !== before[i]) expect(after[i]).toBe(warming.id);
      const nowOwned = after.filter((id) => id === warming.id).length;
      expect(nowOwned).toBeGreaterThan(owned);
      owned = nowOwned;
      before = after;
    }
  });

  it('skips an excluded server to the next distinct server on the ring', () => {
    const list = servers(4);
    const h = new HashStrategy<FakeServer>();
    h.update(list);
    for (const hashKey of keys.slice(0, 200)) {
      const home = h.pick({ hashKey, exclude: undefined })!;
      const next = h.pick({ hashKey, exclude: home })!;
      expect(next.id).not.toBe(home.id);
      // Without `home` on the ring at all, the key lands on the same next server.
      const without = new HashStrategy<FakeServer>();
      without.update(list.filter((s) => s !== home));
      expect(without.pick({ hashKey, exclude: undefined })).toBe(next);
    }
  });

  it('balances requests without a key round-robin', () => {
    const h = new HashStrategy<FakeServer>();
    h.update(servers(3));
    const ids = Array.from({ length: 6 }, () => h.pick({ hashKey: undefined, exclude: undefined })!.id);
    expect(ids.slice(3)).toEqual(ids.slice(0, 3));
    expect(new Set(ids).size).toBe(3);
  });

  it('treats the empty string as a key, not as a missing one', () => {
    const h = new HashStrategy<FakeServer>();
    h.update(servers(5));
    const first = h.pick({ hashKey: '', exclude: undefined });
    for (let i = 0; i < 10; i++) expect(h.pick({ hashKey: '', exclude: undefined })).toBe(first);
  });
});

describe('HashStrategy bounded load', () => {
  it('keeps every server under ceil(factor * (total + 1) / n) while a hot key pours in', () => {
    const list = servers(10);
    const h = new HashStrategy<FakeServer>({ hashBalanceFactor: 1.25 });
    h.update(list);
    let total = 0;
    for (let i = 0; i < 500; i++) {
      const s = h.pick({ hashKey: 'hot', exclude: undefined })!;
      expect(s.inFlight + 1).toBeLessThanOrEqual(Math.ceil((1.25 * (total + 1)) / 10));
      s.inFlight++;
      total++;
    }
    const max = Math.max(...list.map((s) => s.inFlight));
    expect(max).toBeLessThanOrEqual(Math.ceil(1.25 * 500 / 10));
  });

  it('spills a busy home server\'s key to the next server clockwise, and returns home when it calms', () => {
    const list = servers(5);
    const h = new HashStrategy<FakeServer>();
    h.update(list);
    const home = h.pick({ hashKey: 'k', exclude: undefined })!;
    const next = h.pick({ hashKey: 'k', exclude: home })!;
    home.inFlight = 10; // cap with 10 in flight: ceil(1.25 * 11 / 5) = 3
    expect(h.pick({ hashKey: 'k', exclude: undefined })).toBe(next);
    home.inFlight = 2;
    for (const s of list) if (s !== home) s.inFlight = 2; // cap: ceil(1.25 * 11 / 5) = 3
    expect(h.pick({ hashKey: 'k', exclude: undefined })).toBe(home);
  });

  it('applies the bound per unit of weight', () => {
    const heavy = server('heavy', 3);
    const light = server('light', 1);
    const h = new HashStrategy<FakeServer>();
    h.update([heavy, light]);
    // Feed many distinct keys with nothing finishing: shares of requests in flight stay
    // within factor x weight share.
    for (let i = 0; i < 400; i++) {
      const s = h.pick({ hashKey: `k${i % 7}`, exclude: undefined })!;
      s.inFlight++;
      const total = heavy.inFlight + light.inFlight;
      expect(heavy.inFlight).toBeLessThanOrEqual(Math.ceil(1.25 * total * 0.75) + 1);
      expect(light.inFlight).toBeLessThanOrEqual(Math.ceil(1.25 * total * 0.25) + 1);
    }
  });

  it('still answers when every other server is over its bound', () => {
    const [a, b] = servers(2);
    const h = new HashStrategy<FakeServer>();
    h.update([a!, b!]);
    b!.inFlight = 100;
    expect(h.pick({ hashKey: 'x', exclude: a })).toBe(b);
  });

  it('keeps a hot key home when the bound is off', () => {
    const list = servers(4);
    const h = new HashStrategy<FakeServer>({ hashBalanceFactor: Number.POSITIVE_INFINITY });
    h.update(list);
    const home = h.pick({ hashKey: 'hot', exclude: undefined })!;
    for (let i = 0; i < 100; i++) h.pick({ hashKey: 'hot', exclude: undefined })!.inFlight++;
    expect(home.inFlight).toBe(100);
  });

  it('with factor 1 spreads a hot key almost perfectly evenly', () => {
    const list = servers(4);
    const h = new HashStrategy<FakeServer>({ hashBalanceFactor: 1 });
    h.update(list);
    for (let i = 0; i < 400; i++) h.pick({ hashKey: 'hot', exclude: undefined })!.inFlight++;
    for (const s of list) expect(s.inFlight).toBe(100);
  });
});
