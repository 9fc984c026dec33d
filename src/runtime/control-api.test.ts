import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlApi } from './control-api.js';
import type { ControlApi, ControlHandlers } from './control-api.js';
import { OperationInProgressError } from './errors.js';
import { EventRing } from './event-ring.js';
import type { RuntimeEvent } from './events.js';
import { SseParser } from './sse-parser.js';
import type { RuntimeStatus } from './status.js';

const TOKEN = 'control-token-for-tests-0123456789';

describe('control API', () => {
  let api: ControlApi;
  const calls: string[] = [];
  const ring = new EventRing({ capacity: 5 });
  const handlers: ControlHandlers = {
    status: () => ({ dir: '/app', state: 'running', processes: [] } as unknown as RuntimeStatus),
    build: async (report) => {
      report(ring.push({ level: 'step', message: 'built' }));
      return { buildId: 'abc' };
    },
    deploy: async (strategy) => {
      calls.push(`deploy ${strategy ?? 'default'}`);
      throw new OperationInProgressError('scale');
    },
    scale: async (role, count) => ({ role, count }),
    db: async (request, report) => {
      report(ring.push({ level: 'step', message: `db ${request.action}` }));
      return request;
    },
    processAction: async (id, action, report) => {
      report(ring.push({ level: 'warn', message: `${action} ${id}` }));
      return { id, action };
    },
    events: ring,
  };
  const call = (path: string, init: RequestInit = {}, token = TOKEN): Promise<Response> =>
    fetch(`http://${api.address}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...init.headers } });
  const lines = async (res: Response): Promise<unknown[]> => (await res.text()).trim().split('\n').map((l) => JSON.parse(l) as unknown);

  beforeAll(async () => {
    api = await startControlApi(handlers, { token: TOKEN });
  });
  afterAll(async () => {
    await api.close();
  });

  it('answers status to the right token only', async () => {
    expect((await call('/status')).status).toBe(200);
    expect(await (await call('/status')).json()).toMatchObject({ state: 'running' });
    const wrong = await call('/status', {}, 'not-the-token');
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ error: { code: 'SCALEOUT_RUNTIME_CONTROL_UNAUTHORIZED' } });
    expect((await fetch(`http://${api.address}/status`)).status).toBe(401);
  });

  it('streams progress, then the result or the error with its code', async () => {
    expect(await lines(await call('/build', { method: 'POST' }))).toEqual([
      { event: expect.objectContaining({ kind: 'notice', source: 'supervisor', level: 'step', message: 'built' }) },
      { result: { buildId: 'abc' } },
    ]);
    expect(await lines(await call('/deploy', { method: 'POST', body: '{"strategy":"blue-green"}' }))).toEqual([
      { error: { code: 'SCALEOUT_RUNTIME_BUSY', message: 'a scale is running; wait until it finishes, then try again' } },
    ]);
    expect(calls).toEqual(['deploy blue-green']);
    expect(await lines(await call('/scale', { method: 'POST', body: '{"role":"app","count":3}' }))).toEqual([{ result: { role: 'app', count: 3 } }]);
  });

  it('turns bad requests into 4xx answers, never a crash', async () => {
    const bad = async (path: string, body: string | undefined, method = 'POST'): Promise<{ status: number; code: string }> => {
      const res = await call(path, { method, ...(body === undefined ? {} : { body }) });
      const text = await res.text();
      const first = JSON.parse(text.split('\n')[0]!) as { error: { code: string } };
      return { status: res.status, code: first.error.code };
    };
    expect(await bad('/deploy', '{not json')).toEqual({ status: 400, code: 'SCALEOUT_RUNTIME_CONTROL_BAD_REQUEST' });
    expect(await bad('/deploy', '[1,2]')).toEqual({ status: 400, code: 'SCALEOUT_RUNTIME_CONTROL_BAD_REQUEST' });
    expect(await bad('/deploy', 'x'.repeat(100_000))).toEqual({ status: 400, code: 'SCALEOUT_RUNTIME_CONTROL_BAD_REQUEST' });
    expect(await bad('/deploy', '{"strategy":"canary"}')).toEqual({ status: 400, code: 'SCALEOUT_RUNTIME_CONTROL_BAD_REQUEST' });
    expect(await bad('/scale', '{"role":"app","count":"4"}')).toEqual({ status: 400, code: 'SCALEOUT_RUNTIME_CONTROL_BAD_REQUEST' });
    expect(await bad('/nope', undefined, 'GET')).toEqual({ status: 404, code: 'SCALEOUT_RUNTIME_CONTROL_NOT_FOUND' });
    expect((await call('/status')).status).toBe(200);
  });

  it('hands POST /processes/<id>/kill|restart|drain to the supervisor, and 404s other actions', async () => {
    expect(await lines(await call('/processes/app-2/kill', { method: 'POST' }))).toEqual([
      { event: expect.objectContaining({ kind: 'notice', message: 'kill app-2' }) },
      { result: { id: 'app-2', action: 'kill' } },
    ]);
    expect(await lines(await call('/processes/app-1/drain', { method: 'POST' }))).toContainEqual({ result: { id: 'app-1', action: 'drain' } });
    expect((await call('/processes/app-1/explode', { method: 'POST' })).status).toBe(404);
    expect((await call('/processes/app-1/kill', { method: 'POST' }, 'not-the-token')).status).toBe(401);
  });

  it('takes data-tier requests and checks their fields', async () => {
    expect(await lines(await call('/db/rebuild', { method: 'POST', body: '{"node":"pg0"}' }))).toEqual([
      { event: expect.objectContaining({ kind: 'notice', level: 'step', message: 'db rebuild' }) },
      { result: { action: 'rebuild', node: 'pg0' } },
    ]);
    expect((await lines(await call('/db/failover', { method: 'POST' })))[1]).toEqual({ result: { action: 'failover' } });
    expect((await lines(await call('/reshard', { method: 'POST', body: '{"to":"s3","fraction":0.25}' })))[1])
      .toEqual({ result: { action: 'reshard', to: 's3', fraction: 0.25 } });
    for (const [path, body] of [
      ['/db/rebuild', '{}'], ['/db/rebuild', '{"node":"pg0; DROP"}'], ['/reshard', '{}'], ['/reshard', '{"to":"s3","buckets":0}'],
      ['/reshard', '{"to":"s3","buckets":1.5}'], ['/reshard', '{"to":"s3","fraction":2}'], ['/reshard', '{"to":"s3","buckets":4,"fraction":0.5}'],
      ['/reshard', '{"to":"a-b"}'],
    ] as const) {
      const res = await call(path, { method: 'POST', body });
      expect(res.status, `${path} ${body}`).toBe(400);
      expect(await res.json()).toMatchObject({ error: { code: 'SCALEOUT_RUNTIME_CONTROL_BAD_REQUEST' } });
    }
  });
});

describe('control API events', () => {
  let api: ControlApi;
  const ring = new EventRing({ capacity: 4 });
  const handlers = { events: ring } as unknown as ControlHandlers;
  const call = (path: string, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Response> =>
    fetch(`http://${api.address}${path}`, { headers: { authorization: `Bearer ${TOKEN}`, ...headers }, ...(signal === undefined ? {} : { signal }) });
  const push = (message: string): RuntimeEvent => ring.push({ level: 'info', message, source: 'app-1' });

  /** Reads SSE messages from `res` until `count` arrived. */
  async function read(res: Response, count: number): Promise<Array<{ id: string | undefined; event: RuntimeEvent }>> {
    const parser = new SseParser();
    const out: Array<{ id: string | undefined; event: RuntimeEvent }> = [];
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    while (out.length < count) {
      const { value, done } = await reader.read();
      if (done) break;
      for (const m of parser.push(value)) out.push({ id: m.id, event: JSON.parse(m.data) as RuntimeEvent });
    }
    await reader.cancel();
    return out;
  }

  beforeAll(async () => {
    api = await startControlApi(handlers, { token: TOKEN });
  });
  afterAll(async () => {
    await api.close();
  });

  it('streams what the ring holds, then live events, each with its id', async () => {
    push('one');
    push('two');
    const res = await call('/events');
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reading = read(res, 3);
    // Pushed once the stream is open: it reaches the subscriber, not the backlog.
    push('three');
    const got = await reading;
    expect(got.map((m) => [m.id, m.event.kind === 'notice' ? m.event.message : m.event.kind])).toEqual([['1', 'one'], ['2', 'two'], ['3', 'three']]);
    expect(got[0]!.event).toMatchObject({ id: 1, source: 'app-1', kind: 'notice', level: 'info' });
  });

  it('resumes after Last-Event-ID, and says with a gap event what fell off the ring', async () => {
    const resumed = await read(await call('/events', { 'last-event-id': '2' }), 1);
    expect(resumed.map((m) => m.id)).toEqual(['3']);
    for (const m of ['four', 'five', 'six', 'seven']) push(m);
    // The ring holds 4..7 now: 3 is gone.
    const late = await read(await call('/events', { 'last-event-id': '2' }), 5);
    expect(late[0]!.event).toMatchObject({ kind: 'gap', afterId: 2, missed: 1 });
    expect(late.slice(1).map((m) => m.id)).toEqual(['4', '5', '6', '7']);
  });

  it('answers ?since=<id> with JSON for polling, and refuses an id that is not one', async () => {
    const res = await call('/events?since=5');
    expect(res.headers.get('content-type')).toBe('application/json');
    const body = await res.json() as { events: RuntimeEvent[]; lastId: number };
    expect(body.lastId).toBe(7);
    expect(body.events.map((e) => e.id)).toEqual([6, 7]);
    const bad = await call('/events?since=abc');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'SCALEOUT_RUNTIME_CONTROL_BAD_REQUEST' } });
    expect((await call('/events', { 'last-event-id': '-1' })).status).toBe(400);
  });
});
