import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresInitError } from './errors.js';
import { isDataDir, makeOwnedDir, removeDataDir } from './data-dir.js';
import type { PostgresBinaries } from './postgres-binaries.js';
import { POSTGRES_SUPERUSER } from './postgres-config.js';

/** Where initdb'ed templates are cached. @defaultValue `<os.tmpdir()>/scaleout-pg-templates` */
export const DEFAULT_TEMPLATE_ROOT = join(tmpdir(), 'scaleout-pg-templates');

// C collation: the same order on every machine, and the fastest.
const INITDB_ARGS = ['--auth=trust', `--username=${POSTGRES_SUPERUSER}`, '--encoding=UTF8', '--locale=C', '--no-sync'];

const MAX_LOG_CHARS = 4000;

function runInitdb(binaries: PostgresBinaries, dataDir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(binaries.initdb, [`--pgdata=${dataDir}`, ...INITDB_ARGS], {
      ...(binaries.runAs ?? {}),
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
    });
    let output = '';
    const collect = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-MAX_LOG_CHARS);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.once('error', (err) => reject(new PostgresInitError(err.message, output, { cause: err })));
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new PostgresInitError(`exit code ${code ?? 'none'}, signal ${signal ?? 'none'}`, output));
    });
  });
}

const building = new Map<string, Promise<string>>();

async function build(binaries: PostgresBinaries, root: string): Promise<string> {
  const key = createHash('sha256')
    .update(JSON.stringify([binaries.postgres, binaries.version, binaries.runAs?.uid ?? process.getuid?.(), INITDB_ARGS]))
    .digest('hex').slice(0, 16);
  const finalDir = join(root, `pg${binaries.version}-${key}`);
  if (await isDataDir(finalDir)) return finalDir;
  await mkdir(root, { recursive: true, mode: 0o755 });
  // initdb into a private folder, then rename: renaming a directory is atomic, so
  // other processes see either no template or a complete one.
  const workDir = `${finalDir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await makeOwnedDir(workDir, binaries.runAs);
  try {
    await runInitdb(binaries, workDir);
    try {
      await rename(workDir, finalDir);
    } catch (err) {
      // Another process won the race; its template is as good as ours.
      if (!(await isDataDir(finalDir))) throw err;
    }
  } finally {
    await removeDataDir(workDir);
  }
  return finalDir;
}

/**
 * Returns a freshly initdb'ed data directory to copy new nodes from, creating it on
 * first use and caching it on disk, keyed by the binaries and the initdb arguments.
 *
 * Copying is several times faster than initdb. Every replica set made from one template
 * shares its database system identifier, so a replica could be pointed at the
 * primary of another scaleout replica set on the same machine without PostgreSQL
 * noticing; scaleout never does that itself.
 */
export async function ensureTemplate(binaries: PostgresBinaries, root = DEFAULT_TEMPLATE_ROOT): Promise<string> {
  const id = `${root}\0${binaries.postgres}`;
  for (let attempt = 0; ; attempt++) {
    let pending = building.get(id);
    if (pending === undefined) {
      pending = build(binaries, root);
      pending.catch(() => building.delete(id));
      building.set(id, pending);
    }
    const dir = await pending;
    // Someone may have cleaned the temporary folder since: build it again.
    if (attempt > 0 || await isDataDir(dir)) return dir;
    building.delete(id);
  }
}
