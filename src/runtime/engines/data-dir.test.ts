import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  baseBackupFilter, copyDataDir, hasStandbySignal, latestTimeline, processesUsing, runningPostmaster,
} from './data-dir.js';
import { PostgresDataDirError } from './errors.js';

async function tree(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    out.push(entry.isDirectory() ? `${rel}/` : rel);
    if (entry.isDirectory()) out.push(...await tree(dir, rel));
  }
  return out.sort();
}

describe('data directories', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'scaleout-datadir-test-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('leaves out what the low-level backup API says to leave out', () => {
    expect(baseBackupFilter('pg_wal', true)).toBe('empty-dir');
    expect(baseBackupFilter('pg_replslot', true)).toBe('empty-dir');
    expect(baseBackupFilter('pg_stat_tmp', true)).toBe('empty-dir');
    expect(baseBackupFilter('postmaster.pid', false)).toBe('skip');
    expect(baseBackupFilter('standby.signal', false)).toBe('skip');
    expect(baseBackupFilter('base/1/pg_internal.init', false)).toBe('skip');
    expect(baseBackupFilter('base/pgsql_tmp', true)).toBe('empty-dir');
    expect(baseBackupFilter('base/1/1259', false)).toBe('copy');
    expect(baseBackupFilter('global/pg_control', false)).toBe('copy');
    expect(baseBackupFilter('pg_xact', true)).toBe('copy');
    // Only top-level names are special.
    expect(baseBackupFilter('base/postmaster.pid', false)).toBe('copy');
  });

  it('copies a data directory with the backup exclusions', async () => {
    const src = join(root, 'src');
    for (const dir of ['base/1', 'global', 'pg_wal/archive_status', 'pg_replslot/pg1']) await mkdir(join(src, dir), { recursive: true });
    await writeFile(join(src, 'PG_VERSION'), '18\n');
    await writeFile(join(src, 'postmaster.pid'), '1\n');
    await writeFile(join(src, 'base/1/1259'), 'relation');
    await writeFile(join(src, 'base/1/pg_internal.init'), 'cache');
    await writeFile(join(src, 'global/pg_control'), 'control');
    await writeFile(join(src, 'pg_wal/000000010000000000000001'), 'wal');
    await writeFile(join(src, 'pg_replslot/pg1/state'), 'slot');
    const dst = join(root, 'dst');
    await copyDataDir(src, dst, { filter: baseBackupFilter, fsync: true });
    expect(await tree(dst)).toEqual(['PG_VERSION', 'base/', 'base/1/', 'base/1/1259', 'global/', 'global/pg_control', 'pg_replslot/', 'pg_wal/']);
    expect(await readFile(join(dst, 'global/pg_control'), 'utf8')).toBe('control');
  });

  it('refuses tablespace links instead of sharing them between copies', async () => {
    const src = join(root, 'src');
    await mkdir(join(src, 'pg_tblspc'), { recursive: true });
    await symlink(root, join(src, 'pg_tblspc', '16384'));
    await expect(copyDataDir(src, join(root, 'dst'))).rejects.toBeInstanceOf(PostgresDataDirError);
  });

  it('reads the newest timeline from history files and the standby signal', async () => {
    const dir = join(root, 'node');
    await mkdir(join(dir, 'pg_wal'), { recursive: true });
    expect(await latestTimeline(dir)).toBe(1);
    await writeFile(join(dir, 'pg_wal/00000002.history'), '');
    await writeFile(join(dir, 'pg_wal/0000000A.history'), '');
    await writeFile(join(dir, 'pg_wal/0000000A0000000000000003'), '');
    expect(await latestTimeline(dir)).toBe(10);
    expect(await latestTimeline(join(root, 'missing'))).toBe(1);
    expect(await hasStandbySignal(dir)).toBe(false);
    await writeFile(join(dir, 'standby.signal'), '');
    expect(await hasStandbySignal(dir)).toBe(true);
  });

  it('finds processes by working directory, and ignores garbage pid files', async () => {
    expect(await processesUsing(root)).toEqual([]);
    expect(await processesUsing(process.cwd())).toContain(process.pid);
    await writeFile(join(root, 'postmaster.pid'), 'garbage\n');
    expect(await runningPostmaster(root)).toBeUndefined();
    await writeFile(join(root, 'postmaster.pid'), `${process.pid}\n`);
    // This process does not run in that folder, so the pid file is stale.
    expect(await runningPostmaster(root)).toBeUndefined();
  });
});
