import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { startBalancer } from '../../src/balancer/index.js';
import type { Balancer, BalancerOptionsInput } from '../../src/balancer/index.js';
import { startBackends } from '../support/backend.js';
import type { Backend } from '../support/backend.js';
import { waitFor } from '../support/wait-for.js';

let backends: Backend[];
const agent = new Agent({ connections: 4 });
const keys = [{ id: 'k1', secret: 'x'.repeat(32) }];

beforeAll(async () => {
  backends = await startBackends(['a', 'b', 'c']);
});
afterAll(async () => {
  await agent.close();
  await Promise.all(backends.map((b) => b.kill()));
});

function servers(): Array<{ id: string; address: string }> {
  return backends.map((b) => ({ id: b.id, address: b.address }));
}

async function hit(base: string, cookie?: string, path = '/'): Promise<{ backend: string; setCookie: string | undefined; status: number }> {
  const res = await request(`${base}${path}`, { dispatcher: agent, headers: cookie === undefined ? {} : { cookie } });
  await res.body.text();
  const set = res.headers['set-cookie'];
  return { backend: res.headers['x-backend'] as string, setCookie: Array.isArray(set) ? set[0] : set, status: res.statusCode };
}

function cookieOf(setCookie: string): string {
  return setCookie.split(';')[0]!;
}

async function withBalancer(options: Partial<BalancerOptionsInput> & { pools: BalancerOptionsInput['pools'] }, fn: (b: Balancer, base: string) => Promise<void>): Promise<void> {
  const balancer = await startBalancer({ listen: '127.0.0.1:0', keys, ...options });
  try {
    await fn(balancer, `http://${balancer.addresses[0]}`);
  } finally {
    await balancer.close();
  }
}

describe('cookie affinity', () => {
  it('keeps a client on one server over 100 requests and sets the cookie once', async () => {
    await withBalancer({ pools: { web: { servers: servers(), affinity: { type: 'cookie' } } } }, async (_b, base) => {
      const first = await hit(base);
      expect(first.setCookie).toMatch(/^scaleout_srv=[^;]+; Path=\/; .*HttpOnly/);
      expect(first.setCookie).toMatch(/SameSite=Lax/);
      expect(first.setCookie).not.toMatch(/Secure/);
      const cookie = cookieOf(first.setCookie!);
      // The cookie names the server without revealing its id or address.
      expect(cookie).not.toContain(first.backend === 'a' ? backends[0]!.address : 'nothing');
      for (let i = 0; i < 100; i++) {
        const next = await hit(base, `theme=dark; ${cookie}; other=1`);
        expect(next.backend).toBe(first.backend);
        expect(next.setCookie).toBeUndefined();
      }
    });
  });

  it('replaces a forged, garbled or foreign-key cookie and still serves the request', async () => {
    await withBalancer({ pools: { web: { servers: servers(), affinity: { type: 'cookie' } } } }, async (_b, base) => {
      const real = cookieOf((await hit(base)).setCookie!);
      const value = real.slice('scaleout_srv='.length);
      const forged = value.slice(0, -2) + (value.endsWith('AA') ? 'BB' : 'AA');
      const other = await startBalancer({ listen: '127.0.0.1:0', keys: [{ id: 'k1', secret: 'y'.repeat(32) }], pools: { web: { servers: servers(), affinity: { type: 'cookie' } } } });
      const foreign = cookieOf((await hit(`http://${other.addresses[0]}`)).setCookie!);
      await other.close();
      for (const bad of [`scaleout_srv=${forged}`, 'scaleout_srv=garbage', 'scaleout_srv=', 'scaleout_srv=a.b.c.d', foreign, `scaleout_srv=${'z'.repeat(5000)}`]) {
        const res = await hit(base, bad);
        expect(res.status).toBe(200);
        expect(res.setCookie).toMatch(/^scaleout_srv=/);
        expect(cookieOf(res.setCookie!)).not.toBe(bad);
      }
    });
  });

  it('verifies cookies issued by another balancer that shares the keys', async () => {
    const pools = { web: { servers: servers(), affinity: { type: 'cookie' as const } } };
    const one = await startBalancer({ listen: '127.0.0.1:0', keys, pools });
    const first = await hit(`http://${one.addresses[0]}`);
    await one.close();
    // A second balancer with the same keys (the other half of a pair, or one restarted
    // with a rotated key list) routes the first one's cookie to the same server.
    await withBalancer({ pools, keys: [{ id: 'k2', secret: 'n'.repeat(32) }, ...keys] }, async (_b, base) => {
      for (let i = 0; i < 5; i++) {
        const res = await hit(base, cookieOf(first.setCookie!));
        expect(res.backend).toBe(first.backend);
        expect(res.setCookie).toBeUndefined();
      }
    });
  });

  it('moves a client off a draining server at once and rewrites the cookie', async () => {
    await withBalancer({ pools: { web: { servers: servers(), affinity: { type: 'cookie' } } } }, async (balancer, base) => {
      const first = await hit(base);
      const cookie = cookieOf(first.setCookie!);
      balancer.pool('web').drain(first.backend);
      const moved = await hit(base, cookie);
      expect(moved.backend).not.toBe(first.backend);
      expect(moved.setCookie).toBeDefined();
      const again = await hit(base, cookieOf(moved.setCookie!));
      expect(again.backend).toBe(moved.backend);
      expect(balancer.pool('web').server(first.backend)!.state(Date.now())).toBe('drained');
    });
  });

  it('lets sticky clients stay on a draining server until the drain deadline', async () => {
    await withBalancer({ pools: { web: { servers: servers(), affinity: { type: 'cookie' }, drainStickyMs: 60_000 } } }, async (balancer, base) => {
      const first = await hit(base);
      balancer.pool('web').drain(first.backend);
      expect((await hit(base, cookieOf(first.setCookie!))).backend).toBe(first.backend);
      // New clients never land there.
      for (let i = 0; i < 10; i++) expect((await hit(base)).backend).not.toBe(first.backend);
    });
  });

  it('moves a client whose server went down', async () => {
    await withBalancer({ pools: { web: { servers: servers(), affinity: { type: 'cookie' }, health: { path: '/healthz', intervalMs: 20, timeoutMs: 500 } } } }, async (balancer, base) => {
      const first = await hit(base);
      const victim = backends.find((b) => b.id === first.backend)!;
      await request(`http://${victim.address}/control?healthy=0`);
      try {
        await waitFor('server down', () => balancer.pool('web').server(victim.id)!.state(Date.now()) === 'down', { timeoutMs: 5000 });
        const moved = await hit(base, cookieOf(first.setCookie!));
        expect(moved.backend).not.toBe(victim.id);
        expect(moved.setCookie).toBeDefined();
      } finally {
        await request(`http://${victim.address}/control?healthy=1`);
      }
    });
  });
});

describe('stick table affinity', () => {
  it('sticks by a named cookie (the app\'s session) and by client IP', async () => {
    await withBalancer({ pools: { web: { servers: servers(), affinity: { type: 'table', key: { on: 'cookie', name: 'sid' } } } } }, async (_b, base) => {
      const seen = new Map<string, string>();
      for (let round = 0; round < 5; round++) {
        for (const sid of ['u1', 'u2', 'u3', 'u4', 'u5', 'u6']) {
          const res = await hit(base, `sid=${sid}`);
          if (round === 0) seen.set(sid, res.backend);
          else expect(res.backend).toBe(seen.get(sid));
        }
      }
      expect(new Set(seen.values()).size).toBeGreaterThan(1);
    });
    await withBalancer({ pools: { web: { servers: servers(), affinity: { type: 'table', key: { on: 'ip' } } } } }, async (_b, base) => {
      const first = await hit(base);
      for (let i = 0; i < 20; i++) expect((await hit(base)).backend).toBe(first.backend);
    });
  });

  it('survives a restart when saved to disk', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scaleout-stick-'));
    const file = join(dir, 'table.json');
    const pools = { web: { servers: servers(), affinity: { type: 'table' as const, key: { on: 'header' as const, name: 'x-user' }, file } } };
    try {
      const assigned = new Map<string, string>();
      await withBalancer({ pools }, async (_b, base) => {
        for (const user of ['ann', 'bob', 'cid', 'dan', 'eve']) {
          const res = await request(`${base}/`, { dispatcher: agent, headers: { 'x-user': user } });
          await res.body.text();
          assigned.set(user, res.headers['x-backend'] as string);
        }
      });
      // A fresh balancer (round-robin would start at a again) restores the table.
      await withBalancer({ pools }, async (_b, base) => {
        for (const user of [...assigned.keys()].reverse()) {
          const res = await request(`${base}/`, { dispatcher: agent, headers: { 'x-user': user } });
          await res.body.text();
          expect(res.headers['x-backend']).toBe(assigned.get(user));
        }
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('saves pools without a file of their own in stickTableDir, and removes a removed pool\'s file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scaleout-stick-dir-'));
    const table = { type: 'table' as const, key: { on: 'header' as const, name: 'x-user' } };
    try {
      await withBalancer({ stickTableDir: dir, pools: { web: { servers: servers(), affinity: table } } }, async (b, base) => {
        const res = await request(`${base}/`, { dispatcher: agent, headers: { 'x-user': 'ann' } });
        await res.body.text();
        b.addPool('blue', { servers: servers(), affinity: table });
        await b.removePool('blue');
        expect(existsSync(join(dir, 'stick-blue.json'))).toBe(false);
      });
      const saved = JSON.parse(readFileSync(join(dir, 'stick-web.json'), 'utf8')) as { entries: unknown[][] };
      expect(saved.entries.map((e) => e[0])).toEqual(['ann']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
