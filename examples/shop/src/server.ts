import pino from 'pino';
import { buildApp } from './app.js';
import { readEnv } from './env.js';

// The entry the runtime starts (`node --import tsx src/server.ts`), once per instance.
const log = pino({ base: { instance: process.env.INSTANCE_ID } });

async function main(): Promise<void> {
  const env = readEnv(process.env);
  if (env.devSessionKey) {
    log.warn('SCALEOUT_SESSION_KEYS is not set: using the development session key. Every instance must share the same keys, ' +
      'or a session made on one is rejected by another; set SCALEOUT_SESSION_KEYS=id:secret for anything but local use');
  }
  const app = await buildApp({
    databaseUrl: env.databaseUrl,
    replicaUrls: env.replicaUrls,
    ...(env.redisUrl === undefined ? {} : { redisUrl: env.redisUrl }),
    ...(env.sessionPrefix === undefined ? {} : { redisKeyPrefix: env.sessionPrefix }),
    sessionKeys: env.sessionKeys,
    ...(env.cacheRedisUrl === undefined ? {} : { cacheRedisUrl: env.cacheRedisUrl }),
    ...(env.memcachedUrl === undefined ? {} : { memcachedUrl: env.memcachedUrl }),
    cache: env.cache,
    demoOrders: env.demoOrders,
    shardPrefix: env.shardPrefix,
    ...(env.staticDir === undefined ? {} : { staticDir: env.staticDir }),
    ...(env.instanceId === undefined ? {} : { instanceId: env.instanceId }),
    ...(env.buildId === undefined ? {} : { buildId: env.buildId }),
    logger: log,
    shutdown: { signals: ['SIGTERM', 'SIGINT'] },
  });
  await app.listen({ port: env.port, host: env.host });
  log.info({ profile: env.profile, replicas: env.replicaUrls.length }, `shop listening on ${env.host}:${env.port}`);
}

main().catch((err: unknown) => {
  log.error({ err }, `the shop did not start: ${(err as Error)?.message ?? String(err)}`);
  process.exitCode = 1;
  // Connections opened before the failure would keep the process alive.
  setTimeout(() => process.exit(1), 100).unref();
});
