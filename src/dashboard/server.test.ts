import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventRing } from '../runtime/event-ring.js';
import type { RuntimeStatus } from '../runtime/status.js';
import { createDashboard, DASHBOARD_CSP } from './server.js';

const TOKEN = 'dashboard-token-for-tests-0123456789';

describe('dashboard routes', () => {
  let server: http.Server;
  let base: string;
  const actions: string[] = [];
  const routes = createDashboard({
    token: TOKEN,
    status: () => ({ state: 'running', processes: [] } as unknown as RuntimeStatus),
    events: new EventRing({ capacity: 5 }),
    balancerSnapshot: async () => undefined,
    scale: async (role, count) => actions.push(`scale ${role}=${count}`),
    deploy: async () => actions.push('deploy'),
    processAction: async (id, action) => actions.push(`${action} ${id}`),
    chaos: {
      list: () => [],
      inject: async (request) => {
        actions.push(`chaos ${request.fault} ${request.target}${request.ms === undefined ? '' : ` ${request.ms}`}`);
        return { id: 'f1', fault: request.fault, target: request.target, role: 'app', pid: 1, ports: [], ms: request.ms ?? null, table: null, at: '' };
      },
      heal: async () => {
        actions.push('heal');
        return [];
      },
    },
  });

  beforeAll(async () => {
    server = http.createServer((req, res) => void routes.handle(req, res).catch(() => res.destroy()));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const login = async (): Promise<string> => {
    const res = await fetch(`${base}/dashboard/login`, { method: 'POST', body: new URLSearchParams({ token: TOKEN }), redirect: 'manual' });
    return res.headers.get('set-cookie')!.split(';')[0]!;
  };

  it('mounts under /dashboard only', () => {
    const req = (url: string): http.IncomingMessage => ({ url } as http.IncomingMessage);
    expect(routes.matches(req('/dashboard'))).toBe(true);
    expect(routes.matches(req('/dashboard/api/status'))).toBe(true);
    expect(routes.matches(req('/dashboards'))).toBe(false);
    expect(routes.matches(req('/status'))).toBe(false);
  });

  it('shows only the login form without the cookie, with the CSP', async () => {
    const page = await fetch(`${base}/dashboard`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toBe(DASHBOARD_CSP);
    const html = await page.text();
    expect(html).toContain('name="token"');
    expect(html).not.toContain('app.js');
    expect((await fetch(`${base}/dashboard/api/scale`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"role":"app","count":9}' })).status).toBe(401);
    expect(actions).toEqual([]);
  });

  it('refuses a button POST that is not JSON, so a cross-site form cannot press it', async () => {
    const cookie = await login();
    const res = await fetch(`${base}/dashboard/api/deploy`, { method: 'POST', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1' });
    expect(res.status).toBe(415);
    expect(actions).toEqual([]);
  });

  it('runs the buttons with the cookie, and answers bad input with 4xx', async () => {
    const cookie = await login();
    const post = (path: string, body: string): Promise<Response> => fetch(`${base}/dashboard/api/${path}`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body });
    expect(await (await post('processes/app-1/kill', '{}')).json()).toEqual({ result: 1 });
    expect((await post('scale', '{"role":"app","count":3}')).status).toBe(200);
    expect((await post('scale', '{"role":"app"}')).status).toBe(400);
    expect((await post('scale', 'not json')).status).toBe(400);
    expect((await post('processes/%E0/kill', '{}')).status).toBe(400);
    expect((await post('processes/app-1/explode', '{}')).status).toBe(404);
    expect(actions).toEqual(['kill app-1', 'scale app=3']);
  });

  it('injects and heals chaos faults with the cookie, checking the body before anything runs', async () => {
    const cookie = await login();
    const post = (path: string, body: string): Promise<Response> => fetch(`${base}/dashboard/api/${path}`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body });
    actions.splice(0);
    expect((await post('chaos', '{"fault":"partition","target":"app-2"}')).status).toBe(200);
    expect((await post('chaos', '{"fault":"slow","target":"app-1","ms":200}')).status).toBe(200);
    for (const bad of ['{"fault":"explode","target":"app-1"}', '{"fault":"slow","target":"app-1"}', '{"fault":"stop","target":"app 1; rm"}', '[]', 'null']) {
      const res = await post('chaos', bad);
      expect(res.status, bad).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code, bad).toBe('SCALEOUT_RUNTIME_CHAOS_INVALID');
    }
    expect((await post('chaos/heal', '{}')).status).toBe(200);
    expect(actions).toEqual(['chaos partition app-2', 'chaos slow app-1 200', 'heal']);
  });
});
