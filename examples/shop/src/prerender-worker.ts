import pino from 'pino';
import { Scheduler } from 'scaleout/jobs';
import { openShopData } from './data/shop-data.js';
import { DEFAULT_SHARD_PREFIX, readEnv } from './env.js';
import { DEFAULT_PRERENDER_CRON, ProductPages } from './prerender/product-pages.js';

// The entry of the `prerender` workers under `scaleout up` (config `workers.prerender`):
// renders product pages into the static tier. Every worker runs a scheduler; one of them
// at a time holds the lease and enqueues the bake every SHOP_PRERENDER_CRON.
const log = pino({ base: { instance: process.env.INSTANCE_ID } });

function idle(reason: string): void {
  // Exiting would be read as a crash and restarted: idle until stopped instead.
  log.warn(`${reason}; this worker idles`);
  const timer = setInterval(() => undefined, 60_000);
  process.once('SIGTERM', () => {
    clearInterval(timer);
    process.exit(0);
  });
}

async function main(): Promise<void> {
  const env = readEnv(process.env);
  if (env.redisUrl === undefined) return idle('pre-rendering needs Redis (the redis profile)');
  if (env.staticDir === undefined) return idle('pre-rendering needs a static tier (static: in scaleout.config)');
  const data = await openShopData({
    databaseUrl: env.databaseUrl, replicaUrls: env.replicaUrls, shardPrefix: env.shardPrefix ?? DEFAULT_SHARD_PREFIX,
    logger: { info: (o, m) => log.info(o, m), warn: (o, m) => log.warn(o, m), error: (o, m) => log.error(o, m) },
  });
  const pages = new ProductPages({ redisUrl: env.redisUrl, staticDir: env.staticDir, ...(env.sessionPrefix === undefined ? {} : { prefix: env.sessionPrefix }) });
  const worker = pages.work(data, { instanceId: env.instanceId ?? 'prerender', buildId: env.buildId ?? 'dev' }, (event) => {
    if (event.kind === 'prerender-failed') log.warn(event, `the render of ${event.path} failed (${event.error}); ${event.kept ? 'the last good page stays' : 'the app answers it'}`);
    else if (event.published) log.info(event, `static tier: generation ${event.generation ?? '?'}, ${event.written.length} page(s) written, ${event.removed.length} removed, ${event.unchanged} unchanged`);
  });
  const cron = process.env.SHOP_PRERENDER_CRON ?? DEFAULT_PRERENDER_CRON;
  const scheduler = new Scheduler({
    schedules: [{ name: 'product-pages', cron, queue: pages.queue, data: {} }],
    group: 'shop-prerender',
    onError: (err) => log.warn({ err }, 'the pre-render schedule could not run'),
  }).start();
  // A first bake now: the schedule's first tick may be minutes away.
  await pages.queue.add('bake', {});
  log.info(`prerender worker running (bake: ${cron})`);
  process.once('SIGTERM', () => {
    void (async () => {
      await scheduler.close();
      await worker.close({ graceMs: Number(process.env.WORKER_GRACE_MS ?? 5000) });
      await pages.close();
      await data.close();
      process.exit(0);
    })();
  });
}

main().catch((err: unknown) => {
  log.error({ err }, `the prerender worker did not start: ${(err as Error)?.message ?? String(err)}`);
  process.exitCode = 1;
  setTimeout(() => process.exit(1), 100).unref();
});
