import type { Queryable } from '../sharding/backend.js';
import { DocumentConfigError, DocumentExistsError, DocumentNotFoundError, DocumentVersionConflictError } from './errors.js';
import { resolveDocumentColumns } from './document-options.js';
import { compilePatch, toJson, type PatchOperation } from './patch-sql.js';

/** A document's key: the value of the key column (and, on a sharded table, its shard key). */
export type DocumentKey = string | number | bigint;

/** Anything that gives a connection for a key: a sharded database's `forKey`. */
export interface KeyRouter {
  forKey(key: DocumentKey): Queryable;
}

// Defined with the documents' other defaults; still exported from here.
export { DEFAULT_DOC_COLUMN, DEFAULT_KEY_COLUMN, DEFAULT_VERSION_COLUMN } from './document-options.js';

export interface DocumentStoreOptions {
  /** A plain database, or a sharded one (documents are then routed by key). */
  db: Queryable | KeyRouter;
  table: string;
  /** @defaultValue 'id' */
  keyColumn?: string;
  /** A jsonb column. @defaultValue 'doc' */
  docColumn?: string;
  /** A bigint column, 1 at creation, +1 on every change. @defaultValue 'version' */
  versionColumn?: string;
}

/** A document with the version it was read or written at. */
export interface StoredDocument<T> {
  doc: T;
  version: number;
}

/** Optimistic concurrency: the write applies only if the stored version is this one. */
export interface WriteOptions {
  expectedVersion?: number;
}

const q = (name: string): string => `"${name}"`;

/**
 * The table a document store expects (run it on every shard when sharded).
 * @example await db.shard(name).query(documentTableSql('carts'))
 */
export function documentTableSql(table: string, keyType = 'text', options: Omit<DocumentStoreOptions, 'db' | 'table'> = {}): string {
  const [k, d, v] = names(table, options);
  if (!/^[A-Za-z][A-Za-z0-9 ]*$/.test(keyType)) throw new DocumentConfigError(`keyType "${keyType}" is not a type name`);
  return `CREATE TABLE IF NOT EXISTS ${q(table)} (
  ${k} ${keyType} PRIMARY KEY,
  ${d} jsonb NOT NULL,
  ${v} bigint NOT NULL DEFAULT 1,
  updated_at timestamptz NOT NULL DEFAULT now()
)`;
}

function names(table: string, options: Omit<DocumentStoreOptions, 'db' | 'table'>): [string, string, string] {
  const { keyColumn, docColumn, versionColumn } = resolveDocumentColumns(table, options);
  return [q(keyColumn), q(docColumn), q(versionColumn)];
}

/**
 * Denormalised JSONB documents with atomic, path-level patches.
 *
 * Every change is one SQL statement that computes the new document from the row as
 * PostgreSQL locks it, so two concurrent patches of different paths both survive
 * without the caller retrying. Pass `expectedVersion` to get compare-and-set instead
 * (for changes computed from what the caller read).
 *
 * @example
 * const carts = createDocumentStore<Cart>({ db: shardedDb, table: 'carts' });
 * await carts.create(userId, { items: [] });
 * await carts.patch(userId, [{ op: 'append', path: 'items', value: { sku, qty: 1 } }, { op: 'increment', path: 'count' }]);
 */
export function createDocumentStore<T extends object = Record<string, unknown>>(options: DocumentStoreOptions) {
  const [k, d, v] = names(options.table, options);
  const t = q(options.table);
  const db = options.db;
  const route = (key: DocumentKey): Queryable => ('forKey' in db ? db.forKey(key) : db);
  const param = (key: DocumentKey): string | number => (typeof key === 'bigint' ? key.toString() : key);
  const stored = (row: Record<string, unknown> | undefined): StoredDocument<T> | undefined =>
    row === undefined ? undefined : { doc: row.doc as T, version: Number(row.version) };
  const returning = `RETURNING ${d} AS doc, ${v} AS version`;

  /** Turns an UPDATE that matched nothing into the right error. */
  async function missed(conn: Queryable, key: DocumentKey, expectedVersion: number | undefined): Promise<never> {
    if (expectedVersion === undefined) throw new DocumentNotFoundError(String(key));
    const res = await conn.query(`SELECT ${v} AS version FROM ${t} WHERE ${k} = $1`, [param(key)]);
    const row = res.rows[0];
    if (row === undefined) throw new DocumentNotFoundError(String(key));
    throw new DocumentVersionConflictError(String(key), expectedVersion, Number(row.version));
  }
  const checkVersion = (write: WriteOptions): void => {
    if (write.expectedVersion !== undefined && !Number.isSafeInteger(write.expectedVersion)) {
      throw new DocumentConfigError(`expectedVersion is ${String(write.expectedVersion)}; pass the integer version you read`);
    }
  };

  return {
    /** Inserts a new document at version 1; rejects with {@link DocumentExistsError} if the key is taken. */
    async create(key: DocumentKey, doc: T): Promise<StoredDocument<T>> {
      const res = await route(key).query(
        `INSERT INTO ${t} (${k}, ${d}, ${v}) VALUES ($1, $2::jsonb, 1) ON CONFLICT (${k}) DO NOTHING ${returning}`,
        [param(key), toJson(doc)]);
      const row = stored(res.rows[0]);
      if (row === undefined) throw new DocumentExistsError(String(key));
      return row;
    },

    async get(key: DocumentKey): Promise<StoredDocument<T> | undefined> {
      const res = await route(key).query(`SELECT ${d} AS doc, ${v} AS version FROM ${t} WHERE ${k} = $1`, [param(key)]);
      return stored(res.rows[0]);
    },

    /** Replaces the whole document (creating it unless `expectedVersion` is given). */
    async put(key: DocumentKey, doc: T, write: WriteOptions = {}): Promise<StoredDocument<T>> {
      checkVersion(write);
      const conn = route(key);
      if (write.expectedVersion === undefined) {
        const res = await conn.query(
          `INSERT INTO ${t} AS t (${k}, ${d}, ${v}) VALUES ($1, $2::jsonb, 1)
           ON CONFLICT (${k}) DO UPDATE SET ${d} = EXCLUDED.${d}, ${v} = t.${v} + 1, updated_at = now() ${returning}`,
          [param(key), toJson(doc)]);
        return stored(res.rows[0])!;
      }
      const res = await conn.query(
        `UPDATE ${t} SET ${d} = $2::jsonb, ${v} = ${v} + 1, updated_at = now() WHERE ${k} = $1 AND ${v} = $3 ${returning}`,
        [param(key), toJson(doc), write.expectedVersion]);
      return stored(res.rows[0]) ?? missed(conn, key, write.expectedVersion);
    },

    /** Applies `ops` atomically; rejects with {@link DocumentNotFoundError} or {@link DocumentVersionConflictError}. */
    async patch(key: DocumentKey, ops: readonly PatchOperation[], write: WriteOptions = {}): Promise<StoredDocument<T>> {
      checkVersion(write);
      const check = write.expectedVersion === undefined ? '' : ` AND t.${v} = $2`;
      const first = write.expectedVersion === undefined ? 2 : 3;
      const patch = compilePatch(ops, `t.${d}`, first);
      const conn = route(key);
      const res = await conn.query(
        `UPDATE ${t} AS t SET ${d} = ${patch.expression}, ${v} = t.${v} + 1, updated_at = now()
          WHERE t.${k} = $1${check} ${returning}`,
        [param(key), ...(write.expectedVersion === undefined ? [] : [write.expectedVersion]), ...patch.params]);
      return stored(res.rows[0]) ?? missed(conn, key, write.expectedVersion);
    },

    /** Deletes the document; false when there was none (or, with `expectedVersion`, a conflict error). */
    async delete(key: DocumentKey, write: WriteOptions = {}): Promise<boolean> {
      checkVersion(write);
      const conn = route(key);
      if (write.expectedVersion === undefined) {
        const res = await conn.query(`DELETE FROM ${t} WHERE ${k} = $1`, [param(key)]);
        return (res.rowCount ?? 0) > 0;
      }
      const res = await conn.query(`DELETE FROM ${t} WHERE ${k} = $1 AND ${v} = $2`, [param(key), write.expectedVersion]);
      if ((res.rowCount ?? 0) > 0) return true;
      return missed(conn, key, write.expectedVersion);
    },
  };
}

/** What {@link createDocumentStore} returns. */
export type DocumentStore<T extends object = Record<string, unknown>> = ReturnType<typeof createDocumentStore<T>>;
