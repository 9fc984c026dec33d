/**
 * Cost of one `pick()` per strategy, with 3 and 32 servers.
 *
 *     npx tsx bench/strategies.ts
 *
 * Each case runs for a fixed CPU time after a warm-up and prints nanoseconds per pick and
 * the ratio to round-robin (the cheapest possible pick). Servers carry varied in-flight
 * counts and loads; "hash (busy)" has every server busy, so each pick also sums in-flight
 * counts for the bounded-load check. About 4 s of CPU time.
 */
import { createStrategy, HashStrategy } from '../src/balancer/strategies/index.js';
import type { PickContext, Strategy, StrategyName } from '../src/balancer/strategies/index.js';

interface BenchServer { id: string; weight: number; inFlight: number; load: number }

const WARMUP_MS = 50;
const MEASURE_MS = 200;
const KEYS = Array.from({ length: 1024 }, (_, i) => `session-${(i * 2654435761) >>> 0}`);

function makeServers(n: number, busy: boolean): BenchServer[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `10.0.${i >> 8}.${i & 255}:8080`,
    weight: 1 + (i % 3),
    inFlight: busy ? 1 + ((i * 7) % 13) : (i * 7) % 13,
    load: ((i * 37) % 100) / 100,
  }));
}

/** CPU time of this process in nanoseconds (user + system). */
function cpuNs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) * 1000;
}

/**
 * Picks in batches until `ms` of CPU time are spent; returns CPU ns per pick. CPU time
 * rather than wall time, so other processes on a shared machine do not count.
 */
function measure(strategy: Strategy<BenchServer>, withKey: boolean, ms: number): number {
  const ctx: PickContext = { hashKey: undefined, exclude: undefined };
  let picks = 0;
  let sink = 0;
  const start = cpuNs();
  const budget = ms * 1_000_000;
  let spent = 0;
  while (spent < budget) {
    for (let i = 0; i < 10_000; i++) {
      if (withKey) ctx.hashKey = KEYS[i & 1023];
      sink += strategy.pick(ctx)!.inFlight;
    }
    picks += 10_000;
    spent = cpuNs() - start;
  }
  if (sink < 0) console.log(sink); // keeps the picks from being optimised away
  return spent / picks;
}

interface Case { label: string; make: () => Strategy<BenchServer>; busy: boolean; withKey: boolean }

const names: StrategyName[] = ['round-robin', 'weighted', 'least-connections', 'least-load', 'p2c'];
const cases: Case[] = [
  ...names.map((name) => ({ label: name, make: () => createStrategy<BenchServer>(name), busy: false, withKey: false })),
  { label: 'hash', make: () => new HashStrategy<BenchServer>(), busy: false, withKey: true },
  { label: 'hash (busy)', make: () => new HashStrategy<BenchServer>(), busy: true, withKey: true },
  { label: 'hash (no key)', make: () => new HashStrategy<BenchServer>(), busy: false, withKey: false },
];

const sizes = [3, 32];
const results = new Map<string, number[]>();
for (const c of cases) {
  const row: number[] = [];
  for (const n of sizes) {
    const strategy = c.make();
    strategy.update(makeServers(n, c.busy));
    measure(strategy, c.withKey, WARMUP_MS);
    row.push(measure(strategy, c.withKey, MEASURE_MS));
  }
  results.set(c.label, row);
}

const base = results.get('round-robin')!;
const header = ['strategy', ...sizes.flatMap((n) => [`ns/pick n=${n}`, `x rr n=${n}`])];
const rows = [...results].map(([label, ns]) => [
  label, ...ns.flatMap((v, i) => [v.toFixed(1), (v / base[i]!).toFixed(1)]),
]);
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
console.log(`node ${process.version}, ${process.arch}`);
console.log(line(header));
for (const r of rows) console.log(line(r));
