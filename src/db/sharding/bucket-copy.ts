import type { Queryable, ShardBackend } from './backend.js';
import { BUCKET_COLUMN, BYPASS_SETTING, q, type TableInfo } from './shard-schema.js';
import { FOREIGN_KEY_VIOLATION, sqlState } from './sql-state.js';

/** One sharded table as seen on the source and on the target of a move. */
export interface TablePair {
  table: string;
  source: TableInfo;
  target: TableInfo;
}

/** Row count and order-independent checksum of some buckets of one table. */
export interface BucketChecksum {
  rows: number;
  checksum: string;
}

/** Runs `fn` in a transaction whose writes pass the guard trigger unchecked and uncaptured. */
export function withBypass<T>(backend: ShardBackend, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  return backend.transaction(async (tx) => {
    await tx.query(`SELECT set_config('${BYPASS_SETTING}', 'on', true)`);
    return fn(tx);
  });
}

const list = (cols: readonly string[], prefix = ''): string => cols.map((c) => prefix + q(c)).join(', ');

/**
 * Rows travel as the source's `row_to_json` text and are rebuilt on the target with
 * `json_populate_recordset`, so no value passes through a JavaScript number (int8,
 * numeric and floats keep every digit).
 */
function upsertSql(pair: TablePair, update: boolean): string {
  const cols = pair.source.columns;
  const nonKey = cols.filter((c) => !pair.source.primaryKey.includes(c));
  const conflict = update && nonKey.length > 0
    ? `ON CONFLICT (${list(pair.source.primaryKey)}) DO UPDATE SET ${nonKey.map((c) => `${q(c)} = EXCLUDED.${q(c)}`).join(', ')}`
    : 'ON CONFLICT DO NOTHING';
  return `INSERT INTO ${q(pair.table)} (${list(cols)}) OVERRIDING SYSTEM VALUE
    SELECT ${list(cols)} FROM json_populate_recordset(NULL::${q(pair.table)}, $1::json) ${conflict}`;
}

const jsonArray = (texts: readonly string[]): string => `[${texts.join(',')}]`;

/**
 * Copies every row of `buckets` from source to target in primary-key order, `batchRows`
 * at a time, each batch in its own short transaction (no long snapshot on the source).
 * Rows already on the target are left alone: the catch-up brings them up to date.
 *
 * A row whose parent (foreign key) is not on the target yet is retried after the
 * table's pass; if its parent still is not there, the parent was written after the
 * capture started, so the row was too, and the catch-up (which writes parents first)
 * brings both. Whatever slips through that reasoning is caught by the verification.
 */
export async function copyBuckets(source: Queryable, target: ShardBackend, pair: TablePair,
  buckets: readonly number[], batchRows: number): Promise<number> {
  const pk = pair.source.primaryKey;
  const keyText = pk.map((c, i) => `t.${q(c)}::text AS k${i}`).join(', ');
  const insert = upsertSql(pair, false);
  const orphans: string[] = [];
  let after: string[] | undefined;
  let copied = 0;
  const insertOne = async (row: string): Promise<boolean> => {
    try {
      await withBypass(target, (tx) => tx.query(insert, [jsonArray([row])]));
      return true;
    } catch (err) {
      if (sqlState(err) !== FOREIGN_KEY_VIOLATION) throw err;
      return false;
    }
  };
  for (;;) {
    const from = after === undefined ? '' : `AND ROW(${list(pk, 't.')}) > ROW(${pk.map((_, i) => `$${i + 3}`).join(', ')})`;
    const res = await source.query(
      `SELECT row_to_json(t)::text AS r, ${keyText} FROM ${q(pair.table)} t
        WHERE t.${q(BUCKET_COLUMN)} = ANY($1::int[]) ${from} ORDER BY ${list(pk, 't.')} LIMIT $2`,
      [[...buckets], batchRows, ...(after ?? [])]);
    if (res.rows.length === 0) break;
    const rows = res.rows.map((r) => String(r.r));
    try {
      await withBypass(target, (tx) => tx.query(insert, [jsonArray(rows)]));
      copied += rows.length;
    } catch (err) {
      if (sqlState(err) !== FOREIGN_KEY_VIOLATION) throw err;
      for (const row of rows) {
        if (await insertOne(row)) copied++;
        else orphans.push(row);
      }
    }
    const last = res.rows[res.rows.length - 1]!;
    after = pk.map((_, i) => String(last[`k${i}`]));
    if (res.rows.length < batchRows) break;
  }
  // Parents later in the same table (self references) may have arrived meanwhile.
  for (let progress = true; progress && orphans.length > 0;) {
    progress = false;
    for (let i = orphans.length - 1; i >= 0; i--) {
      if (await insertOne(orphans[i]!)) {
        orphans.splice(i, 1);
        copied++;
        progress = true;
      }
    }
  }
  return copied;
}

/**
 * Replays up to `limit` captured changes: for each changed primary key, the row as it
 * is now on the source is upserted on the target, or deleted there when it is gone.
 * Re-reading instead of replaying each change makes the replay idempotent and
 * indifferent to the order in which concurrent transactions committed. All of a round
 * is applied in one target transaction: deletes children first, upserts parents first
 * (`pairs` is in parent-first order). Returns how many change records were consumed.
 */
export async function applyChanges(source: Queryable, target: ShardBackend, pairs: readonly TablePair[],
  buckets: readonly number[], limit: number): Promise<number> {
  const changes = await source.query(
    `SELECT id::text AS id, tbl, pk::text AS pk FROM scaleout_reshard_changes
      WHERE bucket = ANY($1::int[]) ORDER BY id LIMIT $2`, [[...buckets], limit]);
  if (changes.rows.length === 0) return 0;
  const byTable = new Map<string, Set<string>>();
  for (const c of changes.rows) {
    const tbl = String(c.tbl);
    let keys = byTable.get(tbl);
    if (keys === undefined) byTable.set(tbl, keys = new Set());
    keys.add(String(c.pk));
  }
  const work: { pair: TablePair; present: string[]; gone: string[] }[] = [];
  // Tables no longer declared as sharded are skipped: their changes are not this move's business.
  for (const pair of pairs) {
    const keys = byTable.get(pair.table);
    if (keys === undefined) continue;
    const pk = pair.source.primaryKey;
    const current = await source.query(
      `SELECT k.value::text AS pk,
              (SELECT row_to_json(t)::text FROM ${q(pair.table)} t WHERE ROW(${list(pk, 't.')}) = ROW(${list(pk, 'x.')})) AS r
         FROM jsonb_array_elements($1::jsonb) k, jsonb_populate_record(NULL::${q(pair.table)}, k.value) x`,
      [jsonArray([...keys])]);
    const item = { pair, present: [] as string[], gone: [] as string[] };
    for (const row of current.rows) {
      if (row.r === null || row.r === undefined) item.gone.push(String(row.pk));
      else item.present.push(String(row.r));
    }
    work.push(item);
  }
  await withBypass(target, async (tx) => {
    for (const { pair, gone } of [...work].reverse()) {
      if (gone.length === 0) continue;
      const pk = pair.source.primaryKey;
      await tx.query(
        `DELETE FROM ${q(pair.table)} t USING jsonb_populate_recordset(NULL::${q(pair.table)}, $1::jsonb) x
          WHERE ROW(${list(pk, 't.')}) = ROW(${list(pk, 'x.')})`, [jsonArray(gone)]);
    }
    for (const { pair, present } of work) {
      if (present.length > 0) await tx.query(upsertSql(pair, true), [jsonArray(present)]);
    }
  });
  await source.query('DELETE FROM scaleout_reshard_changes WHERE id = ANY($1::bigint[])',
    [changes.rows.map((c) => String(c.id))]);
  return changes.rows.length;
}

/** How many captured changes of `buckets` wait to be replayed. */
export async function changeBacklog(source: Queryable, buckets: readonly number[]): Promise<number> {
  const res = await source.query('SELECT count(*)::int AS n FROM scaleout_reshard_changes WHERE bucket = ANY($1::int[])',
    [[...buckets]]);
  return Number(res.rows[0]?.n ?? 0);
}

/**
 * Count and checksum of the rows of `buckets`: the sum of the first 60 bits of each
 * row's md5 over its canonical jsonb text (keys sorted, so column order does not
 * matter), minus columns only one side has. Order-independent and constant-memory.
 */
export async function checksumBuckets(db: Queryable, table: string, buckets: readonly number[],
  excludeColumns: readonly string[]): Promise<BucketChecksum> {
  const res = await db.query(
    `SELECT count(*)::text AS n,
            COALESCE(sum(('x' || substr(md5((to_jsonb(t) - $2::text[])::text), 1, 15))::bit(60)::bigint::numeric), 0)::text AS s
       FROM ${q(table)} t WHERE t.${q(BUCKET_COLUMN)} = ANY($1::int[])`, [[...buckets], [...excludeColumns]]);
  return { rows: Number(res.rows[0]?.n ?? 0), checksum: String(res.rows[0]?.s ?? '0') };
}

/** Deletes the rows of `buckets` in batches (each its own transaction), passing the guard. */
export async function deleteBucketRows(backend: ShardBackend, table: string, buckets: readonly number[],
  batchRows: number): Promise<number> {
  let deleted = 0;
  for (;;) {
    const res = await withBypass(backend, (tx) => tx.query(
      `DELETE FROM ${q(table)} WHERE ctid = ANY(ARRAY(
         SELECT ctid FROM ${q(table)} WHERE ${q(BUCKET_COLUMN)} = ANY($1::int[]) LIMIT $2))`, [[...buckets], batchRows]));
    deleted += res.rowCount ?? 0;
    if ((res.rowCount ?? 0) < batchRows) return deleted;
  }
}

/** Sets the guard state of `buckets` on one shard (see `scaleout_bucket_fence`). */
export async function setFence(db: Queryable, buckets: readonly number[],
  state: 'capturing' | 'fenced' | 'moved'): Promise<void> {
  await db.query(
    `INSERT INTO scaleout_bucket_fence (bucket, state) SELECT unnest($1::int[]), $2
     ON CONFLICT (bucket) DO UPDATE SET state = EXCLUDED.state, changed_at = now()`, [[...buckets], state]);
}

/** Lifts any guard state of `buckets` on one shard, and drops their captured changes. */
export async function clearFence(db: Queryable, buckets: readonly number[]): Promise<void> {
  await db.query('DELETE FROM scaleout_bucket_fence WHERE bucket = ANY($1::int[])', [[...buckets]]);
  await db.query('DELETE FROM scaleout_reshard_changes WHERE bucket = ANY($1::int[])', [[...buckets]]);
}
