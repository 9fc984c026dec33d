import { BullMQBackend, Prerenderer, Queue, Worker } from 'scaleout/jobs';
import type { PrerenderEvent, PrerenderJob, RenderedPage } from 'scaleout/jobs';
import { StaticTier } from 'scaleout/static';
import type { Database, ShardedDatabase } from 'scaleout/db';
import { listProducts, loadProductPage } from '../data/products.js';
import { SECURITY_HEADERS } from '../security-headers.js';
import { productPage, productSection } from '../views/pages.js';

/** The queue of page renders (full bakes and on-change renders). */
export const PRERENDER_QUEUE = 'prerender';
/** The pages the pre-renderer owns. */
export const PRODUCT_PAGES_SCOPE = '/products/';
/** How often every product page is baked again. @defaultValue '*\/5 * * * *' (every 5 minutes) */
export const DEFAULT_PRERENDER_CRON = '*/5 * * * *';

export function productPath(id: number): string {
  return `${PRODUCT_PAGES_SCOPE}${id}`;
}

/** The product id of a product page path, or undefined. */
function productOf(path: string): number | undefined {
  const match = /^\/products\/(\d{1,10})$/.exec(path);
  return match === null ? undefined : Number(match[1]);
}

export interface ProductPagesOptions {
  redisUrl: string;
  /** Prefix of the queue's keys (the shop's, like the exports'). @defaultValue 'shop' */
  prefix?: string;
  /** The static tier's folder (`STATIC_DIR`). */
  staticDir: string;
}

/**
 * Product pages pre-rendered into the static tier: a BullMQ queue of renders, the
 * tier itself, and the pre-renderer the `prerender` worker runs. A product change
 * purges its page at once (the app answers it, fresh, meanwhile) and enqueues its
 * render; a schedule bakes every page again every few minutes.
 */
export class ProductPages {
  readonly queue: Queue<PrerenderJob>;
  readonly tier: StaticTier;
  readonly #backend: BullMQBackend;

  constructor(options: ProductPagesOptions) {
    this.#backend = new BullMQBackend({ url: options.redisUrl, prefix: `${options.prefix ?? 'shop'}:jobs` });
    this.queue = new Queue<PrerenderJob>(this.#backend, PRERENDER_QUEUE, { attempts: 3 });
    this.tier = new StaticTier({ dir: options.staticDir });
  }

  /**
   * These products changed (the moment their cached page objects are forgotten): their
   * static pages go now, so no visitor sees the old stock, and come back once rendered.
   */
  async changed(productIds: readonly number[]): Promise<void> {
    const paths = [...new Set(productIds)].map(productPath);
    await this.tier.purge(paths);
    await this.queue.add('render', { paths });
  }

  /** The pre-renderer of the product pages, reading the worker's catalogue and shards. */
  prerenderer(data: { catalogue: Database; shards: ShardedDatabase }, page: { instanceId: string; buildId: string }, onEvent?: (event: PrerenderEvent) => void): Prerenderer {
    return new Prerenderer({
      tier: this.tier,
      scope: PRODUCT_PAGES_SCOPE,
      list: async () => (await listProducts(data.catalogue)).map((p) => productPath(p.id)),
      render: async (path): Promise<RenderedPage | null> => {
        const id = productOf(path);
        const found = id === undefined ? null : await loadProductPage(data, id);
        if (found === null || id === undefined) return null;
        const html = productPage({ user: undefined, cartCount: 0, ...page, path, baked: { productId: id } }, found.product, productSection(found.product, found.related, found.stock));
        // The same policy as the app's answers: the static server sends the page's headers.
        return { body: html, contentType: 'text/html; charset=utf-8', headers: { ...SECURITY_HEADERS } };
      },
      ...(onEvent === undefined ? {} : { onEvent }),
    });
  }

  /** Runs the renders in this process until `close({ graceMs })` (the worker entry, or tests). */
  work(data: { catalogue: Database; shards: ShardedDatabase }, page: { instanceId: string; buildId: string }, onEvent?: (event: PrerenderEvent) => void): Worker<PrerenderJob> {
    // One render at a time per worker: publishes serialise on the tier's lock anyway.
    return new Worker(this.queue, this.prerenderer(data, page, onEvent).handler(), { concurrency: 1 });
  }

  async close(): Promise<void> {
    this.queue.close();
    await this.#backend.close();
  }
}
