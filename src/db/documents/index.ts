export {
  createGroupLoader, createLoader, DEFAULT_MAX_BATCH_SIZE, tableLoader,
} from './batch-loader.js';
export type { LoaderKey, LoaderOptions, ShardedSource, TableLoaderOptions } from './batch-loader.js';
export {
  createDocumentStore, DEFAULT_DOC_COLUMN, DEFAULT_KEY_COLUMN, DEFAULT_VERSION_COLUMN, documentTableSql,
} from './document-store.js';
export type {
  DocumentKey, DocumentStore, DocumentStoreOptions, KeyRouter, StoredDocument, WriteOptions,
} from './document-store.js';
export {
  DocumentConfigError, DocumentExistsError, DocumentNotFoundError, DocumentPatchError, DocumentVersionConflictError, DOCUMENT_ERRORS,
} from './errors.js';
export { compilePatch, MAX_PATH_DEPTH } from './patch-sql.js';
export type { CompiledPatch, DocumentPath, PatchOperation } from './patch-sql.js';
