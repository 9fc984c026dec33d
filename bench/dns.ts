/**
 * The DNS server's benchmark: A queries answered per second over UDP, from one client
 * socket in this process with `--concurrency` queries in flight, for `--queries`
 * queries per round; the median of `--rounds` rounds. The client shares the machine
 * (and, here, the event loop's process) with the server, so this is a floor for the
 * server alone, not a capacity figure.
 *
 * Run: npm run bench:dns [-- --queries 20000 --rounds 3 --concurrency 32]
 */
import { createSocket } from 'node:dgram';
import { parseArgs } from 'node:util';
import * as dnsPacket from 'dns-packet';
import { startDnsServer } from '../src/dns/index.js';

const { values: args } = parseArgs({
  options: {
    queries: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '32' },
  },
});
const queries = Number(args.queries);
const concurrency = Number(args.concurrency);

const server = await startDnsServer({
  zone: 'shop.test', listen: '127.0.0.1:0', balancers: ['127.0.0.2:9', '127.0.0.3:9', '127.0.0.4:9'],
  health: { path: null, intervalMs: 1_000, timeoutMs: 200 },
});

async function round(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  let sent = 0;
  let answered = 0;
  const started = performance.now();
  await new Promise<void>((resolve) => {
    // A UDP query lost in a full socket buffer is never answered: end the round instead of hanging.
    const stall = setInterval(() => {
      if (answered === lastAnswered) done();
      lastAnswered = answered;
    }, 2_000);
    let lastAnswered = -1;
    const done = (): void => {
      clearInterval(stall);
      resolve();
    };
    const send = (): void => {
      if (sent >= queries) return;
      const id = sent++ % 65_536;
      socket.send(dnsPacket.encode({ id, type: 'query', questions: [{ name: 'shop.test', type: 'A' }] }), server.port, '127.0.0.1');
    };
    socket.on('message', () => {
      answered++;
      if (answered === queries) done();
      else send();
    });
    for (let i = 0; i < concurrency; i++) send();
  });
  const seconds = (performance.now() - started) / 1000;
  socket.close();
  if (answered < queries) console.log(`  ${queries - answered} queries lost (UDP buffers)`);
  return answered / seconds;
}

const results: number[] = [];
for (let r = 0; r < Number(args.rounds); r++) results.push(await round());
results.sort((a, b) => a - b);
console.log(`UDP A queries/s, median of ${results.length}: ${Math.round(results[Math.floor(results.length / 2)]!)} (rounds: ${results.map(Math.round).join(', ')})`);
await server.close();
