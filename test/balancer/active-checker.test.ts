import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BalancerConfigError } from '../../src/balancer/errors.js';
import { ActiveChecker, type ActiveCheckerOptions, type HealthState } from '../../src/balancer/health/index.js';
import { waitFor } from '../support/wait-for.js';
import { resolveActiveCheckerOptions } from '../../src/balancer/options.js';

type Mode = 'ok' | 'error' | 'close' | 'hang' | 'load-header' | 'load-body' | 'redirect' | 'big-body' | 'cut-body';

/** A real HTTP server whose health answer the test switches at will. */
class Backend {
  mode: Mode = 'ok';
  requests = 0;
  connections = 0;
  openSockets = new Set<Socket>();
  lastHeaders: IncomingHttpHeaders | undefined;
  lastPath: string | undefined;
  readonly server: Server;

  constructor() {
    this.server = createServer((req, res) => {
      this.requests++;
      this.lastHeaders = req.headers;
      this.lastPath = req.url;
      this.#answer(res);
    });
    this.server.on('connection', (socket: Socket) => {
      this.connections++;
      this.openSockets.add(socket);
      socket.on('close', () => this.openSockets.delete(socket));
    });
  }

  #answer(res: ServerResponse): void {
    switch (this.mode) {
      case 'ok': res.end('ok'); return;
      case 'error': res.statusCode = 500; res.end('broken'); return;
      case 'redirect': res.statusCode = 302; res.setHeader('location', '/elsewhere'); res.end(); return;
      case 'close': res.socket?.destroy(); return;
      case 'hang': return;
      case 'load-header': res.setHeader('scaleout-load', '0.75'); res.end('{"load":0.1}'); return;
      case 'load-body': res.setHeader('content-type', 'application/json'); res.end('{"status":"ok","load":0.25}'); return;
      case 'big-body': res.end(`{"load":0.5,"pad":"${'x'.repeat(64 * 1024)}"}`); return;
      case 'cut-body': res.writeHead(200, { 'content-length': '100' }); res.write('{"load"'); setImmediate(() => res.socket?.destroy()); return;
    }
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const socket of this.openSockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

interface Harness {
  checker: ActiveChecker;
  changes: { id: string; state: HealthState; reason: string }[];
  loads: { id: string; load: number }[];
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function backend(): Promise<{ b: Backend; port: number }> {
  const b = new Backend();
  const port = await b.listen();
  cleanups.push(() => b.close());
  return { b, port };
}

function harness(options: ActiveCheckerOptions = {}): Harness {
  const changes: Harness['changes'] = [];
  const loads: Harness['loads'] = [];
  const checker = new ActiveChecker(resolveActiveCheckerOptions({
    intervalMs: 25, timeoutMs: 500, rise: 2, fall: 2,
    onChange: (id, state, reason) => changes.push({ id, state, reason }),
    onLoad: (id, load) => loads.push({ id, load }),
    ...options,
  }));
  cleanups.push(() => checker.stop());
  return { checker, changes, loads };
}

describe('ActiveChecker against real servers', () => {
  it('probes on a fresh connection with GET <path> and Connection: close', async () => {
    const { b, port } = await backend();
    const { checker, changes } = harness({ path: '/healthz?deep=1' });
    checker.add({ id: 's1', host: '127.0.0.1', port });
    checker.start();
    await waitFor('three probes', () => b.requests >= 3, { intervalMs: 5 });
    expect(b.connections).toBeGreaterThanOrEqual(b.requests);
    expect(b.lastPath).toBe('/healthz?deep=1');
    expect(b.lastHeaders?.connection).toBe('close');
    expect(b.lastHeaders?.host).toBe(`127.0.0.1:${port}`);
    expect(changes).toEqual([]);
    expect(checker.state('s1')).toBe('up');
  });

  it('takes a server down on 5xx after fall failures and back up after rise successes', async () => {
    const { b, port } = await backend();
    const { checker, changes } = harness();
    checker.add({ id: 's1', host: '127.0.0.1', port });
    checker.start();
    await waitFor('a first successful probe', () => b.requests >= 1, { intervalMs: 5 });
    const before = b.requests;
    await waitFor('another probe', () => b.requests > before, { intervalMs: 5 });
    b.mode = 'error';
    await waitFor('down', () => changes.length === 1, { intervalMs: 5 });
    expect(changes[0]).toEqual({ id: 's1', state: 'down', reason: 'HTTP 500' });
    expect(checker.state('s1')).toBe('down');
    b.mode = 'redirect';
    await waitFor('up', () => changes.length === 2, { intervalMs: 5 });
    expect(changes[1]).toEqual({ id: 's1', state: 'up', reason: 'HTTP 302' });
  });

  it('fails probes whose connection is closed without an answer', async () => {
    const { b, port } = await backend();
    b.mode = 'close';
    const { checker, changes } = harness();
    checker.add({ id: 's1', host: '127.0.0.1', port });
    checker.start();
    await waitFor('down', () => changes.length === 1, { intervalMs: 5 });
    expect(changes[0]!.state).toBe('down');
    expect(changes[0]!.reason).toMatch(/socket hang up|ECONNRESET/);
  });

  it('fails probes that get no answer within the timeout', async () => {
    const { b, port } = await backend();
    b.mode = 'hang';
    const { checker, changes } = harness({ timeoutMs: 50 });
    checker.add({ id: 's1', host: '127.0.0.1', port });
    checker.start();
    await waitFor('down', () => changes.length === 1, { intervalMs: 5 });
    expect(changes[0]).toEqual({ id: 's1', state: 'down', reason: 'no answer within 50 ms' });
    await waitFor('timed-out connections closed', () => b.openSockets.size === 0, { intervalMs: 5 });
  });

  it('fails probes of a port nobody listens on', async () => {
    const { b, port } = await backend();
    await b.close();
    const { checker } = harness();
    checker.add({ id: 's1', host: '127.0.0.1', port });
    const result = await checker.checkNow('s1');
    expect(result).toMatchObject({ ok: false, status: undefined });
    expect(result!.reason).toMatch(/ECONNREFUSED/);
    expect(checker.state('s1')).toBe('down');
  });

  it('fails a 2xx answer whose body is cut off', async () => {
    const { b, port } = await backend();
    b.mode = 'cut-body';
    const { checker } = harness();
    checker.add({ id: 's1', host: '127.0.0.1', port });
    const result = await checker.checkNow('s1');
    expect(result).toMatchObject({ ok: false, status: 200 });
  });

  it('reads the load from the scaleout-load header first, else from a JSON body', async () => {
    const { b, port } = await backend();
    const { checker, loads } = harness();
    checker.add({ id: 's1', host: '127.0.0.1', port });
    b.mode = 'load-header';
    expect(await checker.checkNow('s1')).toEqual({ ok: true, reason: 'HTTP 200', status: 200, load: 0.75 });
    b.mode = 'load-body';
    expect((await checker.checkNow('s1'))!.load).toBe(0.25);
    b.mode = 'ok';
    expect((await checker.checkNow('s1'))!.load).toBeUndefined();
    b.mode = 'big-body';
    expect(await checker.checkNow('s1')).toMatchObject({ ok: true, load: undefined });
    expect(loads).toEqual([{ id: 's1', load: 0.75 }, { id: 's1', load: 0.25 }]);
  });

  it('checks servers added and removed at runtime, independently', async () => {
    const one = await backend();
    const two = await backend();
    two.b.mode = 'error';
    const { checker, changes } = harness();
    checker.start();
    checker.add({ id: 'one', host: '127.0.0.1', port: one.port });
    checker.add({ id: 'two', host: '127.0.0.1', port: two.port });
    await waitFor('two down', () => changes.some((c) => c.id === 'two'), { intervalMs: 5 });
    await waitFor('one probed twice', () => one.b.requests >= 2, { intervalMs: 5 });
    expect(changes).toEqual([{ id: 'two', state: 'down', reason: 'HTTP 500' }]);
    checker.remove('two');
    expect(checker.state('two')).toBeUndefined();
    expect(await checker.checkNow('two')).toBeUndefined();
    two.b.mode = 'ok';
    const seen = one.b.requests;
    await waitFor('one probed twice more', () => one.b.requests >= seen + 2, { intervalMs: 5 });
    expect(changes).toHaveLength(1);
  });

  it('stop cancels probes in flight, closing their connections, and reports nothing more', async () => {
    const { b, port } = await backend();
    b.mode = 'hang';
    const { checker, changes } = harness({ timeoutMs: 60_000 });
    checker.add({ id: 's1', host: '127.0.0.1', port });
    checker.start();
    const pending = checker.checkNow('s1');
    await waitFor('the probe to arrive', () => b.requests === 1, { intervalMs: 5 });
    checker.stop();
    expect(await pending).toMatchObject({ ok: false, reason: 'cancelled' });
    await waitFor('the connection to close', () => b.openSockets.size === 0, { intervalMs: 5 });
    expect(changes).toEqual([]);
    expect(checker.state('s1')).toBe('up');
    expect(checker.running).toBe(false);
  });

  it('survives a listener that throws', async () => {
    const { b, port } = await backend();
    b.mode = 'error';
    const warnings: string[] = [];
    const onWarning = (w: Error): void => { warnings.push(w.message); };
    process.on('warning', onWarning);
    cleanups.push(() => { process.off('warning', onWarning); });
    const { checker } = harness({ onChange: () => { throw new Error('listener bug'); } });
    checker.add({ id: 's1', host: '127.0.0.1', port });
    await checker.checkNow('s1');
    expect(checker.state('s1')).toBe('down');
    await waitFor('the warning', () => warnings.length === 1, { intervalMs: 5 });
    expect(warnings[0]).toMatch(/listener bug/);
  });
});

describe('ActiveChecker options', () => {
  it('refuses invalid options and targets with a clear error', () => {
    expect(() => new ActiveChecker(resolveActiveCheckerOptions({ path: 'healthz' }))).toThrow(BalancerConfigError);
    expect(() => new ActiveChecker(resolveActiveCheckerOptions({ path: '/a b' }))).toThrow(/path/);
    expect(() => new ActiveChecker(resolveActiveCheckerOptions({ intervalMs: 0 }))).toThrow(/intervalMs/);
    expect(() => new ActiveChecker(resolveActiveCheckerOptions({ timeoutMs: 1.5 }))).toThrow(/timeoutMs/);
    expect(() => new ActiveChecker(resolveActiveCheckerOptions({ jitterRatio: 0.9 }))).toThrow(/jitterRatio/);
    expect(() => new ActiveChecker(resolveActiveCheckerOptions({ hostHeader: 'a\r\nb' }))).toThrow(/hostHeader/);
    expect(() => new ActiveChecker(resolveActiveCheckerOptions({ rise: 0 }))).toThrow(/rise/);
    const checker = new ActiveChecker(resolveActiveCheckerOptions());
    expect(() => checker.add({ id: '', host: 'h', port: 1 })).toThrow(BalancerConfigError);
    expect(() => checker.add({ id: 'a', host: 'h', port: 0 })).toThrow(/port/);
    expect(() => checker.add({ id: 'a', host: '', port: 80 })).toThrow(/host/);
    checker.add({ id: 'a', host: '127.0.0.1', port: 80 });
    expect(() => checker.add({ id: 'a', host: '127.0.0.1', port: 81 })).toThrow(/already/);
  });
});

describe('ActiveChecker: fast interval, out-of-band probes, markDown', () => {
  it('probes at fastIntervalMs while a server changes state, so it goes down in a fraction of fall × interval', async () => {
    const { b, port } = await backend();
    const { checker, changes } = harness({ intervalMs: 5_000, fastIntervalMs: 20, fall: 3, jitterRatio: 0 });
    checker.add({ id: 's1', host: '127.0.0.1', port });
    await checker.checkNow('s1'); // confirmed up: it now takes `fall` failures
    b.mode = 'error';
    checker.start();
    await checker.checkNow('s1');
    // Two more failures at the fast interval, not after 2 × 5 s.
    await waitFor('down', () => changes.length === 1, { timeoutMs: 3_000, intervalMs: 5 });
    expect(changes[0]).toMatchObject({ state: 'down', reason: 'HTTP 500' });
  });

  it('probe() has its own timeout and counts nothing; markDown takes a server down at once, and rise brings it back', async () => {
    const { b, port } = await backend();
    const changes: Array<{ state: HealthState; answered: boolean }> = [];
    const { checker } = harness({ intervalMs: 60_000, fastIntervalMs: 20, rise: 2, onChange: (_id, state, _reason, answered) => changes.push({ state, answered }) });
    checker.add({ id: 's1', host: '127.0.0.1', port });
    checker.start();
    b.mode = 'hang';
    const started = performance.now();
    const result = await checker.probe('s1', 100);
    expect(result).toMatchObject({ ok: false, reason: 'no answer within 100 ms' });
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(checker.state('s1')).toBe('up');
    expect(await checker.probe('nope', 100)).toBeUndefined();

    expect(checker.markDown('s1', 'silent')).toBe(true);
    expect(checker.markDown('s1', 'silent')).toBe(false);
    expect(changes).toEqual([{ state: 'down', answered: false }]);
    b.mode = 'ok';
    // Not after the 60 s interval: the next probes come at the fast interval.
    await waitFor('up again', () => checker.state('s1') === 'up', { timeoutMs: 3_000, intervalMs: 5 });
    expect(changes.at(-1)).toEqual({ state: 'up', answered: true });
  });
});
