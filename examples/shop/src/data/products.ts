import { tableLoader } from 'scaleout/db';
import type { Cache } from 'scaleout/cache';
import type { Database } from 'scaleout/db';

/** A product as the API shows it. Prices are integer cents. */
export interface Product {
  id: number;
  name: string;
  description: string;
  price: number;
  icon: string;
}

type ProductRow = {
  id: number;
  name: string;
  description: string;
  price: number;
  icon: string;
};

const COLUMNS = ['id', 'name', 'description', 'price', 'icon'] as const;

function toProduct(row: ProductRow): Product {
  return { id: Number(row.id), name: row.name, description: row.description, price: Number(row.price), icon: row.icon };
}

/**
 * The catalogue, read through the replicas (eventual: a product added a moment ago may
 * be missing for a moment), through the query cache when given one: any write to
 * `products` through `db`, on any instance, makes it miss at once.
 */
export async function listProducts(db: Database, cache?: Cache): Promise<Product[]> {
  const sql = `SELECT ${COLUMNS.join(', ')} FROM products ORDER BY id`;
  const { rows } = cache === undefined ? await db.query<ProductRow>(sql) : await cache.query<ProductRow>(db, sql);
  return rows.map(toProduct);
}

/**
 * Looks products up by id, batching every `load` of one tick into one query. One per
 * request: its cache must not outlive the request.
 */
export function productLoader(db: Database): { load(id: number): Promise<Product | undefined> } {
  const loader = tableLoader<ProductRow>(db, { table: 'products', columns: COLUMNS });
  return {
    async load(id) {
      const row = await loader.load(id);
      return row === undefined ? undefined : toProduct(row);
    },
  };
}
