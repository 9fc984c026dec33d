import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppProcess } from '../../src/runtime/app-process.js';

/**
 * What an app prints when another process took its port between the supervisor's pick
 * and the app's `listen`: the app holds the port itself first, as the other process
 * would, so the second `listen` fails the way the real race does.
 */
const LOSES_PORT = `
import { createServer } from 'node:net';
const port = Number(process.env.PORT);
createServer().listen(port, '127.0.0.1', () => createServer().listen(port, '127.0.0.1'));
`;
const FAILS_OTHERWISE = `throw new Error('no database at 127.0.0.1:' + process.env.PORT);`;

describe('AppProcess.lostPortRace', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'scaleout-port-race-'));
    await writeFile(join(dir, 'loses-port.mjs'), LOSES_PORT);
    await writeFile(join(dir, 'fails.mjs'), FAILS_OTHERWISE);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  async function startFailure(entry: string): Promise<{ proc: AppProcess; err: unknown }> {
    const proc = await AppProcess.spawn({ id: 'app-1', buildId: 'b', cwd: dir, entry, env: { PATH: process.env.PATH }, logFile: join(dir, `${entry}.log`) });
    const err = await proc.waitHealthy('/healthz', 10_000).then(() => undefined, (e: unknown) => e);
    return { proc, err };
  }

  it('recognises a real EADDRINUSE on its own port', async () => {
    const { proc, err } = await startFailure('loses-port.mjs');
    expect(String(err)).toContain('EADDRINUSE');
    expect(proc.lostPortRace(err)).toBe(true);
  });

  it('does not take another start failure for a lost port, even one naming the port', async () => {
    const { proc, err } = await startFailure('fails.mjs');
    expect(String(err)).toContain(`127.0.0.1:${proc.port}`);
    expect(proc.lostPortRace(err)).toBe(false);
  });
});
