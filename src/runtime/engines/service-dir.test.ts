import { lstatSync, readlinkSync, statSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appServiceKey, canReach, stageTree } from './service-dir.js';

describe('appServiceKey', () => {
  it('is the same for the same folder however it is written, and differs between folders', () => {
    expect(appServiceKey('/srv/app')).toBe(appServiceKey('/srv/other/../app/'));
    expect(appServiceKey('/srv/app')).not.toBe(appServiceKey('/srv/app2'));
    expect(appServiceKey('/srv/app')).toMatch(/^[0-9a-f]{16}$/);
  });
});

// Staging chowns to the server's group: only root may.
describe.skipIf(process.getuid?.() !== 0)('stageTree', () => {
  let dir: string;
  const owner = { uid: 65534, gid: 65534 };
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'scaleout-stage-'));
    // The base's parents must be open to the owner, as /var/lib is.
    await chmod(dir, 0o755);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('copies a tree the owner cannot reach into a base only it and root enter, once', async () => {
    const source = join(dir, 'private', 'native');
    await mkdir(join(source, 'bin'), { recursive: true });
    await mkdir(join(source, 'lib'), { recursive: true });
    await writeFile(join(source, 'bin', 'postgres'), '#!/bin/sh\n', { mode: 0o755 });
    await writeFile(join(source, 'lib', 'libpq.so.5.18'), 'lib');
    await symlink('libpq.so.5.18', join(source, 'lib', 'libpq.so.5'));
    await chmod(join(dir, 'private'), 0o700);
    expect(await canReach(join(source, 'bin', 'postgres'), owner)).toBe(false);

    const base = join(dir, 'base');
    const staged = await stageTree(source, 'postgres-1.0', owner, base);
    expect(staged).toBe(join(base, 'postgres-1.0'));
    expect(statSync(base).mode & 0o777).toBe(0o750);
    expect(statSync(base).gid).toBe(owner.gid);
    expect(statSync(join(staged, 'bin', 'postgres')).mode & 0o777).toBe(0o755);
    expect(readlinkSync(join(staged, 'lib', 'libpq.so.5'))).toBe('libpq.so.5.18');
    expect(lstatSync(join(dir, 'private')).mode & 0o777).toBe(0o700);
    expect(await canReach(join(staged, 'bin', 'postgres'), owner)).toBe(true);
    // A base the owner cannot reach is refused rather than used.
    await expect(stageTree(source, 'postgres-1.0', owner, join(dir, 'private', 'base'))).rejects.toThrow(/cannot enter/);
    // Staged once: a second call finds it.
    expect(await stageTree(join(dir, 'nowhere'), 'postgres-1.0', owner, base)).toBe(staged);
  });
});
