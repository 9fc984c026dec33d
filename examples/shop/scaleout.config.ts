import { defineConfig } from 'scaleout/runtime';

// `SHOP_BALANCERS=2 npm start`: two balancers, on 127.0.0.2:8080 and 127.0.0.3:8080, and
// DNS for shop.test on 127.0.0.1:5353 answering with the live ones
// (`dig @127.0.0.1 -p 5353 shop.test`). One balancer by default: it starts faster.
const balancers = Math.max(1, Math.min(8, Number(process.env.SHOP_BALANCERS ?? 1) || 1));

export default defineConfig({
  app: {
    entry: 'src/server.ts',
    instances: 3,
    healthPath: '/healthz',
    // A fourth instance when the three use more than 60 % of a core each for 2 s (a
    // bench on a quiet machine); idle, it stays at three. On 2 cores a fifth would add
    // waiting, not capacity.
    autoscale: { min: 3, max: 4, target: { cpu: 60 }, cooldownMs: 20_000 },
  },
  // No affinity: every request may land on any instance, which is the point of the shop.
  balancer: balancers === 1
    ? { listen: '127.0.0.1:8080', strategy: 'round-robin', affinity: 'none' }
    : { replicas: balancers, listen: '127.0.0.2:8080', strategy: 'round-robin', affinity: 'none' },
  ...(balancers === 1 ? {} : { dns: { name: 'shop.test', listen: '127.0.0.1:5353' } }),
  engines: {
    // A commit returns once a replica has it too, so a failover loses no acknowledged order.
    postgres: { replicas: 1, synchronous: true },
    redis: { appendonly: true },
  },
  // Order exports (POST /exports) and page renders run in their own processes, the same build as the app.
  // A second export worker while more than 10 exports wait for each (exports wait on the
  // database, not the CPU: the queue's depth says they are behind). Its BullMQ prefix is
  // the shop's (SHOP_SESSION_PREFIX unset).
  // Product pages pre-rendered into the static tier (src/prerender-worker.ts: every 5 minutes
  // and on a product change) and served as files by the static servers; a page not
  // pre-rendered yet goes on to the app.
  static: { paths: ['/products/'], instances: 1 },
  workers: {
    exports: {
      entry: 'src/worker.ts', instances: 1, queues: ['exports'],
      autoscale: { min: 1, max: 2, target: { queueDepth: 10 }, cooldownMs: 10_000, backendPrefix: 'shop:jobs' },
    },
    // The dashboard's queue panel reads its queue under the shop's BullMQ prefix too.
    prerender: { entry: 'src/prerender-worker.ts', instances: 1, queues: ['prerender'], backendPrefix: 'shop:jobs' },
  },
  // Where the shop's shards are (SHOP_SHARD_PREFIX unset), for `scaleout status` and `scaleout reshard`.
  // The directory is the catalogue: DATABASE_URL's database.
  db: {
    shards: {
      databases: ['shop_shard_0', 'shop_shard_1'],
      tables: { users: { shardKey: 'id' }, orders: { shardKey: 'user_id' }, user_documents: { shardKey: 'user_id' } },
    },
  },
});
