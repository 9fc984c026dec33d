import { createDocumentStore, documentTableSql } from 'scaleout/db';
import type { DocumentStore, ShardedDatabase } from 'scaleout/db';

/** One JSONB document per user, on the user's shard next to the user and the orders. */
export const USER_DOCUMENTS_TABLE = 'user_documents';
/** The key column: the user id, which is also the shard key. */
export const USER_DOCUMENTS_KEY = 'user_id';

/**
 * What a user's document holds. Every field is optional: the document is created by
 * the first change that needs it, and fields are added by later patches.
 */
export interface UserDocument {
  /** Product ids of the last product views, oldest first (appends go to the end). */
  recent?: number[];
  /** Product views ever recorded. */
  views?: number;
}

export type UserDocumentStore = DocumentStore<UserDocument>;

/**
 * The table as the document store expects it (`user_id text`, `doc jsonb`, `version`,
 * `updated_at`), created on every shard by the shop's migrations. A bucket move copies
 * only the tables named in `db.shards.tables` of `scaleout.config.ts`, so this one must
 * be named there too, or `scaleout reshard` leaves moved users' documents behind. No
 * foreign key to `users`: a lost document only empties "Recently viewed", while a key
 * would make a move that does not know this table fail to delete the moved users.
 */
export const USER_DOCUMENTS_SQL = documentTableSql(USER_DOCUMENTS_TABLE, 'text', { keyColumn: USER_DOCUMENTS_KEY });

/**
 * The users' documents, routed by user id over the shards (`forKey`): reads go to the
 * shard's replicas like every other shard read, patches to its primary.
 */
export function userDocuments(shards: ShardedDatabase): UserDocumentStore {
  return createDocumentStore<UserDocument>({ db: shards, table: USER_DOCUMENTS_TABLE, keyColumn: USER_DOCUMENTS_KEY });
}
