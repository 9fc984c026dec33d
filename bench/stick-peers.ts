/**
 * Stick table peers: how long a full resync takes. Balancer A holds `--entries` stick
 * table entries; balancer B starts empty with A as its peer and says hello; the time
 * until B holds every entry is one full resync over the admin API (48 KiB pushes, one
 * after the other). Both balancers run in this process, so the figure includes both
 * sides' work on one event loop: a floor for two processes on two cores.
 *
 * Run: npx tsx bench/stick-peers.ts [-- --entries 100000 --rounds 3]
 */
import { parseArgs } from 'node:util';
import { startBalancer } from '../src/balancer/index.js';
import type { Balancer } from '../src/balancer/index.js';
import { freePorts } from '../src/runtime/engines/free-port.js';

const { values: args } = parseArgs({
  options: {
    entries: { type: 'string', default: '100000' },
    rounds: { type: 'string', default: '3' },
  },
});
const entries = Number(args.entries);
const TOKEN = 'bench-peer-token-0123456789';
const [portA, portB] = await freePorts(2);

function start(port: number, peer: number): Promise<Balancer> {
  return startBalancer({
    listen: '127.0.0.1:0',
    admin: { address: `127.0.0.1:${port}`, token: TOKEN },
    peers: { addresses: [`127.0.0.1:${peer}`], syncIntervalMs: 1_000 },
    pools: {
      web: {
        servers: [{ id: 'a', address: '127.0.0.1:9' }, { id: 'b', address: '127.0.0.1:9' }],
        affinity: { type: 'table', key: { on: 'cookie', name: 'sid' }, maxEntries: Math.max(entries, 1) },
      },
    },
  });
}

const a = await start(portA!, portB!);
const now = Date.now();
// Session-cookie-like keys (43 characters, a SHA-256 in base64url).
for (let i = 0; i < entries; i++) a.pools()[0]!.stickTable!.merge(`${String(i).padStart(12, '0')}${'x'.repeat(31)}`, i % 2 === 0 ? 'a' : 'b', now + 30 * 60_000, now);

const times: number[] = [];
for (let round = 0; round < Number(args.rounds); round++) {
  const started = performance.now();
  const b = await start(portB!, portA!);
  while (b.pools()[0]!.stickTable!.size < entries) await new Promise((resolve) => setTimeout(resolve, 5));
  times.push(performance.now() - started);
  await b.close();
}
await a.close();
times.sort((x, y) => x - y);
const median = times[Math.floor(times.length / 2)]!;
console.log(`full resync of ${entries} entries: median ${median.toFixed(0)} ms over ${times.length} rounds (${times.map((t) => t.toFixed(0)).join(', ')} ms), ${Math.round(entries / (median / 1000))} entries/s`);
