import { describe, expect, it } from 'vitest';
import { cacheRatios, colourOf, columnOf, jobRates, requestRates } from './model.js';
import type { StatusView } from './model.js';

function view(at: number, requests: Record<string, number>): StatusView {
  return {
    status: { state: 'running', buildId: 'b', profile: null, appUrl: null, operation: null, processes: [], db: null },
    balancer: { pools: { app: { servers: Object.entries(requests).map(([id, n]) => ({ id, state: 'up', inFlight: 0, counters: { requests: n } })) } } },
    at,
  };
}

describe('dashboard model', () => {
  it('colours states green, red and amber, and unknown ones grey', () => {
    expect(colourOf('up')).toBe('green');
    expect(colourOf('running')).toBe('green');
    expect(colourOf('backoff')).toBe('red');
    expect(colourOf('restarting')).toBe('red');
    expect(colourOf('draining')).toBe('amber');
    expect(colourOf('some-new-state')).toBe('grey');
  });

  it('lets the balancer say an instance that runs is out', () => {
    expect(colourOf('up', 'ejected')).toBe('red');
    expect(colourOf('up', 'down')).toBe('red');
    expect(colourOf('up', 'draining')).toBe('amber');
    expect(colourOf('up', 'drained')).toBe('amber');
    expect(colourOf('up', 'up')).toBe('green');
  });

  it('places roles in columns, new worker and engine roles included', () => {
    expect(columnOf('balancer')).toBe(1);
    expect(columnOf('worker:mail')).toBe(2);
    expect(columnOf('memcached')).toBe(3);
  });

  it('computes req/s from counter deltas and skips counters that went back to 0', () => {
    const rates = requestRates(view(1000, { 'app-1': 10, 'app-2': 50 }), view(3000, { 'app-1': 30, 'app-2': 0 }));
    expect(rates.get('app-1')).toBe(10);
    expect(rates.has('app-2')).toBe(false);
    expect(requestRates(undefined, view(1, {})).size).toBe(0);
  });

  it('takes the cache hit ratio over the last second, or since start when nothing was looked up in it', () => {
    const a = { ...view(0, {}), cache: { 'app-1': { hits: 10, misses: 10 }, 'app-2': { hits: 5, misses: 5 } } };
    const b = { ...view(1000, {}), cache: { 'app-1': { hits: 19, misses: 11 }, 'app-2': { hits: 5, misses: 5 }, 'app-3': { hits: 0, misses: 0 } } };
    const ratios = cacheRatios(a, b);
    expect(ratios.get('app-1')).toEqual({ ratio: 0.9, recent: true });
    expect(ratios.get('app-2')).toEqual({ ratio: 0.5, recent: false });
    expect(ratios.get('app-3')).toEqual({ ratio: undefined, recent: false });
    expect(cacheRatios(undefined, b).get('app-1')).toEqual({ ratio: 19 / 30, recent: false });
  });

  it('derives job rates from finished counts, and none where the engine does not count or its counts fell', () => {
    const q = (at: number, completed: number | null, failed: number | null): StatusView => ({ ...view(at, {}), queues: [{ role: 'worker:exports', queue: 'exports', depth: 3, completed, failed }] });
    expect(jobRates(undefined, q(1000, 5, 0)).get('worker:exports/exports')).toEqual({ completed: undefined, failed: undefined });
    expect(jobRates(q(1000, 5, 1), q(3000, 25, 3)).get('worker:exports/exports')).toEqual({ completed: 10, failed: 1 });
    expect(jobRates(q(1000, null, null), q(2000, null, null)).get('worker:exports/exports')).toEqual({ completed: undefined, failed: undefined });
    expect(jobRates(q(1000, 50, 0), q(2000, 10, 0)).get('worker:exports/exports')).toEqual({ completed: undefined, failed: 0 });
  });
});
