import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processesUsing } from '../../src/runtime/engines/data-dir.js';
import { findPostgresBinaries } from '../../src/runtime/engines/postgres-binaries.js';
import { DEFAULT_START_TIMEOUT_MS, DEFAULT_STOP_TIMEOUT_MS, PostgresServer } from '../../src/runtime/engines/postgres-node.js';
import {
  PostgresDataDirError, PostgresStartError, query, startTestPostgresReplicaSet, type PostgresReplicaSet,
} from '../support/pg-replica-set.js';
import { freePort } from '../support/free-port.js';
import { waitFor } from '../support/wait-for.js';

const execFileAsync = promisify(execFile);

function occupy(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    // Hang up at once, so close() does not wait for probing clients.
    const server = createServer((socket) => socket.destroy());
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

describe('PostgreSQL nodes', () => {
  let replicaSet: PostgresReplicaSet;

  beforeAll(async () => {
    replicaSet = await startTestPostgresReplicaSet({ replicas: 0 });
  });
  afterAll(async () => {
    await replicaSet?.destroy();
  });

  it('runs crash recovery after a SIGKILL and starts again on the same port', async () => {
    const node = replicaSet.primary;
    await query(node, 'CREATE TABLE crash (id int)');
    await query(node, 'INSERT INTO crash VALUES (1)');
    const port = node.port;
    node.kill();
    await node.start();
    expect(node.port).toBe(port);
    expect(await query(node, 'SELECT id FROM crash')).toEqual([{ id: 1 }]);
  });

  it('moves to another free port when its picked port was taken before the first start', async () => {
    await replicaSet.stop();
    const taken = replicaSet.primary.port;
    const blocker = await occupy(taken);
    const node = new PostgresServer({
      name: 'pg0', dataDir: replicaSet.primary.dataDir, host: '127.0.0.1', port: taken, portFixed: false,
      binaries: await findPostgresBinaries(), database: 'app', startTimeoutMs: DEFAULT_START_TIMEOUT_MS, stopTimeoutMs: DEFAULT_STOP_TIMEOUT_MS,
    });
    try {
      await node.start();
      expect(node.port).not.toBe(taken);
      expect(await query(node, 'SELECT count(*)::int AS n FROM crash')).toEqual([{ n: 1 }]);
    } finally {
      await node.stop();
      await close(blocker);
    }
  });

  it('fails with the server log when a configured port is taken', async () => {
    const port = await freePort();
    const blocker = await occupy(port);
    try {
      const failure = await startTestPostgresReplicaSet({ replicas: 0, ports: [port] }).then(
        () => undefined, (err: unknown) => err);
      expect(failure).toBeInstanceOf(PostgresStartError);
      expect((failure as PostgresStartError).code).toBe('SCALEOUT_RUNTIME_POSTGRES_START');
      expect((failure as PostgresStartError).logTail).toMatch(/could not (bind|create any TCP\/IP sockets)/);
    } finally {
      await close(blocker);
    }
  });

  it.skipIf(process.getuid?.() !== 0)('says so when the server user cannot reach the data folder', async () => {
    const locked = await mkdtemp(join(tmpdir(), 'scaleout-locked-'));
    await chmod(locked, 0o700);
    try {
      await expect(startTestPostgresReplicaSet({ baseDir: join(locked, 'pg'), replicas: 0 }))
        .rejects.toBeInstanceOf(PostgresDataDirError);
    } finally {
      await rm(locked, { recursive: true, force: true });
    }
  });
});

describe('a process that exits without stopping its replica set', () => {
  it('takes its servers down with it', async () => {
    const script = fileURLToPath(new URL('./fixtures/exit-without-stop.ts', import.meta.url));
    const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', script], { timeout: 60_000 });
    const baseDir = dirname(stdout.trim());
    try {
      expect(baseDir).toMatch(/scaleout-pg-test-/);
      await waitFor('no server left in the base folder', async () => (await processesUsing(baseDir)).length === 0, { timeoutMs: 30_000, intervalMs: 50 });
    } finally {
      await rm(baseDir, { recursive: true, force: true });
    }
  });
});
