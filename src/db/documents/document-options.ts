import { DocumentConfigError } from './errors.js';

/**
 * The documents' defaults, the only copy: the store, `documentTableSql` and the
 * loaders resolve their options here once, when they are created.
 */

/** @defaultValue 'id' */
export const DEFAULT_KEY_COLUMN = 'id';
/** @defaultValue 'doc' */
export const DEFAULT_DOC_COLUMN = 'doc';
/** @defaultValue 'version' */
export const DEFAULT_VERSION_COLUMN = 'version';
/**
 * Most keys in one batch query (a longer list is split).
 * @defaultValue 500
 */
export const DEFAULT_MAX_BATCH_SIZE = 500;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Throws unless every name is a plain SQL identifier. */
export function checkIdentifiers(names: readonly unknown[]): void {
  for (const name of names) {
    if (typeof name !== 'string' || !IDENTIFIER.test(name)) throw new DocumentConfigError(`"${String(name)}" is not a plain SQL identifier`);
  }
}

/** A document table's column names, checked, defaults applied. */
export interface ResolvedDocumentColumns {
  keyColumn: string;
  docColumn: string;
  versionColumn: string;
}

export function resolveDocumentColumns(table: string,
  options: { keyColumn?: string; docColumn?: string; versionColumn?: string }): ResolvedDocumentColumns {
  const resolved = {
    keyColumn: options.keyColumn ?? DEFAULT_KEY_COLUMN,
    docColumn: options.docColumn ?? DEFAULT_DOC_COLUMN,
    versionColumn: options.versionColumn ?? DEFAULT_VERSION_COLUMN,
  };
  checkIdentifiers([table, resolved.keyColumn, resolved.docColumn, resolved.versionColumn]);
  return resolved;
}

/** A loader's batching, checked, defaults applied. */
export interface ResolvedLoaderOptions {
  maxBatchSize: number;
  cache: boolean;
}

export function resolveLoaderOptions(options: { maxBatchSize?: number; cache?: boolean }): ResolvedLoaderOptions {
  const maxBatchSize = options.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE;
  if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) {
    throw new DocumentConfigError(`maxBatchSize is ${String(maxBatchSize)}; it must be an integer >= 1`);
  }
  return { maxBatchSize, cache: options.cache ?? true };
}

/** A table loader's options, checked, defaults applied. */
export interface ResolvedTableLoaderOptions extends ResolvedLoaderOptions {
  table: string;
  keyColumn: string;
  columns: readonly string[] | undefined;
  many: boolean;
  byShardKey: boolean;
}

export function resolveTableLoaderOptions(options: {
  table: string; keyColumn?: string; columns?: readonly string[]; many?: boolean; byShardKey?: boolean; maxBatchSize?: number; cache?: boolean;
}): ResolvedTableLoaderOptions {
  const keyColumn = options.keyColumn ?? DEFAULT_KEY_COLUMN;
  checkIdentifiers([options.table, keyColumn, ...(options.columns ?? [])]);
  return {
    ...resolveLoaderOptions(options),
    table: options.table,
    keyColumn,
    columns: options.columns,
    many: options.many ?? false,
    byShardKey: options.byShardKey ?? true,
  };
}
