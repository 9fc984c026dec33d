import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_RESPONSE_CACHE } from '../balancer/index.js';
import { DEFAULT_BALANCER_LISTEN, DEFAULT_INSTANCES, defineConfig } from './config.js';
import type { RuntimeConfig } from './config.js';
import { loadConfig, parseConfig } from './config-loader.js';
import { AppEntryNotFoundError, RuntimeConfigError } from './errors.js';

describe('parseConfig', () => {
  it('fills every default from an app entry alone', () => {
    const config = parseConfig({ app: { entry: 'server.ts' } });
    expect(config.app).toMatchObject({ entry: 'server.ts', instances: DEFAULT_INSTANCES, healthPath: '/healthz', env: {} });
    expect(config.balancer).toMatchObject({ listen: [DEFAULT_BALANCER_LISTEN], replicas: 1, strategy: 'round-robin', affinity: 'none' });
    expect(config.engines).toEqual({ postgres: { replicas: 1, synchronous: false, failover: true }, redis: { appendonly: true, cache: { maxmemoryMb: 128 } }, memcached: false,
    });
    expect(config.deploy.strategy).toBe('rolling');
    expect(config.workers).toEqual({});
    expect(config.db).toEqual({});
  });

  it('validates autoscale: bounds, exactly one target, the defaults docs/runtime.md gives', () => {
    const app = (autoscale: unknown): unknown => ({ app: { entry: 'a.ts', autoscale } });
    expect(parseConfig(app({ min: 1, max: 3, target: { cpu: 60 } })).app.autoscale).toEqual({ min: 1, max: 3, target: { cpu: 60 }, cooldownMs: 30_000, intervalMs: 1_000 });
    expect(() => parseConfig(app({ min: 1, max: 3, target: { queueDepth: 5 } }))).toThrow(/autoscale on queueDepth needs the queues to watch/);
    const worker = parseConfig({ app: { entry: 'a.ts' }, workers: { mail: { entry: 'w.ts', queues: ['mail'], autoscale: { min: 0, max: 4, target: { queueDepth: 10 }, backendPrefix: 'shop:jobs' } } } });
    expect(worker.workers.mail!.autoscale).toMatchObject({ min: 0, max: 4, target: { queueDepth: 10 }, backendPrefix: 'shop:jobs' });
    // The worker's own prefix, for the dashboard's queue panel (and autoscale without one).
    expect(parseConfig({ app: { entry: 'a.ts' }, workers: { mail: { entry: 'w.ts', queues: ['mail'], backendPrefix: 'shop:jobs' } } }).workers.mail!.backendPrefix).toBe('shop:jobs');
    expect(() => parseConfig({ app: { entry: 'a.ts' }, workers: { mail: { entry: 'w.ts', backendPrefix: '' } } })).toThrow(/backendPrefix/);
    expect(() => parseConfig({ app: { entry: 'a.ts' }, workers: { mail: { entry: 'w.ts', autoscale: { min: 0, max: 2, target: { queueDepth: 5 } } } } }))
      .toThrow(/name the queues to watch/);
    expect(() => parseConfig(app({ min: 3, max: 2, target: { cpu: 60 } }))).toThrow(/app.autoscale.max: must be at least min/);
    expect(() => parseConfig(app({ min: 1, max: 2, target: {} }))).toThrow(/give exactly one target/);
    expect(() => parseConfig(app({ min: 1, max: 2, target: { cpu: 60, p99Ms: 100 } }))).toThrow(/give exactly one target/);
    expect(() => parseConfig(app({ min: 1, max: 2, target: { cpu: 150 } }))).toThrow(/percent of one core, 1-100/);
    expect(() => parseConfig(app({ min: 0, max: 2, target: { cpu: 50 } }))).toThrow(/at least one instance/);
    expect(() => parseConfig(app({ min: 1, max: 2, target: { cpu: 50 }, every: 3 }))).toThrow(/every: unknown field/);
    expect(() => parseConfig({ app: { entry: 'a.ts' }, workers: { mail: { entry: 'w.ts', autoscale: { min: 0, max: 2, target: { cpu: 50 } } } } }))
      .toThrow(/workers.mail.autoscale.target: workers scale on the depth of their queues/);
  });

  it('takes a p99 target for the app, and only queue depth for workers', () => {
    const config = parseConfig({ app: { entry: 'a.ts', autoscale: { min: 1, max: 2, target: { p99Ms: 200 } } } });
    expect(config.app.autoscale?.target).toEqual({ p99Ms: 200 });
    expect(() => parseConfig({ app: { entry: 'a.ts' }, workers: { w: { entry: 'w.ts', queues: ['q'], autoscale: { min: 1, max: 2, target: { p99Ms: 200 } } } } }))
      .toThrow(/workers scale on the depth of their queues/);
  });

  it('validates the shards section: database names or URLs, tables with their shard keys', () => {
    const config = parseConfig({ app: { entry: 'a.ts' }, db: { shards: { databases: ['shop_shard_0', 'postgres://h:5432/s1'], tables: { orders: { shardKey: 'user_id' } } } } });
    expect(config.db.shards).toEqual({ databases: ['shop_shard_0', 'postgres://h:5432/s1'], tables: { orders: { shardKey: 'user_id' } } });
    expect(() => parseConfig({ app: { entry: 'a.ts' }, db: { shards: { databases: ['shop shard'] } } }))
      .toThrow('db.shards.databases.0: use a database name on the primary (e.g. "shop_shard_0") or a postgres:// URL (got "shop shard")');
    expect(() => parseConfig({ app: { entry: 'a.ts' }, db: { shards: { databases: [] } } })).toThrow('db.shards.databases: name at least one shard database');
    expect(() => parseConfig({ app: { entry: 'a.ts' }, db: { shards: { databases: ['s'], tables: { t: { key: 'id' } } } } })).toThrow('db.shards.tables.t');
    expect(() => parseConfig({ app: { entry: 'a.ts' }, db: { sharding: {} } })).toThrow('db.sharding: unknown field');
  });

  it('gives every balancer replica its own address', () => {
    const balancer = (b: unknown): RuntimeConfig['balancer'] => parseConfig({ app: { entry: 'a.ts' }, balancer: b }).balancer;
    expect(balancer({ replicas: 2 })).toMatchObject({ replicas: 2, listen: ['127.0.0.2:8080', '127.0.0.3:8080'] });
    expect(balancer({ replicas: 3, listen: '127.0.1.10:9000' }).listen).toEqual(['127.0.1.10:9000', '127.0.1.11:9000', '127.0.1.12:9000']);
    expect(balancer({ listen: ['127.0.0.5:80', '127.0.0.9:81'] })).toMatchObject({ replicas: 2, listen: ['127.0.0.5:80', '127.0.0.9:81'] });
    expect(balancer({ listen: '127.0.0.1:9000' })).toMatchObject({ replicas: 1, listen: ['127.0.0.1:9000'] });
    expect(() => balancer({ replicas: 3, listen: ['127.0.0.2:80', '127.0.0.3:80'] })).toThrow('balancer.listen: give one address per replica (3)');
    expect(() => balancer({ replicas: 2, listen: 'localhost:80' })).toThrow('only an IPv4 address can be counted up from');
    expect(() => balancer({ listen: ['127.0.0.2:80', '127.0.0.2:80'] })).toThrow('every replica needs its own address');
    expect(() => balancer({ replicas: 9 })).toThrow('balancer.replicas');
    expect(() => balancer({ stickTable: { key: { on: 'ip' } } })).toThrow('set affinity: "table"');
    expect(balancer({ affinity: 'table', stickTable: { key: { on: 'header', name: 'x-user' } } }).stickTable).toEqual({ key: { on: 'header', name: 'x-user' } });
    expect(() => balancer({ affinity: 'table', workers: 2 })).toThrow('do not go together');
  });

  it('names the field, the value and what is allowed', () => {
    expect(() => parseConfig({ app: { entry: 'a.ts', instances: 500 } }, 'scaleout.config.ts'))
      .toThrow(/^scaleout\.config\.ts: app\.instances: Too big: expected number to be <=64 \(got 500\)$/);
    expect(() => parseConfig({ app: { entry: 'a.ts' }, balancer: { listen: 'localhost' } })).toThrow('balancer.listen: expected host:port, e.g. 127.0.0.1:8080 (got "localhost")');
    expect(() => parseConfig({ app: { entry: '../outside.ts' } })).toThrow('app.entry: use a path inside the app folder');
    expect(() => parseConfig({ app: { entry: 'a.ts', helthPath: '/h' } })).toThrow('app.helthPath: unknown field');
    expect(() => parseConfig({})).toThrow('app: Invalid input: expected object, received undefined (got missing)');
    expect(() => parseConfig({ app: { entry: 'a.ts' }, engines: { postgres: { replicas: 20 } } })).toThrow('engines.postgres');
    expect(() => parseConfig(null)).toThrow(RuntimeConfigError);
  });

  it('accepts engines turned off and validates the workers with clear errors', () => {
    const config = parseConfig({ app: { entry: 'a.ts' }, engines: { postgres: false, redis: false }, workers: { mailer: { entry: 'worker.ts' } } });
    expect(config.engines).toEqual({ postgres: false, redis: false, memcached: false });
    expect(parseConfig({ app: { entry: 'a.ts' }, engines: { memcached: {}, redis: { cache: false } } }).engines)
      .toMatchObject({ memcached: { memoryMb: 64 }, redis: { appendonly: true, cache: false } });
    expect(() => parseConfig({ app: { entry: 'a.ts' }, engines: { memcached: { memoryMb: 0 } } })).toThrow(/memcached/);
    expect(config.workers.mailer).toEqual({ entry: 'worker.ts', instances: 1 });
    expect(parseConfig({ app: { entry: 'a.ts' }, workers: { exports: { entry: 'src/w.ts', instances: 0, queues: ['exports'], stopGraceMs: 2000 } } }).workers.exports)
      .toEqual({ entry: 'src/w.ts', instances: 0, queues: ['exports'], stopGraceMs: 2000 });
    expect(() => parseConfig({ app: { entry: 'a.ts' }, workers: { Mailer: { entry: 'w.ts' } } })).toThrow('workers.Mailer');
    expect(() => parseConfig({ app: { entry: 'a.ts' }, workers: { mailer: { entry: '../w.ts' } } })).toThrow('use a path inside the app folder, e.g. "src/worker.ts"');
    expect(() => parseConfig({ app: { entry: 'a.ts' }, workers: { mailer: { entry: '' } } })).toThrow('name the file that runs the workers');
    expect(() => parseConfig({ app: { entry: 'a.ts' }, workers: { mailer: { entry: 'w.ts', instances: 65 } } })).toThrow('workers.mailer.instances');
    expect(parseConfig({ app: { entry: 'a.ts' }, workers: { mailer: { entry: 'w.ts', hangTimeoutMs: 0 } } }).workers.mailer?.hangTimeoutMs).toBe(0);
    expect(() => parseConfig({ app: { entry: 'a.ts' }, workers: { mailer: { entry: 'w.ts', hangTimeoutMs: 500 } } }))
      .toThrow('give at least 1000 ms, or 0 to turn the check off');
  });

  it('validates the static tier: path prefixes, instances, cache control, the balancer\'s cache', () => {
    const config = parseConfig({ app: { entry: 'a.ts' }, static: { paths: ['/products/'] } });
    expect(config.static).toEqual({ paths: ['/products/'], instances: 1, cache: DEFAULT_RESPONSE_CACHE });
    expect(parseConfig({ app: { entry: 'a.ts' }, static: { paths: ['/p'], cache: false } }).static!.cache).toBe(false);
    expect(parseConfig({ app: { entry: 'a.ts' }, static: { paths: ['/p'], cache: { maxAgeMs: 500 } } }).static!.cache).toEqual({ ...DEFAULT_RESPONSE_CACHE, maxAgeMs: 500 });
    expect(() => parseConfig({ app: { entry: 'a.ts' }, static: { paths: ['/p'], cache: { maxBytes: 10 } } })).toThrow('static.cache.maxBytes');
    expect(() => parseConfig({ app: { entry: 'a.ts' }, static: { paths: ['/p'], cache: true } })).toThrow('static.cache: use false, or { maxBytes?, maxObjectBytes?, maxAgeMs? }');
    expect(() => parseConfig({ app: { entry: 'a.ts' }, static: { paths: [] } })).toThrow('static.paths: name at least one path prefix');
    expect(() => parseConfig({ app: { entry: 'a.ts' }, static: { paths: ['products'] } })).toThrow('static.paths.0: start the path with "/"');
    expect(() => parseConfig({ app: { entry: 'a.ts' }, static: { paths: ['/p?x=1'] } })).toThrow('static.paths.0: a path prefix without query');
    expect(() => parseConfig({ app: { entry: 'a.ts' }, static: { paths: ['/p'], instances: 0 } })).toThrow('static.instances');
    expect(() => parseConfig({ app: { entry: 'a.ts' }, static: { paths: ['/p'], cacheControl: 'a\nb' } })).toThrow('static.cacheControl');
  });

  it('defineConfig only gives types', () => {
    const input = { app: { entry: 'server.ts' } };
    expect(defineConfig(input)).toBe(input);
  });
});

describe('loadConfig', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const app = async (files: Record<string, string>): Promise<string> => {
    dir = await mkdtemp(join(tmpdir(), 'scaleout-config-'));
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
    return dir;
  };

  it('loads a TypeScript config through tsx', async () => {
    const at = await app({
      'scaleout.config.ts': 'const instances: number = 3;\nexport default { app: { entry: "server.ts", instances } };\n',
      'server.ts': '',
    });
    const loaded = await loadConfig(at);
    expect(loaded.file).toBe(join(at, 'scaleout.config.ts'));
    expect(loaded.config.app.instances).toBe(3);
  });

  it('loads an ESM .js config outside any package and a JSON config', async () => {
    const js = await app({ 'scaleout.config.js': 'export default { app: { entry: "s.mjs", instances: 4 } };\n', 's.mjs': '' });
    expect((await loadConfig(js)).config.app.instances).toBe(4);
    await rm(js, { recursive: true });
    const json = await app({ 'scaleout.config.json': '{ "app": { "entry": "s.mjs" } }', 's.mjs': '' });
    expect((await loadConfig(json)).config.app.entry).toBe('s.mjs');
  });

  it('says what is wrong with the file itself', async () => {
    await expect(loadConfig(await app({ 'scaleout.config.json': '{ "app": ' }))).rejects.toThrow(/is not valid JSON/);
    await rm(dir!, { recursive: true });
    await expect(loadConfig(await app({ 'scaleout.config.ts': 'export const x = 1;\n' }))).rejects.toThrow(/has no default export/);
    await rm(dir!, { recursive: true });
    await expect(loadConfig(await app({ 'scaleout.config.ts': 'export default { app: { entry: "a.ts" ;\n' }))).rejects.toThrow(/cannot load .*Expected "}"/);
    await rm(dir!, { recursive: true });
    await expect(loadConfig(await app({ 'readme.md': '' }))).rejects.toThrow(/no scaleout\.config\.ts, \.js or \.json in/);
    await expect(loadConfig(join(dir!, 'nope'))).rejects.toThrow(/is not a folder/);
  });

  it('fails when the entry file is missing', async () => {
    await expect(loadConfig(await app({ 'scaleout.config.json': '{ "app": { "entry": "server.ts" } }' }))).rejects.toBeInstanceOf(AppEntryNotFoundError);
  });
});
