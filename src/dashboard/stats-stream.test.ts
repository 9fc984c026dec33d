import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ControlHost, RuntimeStatus } from '../runtime/index.js';
import { LoadRunner } from './load-runner.js';
import { StatsStream } from './stats-stream.js';
import type { StatsFrame } from './stats-stream.js';

const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => {
    s.closeAllConnections();
    s.close(resolve);
  })));
});

async function listen(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('StatsStream', () => {
  it('streams frames with CPU and memory per pid and each instance\'s cache counts from its health body', async () => {
    // An instance: a real HTTP server answering its health body as the plugin does.
    const instance = await listen((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'ok', instance: 'app-1', buildId: 'b', load: 0, cache: { hits: 7, misses: 3 } }));
    });
    const status: RuntimeStatus = {
      dir: '/app', state: 'running', buildId: 'b', profile: null, appUrl: null, adminUrl: null, operation: null, db: null,
      processes: [
        { role: 'supervisor', id: 'supervisor', pid: process.pid, address: null, buildId: null, state: 'running' },
        { role: 'app', id: 'app-1', pid: null, address: instance, buildId: 'b', state: 'running' },
      ],
    };
    const host: ControlHost = {
      token: 't', status: () => status, events: undefined as never, balancerSnapshot: async () => undefined,
      scale: async () => undefined, deploy: async () => undefined, processAction: async () => undefined,
    };
    const stream = new StatsStream(host, new LoadRunner(host));
    const base = await listen((_req, res) => stream.attach(res));

    const controller = new AbortController();
    const res = await fetch(`http://${base}/`, { signal: controller.signal });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reader = res.body!.getReader();
    const frames: StatsFrame[] = [];
    let text = '';
    while (frames.length < 2) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString('utf8');
      for (let end = text.indexOf('\n\n'); end >= 0; end = text.indexOf('\n\n')) {
        const block = text.slice(0, end);
        text = text.slice(end + 2);
        const data = /^event: stats\ndata: (.*)$/s.exec(block);
        if (data !== null) frames.push(JSON.parse(data[1]!) as StatsFrame);
      }
    }
    controller.abort();
    expect(frames).toHaveLength(2);
    const [first, second] = frames as [StatsFrame, StatsFrame];
    expect(first.status.processes.map((p) => p.id)).toEqual(['supervisor', 'app-1']);
    expect(first.balancer).toBeNull();
    expect(first.cache).toEqual({ 'app-1': { hits: 7, misses: 3 } });
    expect(first.usage.supervisor!.rssBytes).toBeGreaterThan(0);
    // CPU needs two samples: the second frame, a second later, has it.
    expect(second.usage.supervisor!.cpuPercent).not.toBeNull();
    expect(second.at - first.at).toBeGreaterThanOrEqual(500);
    expect(first.load).toMatchObject({ running: false, last: null });
  });

  it('puts the host\'s queues and faults in the frame, and leaves out queues that take longer than a frame\'s read', async () => {
    const status = { dir: '/app', state: 'running', buildId: 'b', profile: null, appUrl: null, adminUrl: null, operation: null, db: null, processes: [] } as RuntimeStatus;
    const queue = { role: 'worker:exports', queue: 'exports', depth: 4, completed: 10, failed: 0 };
    const fault = { id: 'f1', fault: 'partition' as const, target: 'app-1', role: 'app', pid: 1, ports: [1], ms: null, table: 't', at: 'now' };
    let slow = false;
    const host: ControlHost = {
      token: 't', status: () => status, events: undefined as never, balancerSnapshot: async () => undefined,
      scale: async () => undefined, deploy: async () => undefined, processAction: async () => undefined,
      queues: () => (slow ? new Promise(() => {}) : Promise.resolve([queue])),
      chaos: { list: () => [fault], inject: async () => fault, heal: async () => [] },
    };
    const stream = new StatsStream(host, new LoadRunner(host));
    expect(await stream.frame()).toMatchObject({ queues: [queue], faults: [fault] });
    slow = true;
    expect((await stream.frame()).queues).toEqual([]);
  });
});
