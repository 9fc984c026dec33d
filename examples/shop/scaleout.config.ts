import { defineConfig } from 'scaleout/runtime';

export default defineConfig({
  app: { entry: 'src/server.ts', instances: 3, healthPath: '/healthz' },
  // No affinity: every request may land on any instance, which is the point of the shop.
  balancer: { listen: '127.0.0.1:8080', strategy: 'round-robin', affinity: 'none' },
  engines: {
    // A commit returns once a replica has it too, so a failover loses no acknowledged order.
    postgres: { replicas: 1, synchronous: true },
    redis: { appendonly: true },
  },
  // Order exports (POST /exports) run in their own processes, the same build as the app.
  workers: { exports: { entry: 'src/worker.ts', instances: 1, queues: ['exports'] } },
  // Where the shop's shards are (SHOP_SHARD_PREFIX unset), for `scaleout status` and `scaleout reshard`.
  // The directory is the catalogue: DATABASE_URL's database.
  db: {
    shards: {
      databases: ['shop_shard_0', 'shop_shard_1'],
      tables: { users: { shardKey: 'id' }, orders: { shardKey: 'user_id' }, user_documents: { shardKey: 'user_id' } },
    },
  },
});
