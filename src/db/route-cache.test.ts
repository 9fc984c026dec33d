import { describe, expect, it } from 'vitest';
import { FunctionVolatility } from './function-volatility.js';
import { RouteCache } from './route-cache.js';

describe('RouteCache', () => {
  it('evicts the least recently used text', () => {
    const cache = new RouteCache(2);
    cache.set('a', 'replica');
    cache.set('b', 'primary');
    expect(cache.get('a')).toBe('replica');
    cache.set('c', 'replica');
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBe('replica');
    expect(cache.get('c')).toBe('replica');
    expect(cache.size).toBe(2);
  });
});

describe('FunctionVolatility', () => {
  const catalog = [
    { schema: 'public', name: 'score', volatility: 's' },
    { schema: 'public', name: 'bump', volatility: 'v' },
    { schema: 'app', name: 'score', volatility: 'v' },
    { schema: 'public', name: 'twice', volatility: 'i' },
    { schema: 'public', name: 'twice', volatility: 'v' },
  ];

  it('looks each name up once and treats volatile, overloaded-volatile and unknown names as unsafe', async () => {
    const volatility = new FunctionVolatility();
    let lookups = 0;
    const query = async (_sql: string, params: unknown[]) => {
      lookups++;
      const names = params[0] as string[];
      return catalog.filter((r) => names.includes(r.name));
    };
    expect(await volatility.allSafe(['public.score'], query)).toBe(true);
    expect(await volatility.allSafe(['app.score'], query)).toBe(false);
    expect(await volatility.allSafe(['score'], query)).toBe(false);
    expect(await volatility.allSafe(['bump'], query)).toBe(false);
    expect(await volatility.allSafe(['twice'], query)).toBe(false);
    expect(await volatility.allSafe(['missing'], query)).toBe(false);
    const before = lookups;
    expect(await volatility.allSafe(['public.score', 'bump'], query)).toBe(false);
    expect(lookups).toBe(before);
  });

  it('answers undefined when the catalog cannot be read, and remembers nothing', async () => {
    const volatility = new FunctionVolatility();
    expect(await volatility.allSafe(['f'], async () => { throw new Error('down'); })).toBeUndefined();
    expect(volatility.known('f')).toBeUndefined();
  });
});
