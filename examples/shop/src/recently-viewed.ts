import { DocumentExistsError, DocumentNotFoundError } from 'scaleout/db';
import type { PatchOperation } from 'scaleout/db';
import type { UserDocument, UserDocumentStore } from './data/user-documents.js';

/** Product views kept per user, and the most "Recently viewed" shows. @defaultValue 8 */
export const RECENT_VIEWS_KEPT = 8;

/**
 * The patch recording one view: append the product id, drop the entry that is now one
 * too many, count the view. One UPDATE computes all three from the row as PostgreSQL
 * locks it, so views on any number of instances at once all land, in commit order,
 * with no read before the write and no retry.
 *
 * Why not compare-and-set (read the list, move the product to the front, write it back
 * with `expectedVersion`, retry on a version conflict)? That would also remove an
 * earlier view of the same product, but every concurrent view after the first would
 * conflict and retry, and under a burst the retries grow with the square of the views.
 * The helper has no "remove this value" operation, so a product viewed again is
 * appended again; readers collapse the repeats ({@link recentProductIds}).
 *
 * The trim relies on PostgreSQL counting negative array indexes from the end: after
 * the append, index -(kept + 1) is the oldest entry when there are kept + 1 of them,
 * and nothing (a no-op) when there are fewer.
 */
export function viewPatch(productId: number): PatchOperation[] {
  return [
    { op: 'append', path: 'recent', value: productId },
    { op: 'remove', path: ['recent', -(RECENT_VIEWS_KEPT + 1)] },
    { op: 'increment', path: 'views' },
  ];
}

/**
 * Records that `userId` viewed `productId`. A user's first view creates the document;
 * when two first views race, the one whose create loses applies its patch instead.
 */
export async function recordView(store: UserDocumentStore, userId: string, productId: number): Promise<void> {
  const patch = viewPatch(productId);
  try {
    await store.patch(userId, patch);
    return;
  } catch (err) {
    if (!(err instanceof DocumentNotFoundError)) throw err;
  }
  try {
    await store.create(userId, { recent: [productId], views: 1 });
  } catch (err) {
    if (!(err instanceof DocumentExistsError)) throw err;
    await store.patch(userId, patch);
  }
}

/** What a user's document says about their recent views. */
export interface RecentViews {
  /** Distinct product ids, most recently viewed first, at most {@link RECENT_VIEWS_KEPT}. */
  productIds: number[];
  /** Product views ever recorded. */
  views: number;
}

/**
 * The distinct product ids of a document's recent views, newest first. Anything that
 * is not a product id is skipped: the document is data, not code, and may have been
 * written by another build.
 */
export function recentProductIds(doc: UserDocument | undefined): number[] {
  const recent: unknown = doc?.recent;
  if (!Array.isArray(recent)) return [];
  const ids: number[] = [];
  const seen = new Set<number>();
  for (let i = recent.length - 1; i >= 0 && ids.length < RECENT_VIEWS_KEPT; i--) {
    const id: unknown = recent[i];
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1 || seen.has(id)) continue;
    seen.add(id);
    ids.push(id);
  }
  return ids;
}

/** A user's recent views; none for a user without a document. */
export async function readRecentViews(store: UserDocumentStore, userId: string): Promise<RecentViews> {
  const stored = await store.get(userId);
  const views: unknown = stored?.doc.views;
  return {
    productIds: recentProductIds(stored?.doc),
    views: typeof views === 'number' && Number.isSafeInteger(views) && views > 0 ? views : 0,
  };
}

/**
 * The products behind `ids`, in the same order, without those the catalogue no longer
 * has. With a batched loader's `load`, all of them are one query.
 */
export async function recentProducts<P>(ids: readonly number[], load: (id: number) => Promise<P | undefined>): Promise<P[]> {
  const products: Array<P | undefined> = await Promise.all(ids.map((id) => load(id)));
  return products.filter((p): p is P => p !== undefined);
}
