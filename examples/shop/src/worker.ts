import pino from 'pino';
import { openShopData } from './data/shop-data.js';
import { DEFAULT_SHARD_PREFIX, readEnv } from './env.js';
import { OrderExports } from './exports/order-export.js';

// The entry of the `exports` workers under `scaleout up` (config `workers.exports`): the
// same build and environment as the app, no port. SIGTERM: finish or hand back the
// current exports within WORKER_GRACE_MS, then exit.
const log = pino({ base: { instance: process.env.INSTANCE_ID } });

async function main(): Promise<void> {
  const env = readEnv(process.env);
  const data = await openShopData({
    databaseUrl: env.databaseUrl, replicaUrls: env.replicaUrls, shardPrefix: env.shardPrefix ?? DEFAULT_SHARD_PREFIX,
    logger: { info: (o, m) => log.info(o, m), warn: (o, m) => log.warn(o, m), error: (o, m) => log.error(o, m) },
  });
  // Redis under the redis profile, else pg-boss in the catalogue database (the postgres profile).
  const exports = new OrderExports({
    ...(env.redisUrl !== undefined ? { redisUrl: env.redisUrl } : { databaseUrl: env.databaseUrl }),
    ...(env.sessionPrefix === undefined ? {} : { prefix: env.sessionPrefix }),
  });
  const worker = exports.work(data);
  log.info({ backend: exports.backendName }, 'export worker running');
  process.once('SIGTERM', () => {
    void (async () => {
      await worker.close({ graceMs: Number(process.env.WORKER_GRACE_MS ?? 5000) });
      await exports.close();
      await data.close();
      process.exit(0);
    })();
  });
}

main().catch((err: unknown) => {
  log.error({ err }, `the export worker did not start: ${(err as Error)?.message ?? String(err)}`);
  process.exitCode = 1;
  setTimeout(() => process.exit(1), 100).unref();
});
