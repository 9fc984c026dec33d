import type { ShardedDatabase } from 'scaleout/db';

/** A product bought in the same orders as another, and in how many. */
export interface BoughtTogether {
  productId: number;
  orders: number;
}

// Per shard: every order holding the product (through the GIN index on doc->'items'),
// its other items counted per product. No LIMIT: the counts of the shards are summed.
// Only the shard's own buckets ($3), so a bucket being moved is not counted twice.
const SQL = `SELECT (i->>'productId')::int AS product_id, count(*)::int AS orders
FROM orders o CROSS JOIN LATERAL jsonb_array_elements(o.doc->'items') AS i
WHERE o.doc->'items' @> $1::jsonb AND (i->>'productId')::int <> $2 AND o.bucket = ANY($3)
GROUP BY 1`;

/**
 * "Customers who bought this also bought": the products found most often in the
 * orders holding `productId`, over every shard's orders, most first (ties by id). The
 * query reads every such order, so it costs in proportion to the order history: the
 * product page object caches it.
 */
export async function boughtTogether(shards: ShardedDatabase, productId: number, limit: number): Promise<BoughtTogether[]> {
  const rows = await shards.queryAll<{ product_id: number; orders: number }>(SQL, [JSON.stringify([{ productId }]), productId], {
    ownedBuckets: true,
    merge: (results) => results.flatMap((r) => r.rows),
  });
  const counts = new Map<number, number>();
  for (const row of rows) counts.set(Number(row.product_id), (counts.get(Number(row.product_id)) ?? 0) + Number(row.orders));
  return [...counts]
    .map(([id, orders]) => ({ productId: id, orders }))
    .sort((a, b) => b.orders - a.orders || a.productId - b.productId)
    .slice(0, limit);
}
