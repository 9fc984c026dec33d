import type { Queryable, ShardBackend } from './backend.js';
import { ShardTableError } from './errors.js';

/**
 * SQLSTATE raised by a shard's guard trigger when a write touches a bucket that is
 * fenced for a move or has moved away. Routers catch it, refresh the directory and
 * retry on the shard it names.
 */
export const MOVED_SQLSTATE = 'SOM01';
/** SQLSTATE raised when an UPDATE would move a row to another bucket. */
export const KEY_CHANGED_SQLSTATE = 'SOK01';
/** Setting under which a move's own copies and deletes pass the guard unchecked and uncaptured. */
export const BYPASS_SETTING = 'scaleout.reshard';
/** The column every sharded table carries: the row's bucket, computed by the shard itself. */
export const BUCKET_COLUMN = 'bucket';

/** How a sharded table is declared. */
export interface ShardedTable {
  /** The column whose value picks the bucket. Its `::text` form is what is hashed. */
  shardKey: string;
}

/** What a move needs to know about one table on one shard. */
export interface TableInfo {
  /** Columns a copy writes, in table order (generated columns excluded). */
  columns: string[];
  primaryKey: string[];
}

/** A plain SQL identifier: table and column names are spliced into generated SQL. */
export const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export const q = (name: string): string => `"${name.replace(/"/g, '""')}"`;

// Bit operations are done in bigint with explicit 32-bit masks; 32x32-bit products are
// split into 16-bit halves so no intermediate leaves the signed 64-bit range.
const MURMUR3_SQL = `
CREATE OR REPLACE FUNCTION scaleout_murmur3_32(key text) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $murmur$
DECLARE
  b bytea := convert_to(key, 'UTF8');
  len int := length(b);
  block_end int := len - (len % 4);
  h bigint := 0;
  k bigint;
  i int := 0;
BEGIN
  WHILE i < block_end LOOP
    k := get_byte(b, i)::bigint | (get_byte(b, i + 1)::bigint << 8)
       | (get_byte(b, i + 2)::bigint << 16) | (get_byte(b, i + 3)::bigint << 24);
    k := (k * 11601 + (((k * 52382) & 65535) << 16)) & 4294967295;
    k := ((k << 15) | (k >> 17)) & 4294967295;
    k := (k * 13715 + (((k * 7047) & 65535) << 16)) & 4294967295;
    h := h # k;
    h := ((h << 13) | (h >> 19)) & 4294967295;
    h := (h * 5 + 3864292196) & 4294967295;
    i := i + 4;
  END LOOP;
  IF len % 4 > 0 THEN
    k := 0;
    IF len % 4 = 3 THEN k := k # (get_byte(b, block_end + 2)::bigint << 16); END IF;
    IF len % 4 >= 2 THEN k := k # (get_byte(b, block_end + 1)::bigint << 8); END IF;
    k := k # get_byte(b, block_end)::bigint;
    k := (k * 11601 + (((k * 52382) & 65535) << 16)) & 4294967295;
    k := ((k << 15) | (k >> 17)) & 4294967295;
    k := (k * 13715 + (((k * 7047) & 65535) << 16)) & 4294967295;
    h := h # k;
  END IF;
  h := h # len;
  h := h # (h >> 16);
  h := (h * 51819 + (((h * 34283) & 65535) << 16)) & 4294967295;
  h := h # (h >> 13);
  h := (h * 44597 + (((h * 49842) & 65535) << 16)) & 4294967295;
  h := h # (h >> 16);
  RETURN h;
END $murmur$;

CREATE OR REPLACE FUNCTION scaleout_bucket(key text, buckets int) RETURNS int
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT (scaleout_murmur3_32(key) % buckets)::int $$;
`;

// One row per bucket that a move is working on, on the source shard:
//   (none) --capture--> capturing --fence--> fenced --switch--> moved (tombstone)
//                           \___________ abort ___________/--> (none)
// "capturing": writes pass and their primary keys are logged for the catch-up;
// "fenced" and "moved": writes fail with MOVED_SQLSTATE. The tombstone stays so a
// router with a stale directory can never write into the old home.
const SUPPORT_SQL = `
CREATE TABLE IF NOT EXISTS scaleout_bucket_fence (
  bucket int PRIMARY KEY,
  state text NOT NULL CHECK (state IN ('capturing', 'fenced', 'moved')),
  changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS scaleout_reshard_changes (
  id bigserial PRIMARY KEY,
  tbl text NOT NULL,
  bucket int NOT NULL,
  pk jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS scaleout_reshard_changes_bucket_idx ON scaleout_reshard_changes (bucket, id);
`;

/** The per-table guard: computes the bucket, refuses fenced writes, logs changes of buckets being copied. */
function guardFunctionSql(table: string, spec: ShardedTable, primaryKey: readonly string[], buckets: number): string {
  const pkJson = (rec: 'NEW' | 'OLD') =>
    `jsonb_build_object(${primaryKey.map((c) => `'${c}', ${rec}.${q(c)}`).join(', ')})`;
  const pkRow = (rec: 'NEW' | 'OLD') => `ROW(${primaryKey.map((c) => `${rec}.${q(c)}`).join(', ')})`;
  return `
CREATE OR REPLACE FUNCTION ${q(`scaleout_guard_${table}`)}() RETURNS trigger LANGUAGE plpgsql AS $guard$
DECLARE
  b int;
  st text;
BEGIN
  -- Hashing in PL/pgSQL costs microseconds: an UPDATE that keeps the key keeps the bucket.
  IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND (OLD.${q(BUCKET_COLUMN)} IS NULL
      OR NEW.${q(spec.shardKey)}::text IS DISTINCT FROM OLD.${q(spec.shardKey)}::text)) THEN
    NEW.${q(BUCKET_COLUMN)} := scaleout_bucket(NEW.${q(spec.shardKey)}::text, ${buckets});
  ELSIF TG_OP = 'UPDATE' THEN
    NEW.${q(BUCKET_COLUMN)} := OLD.${q(BUCKET_COLUMN)};
  END IF;
  IF current_setting('${BYPASS_SETTING}', true) = 'on' THEN
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
  END IF;
  IF TG_OP = 'INSERT' THEN
    b := NEW.${q(BUCKET_COLUMN)};
  ELSE
    b := OLD.${q(BUCKET_COLUMN)};
    IF TG_OP = 'UPDATE' AND b IS NOT NULL AND NEW.${q(BUCKET_COLUMN)} IS DISTINCT FROM b THEN
      RAISE EXCEPTION 'scaleout: an UPDATE of "${table}" moves a row from bucket % to bucket %', b, NEW.${q(BUCKET_COLUMN)}
        USING ERRCODE = '${KEY_CHANGED_SQLSTATE}';
    END IF;
  END IF;
  SELECT state INTO st FROM scaleout_bucket_fence WHERE bucket = b;
  IF FOUND THEN
    IF st <> 'capturing' THEN
      RAISE EXCEPTION 'scaleout: bucket % is % on this shard', b, st
        USING ERRCODE = '${MOVED_SQLSTATE}', DETAIL = b::text,
              HINT = 'refresh the shard directory and retry on the shard it names';
    END IF;
    IF TG_OP <> 'INSERT' THEN
      INSERT INTO scaleout_reshard_changes (tbl, bucket, pk) VALUES ('${table}', b, ${pkJson('OLD')});
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND ${pkRow('NEW')} IS DISTINCT FROM ${pkRow('OLD')}) THEN
      INSERT INTO scaleout_reshard_changes (tbl, bucket, pk) VALUES ('${table}', b, ${pkJson('NEW')});
    END IF;
  END IF;
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END $guard$;
`;
}

/** Columns and primary key of `table`, or undefined when the table does not exist. */
export async function readTableInfo(db: Queryable, table: string): Promise<TableInfo | undefined> {
  const cols = await db.query(
    `SELECT a.attname AS name,
            COALESCE((SELECT k.n FROM pg_index i, unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
                       WHERE i.indrelid = a.attrelid AND i.indisprimary AND k.attnum = a.attnum), 0) AS pk_pos
       FROM pg_attribute a
      WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
      ORDER BY a.attnum`, [q(table)]);
  if (cols.rows.length === 0) return undefined;
  const columns = cols.rows.map((r) => String(r.name));
  const primaryKey = cols.rows
    .filter((r) => Number(r.pk_pos) > 0)
    .sort((a, b) => Number(a.pk_pos) - Number(b.pk_pos))
    .map((r) => String(r.name));
  return { columns, primaryKey };
}

/**
 * Makes one shard ready: support tables and functions, and for each sharded table a
 * `bucket` column (added and back-filled when missing), an index on it, and the guard
 * trigger. Idempotent and serialised by an advisory lock, so every router may run it
 * at start-up; DDL that takes table locks runs only when something is missing.
 */
export async function prepareShard(backend: ShardBackend, shardName: string,
  tables: Readonly<Record<string, ShardedTable>>, buckets: number): Promise<Map<string, TableInfo>> {
  return backend.transaction(async (tx) => {
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext('scaleout.shard_schema'))`);
    await tx.query(MURMUR3_SQL);
    // CREATE INDEX IF NOT EXISTS would lock the change log against captured writes even
    // when the index exists, and routers start while moves run.
    const support = await tx.query(
      `SELECT to_regclass('scaleout_bucket_fence') IS NOT NULL
          AND to_regclass('scaleout_reshard_changes_bucket_idx') IS NOT NULL AS ready`);
    if (support.rows[0]?.ready !== true) await tx.query(SUPPORT_SQL);
    const infos = new Map<string, TableInfo>();
    for (const [table, spec] of Object.entries(tables)) {
      const info = await readTableInfo(tx, table);
      if (info === undefined) throw new ShardTableError(table, shardName, 'does not exist');
      if (info.primaryKey.length === 0) throw new ShardTableError(table, shardName, 'has no primary key');
      if (!info.columns.includes(spec.shardKey)) {
        throw new ShardTableError(table, shardName, `has no column "${spec.shardKey}" (its declared shard key)`);
      }
      await tx.query(guardFunctionSql(table, spec, info.primaryKey, buckets));
      const addBucket = !info.columns.includes(BUCKET_COLUMN);
      if (addBucket) {
        await tx.query(`ALTER TABLE ${q(table)} ADD COLUMN ${q(BUCKET_COLUMN)} int`);
        info.columns.push(BUCKET_COLUMN);
      }
      const trig = await tx.query(
        `SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass($1) AND tgname = 'scaleout_guard'`, [q(table)]);
      if (trig.rows.length === 0) {
        await tx.query(`CREATE TRIGGER scaleout_guard BEFORE INSERT OR UPDATE OR DELETE ON ${q(table)}
          FOR EACH ROW EXECUTE FUNCTION ${q(`scaleout_guard_${table}`)}()`);
      }
      const missing = await tx.query(`SELECT 1 FROM ${q(table)} WHERE ${q(BUCKET_COLUMN)} IS NULL LIMIT 1`);
      if (missing.rows.length > 0) {
        await tx.query(`UPDATE ${q(table)} SET ${q(BUCKET_COLUMN)} = scaleout_bucket(${q(spec.shardKey)}::text, ${buckets})
          WHERE ${q(BUCKET_COLUMN)} IS NULL`);
      }
      if (addBucket || missing.rows.length > 0) {
        await tx.query(`ALTER TABLE ${q(table)} ALTER COLUMN ${q(BUCKET_COLUMN)} SET NOT NULL`);
      }
      // CREATE INDEX IF NOT EXISTS would still lock the table against writes at every start-up.
      const index = `${table}_scaleout_bucket_idx`;
      const hasIndex = await tx.query('SELECT to_regclass($1) IS NOT NULL AS present', [q(index)]);
      if (hasIndex.rows[0]?.present !== true) {
        await tx.query(`CREATE INDEX ${q(index)} ON ${q(table)} (${q(BUCKET_COLUMN)})`);
      }
      infos.set(table, info);
    }
    return infos;
  });
}

/**
 * The declared tables ordered parents first, by the foreign keys between them on
 * this shard: copies and upserts go in this order, deletes in the reverse one.
 * Tables in a cycle keep their declaration order.
 */
export async function orderTables(db: Queryable, tables: readonly string[]): Promise<string[]> {
  const res = await db.query(
    `WITH t AS (SELECT name, to_regclass(quote_ident(name)) AS oid FROM unnest($1::text[]) AS name)
     SELECT c.name AS child, p.name AS parent
       FROM pg_constraint k JOIN t c ON c.oid = k.conrelid JOIN t p ON p.oid = k.confrelid
      WHERE k.contype = 'f' AND c.name <> p.name`, [[...tables]]);
  const parents = new Map<string, Set<string>>(tables.map((t) => [t, new Set()]));
  for (const r of res.rows) parents.get(String(r.child))?.add(String(r.parent));
  const ordered: string[] = [];
  const placed = new Set<string>();
  while (ordered.length < tables.length) {
    const next = tables.find((t) => !placed.has(t) && [...parents.get(t)!].every((p) => placed.has(p)))
      ?? tables.find((t) => !placed.has(t))!;
    placed.add(next);
    ordered.push(next);
  }
  return ordered;
}
