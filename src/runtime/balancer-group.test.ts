import { describe, expect, it } from 'vitest';
import type { BalancerSnapshot, ServerSnapshot } from '../balancer/index.js';
import { mergeSnapshots } from './balancer-group.js';

function server(id: string, requests: number, inFlight: number, state: ServerSnapshot['state'] = 'up'): ServerSnapshot {
  return {
    id, address: `127.0.0.1:${id.length}`, state, weight: 1, effectiveWeight: 1, inFlight, load: 0, slowStart: false, ejectedUntil: undefined,
    latency: { p50Ms: inFlight + 1, p99Ms: (inFlight + 1) * 10, count: requests, windowMs: 10_000 },
    counters: { requests, responses2xx: requests, responses3xx: 0, responses4xx: 0, responses5xx: 0, failures: 0, retries: 0, timeouts: 0 } as ServerSnapshot['counters'],
  };
}

function snapshot(listener: string, servers: ServerSnapshot[], connections: number): BalancerSnapshot {
  return { listeners: [listener], routes: [{ pool: 'app' }], pools: { app: { strategy: 'round-robin', affinity: 'none', latency: { p50Ms: 1, p99Ms: 5, count: 1, windowMs: 10_000 }, exchanges: servers.reduce((n, s) => n + s.counters.requests, 0), servers } }, connections };
}

describe('mergeSnapshots', () => {
  it('adds up counters, in-flight requests and connections per server, and keeps every listener', () => {
    const a = snapshot('127.0.0.2:8080', [server('app-1', 10, 1), server('app-2', 5, 0)], 3);
    const b = snapshot('127.0.0.3:8080', [server('app-1', 7, 2), server('app-3', 1, 0, 'down')], 4);
    const merged = mergeSnapshots([a, b]);
    expect(merged.listeners).toEqual(['127.0.0.2:8080', '127.0.0.3:8080']);
    expect(merged.connections).toBe(7);
    const byId = Object.fromEntries(merged.pools.app!.servers.map((s) => [s.id, s]));
    expect(byId['app-1']).toMatchObject({ inFlight: 3, counters: { requests: 17, responses2xx: 17 } });
    // Exchanges add up; a quantile is the slower replica's, with the counts summed.
    expect(merged.pools.app!.exchanges).toBe(23);
    expect(byId['app-1']!.latency).toEqual({ p50Ms: 3, p99Ms: 30, count: 17, windowMs: 10_000 });
    expect(byId['app-2']).toMatchObject({ inFlight: 0, counters: { requests: 5 } });
    // A server only one replica knows (it missed a join, or a leave) still shows.
    expect(byId['app-3']).toMatchObject({ state: 'down', counters: { requests: 1 } });
    // The inputs are left as they were.
    expect(a.pools.app!.servers[0]!.counters.requests).toBe(10);
  });

  it('needs at least one snapshot', () => {
    expect(() => mergeSnapshots([])).toThrow();
  });
});
