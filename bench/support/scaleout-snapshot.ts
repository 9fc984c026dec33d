import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** The entry point of the scaleout CLI, relative to a package root. */
export const SCALEOUT_BIN = 'bin/scaleout.js';

/**
 * Copies the built balancer (`dist/` and `bin/`) into `dir`, so that a build
 * running elsewhere in the tree during the benchmark (other work goes on while
 * it runs) can neither change the code under test between rounds nor leave it
 * half-written. `dir` must sit inside the package, so that `type: module` and
 * node_modules resolve as they do for the original. Returns why the copy
 * cannot run, or undefined when `node <dir>/bin/scaleout.js balancer --help`
 * works.
 */
export function snapshotScaleout(repoRoot: string, dir: string): string | undefined {
  if (!existsSync(join(repoRoot, SCALEOUT_BIN)) || !existsSync(join(repoRoot, 'dist/balancer/index.js'))) {
    return `${SCALEOUT_BIN} or dist/balancer/index.js is missing; build first (npm run build)`;
  }
  rmSync(dir, { recursive: true, force: true });
  cpSync(join(repoRoot, 'dist'), join(dir, 'dist'), { recursive: true, filter: (src) => !src.endsWith('.map') });
  cpSync(join(repoRoot, 'bin'), join(dir, 'bin'), { recursive: true });
  const probe = spawnSync(process.execPath, [join(dir, SCALEOUT_BIN), 'balancer', '--help'], { encoding: 'utf8', timeout: 30_000 });
  if (probe.status === 0) return undefined;
  const reason = `${probe.stderr}\n${probe.stdout}`.split('\n').find((l) => /error/i.test(l)) ?? probe.stderr.split('\n')[0] ?? '';
  return `the build does not start (\`scaleout balancer --help\` exited ${probe.status ?? probe.signal}): ${reason.trim()}; fix the build and rerun`;
}
