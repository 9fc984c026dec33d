import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { cp, mkdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { appServiceKey, DEFAULT_SERVICE_BASE_DIR } from '../../../src/runtime/engines/service-dir.js';
import { REPO_DIR } from '../../runtime/support/runtime-harness.js';

const SHOP_DIR = join(REPO_DIR, 'examples', 'shop');
// Inside the repo: the shop imports `scaleout/...` by package self-reference, which
// resolves only from within the package folder.
const SCRATCH_ROOT = join(REPO_DIR, '.e2e');

/** Fails with what to do when dist/ (which bin/scaleout.js and the shop's imports load) is missing. */
export function assertBuilt(): void {
  if (!existsSync(join(REPO_DIR, 'dist', 'cli', 'main.js'))) {
    throw new Error('dist/ is missing: run `npx tsc -p tsconfig.build.json` before the end-to-end tests');
  }
}

/** A copy of examples/shop in a fresh scratch folder, and the way to remove it. */
export interface ShopCopy {
  /** `<repo>/.e2e/<random>`: everything the run writes lives below it. */
  root: string;
  /** `<root>/shop`, the app folder given to `scaleout up`. */
  dir: string;
  remove(): Promise<void>;
}

/**
 * Copies the shop without its runtime state and makes the balancer listen on a free
 * port; the rest of its config stays as shipped.
 */
export async function copyShop(): Promise<ShopCopy> {
  const root = join(SCRATCH_ROOT, `${process.pid}-${randomBytes(4).toString('hex')}`);
  const dir = join(root, 'shop');
  await mkdir(root, { recursive: true });
  await cp(SHOP_DIR, dir, { recursive: true, filter: (source) => !source.split(/[\\/]/).includes('.scaleout') });
  const configFile = join(dir, 'scaleout.config.ts');
  const config = await readFile(configFile, 'utf8');
  const patched = config.replace(/listen: '127\.0\.0\.1:\d+'/, "listen: '127.0.0.1:0'");
  if (patched === config) throw new Error(`cannot find the balancer's listen address in ${configFile}; update copyShop`);
  await writeFile(configFile, patched);
  return {
    root,
    dir,
    async remove() {
      await rm(root, { recursive: true, force: true });
      // As root in a checkout the server's user cannot enter, the embedded data lives there.
      await rm(join(DEFAULT_SERVICE_BASE_DIR, appServiceKey(dir)), { recursive: true, force: true });
      // Other runs may share the parent; it goes only once empty.
      await rmdir(SCRATCH_ROOT).catch(() => undefined);
    },
  };
}

/**
 * Live processes whose working directory or command line lies under `path`: the
 * instances, PostgreSQL with its backends, redis-server. A zombie counts as gone.
 */
export function processesUnder(path: string): Array<{ pid: number; command: string }> {
  const found: Array<{ pid: number; command: string }> = [];
  // As root in a checkout the server's user cannot enter, the embedded PostgreSQL of an
  // app in `path` (or one folder below) keeps its data under the service base instead.
  let below: string[] = [];
  try {
    below = readdirSync(path).map((name) => join(path, name));
  } catch {
    // Gone already.
  }
  const roots = [path, ...[path, ...below].map((dir) => join(DEFAULT_SERVICE_BASE_DIR, appServiceKey(dir))).filter((dir) => existsSync(dir))];
  const isUnder = (file: string): boolean => roots.some((root) => file === root || file.startsWith(`${root}/`));
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') continue;
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${pid}/cwd`);
      } catch {
        // Another user's process, or it just exited.
      }
      if (roots.some((root) => command.includes(root)) || isUnder(cwd)) found.push({ pid, command });
    } catch {
      // Exited while being read.
    }
  }
  return found;
}
