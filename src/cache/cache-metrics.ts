import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import type { BreakerState } from './circuit-breaker.js';

/** What a cache has counted since it was made; `cache.stats()` returns a copy. */
export interface CacheStats {
  l1Hits: number;
  l2Hits: number;
  misses: number;
  /** Stale values served: in grace while one refresh runs, or because the loader failed. */
  staleServed: number;
  loads: number;
  loaderErrors: number;
  l1Evictions: number;
  l2Calls: number;
  l2Errors: number;
  /** L2 calls refused at once because the breaker was open. */
  l2Rejected: number;
  /** `query()` calls whose SQL was cached (hits and misses alike). */
  queriesCached: number;
  /** `query()` calls that ran uncached: unparsable, not a read, or volatile. */
  queriesUncacheable: number;
  /** Writes announced by a database that bumped table versions. */
  tableInvalidations: number;
  l2LatencyTotalMs: number;
  breakerState: BreakerState;
  busConnected: boolean;
  l1Enabled: boolean;
  l1Entries: number;
  l1Bytes: number;
}

export type CounterName = 'l1Hits' | 'l2Hits' | 'misses' | 'staleServed' | 'loads' | 'loaderErrors' | 'l1Evictions' |
  'l2Calls' | 'l2Errors' | 'l2Rejected' | 'queriesCached' | 'queriesUncacheable' | 'tableInvalidations';

/**
 * Plain counters on the hot path (an L1 hit adds one to a number field), turned into
 * Prometheus metrics only when scraped, so metrics cost nothing per request.
 */
export class CacheMetrics {
  readonly counts: Record<CounterName, number> = {
    l1Hits: 0, l2Hits: 0, misses: 0, staleServed: 0, loads: 0, loaderErrors: 0, l1Evictions: 0,
    l2Calls: 0, l2Errors: 0, l2Rejected: 0, queriesCached: 0, queriesUncacheable: 0, tableInvalidations: 0,
  };
  l2LatencyTotalMs = 0;
  readonly #latency: Histogram<'cache' | 'op'> | undefined;
  readonly #labels: { cache: string };

  constructor(register: Registry | undefined, name: string, snapshot: () => CacheStats) {
    const labels = { cache: name };
    this.#labels = labels;
    if (register === undefined) return;
    const registers = [register];
    const c = this.counts;
    new Counter({
      name: 'scaleout_cache_hits_total', help: 'Cache hits by tier', labelNames: ['cache', 'tier'], registers,
      collect() { this.reset(); this.inc({ ...labels, tier: 'l1' }, c.l1Hits); this.inc({ ...labels, tier: 'l2' }, c.l2Hits); },
    });
    const simple: [string, string, CounterName][] = [
      ['scaleout_cache_misses_total', 'Lookups that found nothing usable in L1 or L2', 'misses'],
      ['scaleout_cache_stale_served_total', 'Stale values served (grace, loader failure)', 'staleServed'],
      ['scaleout_cache_loads_total', 'Loader calls', 'loads'],
      ['scaleout_cache_loader_errors_total', 'Loader calls that threw', 'loaderErrors'],
      ['scaleout_cache_evictions_total', 'L1 entries evicted to stay within its bounds', 'l1Evictions'],
      ['scaleout_cache_l2_errors_total', 'L2 calls that failed or timed out', 'l2Errors'],
      ['scaleout_cache_l2_rejected_total', 'L2 calls refused by the open circuit breaker', 'l2Rejected'],
      ['scaleout_cache_queries_cached_total', 'query() calls whose SQL could be cached', 'queriesCached'],
      ['scaleout_cache_queries_uncacheable_total', 'query() calls run uncached (unparsable, not a read, volatile)', 'queriesUncacheable'],
      ['scaleout_cache_table_invalidations_total', 'Database writes that bumped table versions', 'tableInvalidations'],
    ];
    for (const [metric, help, key] of simple) {
      new Counter({ name: metric, help, labelNames: ['cache'], registers, collect() { this.reset(); this.inc(labels, c[key]); } });
    }
    new Gauge({
      name: 'scaleout_cache_breaker_open', help: '1 while the L2 circuit breaker refuses calls (open or half-open)', labelNames: ['cache'], registers,
      collect() { this.set(labels, snapshot().breakerState === 'closed' ? 0 : 1); },
    });
    new Gauge({
      name: 'scaleout_cache_l1_bytes', help: 'Bytes held by L1 (encoded size of its entries)', labelNames: ['cache'], registers,
      collect() { this.set(labels, snapshot().l1Bytes); },
    });
    this.#latency = new Histogram({
      name: 'scaleout_cache_l2_duration_seconds', help: 'L2 call latency', labelNames: ['cache', 'op'] as const, registers,
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    });
  }

  observeL2(op: string, ms: number): void {
    this.counts.l2Calls++;
    this.l2LatencyTotalMs += ms;
    this.#latency?.observe({ ...this.#labels, op }, ms / 1_000);
  }
}
