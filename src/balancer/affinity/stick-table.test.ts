import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../internal/clock.js';
import { BalancerConfigError } from '../errors.js';
import { StickTableSaveError } from './errors.js';
import { STICK_TABLE_FILE_VERSION, StickTable } from './stick-table.js';
import { resolveStickTableOptions } from '../options.js';

const T0 = 1_700_000_000_000;

describe('StickTable', () => {
  it('maps keys to servers', () => {
    const t = new StickTable(resolveStickTableOptions());
    expect(t.set('10.0.0.1', 'a', T0)).toBe(true);
    t.set('10.0.0.2', 'b', T0);
    expect(t.get('10.0.0.1', T0)).toBe('a');
    expect(t.get('10.0.0.2', T0)).toBe('b');
    expect(t.get('10.0.0.3', T0)).toBeUndefined();
    t.set('10.0.0.1', 'c', T0);
    expect(t.get('10.0.0.1', T0)).toBe('c');
    expect(t.size).toBe(2);
    expect(t.delete('10.0.0.1')).toBe(true);
    expect(t.get('10.0.0.1', T0)).toBeUndefined();
  });

  it('forgets idle entries, and each hit restarts the idle wait', () => {
    const clock = new ManualClock(T0);
    const t = new StickTable(resolveStickTableOptions({ idleTimeoutMs: 1_000, clock }));
    t.set('k', 'a');
    t.set('idle', 'b');
    clock.advance(999);
    expect(t.get('k')).toBe('a');
    clock.advance(999);
    expect(t.get('k')).toBe('a');
    expect(t.get('idle')).toBeUndefined();
    expect(t.size).toBe(1);
    clock.advance(1_000);
    expect(t.get('k')).toBeUndefined();
  });

  it('evicts the least recently used entry beyond maxEntries', () => {
    const clock = new ManualClock(T0);
    const t = new StickTable(resolveStickTableOptions({ maxEntries: 3, clock }));
    t.set('a', 'x');
    t.set('b', 'x');
    t.set('c', 'x');
    clock.advance(1);
    expect(t.get('a')).toBe('x'); // a is now more recent than b and c
    t.set('d', 'x');
    expect([...t.entries()].map((e) => e.key).sort()).toEqual(['a', 'c', 'd']);
    clock.advance(1);
    t.get('c');
    t.set('e', 'x');
    expect(t.get('a')).toBeUndefined();
    expect([...t.entries()].map((e) => e.key).sort()).toEqual(['c', 'd', 'e']);
    expect(t.size).toBe(3);
  });

  it('evicts an expired entry before a live one', () => {
    const clock = new ManualClock(T0);
    const t = new StickTable(resolveStickTableOptions({ maxEntries: 2, idleTimeoutMs: 100, clock }));
    t.set('old', 'x');
    clock.advance(50);
    t.set('live', 'x');
    clock.advance(60);
    t.get('live');
    t.set('new', 'x');
    expect(t.get('live')).toBe('x');
    expect(t.get('new')).toBe('x');
  });

  it('keeps its bound under many keys', () => {
    const clock = new ManualClock(T0);
    const t = new StickTable(resolveStickTableOptions({ maxEntries: 100, clock }));
    for (let i = 0; i < 10_000; i++) {
      t.set(`k${i}`, 's');
      if (i % 3 === 0) t.get(`k${i - 50}`);
      clock.advance(1);
    }
    expect(t.size).toBe(100);
    expect(t.get('k9999')).toBe('s');
  });

  it('bounds the work of one eviction when every entry was used since placed', () => {
    const clock = new ManualClock(T0);
    const t = new StickTable(resolveStickTableOptions({ maxEntries: 100, clock }));
    for (let i = 0; i < 100; i++) t.set(`k${i}`, 's');
    clock.advance(1);
    for (let i = 0; i < 100; i++) t.get(`k${i}`);
    t.set('new', 's');
    // 32 second chances, then the 33rd oldest placed goes
    const keys = [...t.entries()].map((e) => e.key);
    expect(keys).toHaveLength(100);
    expect(keys).not.toContain('k32');
    expect(keys.slice(-33)).toEqual([...Array.from({ length: 32 }, (_, i) => `k${i}`), 'new']);
  });

  it('refuses empty and overlong keys', () => {
    const t = new StickTable(resolveStickTableOptions({ maxKeyLength: 8 }));
    expect(t.set('', 'a', T0)).toBe(false);
    expect(t.set('123456789', 'a', T0)).toBe(false);
    expect(t.set('12345678', 'a', T0)).toBe(true);
    expect(t.size).toBe(1);
  });

  it('drops the entries of a removed server', () => {
    const t = new StickTable(resolveStickTableOptions());
    t.set('1', 'a', T0);
    t.set('2', 'b', T0);
    t.set('3', 'a', T0);
    expect(t.deleteServer('a')).toBe(2);
    expect([...t.entries(T0)]).toEqual([{ key: '2', serverId: 'b', expiresAtMs: T0 + 30 * 60_000 }]);
  });

  it('sweeps expired entries', () => {
    const t = new StickTable(resolveStickTableOptions({ idleTimeoutMs: 10 }));
    t.set('1', 'a', T0);
    t.set('2', 'a', T0 + 5);
    expect(t.sweep(T0 + 10)).toBe(1);
    expect(t.size).toBe(1);
  });

  it('rejects invalid options', () => {
    expect(() => new StickTable(resolveStickTableOptions({ idleTimeoutMs: 0 }))).toThrow(BalancerConfigError);
    expect(() => new StickTable(resolveStickTableOptions({ maxEntries: 1.5 }))).toThrow(/whole number/);
    expect(() => new StickTable(resolveStickTableOptions({ maxKeyLength: -1 }))).toThrow(BalancerConfigError);
  });
});

describe('StickTable persistence', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'scaleout-stick-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('saves and loads unexpired entries in order', async () => {
    const t = new StickTable(resolveStickTableOptions({ idleTimeoutMs: 1_000 }));
    t.set('gone', 'a', T0 - 2_000);
    t.set('k1', 'a', T0);
    t.set('k"2\n', 'b', T0 + 10);
    const path = join(dir, 'stick.json');
    await t.save(path, T0 + 20);
    expect(await readdir(dir)).toEqual(['stick.json']);
    const doc = JSON.parse(await readFile(path, 'utf8')) as { version: number; entries: unknown[] };
    expect(doc.version).toBe(STICK_TABLE_FILE_VERSION);
    expect(doc.entries).toHaveLength(2);

    const { table, warning } = StickTable.load(path, resolveStickTableOptions({ idleTimeoutMs: 1_000 }), T0 + 500);
    expect(warning).toBeUndefined();
    expect([...table.entries(T0 + 500)]).toEqual([
      { key: 'k1', serverId: 'a', expiresAtMs: T0 + 1_000 },
      { key: 'k"2\n', serverId: 'b', expiresAtMs: T0 + 1_010 },
    ]);
    const later = StickTable.load(path, resolveStickTableOptions({ idleTimeoutMs: 1_000 }), T0 + 1_005);
    expect([...later.table.entries(T0 + 1_005)].map((e) => e.key)).toEqual(['k"2\n']);
  });

  it('saves big tables in slices as one valid document', async () => {
    const t = new StickTable(resolveStickTableOptions());
    for (let i = 0; i < 12_345; i++) t.set(`client-${i}`, `s${i % 7}`, T0);
    const path = join(dir, 'big.json');
    await t.save(path, T0);
    const { table, warning } = StickTable.load(path, resolveStickTableOptions({}), T0);
    expect(warning).toBeUndefined();
    expect(table.size).toBe(12_345);
    expect(table.get('client-12344', T0)).toBe('s3');
  });

  it('clamps loaded entries to the current idle timeout and size bound, keeping the newest', async () => {
    const t = new StickTable(resolveStickTableOptions({ idleTimeoutMs: 60_000 }));
    for (const k of ['a', 'b', 'c', 'd']) t.set(k, 's', T0);
    const path = join(dir, 's.json');
    await t.save(path, T0);
    const { table } = StickTable.load(path, resolveStickTableOptions({ idleTimeoutMs: 1_000, maxEntries: 2 }), T0);
    expect([...table.entries(T0)]).toEqual([
      { key: 'c', serverId: 's', expiresAtMs: T0 + 1_000 },
      { key: 'd', serverId: 's', expiresAtMs: T0 + 1_000 },
    ]);
  });

  it('treats a missing file as an empty table without a warning', async () => {
    const { table, warning } = StickTable.load(join(dir, 'nope.json'), resolveStickTableOptions());
    expect(table.size).toBe(0);
    expect(warning).toBeUndefined();
  });

  it.each([
    ['truncated', '{"version":1,"savedAtMs":1,"entries":[["a","b",9999999999999],["c"'],
    ['garbage', '\u0000\u0001 not json at all'],
    ['empty', ''],
    ['wrong version', '{"version":2,"entries":[]}'],
    ['no version', '{"entries":[]}'],
    ['not an object', '[1,2,3]'],
    ['null', 'null'],
    ['entries not a list', '{"version":1,"entries":{"a":"b"}}'],
  ])('gives an empty table and a warning for a %s file', async (_name, content) => {
    const path = join(dir, 'bad.json');
    await writeFile(path, content);
    const { table, warning } = StickTable.load(path, resolveStickTableOptions({}), T0);
    expect(table.size).toBe(0);
    expect(warning).toMatch(/bad\.json .*empty stick table/);
  });

  it('gives an empty table and a warning when the path cannot be read', async () => {
    const { table, warning } = StickTable.load(dir, resolveStickTableOptions({}), T0);
    expect(table.size).toBe(0);
    expect(warning).toMatch(/cannot be read/);
  });

  it('skips invalid entries and says so', async () => {
    const path = join(dir, 'mixed.json');
    const future = T0 + 10_000;
    await writeFile(path, JSON.stringify({
      version: 1,
      entries: [['ok', 's', future], ['x'], [1, 's', future], ['k', 's', 'soon'], ['k', 's', null], 'row', ['', 's', future]],
    }));
    const { table, warning } = StickTable.load(path, resolveStickTableOptions({}), T0);
    expect([...table.entries(T0)].map((e) => e.key)).toEqual(['ok']);
    expect(warning).toMatch(/6 invalid entries/);
  });

  it('reports a failed save with a clear error and leaves no temporary file', async () => {
    const t = new StickTable(resolveStickTableOptions());
    t.set('k', 's', T0);
    const path = join(dir, 'missing-dir', 'stick.json');
    const err = await t.save(path, T0).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StickTableSaveError);
    expect((err as StickTableSaveError).code).toBe('SCALEOUT_BALANCER_STICK_TABLE_SAVE');
    expect(await readdir(dir)).toEqual([]);
  });

  it('autosaves changes in the background and stops cleanly', async () => {
    const t = new StickTable(resolveStickTableOptions());
    const path = join(dir, 'auto.json');
    const stop = t.startAutosave(path, 5);
    t.set('k', 's');
    const deadline = Date.now() + 5_000;
    let loaded = 0;
    while (loaded === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
      loaded = StickTable.load(path, resolveStickTableOptions()).table.size;
    }
    await stop();
    expect(loaded).toBe(1);
  });

  it('autosave reports failures to onError', async () => {
    const t = new StickTable(resolveStickTableOptions());
    const errors: StickTableSaveError[] = [];
    const stop = t.startAutosave(join(dir, 'no', 'such', 'dir.json'), 5, (e) => errors.push(e));
    t.set('k', 's');
    const deadline = Date.now() + 5_000;
    while (errors.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    await stop();
    expect(errors[0]).toBeInstanceOf(StickTableSaveError);
    expect(() => t.startAutosave('x', 0)).toThrow(BalancerConfigError);
  });
});

describe('StickTable.merge (entries from a peer balancer)', () => {
  it('keeps whichever entry expires later, clamped to the idle timeout', () => {
    const t = new StickTable(resolveStickTableOptions({ idleTimeoutMs: 10_000 }));
    expect(t.merge('k', 'a', T0 + 5_000, T0)).toBe(true);
    expect(t.get('k', T0)).toBe('a');
    // The local entry was just used (expires at T0 + 10 000): an older one from a peer loses.
    expect(t.merge('k', 'b', T0 + 8_000, T0)).toBe(false);
    expect(t.get('k', T0)).toBe('a');
    // A newer assignment on the peer wins, and cannot outlive the idle timeout.
    expect(t.merge('k', 'b', T0 + 1_000_000, T0 + 1)).toBe(true);
    const [entry] = [...t.entries(T0 + 1)];
    expect(entry).toEqual({ key: 'k', serverId: 'b', expiresAtMs: T0 + 1 + 10_000 });
  });

  it('refuses expired entries and keys the table would refuse', () => {
    const t = new StickTable(resolveStickTableOptions({ maxKeyLength: 8 }));
    expect(t.merge('k', 'a', T0, T0)).toBe(false);
    expect(t.merge('', 'a', T0 + 1, T0)).toBe(false);
    expect(t.merge('123456789', 'a', T0 + 1, T0)).toBe(false);
    expect(t.merge('k', 'a', Number.NaN, T0)).toBe(false);
    expect(t.size).toBe(0);
  });

  it('stays within maxEntries', () => {
    const t = new StickTable(resolveStickTableOptions({ maxEntries: 3 }));
    for (let i = 0; i < 10; i++) t.merge(`k${i}`, 'a', T0 + 60_000, T0);
    expect(t.size).toBe(3);
  });
});
