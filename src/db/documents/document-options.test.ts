import { describe, expect, it } from 'vitest';
import {
  DEFAULT_DOC_COLUMN, DEFAULT_KEY_COLUMN, DEFAULT_MAX_BATCH_SIZE, DEFAULT_VERSION_COLUMN,
  resolveDocumentColumns, resolveLoaderOptions, resolveTableLoaderOptions,
} from './document-options.js';
import { DocumentConfigError } from './errors.js';

describe('document options', () => {
  it('fills the column defaults once', () => {
    expect(resolveDocumentColumns('carts', {})).toEqual({
      keyColumn: DEFAULT_KEY_COLUMN, docColumn: DEFAULT_DOC_COLUMN, versionColumn: DEFAULT_VERSION_COLUMN,
    });
    expect(resolveDocumentColumns('carts', { keyColumn: 'user_id' }).keyColumn).toBe('user_id');
  });

  it('fills the loader defaults once', () => {
    expect(resolveLoaderOptions({})).toEqual({ maxBatchSize: DEFAULT_MAX_BATCH_SIZE, cache: true });
    expect(resolveTableLoaderOptions({ table: 'users' })).toMatchObject({
      table: 'users', keyColumn: DEFAULT_KEY_COLUMN, many: false, byShardKey: true, maxBatchSize: DEFAULT_MAX_BATCH_SIZE, cache: true,
    });
  });

  it.each<[string, () => unknown, RegExp]>([
    ['an odd table name', () => resolveDocumentColumns('carts; DROP', {}), /"carts; DROP" is not a plain SQL identifier/],
    ['an odd doc column', () => resolveDocumentColumns('carts', { docColumn: 'd"c' }), /"d"c"/],
    ['a zero batch size', () => resolveLoaderOptions({ maxBatchSize: 0 }), /maxBatchSize is 0/],
    ['an odd loader column', () => resolveTableLoaderOptions({ table: 'users', columns: ['ok', 'no way'] }), /"no way"/],
  ])('rejects %s with DocumentConfigError naming it', (_, resolve, message) => {
    expect(resolve).toThrow(DocumentConfigError);
    expect(resolve).toThrow(message);
  });
});
