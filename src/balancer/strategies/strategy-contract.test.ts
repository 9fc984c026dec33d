import { describe, expect, it } from 'vitest';
import { createStrategy, STRATEGY_NAMES } from './index.js';
import type { PickContext, Strategy } from './index.js';

interface FakeServer { id: string; weight: number; inFlight: number; load: number }

function server(id: string, weight = 1): FakeServer {
  return { id, weight, inFlight: 0, load: 0 };
}

function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Alternating present and absent keys exercises the hash strategy's ring and its
// round-robin fallback; the other strategies ignore the key.
function ctx(i: number, exclude?: FakeServer): PickContext {
  return { hashKey: i % 2 === 0 ? `client-${i}` : undefined, exclude };
}

describe.each(STRATEGY_NAMES)('strategy contract: %s', (name) => {
  const make = (): Strategy<FakeServer> => createStrategy<FakeServer>(name, { random: seeded(7) });

  it('has its name', () => {
    expect(make().name).toBe(name);
  });

  it('returns undefined before any update and for an empty list', () => {
    const s = make();
    expect(s.pick(ctx(0))).toBeUndefined();
    s.update([server('a')]);
    s.update([]);
    for (let i = 0; i < 4; i++) expect(s.pick(ctx(i))).toBeUndefined();
  });

  it('only returns servers from the last update', () => {
    const s = make();
    const list = [server('a'), server('b', 2), server('c', 0.5), server('d')];
    s.update(list);
    for (let i = 0; i < 500; i++) {
      const picked = s.pick(ctx(i));
      expect(list).toContain(picked);
      // Simulate traffic so load-aware strategies take different branches.
      picked!.inFlight++;
      if (i % 3 === 0) list[i % list.length]!.inFlight = 0;
    }
  });

  it('reaches every server when they are equal', () => {
    const s = make();
    const list = ['a', 'b', 'c', 'd', 'e'].map((id) => server(id));
    s.update(list);
    const seen = new Set<string>();
    for (let i = 0; i < 500; i++) seen.add(s.pick({ hashKey: `k${i}`, exclude: undefined })!.id);
    expect(seen.size).toBe(5);
  });

  it('never returns the excluded server', () => {
    const s = make();
    const list = [server('a'), server('b'), server('c')];
    s.update(list);
    for (let i = 0; i < 300; i++) {
      const exclude = list[i % 3]!;
      const picked = s.pick(ctx(i, exclude));
      expect(picked).toBeDefined();
      expect(picked!.id).not.toBe(exclude.id);
    }
  });

  it('matches exclude by id, not object identity', () => {
    const s = make();
    s.update([server('a'), server('b')]);
    for (let i = 0; i < 50; i++) expect(s.pick(ctx(i, server('a')))!.id).toBe('b');
  });

  it('returns undefined when the only server is excluded', () => {
    const s = make();
    const only = server('a');
    s.update([only]);
    for (let i = 0; i < 10; i++) expect(s.pick(ctx(i, only))).toBeUndefined();
  });

  it('ignores an excluded server that is not in the list', () => {
    const s = make();
    s.update([server('a')]);
    for (let i = 0; i < 10; i++) expect(s.pick(ctx(i, server('zz')))!.id).toBe('a');
  });

  it('never picks a server removed by update', () => {
    const s = make();
    const [a, b, c] = [server('a'), server('b'), server('c')];
    s.update([a, b, c]);
    for (let i = 0; i < 20; i++) s.pick(ctx(i));
    s.update([a, c]);
    for (let i = 0; i < 500; i++) expect(s.pick(ctx(i))!.id).not.toBe('b');
  });

  it('survives update with the same list', () => {
    const s = make();
    const list = [server('a'), server('b'), server('c')];
    s.update(list);
    for (let i = 0; i < 300; i++) {
      if (i % 7 === 0) s.update(list);
      expect(list).toContain(s.pick(ctx(i)));
    }
  });

  it('is not affected by later mutation of the array given to update', () => {
    const s = make();
    const list = [server('a'), server('b')];
    s.update(list);
    list.push(server('x'));
    for (let i = 0; i < 100; i++) expect(s.pick(ctx(i))!.id).not.toBe('x');
  });

  it('works with one server', () => {
    const s = make();
    const only = server('a');
    s.update([only]);
    for (let i = 0; i < 50; i++) {
      expect(s.pick(ctx(i))).toBe(only);
      only.inFlight = i;
    }
  });

  it('does not throw on odd weights, loads and keys', () => {
    const s = make();
    const list = [
      { id: 'a', weight: 1e-9, inFlight: 0, load: Number.NaN },
      { id: 'b', weight: 1e9, inFlight: 1e6, load: -3 },
      { id: 'c', weight: 1, inFlight: 3, load: Number.POSITIVE_INFINITY },
    ];
    s.update(list);
    const keys = ['', '\ud800', '😀'.repeat(100), 'x'.repeat(10_000), undefined];
    for (let i = 0; i < 100; i++) {
      expect(list).toContain(s.pick({ hashKey: keys[i % keys.length], exclude: undefined }));
    }
  });
});

describe('createStrategy', () => {
  it('rejects a hash balance factor below 1 or not a number', () => {
    for (const bad of [0.99, 0, -1, Number.NaN, '1.25' as unknown as number]) {
      expect(() => createStrategy('hash', { hashBalanceFactor: bad }))
        .toThrow(expect.objectContaining({ code: 'SCALEOUT_BALANCER_CONFIG', name: 'BalancerConfigError' }));
    }
    expect(createStrategy('hash', { hashBalanceFactor: 1 }).name).toBe('hash');
    expect(createStrategy('hash', { hashBalanceFactor: Number.POSITIVE_INFINITY }).name).toBe('hash');
  });

  it('validates every option whatever the strategy', () => {
    expect(() => createStrategy('round-robin', { hashBalanceFactor: 0.5 })).toThrow(/hashBalanceFactor/);
    expect(() => createStrategy('p2c', { random: 3 as unknown as () => number })).toThrow(/random/);
    expect(() => createStrategy('least-load', { loadPerInFlight: -1 })).toThrow(/loadPerInFlight/);
    expect(() => createStrategy('hash', { hashVirtualNodes: 0 })).toThrow(/hashVirtualNodes/);
    expect(() => createStrategy('hash', { hashVirtualNodes: 1.5 })).toThrow(/hashVirtualNodes/);
  });

  it('rejects an unknown name with the list of known ones', () => {
    expect(() => createStrategy('random' as never)).toThrow(/unknown strategy "random".*round-robin/);
  });
});
