import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { BuildError } from './errors.js';

/** Folders never part of a build: runtime state, installed packages, history. */
export const BUILD_EXCLUDED_DIRS: readonly string[] = ['.scaleout', 'node_modules', '.git'];
/** Hex characters of the sha256 kept in a buildId. @defaultValue 12 */
export const BUILD_ID_HEX_CHARS = 12;

/** What a buildId was computed from. */
export interface BuildSource {
  /** Short hex sha256 over the files and the lockfile. */
  buildId: string;
  /** App files, relative to the app folder, with `/` separators, sorted. */
  files: string[];
  /** The lockfile hashed with them (the app's own, else the nearest one above), if any. */
  lockfile: string | undefined;
}

/**
 * The content hash of an app: every file of the folder (minus
 * {@link BUILD_EXCLUDED_DIRS}) by path and bytes, plus the lockfile that pins its
 * dependencies. Same files and lockfile, same id, on any machine; timestamps and
 * permissions do not count.
 */
export async function computeBuild(appDir: string): Promise<BuildSource> {
  let files: string[];
  try {
    files = (await listFiles(appDir, appDir)).sort();
  } catch (err) {
    throw new BuildError(`cannot read the app folder ${appDir} (${(err as Error).message}); check that it exists and is readable`, { cause: err });
  }
  const hash = createHash('sha256');
  for (const file of files) {
    const bytes = await readFile(join(appDir, file));
    // Length-prefixed records, so no two file sets can hash alike by concatenation.
    hash.update(`file\u0000${file}\u0000${bytes.length}\u0000`);
    hash.update(bytes);
  }
  const lockfile = files.includes('package-lock.json') ? undefined : findLockfileAbove(appDir);
  if (lockfile !== undefined) {
    const bytes = await readFile(lockfile);
    hash.update(`lockfile\u0000${bytes.length}\u0000`);
    hash.update(bytes);
  }
  return {
    buildId: hash.digest('hex').slice(0, BUILD_ID_HEX_CHARS),
    files,
    lockfile: files.includes('package-lock.json') ? join(appDir, 'package-lock.json') : lockfile,
  };
}

async function listFiles(root: string, dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (BUILD_EXCLUDED_DIRS.includes(entry.name)) continue;
      out.push(...await listFiles(root, full));
    } else if (entry.isFile()) {
      out.push(relative(root, full).split(sep).join('/'));
    }
    // Symlinks and sockets are left out: an image holds plain files only.
  }
  return out;
}

/** The nearest package-lock.json in a folder above `dir` (the repo's, for an app inside it). */
function findLockfileAbove(dir: string): string | undefined {
  let at = dirname(dir);
  for (;;) {
    const candidate = join(at, 'package-lock.json');
    if (existsSync(candidate)) return candidate;
    const up = dirname(at);
    if (up === at) return undefined;
    at = up;
  }
}
