import { tableLoader, withPrimaryReads } from 'scaleout/db';
import type { Cache } from 'scaleout/cache';
import type { Database, ShardedDatabase } from 'scaleout/db';
import { boughtTogether } from './bought-together.js';

/** A product shown as related, and in how many orders it was bought with the product (when it was). */
export interface RelatedProduct extends Product {
  boughtWith?: number;
}

/** What `/products/:id` shows, the same for every visitor. */
export interface ProductPage {
  product: Product;
  /** Most often bought together with the product, then its neighbours in the catalogue. */
  related: RelatedProduct[];
  /** Units in stock when the page was built. */
  stock: number;
}

/** Related products shown on a product page. @defaultValue 3 */
export const RELATED_PRODUCTS = 3;

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

/** Units of `id` in stock, read from the primary: a page built now must not show a replica's older count. */
export async function productStock(db: Database, id: number): Promise<number> {
  const { rows } = await withPrimaryReads(() => db.query<{ stock: number }>('SELECT stock FROM products WHERE id = $1', [id]));
  return rows.length === 0 ? 0 : Number(rows[0]!.stock);
}

/**
 * Takes ordered quantities off the stock (never below 0). A write to `products` through
 * `db`: with a cache attached, every product page and the catalogue query miss at once.
 */
export async function takeFromStock(db: Database, items: ReadonlyArray<{ productId: number; qty: number }>): Promise<void> {
  for (const item of items) {
    await db.query('UPDATE products SET stock = GREATEST(stock - $2, 0) WHERE id = $1', [item.productId, item.qty]);
  }
}

/**
 * Builds what the page of product `id` shows (null: no such product): the product, the
 * products bought with it most often (a count over every shard's orders), their details,
 * and the stock read from the primary. The product route caches it; the pre-renderer
 * bakes it into the static tier.
 */
export async function loadProductPage(data: { catalogue: Database; shards: ShardedDatabase }, id: number, cache?: Cache): Promise<ProductPage | null> {
  const products = productLoader(data.catalogue);
  const [product, together, stock] = await Promise.all([
    products.load(id), boughtTogether(data.shards, id, RELATED_PRODUCTS), productStock(data.catalogue, id),
  ]);
  if (product === undefined) return null;
  const found = await Promise.all(together.map(async (t) => {
    const p = await products.load(t.productId);
    return p === undefined ? undefined : { ...p, boughtWith: t.orders };
  }));
  const related: RelatedProduct[] = found.filter((p) => p !== undefined);
  if (related.length < RELATED_PRODUCTS) {
    // Too few orders yet: the neighbours in the catalogue, wrapping around.
    const taken = new Set([id, ...related.map((r) => r.id)]);
    const others = (await listProducts(data.catalogue, cache)).filter((p) => !taken.has(p.id));
    related.push(...[...others.filter((p) => p.id > id), ...others.filter((p) => p.id < id)].slice(0, RELATED_PRODUCTS - related.length));
  }
  return { product, related, stock };
}
