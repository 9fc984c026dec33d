import { existsSync, statSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { appServiceKey, DEFAULT_SERVICE_BASE_DIR } from '../../src/runtime/engines/service-dir.js';
import { cleanEnv, isAlive, REPO_DIR, UpProcess } from './support/runtime-harness.js';
import { get } from '../support/http-client.js';

// As root, PostgreSQL runs as an unprivileged user, which cannot enter a 0700 folder
// of root's: the binaries and the data must live where it can reach them, without
// opening the user's folder.
describe.skipIf(process.getuid?.() !== 0)('scaleout up as root in a folder only root can enter', () => {
  let parent: string;
  let up: UpProcess | undefined;

  afterAll(async () => {
    await up?.stop('SIGKILL');
    if (parent !== undefined) {
      await rm(join(DEFAULT_SERVICE_BASE_DIR, appServiceKey(join(parent, 'app'))), { recursive: true, force: true });
      await rm(parent, { recursive: true, force: true });
    }
  });

  it('runs the embedded PostgreSQL with its data outside the app folder, and leaves the folder private', async () => {
    parent = await mkdtemp(join(tmpdir(), 'scaleout-rt-private-'));
    expect(statSync(parent).mode & 0o777).toBe(0o700);
    const dir = join(parent, 'app');
    await cp(join(REPO_DIR, 'test/fixtures/apps/hello'), dir, { recursive: true });
    const configFile = join(dir, 'scaleout.config.json');
    const config = JSON.parse(await readFile(configFile, 'utf8')) as Record<string, Record<string, unknown>>;
    config.app!.instances = 1;
    config.engines = { postgres: { replicas: 0 }, redis: false };
    await writeFile(configFile, JSON.stringify(config));

    up = UpProcess.start(dir, cleanEnv());
    const status = await up.waitRunning(180_000);
    const pg0 = status.processes.find((p) => p.role === 'postgres')!;
    expect(pg0).toMatchObject({ id: 'pg0', state: 'running' });
    const app = await get(status.appUrl!);
    expect(app.status).toBe(200);
    expect(String(app.body.env?.database)).toContain(pg0.address!);

    const dataDir = join(DEFAULT_SERVICE_BASE_DIR, appServiceKey(dir), 'pg', 'pg0');
    expect(existsSync(join(dataDir, 'PG_VERSION'))).toBe(true);
    expect(existsSync(join(dir, '.scaleout', 'pg'))).toBe(false);
    // Nothing was opened up: the folder stays 0700, the secrets 0600, the service base 0750.
    expect(statSync(parent).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, '.scaleout', 'secrets.json')).mode & 0o777).toBe(0o600);
    expect(statSync(DEFAULT_SERVICE_BASE_DIR).mode & 0o777).toBe(0o750);

    const output = await up.stop('SIGTERM');
    expect(output.code, output.stderr).toBe(0);
    expect(output.stdout).toContain(`data in ${join(DEFAULT_SERVICE_BASE_DIR, appServiceKey(dir), 'pg')}`);
    expect(isAlive(pg0.pid!)).toBe(false);
  }, 240_000);
});
