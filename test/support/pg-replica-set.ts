import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import {
  startPostgresReplicaSet, type PostgresReplicaSet, type PostgresReplicaSetOptions, type PostgresNode,
} from '../../src/runtime/engines/index.js';

export * from '../../src/runtime/engines/index.js';

// Creating a data directory's thousand files costs several times more on a
// journaling disk than in memory; without fsync, memory loses nothing more.
function scratchRoot(fast: boolean): string {
  return fast && existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
}

/**
 * Starts a replica set in a fresh folder (in /dev/shm when it exists and `fast` is on),
 * with `fast: true` unless told otherwise. Call `destroy()` after the test.
 */
export async function startTestPostgresReplicaSet(options: Partial<PostgresReplicaSetOptions> = {}): Promise<PostgresReplicaSet> {
  const fast = options.fast ?? true;
  const baseDir = options.baseDir ??
    join(scratchRoot(fast), `scaleout-pg-test-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    return await startPostgresReplicaSet({ replicas: 0, ...options, fast, baseDir });
  } catch (err) {
    if (options.baseDir === undefined) await rm(baseDir, { recursive: true, force: true });
    throw err;
  }
}

/** Runs one statement on `node` over a new connection and returns the rows. */
export async function query<R extends pg.QueryResultRow = Record<string, unknown>>(
  node: PostgresNode, sql: string, params: unknown[] = [], database?: string,
): Promise<R[]> {
  const client = new pg.Client({ connectionString: node.url(database), connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}
