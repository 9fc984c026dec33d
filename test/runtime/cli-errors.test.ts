import { existsSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyApp, removeApp, runCli } from './support/runtime-harness.js';

/** The lines scaleout wrote about the failure: exactly one names it, maybe one hint follows. */
function errorLines(stderr: string): string[] {
  return stderr.trim().split('\n').filter((line) => line.startsWith('scaleout:'));
}

describe('scaleout commands fail with one clear line', () => {
  const dirs: string[] = [];
  let blocker: net.Server;
  let busyPort: number;

  beforeAll(async () => {
    blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
    busyPort = (blocker.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise((resolve) => blocker.close(resolve));
    await Promise.all(dirs.map(removeApp));
  });

  it('an invalid config, a missing entry, a port in use, no supervisor to ask (status, logs), and a build without one', async () => {
    const invalid = await copyApp('hello', { app: { instances: 0 }, balancer: { strategy: 'random' } });
    const missing = await copyApp('hello', { app: { entry: 'missing.mjs' } });
    const busy = await copyApp('hello', { balancer: { listen: `127.0.0.1:${busyPort}` } });
    const idle = await copyApp('hello');
    dirs.push(invalid, missing, busy, idle);
    const [badConfig, noEntry, portInUse, notRunning, badStrategy, built, noLogs, noFollow] = await Promise.all([
      runCli(['up', invalid]),
      runCli(['up', missing]),
      runCli(['up', busy]),
      runCli(['status', idle]),
      runCli(['deploy', idle, '--strategy', 'canary']),
      runCli(['build', idle]),
      runCli(['logs', idle]),
      // Following needs a supervisor to start with: no silent wait for one.
      runCli(['logs', idle, '--follow'], undefined, 30_000),
    ]);

    expect(badConfig.code, badConfig.stderr).toBe(2);
    expect(errorLines(badConfig.stderr)).toHaveLength(1);
    expect(badConfig.stderr).toContain('scaleout.config.json: app.instances: ');
    expect(badConfig.stderr).toContain('(got 0)');
    expect(badConfig.stderr).toMatch(/balancer\.strategy: .*round-robin.*\(got "random"\)/);

    expect(noEntry.code, noEntry.stderr).toBe(1);
    expect(errorLines(noEntry.stderr)).toEqual([
      `scaleout: app.entry "missing.mjs" does not exist in ${missing}; create it or point app.entry in scaleout.config at the file that starts the server [SCALEOUT_RUNTIME_APP_ENTRY_NOT_FOUND]`,
    ]);

    expect(portInUse.code, portInUse.stderr).toBe(1);
    expect(errorLines(portInUse.stderr)).toEqual([
      `scaleout: balancer.listen 127.0.0.1:${busyPort} is in use by another process; stop that process or choose another port in scaleout.config [SCALEOUT_RUNTIME_PORT_IN_USE]`,
    ]);

    expect(notRunning.code, notRunning.stderr).toBe(1);
    expect(errorLines(notRunning.stderr)[0]).toContain(`no scaleout supervisor runs for ${idle}`);

    for (const result of [noLogs, noFollow]) {
      expect(result.code, result.stderr).toBe(1);
      expect(errorLines(result.stderr)).toHaveLength(1);
      expect(errorLines(result.stderr)[0]).toContain(`no scaleout supervisor runs for ${idle}`);
    }

    expect(badStrategy.code, badStrategy.stderr).toBe(2);
    expect(badStrategy.stderr).toContain('--strategy must be rolling or blue-green, not "canary"');

    // Without a supervisor, build writes the image itself.
    expect(built.code, built.stderr).toBe(0);
    const [, buildId] = /^build (\w+): /.exec(built.stdout) ?? [];
    expect(built.stdout).toContain(`${join(idle, '.scaleout', 'images', `${buildId}.tgz`)} (new, 2 files)`);
    expect(existsSync(join(idle, '.scaleout', 'images', `${buildId}.tgz`))).toBe(true);

    // Nothing was left running or half-written.
    for (const dir of [invalid, missing, busy]) expect(existsSync(join(dir, '.scaleout', 'supervisor.json'))).toBe(false);
  });
});
