import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startBalancer } from '../../src/balancer/index.js';
import type { BalancerEvent } from '../../src/balancer/index.js';
import { waitFor } from '../support/wait-for.js';

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('balancer events', () => {
  it('hands `log` typed events: membership, health verdicts, stop', async () => {
    const events: BalancerEvent[] = [];
    const before = Date.now();
    const balancer = await startBalancer({
      listen: '127.0.0.1:0',
      pools: { web: { servers: [], health: { path: '/healthz', intervalMs: 50, timeoutMs: 200, fall: 1 } } },
    }, { log: (e) => events.push(e) });
    try {
      balancer.addServer('web', { id: 'gone-1', address: `127.0.0.1:${await closedPort()}` });
      await waitFor('the down verdict', () => events.find((e) => e.kind === 'server-state' && e.state === 'down'));
    } finally {
      await balancer.close();
    }
    expect(events[0]).toEqual({ at: expect.any(Number), source: 'gone-1', kind: 'server-state', pool: 'web', server: 'gone-1', state: 'added', reason: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
    expect(events.find((e) => e.kind === 'server-state' && e.state === 'down')).toMatchObject({ source: 'gone-1', pool: 'web', server: 'gone-1' });
    expect(events.at(-1)).toMatchObject({ source: 'balancer', kind: 'balancer-stopped', message: 'balancer stopped' });
    for (const e of events) expect(e.at).toBeGreaterThanOrEqual(before);
  });

  it('reports a stick table it could not restore as a pool warning, not as a server state', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'scaleout-events-'));
    const file = join(dir, 'table.json');
    await writeFile(file, '{ not json');
    const events: BalancerEvent[] = [];
    const balancer = await startBalancer({
      listen: '127.0.0.1:0',
      pools: { web: { servers: [], affinity: { type: 'table', file } } },
    }, { log: (e) => events.push(e) });
    await balancer.close();
    await rm(dir, { recursive: true, force: true });
    expect(events[0]).toMatchObject({ source: 'web', kind: 'pool-warning', pool: 'web', message: expect.stringContaining('stick table not restored: stick table file') });
    expect(events.filter((e) => e.kind === 'server-state')).toEqual([]);
  });
});
