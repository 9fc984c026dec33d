import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { BalancerConfigError, startAdminApi, startBalancer } from '../../src/balancer/index.js';
import type { AdminApi, Balancer } from '../../src/balancer/index.js';
import { startBackends } from '../support/backend.js';
import { freePort } from '../support/free-port.js';
import { rawExchange, statusOf } from '../support/raw-http.js';
import type { Backend } from '../support/backend.js';

const token = 'admin-input-token-0123456789';
let backends: Backend[];
let balancer: Balancer;
let admin: AdminApi;
let adminBase: string;

beforeAll(async () => {
  backends = await startBackends(['a']);
  balancer = await startBalancer({
    listen: '127.0.0.1:0',
    pools: { web: { servers: [{ id: 'a', address: backends[0]!.address }] } },
  });
  admin = await startAdminApi(balancer, { address: '127.0.0.1:0', token });
  adminBase = `http://${admin.address}`;
});
afterAll(async () => {
  await admin.close();
  await balancer.close();
  await Promise.all(backends.map((b) => b.kill()));
});

interface Answer { status: number; code: string | undefined; message: string }

async function raw(method: string, path: string, body: string | undefined, headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<Answer> {
  const res = await request(`${adminBase}${path}`, { method: method as 'GET', headers: { authorization: `Bearer ${token}`, ...headers }, body });
  const text = await res.body.text();
  let error: { code?: string; message?: string } | undefined;
  try { error = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error; } catch { error = undefined; }
  return { status: res.statusCode, code: error?.code, message: error?.message ?? text };
}

const call = (method: string, path: string, body?: unknown): Promise<Answer> =>
  raw(method, path, body === undefined ? undefined : JSON.stringify(body));

/** The balancer still proxies, and the pool is what it was. */
async function expectUnharmed(): Promise<void> {
  const res = await request(`http://${balancer.addresses[0]}/`);
  await res.body.text();
  expect(res.statusCode).toBe(200);
  expect(balancer.pool('web').servers().map((s) => s.id)).toEqual(['a']);
}

describe('admin API: a server is validated as the config validates it', () => {
  const badAddresses: Array<[string, RegExp]> = [
    ['127.0.0.1:99999', /port must be a whole number from 1 to 65535/],
    ['127.0.0.1:0', /port must be a whole number from 1 to 65535/],
    ['a b:80', /not a valid host name/],
    ['256.256.256.256:80', /not a valid IPv4 address/],
    ['[zz]:80', /not a valid bracketed IPv6 address/],
    ['::1:80', /IPv6 host needs brackets/],
    ['127.0.0.1', /missing ":port"/],
  ];
  it.each(badAddresses)('refuses address %s with 400, naming the field, the value and what is allowed', async (address, allowed) => {
    const res = await call('POST', '/pools/web/servers', { id: 'bad', address });
    expect(res.status).toBe(400);
    expect(res.code).toBe('SCALEOUT_BALANCER_ADMIN_INVALID_INPUT');
    expect(res.message).toContain('address:');
    expect(res.message).toContain(JSON.stringify(address));
    expect(res.message).toMatch(allowed);
    await expectUnharmed();
  });

  it.each([['-5', '-5'], ['1e308', '1e+308'], ['0', '0'], ['"2"', '"2"']])('refuses weight %s when adding a server', async (weight, shown) => {
    const res = await raw('POST', '/pools/web/servers', `{"id":"w","address":"${backends[0]!.address}","weight":${weight}}`);
    expect(res.status).toBe(400);
    expect(res.code).toBe('SCALEOUT_BALANCER_ADMIN_INVALID_INPUT');
    expect(res.message).toContain(`weight:`);
    expect(res.message).toContain(`(got ${shown})`);
    await expectUnharmed();
  });

  it.each([['-5'], ['1e308'], ['null']])('refuses weight %s when changing a weight', async (weight) => {
    const res = await raw('PUT', '/pools/web/servers/a/weight', `{"weight":${weight}}`);
    expect(res.status).toBe(400);
    expect(res.code).toBe('SCALEOUT_BALANCER_ADMIN_INVALID_INPUT');
    expect(res.message).toMatch(/weight: .*at most 1000/);
    expect(balancer.pool('web').server('a')!.configuredWeight).toBe(1);
  });

  it('refuses the same bad address in the config, with the same words', async () => {
    const start = startBalancer({ listen: '127.0.0.1:0', pools: { web: { servers: [{ id: 'a', address: '127.0.0.1:99999' }] } } });
    await expect(start).rejects.toBeInstanceOf(BalancerConfigError);
    await expect(start).rejects.toThrow(/pools\.web\.servers\.0\.address: port must be a whole number from 1 to 65535 \(got "127\.0\.0\.1:99999"\)/);
  });

  it('names the listen address and what is wrong with it', async () => {
    await expect(startBalancer({ listen: '127.0.0.1:99999', pools: { web: { servers: [] } } }))
      .rejects.toThrow(/^listen: port must be a whole number from 0 to 65535 \(got "127\.0\.0\.1:99999"\)$/);
    await expect(startBalancer({ listen: [{ address: '256.1.1.1:80' }], pools: { web: { servers: [] } } }))
      .rejects.toThrow(/^listen\.0\.address: "256\.1\.1\.1" is not a valid IPv4 address/);
  });

  it('keeps a bracketed IPv6 address bracketed', async () => {
    const res = await call('POST', '/pools/web/servers', { id: 'v6', address: '[::1]:9' });
    expect(res.status).toBe(201);
    expect(balancer.snapshot().pools.web!.servers.find((s) => s.id === 'v6')!.address).toBe('[::1]:9');
    expect((await call('DELETE', '/pools/web/servers/v6')).status).toBe(200);
  });

  it('says what is allowed when a field has the wrong type or is missing', async () => {
    expect((await call('POST', '/pools/web/servers', { address: backends[0]!.address })).message)
      .toBe('id: use 1-64 characters of [A-Za-z0-9_.-] (got missing)');
    expect((await call('POST', '/pools/web/servers', { id: 'n', address: 8080 })).message)
      .toMatch(/^address: expected a string: host:port with host an IPv4 address, a bracketed IPv6 address \(\[::1\]\) or a DNS name.* \(got 8080\)$/);
    expect((await call('POST', '/pools/web/servers/a/drain', { stickyMs: -1 })).message).toBe('stickyMs: use whole milliseconds from 0 to 86400000 (got -1)');
  });

  it('refuses unknown fields and a missing id', async () => {
    for (const body of [{ id: 'x', address: backends[0]!.address, port: 1 }, { address: backends[0]!.address }, null, [], 'text']) {
      const res = await call('POST', '/pools/web/servers', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.code).toBe('SCALEOUT_BALANCER_ADMIN_INVALID_INPUT');
    }
    await expectUnharmed();
  });
});

describe('admin API: no input crashes the process', () => {
  it('answers 400 for a malformed percent-escape in the path', async () => {
    const res = await call('POST', '/pools/%E0%A4%A/servers', { id: 'x', address: '127.0.0.1:1' });
    expect(res.status).toBe(400);
    expect(res.code).toBe('SCALEOUT_BALANCER_ADMIN_REQUEST');
    expect(res.message).toContain('percent-encoding');
    expect((await call('DELETE', '/pools/web/servers/%ZZ')).status).toBe(400);
    await expectUnharmed();
  });

  it('answers 400 for a request target that is not a path, and raw garbage closes only its connection', async () => {
    const port = Number(admin.address.split(':')[1]);
    const absolute = await rawExchange(port, `GET http://[/servers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`);
    expect(statusOf(absolute)).toBe(400);
    expect(absolute).toContain('SCALEOUT_BALANCER_ADMIN_REQUEST');
    await rawExchange(port, 'NOT HTTP AT ALL\r\n\r\n\u0000\u00ff', 1000);
    await expectUnharmed();
    expect((await call('GET', '/servers')).status).toBe(200);
  });

  it('validates its own options as the balancer options validate admin', async () => {
    await expect(startAdminApi(balancer, { address: '127.0.0.1:0', token: 'short' })).rejects.toThrow(/admin\.token: use an admin token of at least 16 characters/);
    await expect(startAdminApi(balancer, { address: '127.0.0.1:99999', token })).rejects.toThrow(/admin\.address: port must be a whole number from 0 to 65535/);
  });

  it('answers 413 for an oversized body, announced or streamed', async () => {
    const big = JSON.stringify({ id: 'x', address: '127.0.0.1:1', pad: 'x'.repeat(200 * 1024) });
    const announced = await raw('POST', '/pools/web/servers', big);
    expect(announced.status).toBe(413);
    expect(announced.code).toBe('SCALEOUT_BALANCER_ADMIN_BODY_TOO_LARGE');
    const chunks = Readable.from((function* () { for (let i = 0; i < 100; i++) yield Buffer.alloc(4096, 0x20); })());
    const res = await request(`${adminBase}/pools/web/servers`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: chunks,
    }).catch((err: unknown) => err as Error);
    if (!(res instanceof Error)) {
      expect(res.statusCode).toBe(413);
      await res.body.text();
    }
    await expectUnharmed();
  });

  it('answers 400 for invalid JSON and an empty body', async () => {
    for (const body of ['{not json', '{"id":', '\u0000', '']) {
      const res = await raw('POST', '/pools/web/servers', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.code).toBe('SCALEOUT_BALANCER_ADMIN_REQUEST');
    }
    await expectUnharmed();
  });

  it('answers 415 for a body that is not JSON', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonp']) {
      const res = await raw('POST', '/pools/web/servers', JSON.stringify({ id: 'x', address: '127.0.0.1:1' }), { 'content-type': type });
      expect(res.status, type).toBe(415);
      expect(res.code).toBe('SCALEOUT_BALANCER_ADMIN_UNSUPPORTED_MEDIA_TYPE');
    }
    const ok = await raw('PUT', '/pools/web/servers/a/weight', '{"weight":1}', { 'content-type': 'application/json; charset=utf-8' });
    expect(ok.status).toBe(200);
    await expectUnharmed();
  });

  it('answers 409 for a duplicate server id and for a duplicate pool', async () => {
    const dup = await call('POST', '/pools/web/servers', { id: 'a', address: backends[0]!.address });
    expect(dup.status).toBe(409);
    expect(dup.code).toBe('SCALEOUT_BALANCER_ADMIN_REQUEST');
    expect((await call('POST', '/pools', { name: 'web' })).status).toBe(409);
    const twice = await call('POST', '/pools', { name: 'twice', servers: [{ id: 'x', address: '127.0.0.1:1' }, { id: 'x', address: '127.0.0.1:2' }] });
    expect(twice.status).toBe(400);
    expect(twice.message).toContain('appears twice');
    await expectUnharmed();
  });

  it('answers 404 for an unknown pool, and 400 for an invalid pool name', async () => {
    const res = await call('POST', '/pools/nope/servers', { id: 'x', address: '127.0.0.1:1' });
    expect(res.status).toBe(404);
    expect(res.message).toContain('no pool "nope"');
    expect((await call('DELETE', '/pools/nope')).status).toBe(404);
    expect((await call('POST', '/pools/nope/servers/x/drain')).status).toBe(404);
    const badName = await call('POST', '/pools', { name: '../etc' });
    expect(badName.status).toBe(400);
    expect(badName.code).toBe('SCALEOUT_BALANCER_ADMIN_INVALID_INPUT');
    expect(badName.message).toBe('name: use 1-64 characters of [A-Za-z0-9_.-] (got "../etc")');
    // It would be a key no snapshot shows: a pool that takes traffic and cannot be seen.
    expect((await call('POST', '/pools', { name: '__proto__' })).message).toContain('reserved');
    expect((await call('POST', '/pools/web/servers', { id: '__proto__', address: backends[0]!.address })).status).toBe(400);
    const badServer = await call('POST', '/pools', { name: 'p2', servers: [{ id: 'x', address: '127.0.0.1:99999' }] });
    expect(badServer.status).toBe(400);
    expect(badServer.message).toContain('servers.0.address');
    await expectUnharmed();
  });

  it('refuses a negative or non-integer stickyMs when draining', async () => {
    for (const body of ['{"stickyMs":-1}', '{"stickyMs":1.5}', '{"stickyMs":1e308}', '{"sticky":1}']) {
      const res = await raw('POST', '/pools/web/servers/a/drain', body);
      expect(res.status, body).toBe(400);
      expect(res.code).toBe('SCALEOUT_BALANCER_ADMIN_INVALID_INPUT');
    }
    await expectUnharmed();
  });

  it('a valid server nobody listens on gives 502 or 503, never a crash', async () => {
    const port = await freePort();
    expect((await call('POST', '/pools', { name: 'dead', servers: [{ id: 'gone', address: `127.0.0.1:${port}` }] })).status).toBe(201);
    expect((await call('PUT', '/routes', [{ pool: 'web' }, { pathPrefix: '/dead', pool: 'dead' }])).status).toBe(200);
    for (let i = 0; i < 3; i++) {
      const res = await request(`http://${balancer.addresses[0]}/dead/x`);
      await res.body.text();
      expect([502, 503]).toContain(res.statusCode);
    }
    await expectUnharmed();
    expect((await call('PUT', '/routes', [{ pool: 'web' }])).status).toBe(200);
    expect((await call('DELETE', '/pools/dead')).status).toBe(200);
  });
});
