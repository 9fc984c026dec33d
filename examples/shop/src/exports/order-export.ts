import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { BullMQBackend, Queue, Worker } from 'scaleout/jobs';
import type { JobContext } from 'scaleout/jobs';
import type { ShopData } from '../data/shop-data.js';
import { listOrders } from '../data/orders.js';

/** Orders read and written per step of an export (one progress event each). @defaultValue 50 */
export const EXPORT_BATCH_SIZE = 50;
/**
 * A pause per batch: exports are slow on purpose, so a large history shows a moving
 * progress bar (the work a real export does: render, compress, upload). @defaultValue 200
 */
export const DEFAULT_EXPORT_BATCH_DELAY_MS = 200;
/** How long a finished CSV stays downloadable. @defaultValue 86400 */
export const EXPORT_TTL_SECONDS = 24 * 60 * 60;
/** The queue of order exports. */
export const EXPORTS_QUEUE = 'exports';

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
 * The order exports of the shop: a BullMQ queue on the deployment's Redis, and the
 * finished CSVs in Redis too (any instance serves the download), each with its owner:
 * only that user may watch or download it.
 */
export class OrderExports {
  readonly queue: Queue<ExportPayload>;
  readonly #backend: BullMQBackend;
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(options: { redisUrl: string; prefix?: string }) {
    this.#prefix = options.prefix ?? 'shop';
    this.#backend = new BullMQBackend({ url: options.redisUrl, prefix: `${this.#prefix}:jobs` });
    this.queue = new Queue<ExportPayload>(this.#backend, EXPORTS_QUEUE, { attempts: 3 });
    this.#redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 2 });
    this.#redis.on('error', () => undefined);
  }

  /** Enqueues an export of `userId`'s orders; returns the job id. */
  async start(userId: string): Promise<string> {
    const { id } = await this.queue.add('orders-csv', { userId });
    await this.#redis.set(this.#key('owner', id), userId, 'EX', EXPORT_TTL_SECONDS);
    return id;
  }

  /** True when `userId` started export `id` (an unknown id is nobody's). */
  async owns(userId: string, id: string): Promise<boolean> {
    return (await this.#redis.get(this.#key('owner', id))) === userId;
  }

  /** The finished CSV, or undefined while it runs (or after it expired). */
  csv(id: string): Promise<string | null> {
    return this.#redis.get(this.#key('csv', id));
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
    await this.#redis.set(this.#key('csv', ctx.id), `${lines.join('\n')}\n`, 'EX', EXPORT_TTL_SECONDS);
    return progress;
  }

  #key(kind: 'owner' | 'csv', id: string): string {
    return `${this.#prefix}:export:${kind}:${id}`;
  }

  async close(): Promise<void> {
    this.queue.close();
    await this.#backend.close();
    this.#redis.disconnect();
  }
}
