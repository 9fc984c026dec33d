import { createHash, randomBytes } from 'node:crypto';
import { chmod, chown, copyFile, link, lstat, mkdir, readdir, readlink, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { assertReachable } from './data-dir.js';
import { PostgresDataDirError } from './errors.js';
import type { OsUser } from './postgres-binaries.js';

/**
 * Where a runtime running as root keeps what PostgreSQL's OS user must reach: the
 * server binaries and the data of apps whose own folder that user cannot enter (a
 * clone under `/root`, a `mktemp -d` folder). Owned by root, group of the server's
 * user, mode 0750: that user and root enter it, nobody else.
 * @defaultValue '/var/lib/scaleout'
 */
export const DEFAULT_SERVICE_BASE_DIR = '/var/lib/scaleout';

/** Whether `owner` can walk down to `path` (every folder above it is searchable for it). */
export async function canReach(path: string, owner: OsUser): Promise<boolean> {
  return assertReachable(path, owner).then(() => true, () => false);
}

/** Creates the service base folder (root-owned, group `owner`, 0750) and checks `owner` can enter it. */
export async function ensureServiceBaseDir(owner: OsUser, base = DEFAULT_SERVICE_BASE_DIR): Promise<string> {
  try {
    await mkdir(base, { recursive: true, mode: 0o750 });
    const info = await stat(base);
    if (info.uid !== 0 || info.gid !== owner.gid) await chown(base, 0, owner.gid);
    if ((info.mode & 0o777) !== 0o750) await chmod(base, 0o750);
  } catch (err) {
    throw new PostgresDataDirError(base, `cannot prepare it for the server's user: ${(err as Error).message}`, { cause: err });
  }
  await assertReachable(join(base, 'x'), owner);
  return base;
}

/**
 * The per-app folder under the service base: named after a hash of the app's
 * absolute path, so one app always finds its data again, with the path itself in
 * `app-dir` for whoever looks.
 */
export async function appServiceDir(appDir: string, owner: OsUser, base = DEFAULT_SERVICE_BASE_DIR): Promise<string> {
  await ensureServiceBaseDir(owner, base);
  const dir = join(base, appServiceKey(appDir));
  await mkdir(dir, { recursive: true, mode: 0o750 });
  await chown(dir, 0, owner.gid);
  await writeFile(join(dir, 'app-dir'), `${resolve(appDir)}\n`, { mode: 0o640 });
  return dir;
}

/** The name of an app's folder under the service base. */
export function appServiceKey(appDir: string): string {
  return createHash('sha256').update(resolve(appDir)).digest('hex').slice(0, 16);
}

/**
 * A copy of the folder `source` under the service base as `<name>/`, made once:
 * hard links where the file system allows (no space used), else copies with the
 * same modes. Root owns the copy, so the server's user can run it but not change it.
 * Written under a temporary name and renamed, so a half copy is never used.
 */
export async function stageTree(source: string, name: string, owner: OsUser, base = DEFAULT_SERVICE_BASE_DIR): Promise<string> {
  await ensureServiceBaseDir(owner, base);
  const target = join(base, name);
  if (await exists(target)) return target;
  const work = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await copyTree(source, work);
    await rename(work, target).catch(async (err: unknown) => {
      // Another process staged the same tree first: use theirs.
      if (!(await exists(target))) throw err;
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return target;
}

async function copyTree(source: string, target: string): Promise<void> {
  await mkdir(target, { mode: 0o755 });
  for (const entry of await readdir(source, { withFileTypes: true })) {
    const from = join(source, entry.name);
    const to = join(target, entry.name);
    if (entry.isDirectory()) {
      await copyTree(from, to);
    } else if (entry.isSymbolicLink()) {
      await symlink(await readlink(from), to);
    } else if (entry.isFile()) {
      try {
        await link(from, to);
      } catch {
        await copyFile(from, to);
        await chmod(to, (await stat(from)).mode & 0o7777);
      }
    }
  }
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(() => true, () => false);
}
