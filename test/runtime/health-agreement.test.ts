import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActiveChecker } from '../../src/balancer/health/index.js';
import { probeHealth } from '../../src/runtime/health-probe.js';
import { resolveActiveCheckerOptions } from '../../src/balancer/options.js';

// The runtime brings an instance up when its probe says healthy; the balancer then puts
// it in service when its active check says so. Both must read a health answer alike.
describe('what a healthy health answer is', () => {
  let server: Server;
  let port: number;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const status = Number(req.url?.slice(1));
      if (status >= 300 && status < 400) res.setHeader('location', '/elsewhere');
      res.writeHead(status, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify({ status: status < 400 ? 'ok' : 'draining', instance: 'app-1', buildId: 'b1', load: 0.5 }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it.each([200, 204, 301, 302, 307, 400, 404, 500, 503])('HTTP %i: the runtime probe and the balancer check agree', async (status) => {
    const checker = new ActiveChecker(resolveActiveCheckerOptions({ path: `/${status}` }));
    checker.add({ id: 'app-1', host: '127.0.0.1', port });
    const balancer = await checker.probe('app-1', 2000);
    const runtime = await probeHealth(`127.0.0.1:${port}`, `/${status}`, 2000);
    checker.stop();
    expect(balancer?.reason).toBe(`HTTP ${status}`);
    expect(runtime.reason).toBe(`HTTP ${status}`);
    expect(runtime.ok).toBe(balancer?.ok);
    expect(runtime.ok).toBe(status < 400);
  });

  it('the runtime probe reads the health body', async () => {
    const answer = await probeHealth(`127.0.0.1:${port}`, '/200', 2000);
    expect(answer).toMatchObject({ ok: true, status: 'ok', instance: 'app-1', buildId: 'b1', load: 0.5 });
  });
});
