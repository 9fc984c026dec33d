import { setTimeout as delay } from 'node:timers/promises';
import { BullMQBackend, PgBossBackend, Queue, Worker } from 'scaleout/jobs';
import type { JobContext, QueueBackend } from 'scaleout/jobs';
import type { ShopData } from '../data/shop-data.js';
import { listOrders } from '../data/orders.js';
import { PostgresExportStore, RedisExportStore } from './export-store.js';
import type { ExportStore } from './export-store.js';

export { EXPORT_TTL_SECONDS } from './export-store.js';

/** Orders read and written per step of an export (one progress event each). @defaultValue 50 */
export const EXPORT_BATCH_SIZE = 50;
/**
 * A pause per batch: exports are slow on purpose, so a large history shows a moving
 * progress bar (the work a real export does: render, compress, upload). @defaultValue 200
 */
export const DEFAULT_EXPORT_BATCH_DELAY_MS = 200;
/** The queue of order exports. */
export const EXPORTS_QUEUE = 'exports';
/** pg-boss's schema in the catalogue database under the postgres profile (its records go to `<schema>_t`). */
export const EXPORTS_PG_SCHEMA = 'shop_jobs';

export interface ExportPayload {
  userId: string;
}

/** How far an export is: what the progress events carry. */
export interface ExportProgress {
  orders: number;
  total: number;
  batches: number;
}

/**
 * The order exports of the shop, on the deployment's profile: under `redis`, a BullMQ
 * queue and the finished CSVs in Redis; under `postgres`, a pg-boss queue and the CSVs
 * in the catalogue database, the job enqueued in the same transaction as its owner
 * row. Either way any instance serves the progress and the download, and each export
 * has its owner: only that user may watch or download it.
 */
export class OrderExports {
  readonly queue: Queue<ExportPayload>;
  readonly #backend: QueueBackend;
  readonly #store: ExportStore;

  constructor(options: { redisUrl?: string; databaseUrl?: string; prefix?: string }) {
    const prefix = options.prefix ?? 'shop';
    if (options.redisUrl !== undefined) {
      this.#backend = new BullMQBackend({ url: options.redisUrl, prefix: `${prefix}:jobs` });
      this.#store = new RedisExportStore(options.redisUrl, prefix);
    } else if (options.databaseUrl !== undefined) {
      this.#backend = new PgBossBackend({ connectionString: options.databaseUrl, schema: EXPORTS_PG_SCHEMA });
      this.#store = new PostgresExportStore(options.databaseUrl);
    } else {
      throw new Error('order exports need redisUrl (the redis profile) or databaseUrl (the postgres profile)');
    }
    this.queue = new Queue<ExportPayload>(this.#backend, EXPORTS_QUEUE, { attempts: 3 });
  }

  /** Which engine runs the queue: `bullmq` or `pg-boss`. */
  get backendName(): string {
    return this.#backend.name;
  }

  /** Enqueues an export of `userId`'s orders; returns the job id. */
  async start(userId: string): Promise<string> {
    const store = this.#store;
    if (store instanceof PostgresExportStore) {
      await this.queue.ready();
      // The job and its owner row commit together: no job nobody may watch, no owner of no job.
      return store.transaction(async (db) => {
        const { id } = await this.queue.add('orders-csv', { userId }, { db });
        await store.setOwner(id, userId, db);
        return id;
      });
    }
    const { id } = await this.queue.add('orders-csv', { userId });
    await store.setOwner(id, userId);
    return id;
  }

  /** True when `userId` started export `id` (an unknown id is nobody's). */
  async owns(userId: string, id: string): Promise<boolean> {
    return (await this.#store.owner(id)) === userId;
  }

  /** The finished CSV, or undefined while it runs (or after it expired). */
  csv(id: string): Promise<string | null> {
    return this.#store.csv(id);
  }

  /** Runs exports in this process until `close({ graceMs })` (the worker entry, or tests). */
  work(data: ShopData, options: { batchDelayMs?: number; batchSize?: number; concurrency?: number } = {}): Worker<ExportPayload> {
    const batchDelayMs = options.batchDelayMs ?? DEFAULT_EXPORT_BATCH_DELAY_MS;
    const batchSize = options.batchSize ?? EXPORT_BATCH_SIZE;
    return new Worker(this.queue, (ctx) => this.#run(data, ctx, batchSize, batchDelayMs), { concurrency: options.concurrency ?? 2 });
  }

  async #run(data: ShopData, ctx: JobContext<ExportPayload>, batchSize: number, batchDelayMs: number): Promise<ExportProgress> {
    const lines = ['order_id,placed_at,items,total'];
    const { rows } = await data.shards.forKey(ctx.data.userId).query<{ n: string }>('SELECT count(*) AS n FROM orders WHERE user_id = $1', [ctx.data.userId]);
    const progress: ExportProgress = { orders: 0, total: Number(rows[0]?.n ?? 0), batches: 0 };
    let before: string | undefined;
    for (;;) {
      const page = await listOrders(data.shards, ctx.data.userId, batchSize, before);
      for (const o of page.orders) lines.push(`${o.id},${new Date(o.createdAt).toISOString()},${o.itemCount},${(o.total / 100).toFixed(2)}`);
      progress.orders += page.orders.length;
      progress.batches++;
      await ctx.progress({ ...progress });
      if (page.next === null) break;
      before = page.next;
      await delay(batchDelayMs, undefined, { signal: ctx.signal });
    }
    // The CSV is written once per job: a re-run after a crash overwrites it with the same rows.
    await this.#store.setCsv(ctx.id, `${lines.join('\n')}\n`);
    return progress;
  }

  async close(): Promise<void> {
    this.queue.close();
    await this.#backend.close();
    await this.#store.close();
  }
}
