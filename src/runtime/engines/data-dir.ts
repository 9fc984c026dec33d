import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { chown, copyFile, lstat, mkdir, open, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, posix, resolve } from 'node:path';
import { promisify } from 'node:util';
import { PostgresDataDirError } from './errors.js';
import type { OsUser } from './postgres-binaries.js';

const execFileAsync = promisify(execFile);

/** What to do with one entry while copying a data directory. */
export type CopyDecision = 'copy' | 'skip' | 'empty-dir';

/** Decides, by path relative to the data directory (`/`-separated), what gets copied. */
export type CopyFilter = (relativePath: string, isDirectory: boolean) => CopyDecision;

/** Copies everything. */
export const copyAll: CopyFilter = () => 'copy';

// Directories whose contents a base backup leaves out: they are recreated or
// refilled at startup, and pg_wal is streamed from the replication slot instead.
const EMPTY_IN_BACKUP = new Set([
  'pg_wal', 'pg_replslot', 'pg_dynshmem', 'pg_notify', 'pg_serial', 'pg_snapshots', 'pg_stat_tmp', 'pg_subtrans',
]);
// Files that describe the running source server, not the copy.
const SKIP_IN_BACKUP = new Set([
  'postmaster.pid', 'postmaster.opts', 'backup_label', 'tablespace_map', 'backup_manifest',
  'standby.signal', 'recovery.signal', 'postgresql.auto.conf.tmp', 'current_logfiles', 'current_logfiles.tmp',
]);

/**
 * The exclusions of the low-level base backup API (the same list pg_basebackup uses),
 * for copying the data directory of a running primary.
 */
export const baseBackupFilter: CopyFilter = (relativePath, isDirectory) => {
  if (!relativePath.includes('/')) {
    if (isDirectory && EMPTY_IN_BACKUP.has(relativePath)) return 'empty-dir';
    if (!isDirectory && SKIP_IN_BACKUP.has(relativePath)) return 'skip';
  }
  const base = posix.basename(relativePath);
  // Relation cache files are rebuilt at startup; temporary files die with their session.
  if (!isDirectory && (base.startsWith('pg_internal.init') || base.startsWith('pgsql_tmp'))) return 'skip';
  if (isDirectory && base === 'pgsql_tmp') return 'empty-dir';
  return 'copy';
};

/** Options of {@link copyDataDir}. */
export interface CopyDataDirOptions {
  /** @defaultValue {@link copyAll} */
  filter?: CopyFilter;
  /** Owner of everything created (when this process is root). */
  owner?: OsUser | undefined;
  /** Flush the copy to disk before resolving, so it survives an OS crash. @defaultValue `false` */
  fsync?: boolean;
}

const CONTROL_FILE = 'global/pg_control';

function isMissing(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'ENOENT';
}

async function syncPath(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Flushes everything under `dir` to disk: one syncfs() of its file system through
 * `sync -f` where that exists (Linux), else an fsync of every file and folder,
 * which costs a journal commit each.
 */
export async function syncTree(dir: string): Promise<void> {
  try {
    await execFileAsync('sync', ['-f', dir], { timeout: 120_000 });
    return;
  } catch {
    // No GNU sync here: fsync one by one.
  }
  const walk = async (path: string): Promise<void> => {
    const entries = await readdir(path, { withFileTypes: true });
    for (const entry of entries) {
      const child = join(path, entry.name);
      if (entry.isDirectory()) await walk(child);
      else if (entry.isFile()) await syncPath(child);
    }
    await syncPath(path);
  };
  await walk(dir);
}

/**
 * Creates `dir` (and missing parents) owned by `owner`, mode 0700, as PostgreSQL
 * requires of a data directory.
 */
export async function makeOwnedDir(dir: string, owner: OsUser | undefined, mode = 0o700): Promise<void> {
  await mkdir(dir, { recursive: true, mode });
  if (owner !== undefined) await chown(dir, owner.uid, owner.gid);
}

/** Writes a file the server will read, owned by the server's user, mode 0600. */
export async function writeOwnedFile(path: string, content: string, owner: OsUser | undefined): Promise<void> {
  await writeFile(path, content, { mode: 0o600 });
  if (owner !== undefined) await chown(path, owner.uid, owner.gid);
}

/**
 * Copies a PostgreSQL data directory, which may belong to a running server.
 *
 * Files that vanish during the copy are skipped (the server deletes temporary
 * files at any time); files that change are fine because WAL replay from the
 * backup's start repairs them. `global/pg_control` is copied last, as pg_basebackup
 * does, so it is never older than the relation files next to it.
 */
export async function copyDataDir(source: string, target: string, options: CopyDataDirOptions = {}): Promise<void> {
  const filter = options.filter ?? copyAll;
  const owner = options.owner;
  const fsync = options.fsync ?? false;
  let controlFile = false;

  const copyOne = async (from: string, to: string): Promise<void> => {
    try {
      await copyFile(from, to);
    } catch (err) {
      if (isMissing(err)) return;
      throw err;
    }
    if (owner !== undefined) await chown(to, owner.uid, owner.gid);
  };

  const walk = async (relative: string): Promise<void> => {
    const fromDir = relative === '' ? source : join(source, relative);
    const toDir = relative === '' ? target : join(target, relative);
    await makeOwnedDir(toDir, owner);
    let entries;
    try {
      entries = await readdir(fromDir, { withFileTypes: true });
    } catch (err) {
      if (isMissing(err)) return;
      throw err;
    }
    const files: Promise<void>[] = [];
    for (const entry of entries) {
      const rel = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (entry.isSymbolicLink()) {
        // A tablespace would be shared by source and copy: refuse rather than corrupt both.
        throw new PostgresDataDirError(source, `contains the symbolic link ${rel} (a tablespace?); tablespaces are not supported by scaleout's replicas, drop them or use a single data directory`);
      }
      const decision = filter(rel, entry.isDirectory());
      if (decision === 'skip') continue;
      if (entry.isDirectory()) {
        if (decision === 'empty-dir') {
          await makeOwnedDir(join(target, rel), owner);
        } else {
          await walk(rel);
        }
      } else if (entry.isFile()) {
        if (rel === CONTROL_FILE) {
          controlFile = true;
          continue;
        }
        files.push(copyOne(join(source, rel), join(target, rel)));
      }
    }
    await Promise.all(files);
  };

  try {
    await walk('');
    if (controlFile) await copyOne(join(source, CONTROL_FILE), join(target, CONTROL_FILE));
    if (fsync) await syncTree(target);
  } catch (err) {
    if (err instanceof PostgresDataDirError) throw err;
    throw new PostgresDataDirError(target, `copying from ${source} failed; check free disk space and permissions`, { cause: err });
  }
}

/** Removes a data directory and everything in it; a missing directory is fine. */
export async function removeDataDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

/**
 * Pids of the processes whose working directory is inside `dir`.
 *
 * Every PostgreSQL process changes into its data directory, so this finds the
 * backends a killed postmaster left behind. Empty where `/proc` does not exist.
 */
export async function processesUsing(dir: string): Promise<number[]> {
  const root = resolve(dir);
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return [];
  }
  const pids: number[] = [];
  await Promise.all(entries.map(async (entry) => {
    if (!/^\d+$/.test(entry)) return;
    try {
      const cwd = (await readlink(`/proc/${entry}/cwd`)).replace(/ \(deleted\)$/, '');
      if (cwd === root || cwd.startsWith(`${root}/`)) pids.push(Number(entry));
    } catch {
      // The process ended, or is not ours to inspect.
    }
  }));
  return pids;
}

/**
 * Checks that `owner` can reach `dir`: PostgreSQL runs as that user and must
 * traverse every parent folder (a data dir under /root is unreachable for it).
 */
export async function assertReachable(dir: string, owner: OsUser | undefined): Promise<void> {
  if (owner === undefined) return;
  let current = dirname(resolve(dir));
  for (;;) {
    let info;
    try {
      info = await stat(current);
    } catch (err) {
      if (!isMissing(err)) throw err;
      info = undefined;
    }
    if (info !== undefined) {
      const mode = info.mode;
      const ok = info.uid === owner.uid ? (mode & 0o100) !== 0
        : info.gid === owner.gid ? (mode & 0o010) !== 0
          : (mode & 0o001) !== 0;
      if (!ok) {
        throw new PostgresDataDirError(dir,
          `the server runs as uid ${owner.uid}, which cannot enter ${current}; allow it (chmod o+x ${current}) or choose a folder it can reach`);
      }
    }
    const parent = dirname(current);
    if (parent === current) return;
    current = parent;
  }
}

/** True when `dir` holds an initialized data directory. */
export async function isDataDir(dir: string): Promise<boolean> {
  try {
    await lstat(join(dir, 'PG_VERSION'));
    await lstat(join(dir, CONTROL_FILE));
    return true;
  } catch {
    return false;
  }
}

/** True when the data directory will start as a replica. */
export async function hasStandbySignal(dir: string): Promise<boolean> {
  try {
    await lstat(join(dir, 'standby.signal'));
    return true;
  } catch {
    return false;
  }
}

/**
 * The newest timeline the data directory knows of, from the `<timeline>.history`
 * files in pg_wal (each promotion writes one); 1 when there is none.
 */
export async function latestTimeline(dir: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(join(dir, 'pg_wal'));
  } catch {
    return 1;
  }
  return names.reduce((max, name) => {
    const match = /^([0-9A-F]{8})\.history$/.exec(name);
    return match?.[1] === undefined ? max : Math.max(max, Number.parseInt(match[1], 16));
  }, 1);
}

/**
 * The postmaster pid recorded in the data directory, when that process still runs
 * in it (a server left behind by an earlier run that was not stopped).
 */
export async function runningPostmaster(dir: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, 'postmaster.pid'), 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number.parseInt(text.split('\n')[0] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return (await processesUsing(dir)).includes(pid) ? pid : undefined;
}
