import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_BALANCER_LISTEN, DEFAULT_INSTANCES, defineConfig } from './config.js';
import { loadConfig, parseConfig } from './config-loader.js';
import { AppEntryNotFoundError, RuntimeConfigError } from './errors.js';

describe('parseConfig', () => {
  it('fills every default from an app entry alone', () => {
    const config = parseConfig({ app: { entry: 'server.ts' } });
    expect(config.app).toMatchObject({ entry: 'server.ts', instances: DEFAULT_INSTANCES, healthPath: '/healthz', env: {} });
    expect(config.balancer).toMatchObject({ listen: DEFAULT_BALANCER_LISTEN, strategy: 'round-robin', affinity: 'none' });
    expect(config.engines).toEqual({ postgres: { replicas: 1, synchronous: false, failover: true }, redis: { appendonly: true, cache: { maxmemoryMb: 128 } }, memcached: false,
    });
    expect(config.deploy.strategy).toBe('rolling');
    expect(config.workers).toEqual({});
    expect(config.db).toEqual({});
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
  });

  it('validates the static tier: path prefixes, instances, cache control', () => {
    const config = parseConfig({ app: { entry: 'a.ts' }, static: { paths: ['/products/'] } });
    expect(config.static).toEqual({ paths: ['/products/'], instances: 1 });
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
