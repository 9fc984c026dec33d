import type { Queryable, ShardBackend } from './backend.js';
import { HASH_ID } from './bucket-hash.js';
import { ShardDirectoryCorruptError, ShardMetaMismatchError, ShardUnknownError } from './errors.js';

/**
 * Logical buckets in a new directory. Fixed for the life of the data: a move
 * re-homes whole buckets, so 4096 lets up to a few thousand shards share load
 * evenly while the directory stays a few hundred kilobytes in every router.
 * @defaultValue 4096
 */
export const DEFAULT_BUCKETS = 4096;

/**
 * A bucket's place in a move, as the directory records it:
 *
 *     active ──► copying ──► fenced ──► cleanup ──► active
 *     (shard=S)  (peer=T)    (peer=T)   (shard=T, peer=S: S still holds a copy to delete)
 *                  └──── abort ───┘──► active (shard=S)
 */
export type BucketState = 'active' | 'copying' | 'fenced' | 'cleanup';

const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS scaleout_shard_meta (
  id int PRIMARY KEY CHECK (id = 1),
  buckets int NOT NULL,
  hash text NOT NULL,
  version bigint NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS scaleout_shard_directory (
  bucket int PRIMARY KEY,
  shard text NOT NULL,
  version bigint NOT NULL DEFAULT 1,
  state text NOT NULL DEFAULT 'active',
  peer text
);
`;

/** The stored, immutable facts about a directory. */
export interface DirectoryMeta {
  buckets: number;
  hash: string;
  /** Bumped on every switch; routers poll it to know when to reload. */
  version: string;
}

/** One bucket whose move is under way (or was interrupted). */
export interface PendingBucket {
  bucket: number;
  shard: string;
  state: Exclude<BucketState, 'active'>;
  peer: string;
}

/**
 * An in-memory copy of the directory: bucket to shard index, one array lookup.
 * Immutable; a reload builds a new one and swaps the reference.
 */
export class DirectoryMap {
  readonly version: string;
  readonly shardNames: readonly string[];
  readonly #shardOf: Uint16Array;
  readonly #owned: number[][];

  constructor(version: string, shardNames: readonly string[], shardOf: Uint16Array) {
    this.version = version;
    this.shardNames = shardNames;
    this.#shardOf = shardOf;
    this.#owned = shardNames.map(() => []);
    for (let b = 0; b < shardOf.length; b++) this.#owned[shardOf[b]!]!.push(b);
  }

  get buckets(): number {
    return this.#shardOf.length;
  }

  /** Index into `shardNames` of the shard that owns `bucket`. */
  shardIndexOf(bucket: number): number {
    return this.#shardOf[bucket]!;
  }

  shardOf(bucket: number): string {
    return this.shardNames[this.#shardOf[bucket]!]!;
  }

  /** The buckets a shard owns, ascending. */
  ownedBy(shard: string): readonly number[] {
    const i = this.shardNames.indexOf(shard);
    return i < 0 ? [] : this.#owned[i]!;
  }
}

function parseMeta(row: Record<string, unknown>): DirectoryMeta {
  const buckets = Number(row.buckets);
  if (!Number.isInteger(buckets) || buckets < 1 || buckets > 65_536) {
    throw new ShardDirectoryCorruptError(`scaleout_shard_meta.buckets is ${String(row.buckets)}`);
  }
  return { buckets, hash: String(row.hash), version: String(row.version) };
}

async function readMeta(db: Queryable): Promise<DirectoryMeta | undefined> {
  const res = await db.query('SELECT buckets, hash, version::text AS version FROM scaleout_shard_meta WHERE id = 1');
  const row = res.rows[0];
  return row === undefined ? undefined : parseMeta(row);
}

/**
 * Creates the directory on first use (every bucket spread over `shardNames` in
 * contiguous ranges) and checks the stored bucket count and hash against what the
 * caller asked for. Concurrent first starts are serialised by an advisory lock.
 */
export async function ensureDirectory(directory: ShardBackend, shardNames: readonly string[],
  requestedBuckets: number | undefined): Promise<DirectoryMeta> {
  return directory.transaction(async (tx) => {
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext('scaleout.shard_directory'))`);
    await tx.query(SCHEMA_SQL);
    let meta = await readMeta(tx);
    if (meta === undefined) {
      const rows = await tx.query('SELECT 1 FROM scaleout_shard_directory LIMIT 1');
      if (rows.rows.length > 0) throw new ShardDirectoryCorruptError('scaleout_shard_directory has rows but scaleout_shard_meta has none');
      const buckets = requestedBuckets ?? DEFAULT_BUCKETS;
      await tx.query('INSERT INTO scaleout_shard_meta (id, buckets, hash) VALUES (1, $1, $2)', [buckets, HASH_ID]);
      await tx.query(
        `INSERT INTO scaleout_shard_directory (bucket, shard)
         SELECT b, ($2::text[])[1 + (b::bigint * $3) / $1] FROM generate_series(0, $1 - 1) AS b`,
        [buckets, [...shardNames], shardNames.length]);
      meta = { buckets, hash: HASH_ID, version: '1' };
    }
    if (meta.hash !== HASH_ID) throw new ShardMetaMismatchError('hash', meta.hash, HASH_ID);
    if (requestedBuckets !== undefined && requestedBuckets !== meta.buckets) {
      throw new ShardMetaMismatchError('buckets', String(meta.buckets), String(requestedBuckets));
    }
    return meta;
  });
}

/** Reads the directory's version (cheap: one row) so a router knows whether to reload. */
export async function readDirectoryVersion(directory: Queryable): Promise<string> {
  const meta = await readMeta(directory);
  if (meta === undefined) throw new ShardDirectoryCorruptError('scaleout_shard_meta is empty');
  return meta.version;
}

/**
 * Loads and validates the whole directory. Every bucket in `[0, buckets)` must appear
 * exactly once and name a configured shard; otherwise nothing is routed at all.
 */
export async function loadDirectory(directory: Queryable, shardNames: readonly string[],
  expected: DirectoryMeta): Promise<DirectoryMap> {
  // One statement, so one snapshot: the version always matches the rows read with it.
  const res = await directory.query(
    `SELECT m.buckets, m.hash, m.version::text AS version,
            (SELECT array_agg(bucket ORDER BY bucket) FROM scaleout_shard_directory) AS bucket_list,
            (SELECT array_agg(shard ORDER BY bucket) FROM scaleout_shard_directory) AS shard_list
       FROM scaleout_shard_meta m WHERE m.id = 1`);
  const row = res.rows[0];
  if (row === undefined) throw new ShardDirectoryCorruptError('scaleout_shard_meta is empty');
  const meta = parseMeta(row);
  if (meta.hash !== expected.hash) throw new ShardMetaMismatchError('hash', meta.hash, expected.hash);
  if (meta.buckets !== expected.buckets) {
    throw new ShardMetaMismatchError('buckets', String(meta.buckets), String(expected.buckets));
  }
  const bucketList = Array.isArray(row.bucket_list) ? row.bucket_list as unknown[] : [];
  const shardList = Array.isArray(row.shard_list) ? row.shard_list as unknown[] : [];
  const index = new Map(shardNames.map((n, i) => [n, i] as const));
  const shardOf = new Uint16Array(meta.buckets);
  if (bucketList.length !== meta.buckets) {
    throw new ShardDirectoryCorruptError(`scaleout_shard_directory has ${bucketList.length} rows for ${meta.buckets} buckets`);
  }
  for (let i = 0; i < bucketList.length; i++) {
    if (Number(bucketList[i]) !== i) {
      throw new ShardDirectoryCorruptError(`bucket ${i} is missing (found ${String(bucketList[i])} in its place)`);
    }
    const shard = String(shardList[i]);
    const at = index.get(shard);
    if (at === undefined) throw new ShardUnknownError(shard, shardNames);
    shardOf[i] = at;
  }
  return new DirectoryMap(meta.version, shardNames, shardOf);
}

/** Buckets whose move started and did not finish, for recovery. */
export async function readPendingBuckets(directory: Queryable): Promise<PendingBucket[]> {
  const res = await directory.query(
    `SELECT bucket, shard, state, peer FROM scaleout_shard_directory WHERE state <> 'active' ORDER BY bucket`);
  return res.rows.map((r) => ({
    bucket: Number(r.bucket), shard: String(r.shard),
    state: String(r.state) as PendingBucket['state'], peer: String(r.peer),
  }));
}

/** Records a move step for `buckets` without changing who owns them (no version bump). */
export async function setBucketState(directory: Queryable, buckets: readonly number[],
  state: BucketState, peer: string | null): Promise<void> {
  await directory.query('UPDATE scaleout_shard_directory SET state = $2, peer = $3 WHERE bucket = ANY($1::int[])',
    [[...buckets], state, peer]);
}

/**
 * The switch: `buckets` now belong to `target`, and the directory version moves so
 * every router reloads. `source` is kept as the peer until its copy is deleted.
 */
export async function switchBuckets(directory: ShardBackend, buckets: readonly number[],
  source: string, target: string): Promise<void> {
  await directory.transaction(async (tx) => {
    await tx.query(
      `UPDATE scaleout_shard_directory SET shard = $2, state = 'cleanup', peer = $3, version = version + 1
        WHERE bucket = ANY($1::int[])`, [[...buckets], target, source]);
    await tx.query('UPDATE scaleout_shard_meta SET version = version + 1 WHERE id = 1');
  });
}
