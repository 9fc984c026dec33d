import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { PostgresBackupError } from './errors.js';
import { baseBackupFilter, copyDataDir, makeOwnedDir, removeDataDir, writeOwnedFile } from './data-dir.js';
import { withClient, type ServerAddress } from './pg-client.js';
import type { OsUser } from './postgres-binaries.js';

/** How long to wait for the walsender of a stopped replica to release its slot. @defaultValue `15000` */
export const SLOT_RELEASE_TIMEOUT_MS = 15_000;

/** A running server to copy from. */
export interface BackupSource extends ServerAddress {
  readonly name: string;
  readonly dataDir: string;
}

/**
 * Makes sure the physical replication slot `slotName` exists on `source`.
 *
 * With `fresh`, an existing slot is dropped and made again: the replica about to use
 * it starts from a new base backup, and an old slot may have lost the WAL it
 * reserved. Without it, only a slot that lost its WAL is made again. A slot still held by a walsender (a replica that just stopped) is
 * waited for.
 */
export async function ensureSlot(source: BackupSource, slotName: string, options: { fresh: boolean }): Promise<void> {
  await withClient(source, async (client) => {
    const deadline = performance.now() + SLOT_RELEASE_TIMEOUT_MS;
    for (;;) {
      const { rows } = await client.query<{ active: boolean; wal_status: string | null }>(
        'SELECT active, wal_status FROM pg_replication_slots WHERE slot_name = $1', [slotName]);
      const slot = rows[0];
      if (slot === undefined) break;
      // A slot whose WAL was removed (max_slot_wal_keep_size) can never be streamed from.
      if (!options.fresh && slot.wal_status !== 'lost') return;
      if (!slot.active) {
        await client.query('SELECT pg_drop_replication_slot($1)', [slotName]);
        break;
      }
      if (performance.now() > deadline) {
        throw new PostgresBackupError(source.name, `replication slot "${slotName}" is still in use by a connected replica; stop that replica first`);
      }
      await delay(100);
    }
    // Reserving WAL now keeps every segment the copy will need until it streams.
    await client.query('SELECT pg_create_physical_replication_slot($1, true)', [slotName]);
  });
}

/** Drops a replication slot if it exists and nobody streams from it. */
export async function dropSlot(source: ServerAddress, slotName: string): Promise<void> {
  await withClient(source, (client) => client.query(
    'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [slotName]));
}

/** Options of {@link takeBaseBackup}. */
export interface BaseBackupOptions {
  source: BackupSource;
  /** Must not exist yet, or be empty. */
  targetDir: string;
  /** Created on the source first, so the WAL the copy needs is kept until it streams. */
  slotName: string;
  owner: OsUser | undefined;
  label?: string;
}

/**
 * Copies a running primary with PostgreSQL's low-level backup API: create the
 * replica's slot, `pg_backup_start` on a session kept open for the whole copy, copy
 * the files without those the API excludes, `pg_backup_stop`, then write its label
 * file as `backup_label` (and `tablespace_map` when not empty) into the copy.
 *
 * The copy has no WAL: started as a standby with that slot, it streams from the
 * backup's start and is consistent once it has replayed to the backup's end.
 */
export async function takeBaseBackup(options: BaseBackupOptions): Promise<void> {
  const { source, targetDir, owner } = options;
  await ensureSlot(source, options.slotName, { fresh: true });
  try {
    await withClient(source, async (client) => {
      await client.query('SELECT pg_backup_start($1, fast => true)', [options.label ?? `scaleout ${options.slotName}`]);
      await makeOwnedDir(targetDir, owner);
      // No fsync here: pg_control in the copy says "in production", so the server
      // flushes the whole data directory itself before it replays anything.
      await copyDataDir(source.dataDir, targetDir, { filter: baseBackupFilter, owner });
      const { rows } = await client.query<{ labelfile: string; spcmapfile: string | null }>(
        'SELECT labelfile, spcmapfile FROM pg_backup_stop(wait_for_archive => false)');
      const stopped = rows[0];
      if (stopped === undefined) throw new Error('pg_backup_stop returned no row');
      // Both must be written byte for byte: recovery reads its start point from them.
      await writeOwnedFile(join(targetDir, 'backup_label'), stopped.labelfile, owner);
      if (stopped.spcmapfile !== null && stopped.spcmapfile !== '') {
        await writeOwnedFile(join(targetDir, 'tablespace_map'), stopped.spcmapfile, owner);
      }
      for (const dir of ['pg_wal/archive_status', 'pg_wal/summaries']) await makeOwnedDir(join(targetDir, dir), owner);
    });
  } catch (err) {
    // Closing the session already aborted the backup; release the WAL the slot pins.
    await dropSlot(source, options.slotName).catch(() => undefined);
    await removeDataDir(targetDir).catch(() => undefined);
    if (err instanceof PostgresBackupError) throw err;
    throw new PostgresBackupError(source.name, err instanceof Error ? err.message : String(err), { cause: err });
  }
}
