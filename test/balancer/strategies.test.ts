import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { startBalancer } from '../../src/balancer/index.js';
import { startBackend } from '../support/backend.js';
import type { Backend } from '../support/backend.js';

let idle: Backend;
let busy: Backend;
const agent = new Agent({ connections: 16 });

beforeAll(async () => {
  [idle, busy] = await Promise.all([startBackend('idle', { LOAD: '0.05' }), startBackend('busy', { LOAD: '0.95' })]);
});
afterAll(async () => {
  await agent.close();
  await Promise.all([idle.kill(), busy.kill()]);
});

describe('strategies over real servers', () => {
  it('least-load sends most traffic to the server that reports less load, from response headers alone', async () => {
    const balancer = await startBalancer({
      listen: '127.0.0.1:0',
      pools: { web: { strategy: 'least-load', servers: [{ id: 'idle', address: idle.address }, { id: 'busy', address: busy.address }] } },
    });
    try {
      const counts: Record<string, number> = { idle: 0, busy: 0 };
      await Promise.all(Array.from({ length: 8 }, async () => {
        for (let i = 0; i < 50; i++) {
          const res = await request(`http://${balancer.addresses[0]}/slow?ms=2`, { dispatcher: agent });
          counts[res.headers['x-backend'] as string]!++;
          await res.body.text();
        }
      }));
      expect(counts.idle! + counts.busy!).toBe(400);
      expect(counts.idle).toBeGreaterThan(counts.busy! * 2);
      expect(counts.busy).toBeGreaterThan(0);
    } finally {
      await balancer.close();
    }
  });

  it('hash on a header keeps each key on one server', async () => {
    const balancer = await startBalancer({
      listen: '127.0.0.1:0',
      pools: { web: { strategy: 'hash', hash: { on: 'header', name: 'x-tenant' }, servers: [{ id: 'idle', address: idle.address }, { id: 'busy', address: busy.address }] } },
    });
    try {
      const placed = new Map<string, string>();
      for (let round = 0; round < 3; round++) {
        for (let t = 0; t < 20; t++) {
          const res = await request(`http://${balancer.addresses[0]}/`, { dispatcher: agent, headers: { 'x-tenant': `t${t}` } });
          await res.body.text();
          const id = res.headers['x-backend'] as string;
          if (round === 0) placed.set(`t${t}`, id);
          else expect(id).toBe(placed.get(`t${t}`));
        }
      }
      expect(new Set(placed.values()).size).toBe(2);
    } finally {
      await balancer.close();
    }
  });
});

describe('TLS listener', () => {
  it('terminates TLS, sets x-forwarded-proto https and marks the affinity cookie Secure', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scaleout-tls-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
        '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
      const balancer = await startBalancer({
        listen: [{ address: '127.0.0.1:0', tls: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') } }],
        pools: { web: { servers: [{ id: 'idle', address: idle.address }], affinity: { type: 'cookie' } } },
      });
      try {
        const tlsAgent = new Agent({ connect: { rejectUnauthorized: false } });
        const res = await request(`https://${balancer.addresses[0]}/headers`, { dispatcher: tlsAgent });
        const seen = (await res.body.json()) as { headers: Record<string, string> };
        expect(seen.headers['x-forwarded-proto']).toBe('https');
        expect(String(res.headers['set-cookie'])).toMatch(/; Secure/);
        await tlsAgent.close();
      } finally {
        await balancer.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
