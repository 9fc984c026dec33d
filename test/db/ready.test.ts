import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const SCRIPT = fileURLToPath(new URL('./support/ready-only.ts', import.meta.url));
const DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const run = promisify(execFile);

describe('Database.ready', () => {
  it('keeps a process alive until the first check has run (no silent exit with code 13)', async () => {
    // The exit used to depend on a race with an unref'd timer: try several times.
    for (let i = 0; i < 6; i++) {
      const { stdout } = await run(process.execPath, ['--import', 'tsx', SCRIPT, DATABASE_URL], { timeout: 20_000 });
      expect(stdout).toBe('ready\n');
    }
  }, 120_000);
});
