import { z } from 'zod';
import { MAX_WORKERS, STRATEGY_NAMES, responseCacheSchema } from '../balancer/index.js';
import { DEFAULT_HEALTH_PATH } from '../internal/wire.js';
import { MAX_REPLICAS } from './engines/postgres-replica-set-options.js';
import { checkVipOptions } from './vip/keepalived-config.js';

/** App instances started by `scaleout up` when the config says nothing. @defaultValue 2 */
export const DEFAULT_INSTANCES = 2;
/** Most instances one supervisor runs. @defaultValue 64 */
export const MAX_INSTANCES = 64;
/** @defaultValue '/healthz' */
export { DEFAULT_HEALTH_PATH };
/** How long a new instance may take to answer its health check. @defaultValue 30000 */
export const DEFAULT_HEALTH_TIMEOUT_MS = 30_000;
/** After SIGTERM, an instance gets this long before SIGKILL. @defaultValue 10000 */
export const DEFAULT_STOP_GRACE_MS = 10_000;
/** A draining instance is stopped after this even with requests in flight. @defaultValue 30000 */
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;
/** First restart delay of a crashed instance; it doubles on every crash in a row. @defaultValue 500 */
export const DEFAULT_RESTART_INITIAL_MS = 500;
/** @defaultValue 30000 */
export const DEFAULT_RESTART_MAX_MS = 30_000;
/** @defaultValue '127.0.0.1:8080' */
export const DEFAULT_BALANCER_LISTEN = '127.0.0.1:8080';
/** Port 0: a free port is picked. @defaultValue '127.0.0.1:0' */
export const DEFAULT_BALANCER_ADMIN = '127.0.0.1:0';
/**
 * Interval of the balancer's own health checks of the instances. Short, so an idle
 * instance that hangs is found in a few seconds (under traffic, stall detection finds
 * it within about a second); each check is one small request. @defaultValue 500
 */
export const DEFAULT_BALANCER_HEALTH_INTERVAL_MS = 500;
/** @defaultValue 1 */
export const DEFAULT_POSTGRES_REPLICAS = 1;

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:8080');
const ms = z.number().int().nonnegative();
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'use an environment variable name such as API_KEY');

/** Autoscale: a change of instance count waits at least this long after the last one. @defaultValue 30000 */
export const DEFAULT_AUTOSCALE_COOLDOWN_MS = 30_000;
/** Autoscale: how often the metric is read. @defaultValue 1000 */
export const DEFAULT_AUTOSCALE_INTERVAL_MS = 1_000;

/**
 * What autoscale keeps each process near: `cpu`, percent of one core per instance (a
 * Node process runs JavaScript on one core); `queueDepth`, waiting jobs per process;
 * `p99Ms`, the balancer's 99th percentile latency (needs its latency histogram).
 */
const autoscaleTargetSchema = z.object({
  cpu: z.number().min(1).max(100, 'a Node process uses at most one core for JavaScript: give a percent of one core, 1-100').optional(),
  p99Ms: z.number().int().min(1).optional(),
  queueDepth: z.number().int().min(1).optional(),
}).strict().refine((t) => Object.values(t).filter((v) => v !== undefined).length === 1, {
  message: 'give exactly one target: { cpu: <percent of a core> }, { queueDepth: <jobs per process> } or { p99Ms: <ms> }',
});

/** `autoscale` of `app` or of a worker: bounds, the target, and the pace. */
export const autoscaleSchema = z.object({
  min: z.number().int().min(0).max(MAX_INSTANCES),
  max: z.number().int().min(1).max(MAX_INSTANCES),
  target: autoscaleTargetSchema,
  /** No change of count within this long of the last one: a new instance's effect shows before the next decision. */
  cooldownMs: ms.default(DEFAULT_AUTOSCALE_COOLDOWN_MS),
  /** How often the metric is read. */
  intervalMs: ms.min(100).default(DEFAULT_AUTOSCALE_INTERVAL_MS),
  /** The queues whose depth counts (a worker's default: its `queues`). */
  queues: z.array(z.string().min(1)).min(1).optional(),
  /**
   * For `queueDepth`: the BullMQ prefix (`redis` profile) or pg-boss schema (`postgres`
   * profile) the app's queues use. @defaultValue the backend's default
   */
  backendPrefix: z.string().min(1).max(100).optional(),
}).strict().refine((a) => a.min <= a.max, { path: ['max'], message: 'must be at least min' });

export type AutoscaleConfig = z.output<typeof autoscaleSchema>;

const appSchema = z.object({
  /** The file that starts the server, relative to the app folder; it listens on `process.env.PORT`. */
  entry: z.string().min(1, 'name the file that starts the server, e.g. "server.ts"')
    .refine((s) => !s.startsWith('/') && !s.split(/[\\/]/).includes('..'), 'use a path inside the app folder, e.g. "src/server.ts"'),
  instances: z.number().int().min(1).max(MAX_INSTANCES).default(DEFAULT_INSTANCES),
  healthPath: z.string().startsWith('/', 'start the path with "/"').default(DEFAULT_HEALTH_PATH),
  healthTimeoutMs: ms.min(100).default(DEFAULT_HEALTH_TIMEOUT_MS),
  stopGraceMs: ms.default(DEFAULT_STOP_GRACE_MS),
  restart: z.object({
    initialMs: ms.min(10).default(DEFAULT_RESTART_INITIAL_MS),
    maxMs: ms.min(10).default(DEFAULT_RESTART_MAX_MS),
  }).strict().default({ initialMs: DEFAULT_RESTART_INITIAL_MS, maxMs: DEFAULT_RESTART_MAX_MS }),
  /** Extra environment for every instance (the runtime's own variables win). */
  env: z.record(envName, z.string()).default({}),
  /** Instances added and removed (drained first) to keep `target`; `instances` is the count at start, kept within min..max. */
  autoscale: autoscaleSchema.optional(),
}).strict().superRefine((app, ctx) => {
  if (app.autoscale === undefined) return;
  if (app.autoscale.min < 1) ctx.addIssue({ code: 'custom', path: ['autoscale', 'min'], message: 'an app keeps at least one instance: use 1 or more' });
  if (app.autoscale.target.queueDepth !== undefined && app.autoscale.queues === undefined) {
    ctx.addIssue({ code: 'custom', path: ['autoscale', 'queues'], message: 'autoscale on queueDepth needs the queues to watch, e.g. queues: ["exports"]' });
  }
});

/** Most balancer replicas one supervisor runs. @defaultValue 8 */
export const MAX_BALANCER_REPLICAS = 8;
/** Where replicas listen when `replicas` > 1 and `listen` is not given: 127.0.0.2:8080, 127.0.0.3:8080, ... @defaultValue '127.0.0.2:8080' */
export const DEFAULT_REPLICA_LISTEN = '127.0.0.2:8080';

const stickKeySchema = z.discriminatedUnion('on', [
  z.object({ on: z.literal('ip') }).strict(),
  z.object({ on: z.literal('cookie'), name: z.string().min(1) }).strict(),
  z.object({ on: z.literal('header'), name: z.string().min(1) }).strict(),
]);

/**
 * This machine's part of the balancer pair's floating address (keepalived, VRRPv3):
 * see docs/failover.md. Each machine runs one `scaleout up` with the same `address`
 * and `routerId`, its own `priority`, and the others as `peers`.
 */
const vipSchema = z.object({
  /** The floating address with its prefix length, e.g. `10.0.0.100/24`. */
  address: z.string(),
  /** The interface it goes on, e.g. `eth0`. */
  interface: z.string(),
  routerId: z.number().int().min(1).max(255),
  /** @defaultValue 100 */
  priority: z.number().int().min(1).max(254).default(100),
  /** The other machines' addresses (unicast adverts). */
  peers: z.array(z.string()).min(1, 'name the other machines of the pair'),
  /** This machine's address the adverts come from. */
  source: z.string().optional(),
  /** @defaultValue 100 */
  advertIntervalMs: z.number().int().optional(),
  /** false (`nopreempt`): a returning machine does not take the address back. @defaultValue false */
  preempt: z.boolean().default(false),
}).strict().superRefine((vip, ctx) => {
  // The same checks keepalived's config is written under, at load time.
  const problem = checkVipOptions(vip);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

const balancerSchema = z.object({
  /**
   * Where clients connect: one `host:port`, or one per replica. With `replicas` > 1 and
   * one address (or none), the replicas take the next IPv4 addresses from it:
   * 127.0.0.2:8080, 127.0.0.3:8080, ... (every 127.x.y.z is this machine on Linux).
   */
  listen: z.preprocess((v) => (typeof v === 'string' ? [v] : v), z.array(hostPort).min(1).max(MAX_BALANCER_REPLICAS)).optional(),
  /**
   * Balancer processes, each on its own address, with the same pools, routes, cookie
   * keys and membership; stick tables replicated between them. @defaultValue the
   * number of `listen` addresses, else 1
   */
  replicas: z.number().int().min(1).max(MAX_BALANCER_REPLICAS).optional(),
  /** The first replica's admin API; the next ones take the next ports (port 0: free ones). */
  admin: hostPort.default(DEFAULT_BALANCER_ADMIN),
  strategy: z.enum(STRATEGY_NAMES as [string, ...string[]]).default('round-robin'),
  /**
   * `cookie`: a signed server-id cookie keeps a client on one instance (no state: every
   * replica has the keys); `table`: a stick table keyed as `stickTable.key` says,
   * saved to `.scaleout/` and replicated between replicas; `none`: every request is balanced.
   */
  affinity: z.enum(['none', 'cookie', 'table']).default('none'),
  stickTable: z.object({
    key: stickKeySchema.default({ on: 'ip' }),
    /** @defaultValue 30 minutes */
    idleTimeoutMs: ms.min(1000).optional(),
    /** @defaultValue 100000 */
    maxEntries: z.number().int().min(1).max(10_000_000).optional(),
  }).strict().optional(),
  healthIntervalMs: ms.min(50).default(DEFAULT_BALANCER_HEALTH_INTERVAL_MS),
  /**
   * Balancer processes sharing the client socket: a number, or `'auto'` (one per core).
   * Unset: one process. One worker checks the instances' health for all (docs/balancing.md).
   */
  workers: z.union([z.number().int().min(1).max(MAX_WORKERS), z.literal('auto')], { error: `use a whole number from 1 to ${MAX_WORKERS}, or "auto" (one per core)` }).optional(),
  /** A floating service address moved by keepalived between the machines of a balancer pair. */
  vip: vipSchema.optional(),
}).strict().transform((balancer, ctx) => {
  const given = balancer.listen;
  const replicas = balancer.replicas ?? given?.length ?? 1;
  let listen: string[];
  if (given !== undefined && given.length === replicas) listen = given;
  else if (given !== undefined && given.length > 1) {
    ctx.addIssue({ code: 'custom', path: ['listen'], message: `give one address per replica (${replicas}), or one address the replicas count up from` });
    return z.NEVER;
  } else if (replicas === 1) listen = [DEFAULT_BALANCER_LISTEN];
  else {
    const counted = countUp(given?.[0] ?? DEFAULT_REPLICA_LISTEN, replicas);
    if (counted === undefined) {
      ctx.addIssue({ code: 'custom', path: ['listen'], message: `give one address per replica (${replicas}): only an IPv4 address can be counted up from` });
      return z.NEVER;
    }
    listen = counted;
  }
  if (new Set(listen).size !== listen.length) {
    ctx.addIssue({ code: 'custom', path: ['listen'], message: 'every replica needs its own address' });
    return z.NEVER;
  }
  if (balancer.workers !== undefined && balancer.affinity === 'table') {
    // Workers share placements through their primary, replicas through peers and a saved
    // file per balancer: the two are not wired together yet, and two writers of one file
    // would lose entries. Cookie affinity needs neither.
    ctx.addIssue({ code: 'custom', path: ['workers'], message: 'balancer workers and affinity: "table" do not go together yet: use affinity: "cookie" with workers, or drop workers' });
    return z.NEVER;
  }
  if (balancer.vip !== undefined && listen.length > 1) {
    // keepalived guards the one balancer of this machine; the pair is across machines.
    ctx.addIssue({ code: 'custom', path: ['vip'], message: 'a floating address moves between machines, each with one balancer: drop replicas (or list one listen address) where vip is set' });
    return z.NEVER;
  }
  if (balancer.stickTable !== undefined && balancer.affinity !== 'table') {
    ctx.addIssue({ code: 'custom', path: ['stickTable'], message: 'set affinity: "table" to use a stick table' });
    return z.NEVER;
  }
  return { ...balancer, listen, replicas };
});

/** `count` addresses from `first` up, by the last IPv4 octet; undefined when `first` is not IPv4 or runs past .255. */
function countUp(first: string, count: number): string[] | undefined {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3}):(\d+)$/.exec(first);
  if (match === null) return undefined;
  const last = Number(match[4]);
  if (last + count - 1 > 255) return undefined;
  return Array.from({ length: count }, (_, i) => `${match[1]}.${match[2]}.${match[3]}.${last + i}:${match[5]}`);
}

const postgresSchema = z.object({
  replicas: z.number().int().min(0).max(MAX_REPLICAS).default(DEFAULT_POSTGRES_REPLICAS),
  synchronous: z.boolean().default(false),
  /**
   * The supervisor promotes a replica when the embedded primary stays down, and
   * rebuilds the old primary as a replica. Needs a replica; app instances only follow.
   */
  failover: z.boolean().default(true),
}).strict();

const sqlName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, 'use a name of letters, digits and _ (at most 63), e.g. "shop_shard_0"');
const databaseRef = z.union([sqlName, z.string().regex(/^postgres(ql)?:\/\/\S+$/)], {
  error: 'use a database name on the primary (e.g. "shop_shard_0") or a postgres:// URL',
});

const shardsSchema = z.object({
  /** The database holding `scaleout_shard_directory`. @defaultValue the database of DATABASE_URL (the embedded primary's) */
  directory: databaseRef.optional(),
  /** Every shard, by database name on the primary's server (the shard's name) or by URL. */
  databases: z.array(databaseRef).min(1, 'name at least one shard database'),
  /** The sharded tables and their shard keys, as the app's `createShardedDatabase` declares them (for `scaleout reshard`). */
  tables: z.record(sqlName, z.object({ shardKey: sqlName }).strict()).default({}),
}).strict();

const dbSchema = z.object({
  /** The app's shards, shown by `scaleout status` and moved by `scaleout reshard`. */
  shards: shardsSchema.optional(),
}).strict();

/** @defaultValue 128 */
export const DEFAULT_CACHE_REDIS_MAXMEMORY_MB = 128;
/** @defaultValue 64 */
export const DEFAULT_MEMCACHED_MEMORY_MB = 64;

const cacheRedisSchema = z.object({
  /** `maxmemory` of the cache's redis-server, which evicts least recently used keys beyond it. */
  maxmemoryMb: z.number().int().min(1).default(DEFAULT_CACHE_REDIS_MAXMEMORY_MB),
}).strict();

const redisSchema = z.object({
  /** Append-only file on: writes survive a restart of the spawned redis-server. */
  appendonly: z.boolean().default(true),
  /**
   * A second redis-server for the cache L2 (`allkeys-lru`), so the sessions' Redis never
   * evicts; false: none (the cache then has no Redis L2 from the runtime).
   */
  cache: z.union([z.literal(false), cacheRedisSchema]).default({ maxmemoryMb: DEFAULT_CACHE_REDIS_MAXMEMORY_MB }),
}).strict();

const memcachedSchema = z.object({
  /** memcached's `-m`: the memory its items may use. */
  memoryMb: z.number().int().min(1).default(DEFAULT_MEMCACHED_MEMORY_MB),
}).strict();

const enginesSchema = z.object({
  /** false: no PostgreSQL at all. `DATABASE_URL` in the environment wins over the embedded default. */
  postgres: z.union([z.literal(false), postgresSchema]).default({ replicas: DEFAULT_POSTGRES_REPLICAS, synchronous: false, failover: true }),
  /** false: no Redis (the postgres profile). `REDIS_URL` in the environment wins over a spawned redis-server. */
  redis: z.union([z.literal(false), redisSchema]).default({ appendonly: true, cache: { maxmemoryMb: DEFAULT_CACHE_REDIS_MAXMEMORY_MB } }),
  /** A memcached for the cache L2; off unless given. `MEMCACHED_URL` in the environment wins over a spawned one. */
  memcached: z.union([z.literal(false), memcachedSchema]).default(false),
}).strict();

const deploySchema = z.object({
  strategy: z.enum(['rolling', 'blue-green']).default('rolling'),
  drainTimeoutMs: ms.default(DEFAULT_DRAIN_TIMEOUT_MS),
}).strict();

/** Worker processes of one name started by `scaleout up` when the config says nothing. @defaultValue 1 */
export const DEFAULT_WORKER_INSTANCES = 1;

/**
 * The async tier's workers: processes of the app's build running `entry` (it opens
 * its queues and runs `Worker`s; on SIGTERM it calls `worker.close({ graceMs })`).
 */
const workerSchema = z.object({
  entry: z.string().min(1, 'name the file that runs the workers, e.g. "src/worker.ts"')
    .refine((s) => !s.startsWith('/') && !s.split(/[\\/]/).includes('..'), 'use a path inside the app folder, e.g. "src/worker.ts"'),
  instances: z.number().int().min(0).max(MAX_INSTANCES).default(DEFAULT_WORKER_INSTANCES),
  /** The queues it serves, given to the process as `WORKER_QUEUES` (comma-separated). */
  queues: z.array(z.string().min(1)).optional(),
  /** After SIGTERM, a worker gets this long to finish or return its job. @defaultValue `app.stopGraceMs` */
  stopGraceMs: ms.optional(),
  /**
   * A worker whose heartbeat is silent this long (stopped, or a loop that never yields)
   * is killed and restarted; 0 turns the check off. @defaultValue 10000
   */
  hangTimeoutMs: z.union([z.literal(0), z.number().int().min(1000, 'give at least 1000 ms, or 0 to turn the check off')]).optional(),
  /**
   * The BullMQ prefix (`redis` profile) or pg-boss schema (`postgres` profile) its queues
   * use, for the dashboard's queue panel (and autoscale, unless it names its own).
   * @defaultValue the backend's default
   */
  backendPrefix: z.string().min(1).max(100).optional(),
  /** Workers added and removed on the depth of their queues; `instances` is the count at start, kept within min..max. */
  autoscale: autoscaleSchema.optional(),
}).strict().superRefine((worker, ctx) => {
  if (worker.autoscale === undefined) return;
  if (worker.autoscale.target.queueDepth === undefined) {
    ctx.addIssue({ code: 'custom', path: ['autoscale', 'target'], message: 'workers scale on the depth of their queues: use target: { queueDepth: <jobs per worker> }' });
  }
  if (worker.autoscale.queues === undefined && worker.queues === undefined) {
    ctx.addIssue({ code: 'custom', path: ['autoscale', 'queues'], message: 'name the queues to watch here or in the worker\'s queues' });
  }
});

/**
 * `scaleout dns` run by the supervisor: an authoritative name server for `name` that
 * answers with the balancer while it passes its health check (docs/dns.md). The rest
 * is checked by the DNS server's own options when it starts.
 */
const dnsSchema = z.object({
  name: z.string(),
  /** UDP and TCP; port 53 needs root. @defaultValue 127.0.0.1:5353 */
  listen: z.string().default('127.0.0.1:5353'),
  /** @defaultValue 5 */
  ttlSec: z.number().optional(),
}).strict();

/** Static servers started by `scaleout up` when `static` says nothing. @defaultValue 1 */
export const DEFAULT_STATIC_INSTANCES = 1;

/**
 * The static tier: pre-rendered pages (published by the app's pre-renderers into
 * `STATIC_DIR`, `.scaleout/static`) served by their own processes, the `static` role,
 * in the balancer pool `static`. GET and HEAD under `paths` go to a static server
 * first; a page it does not have goes on to the app (a `fallthrough` route).
 */
const staticSchema = z.object({
  /** URL path prefixes of the pre-rendered pages, e.g. ["/products"]. */
  paths: z.array(z.string().startsWith('/', 'start the path with "/"').regex(/^\/[^?#\s]*$/, 'a path prefix without query, e.g. "/products"'))
    .min(1, 'name at least one path prefix, e.g. ["/products"]'),
  instances: z.number().int().min(1).max(MAX_INSTANCES).default(DEFAULT_STATIC_INSTANCES),
  /** Cache-Control of the pages (a page's own header wins). @defaultValue 'public, max-age=0, must-revalidate' */
  cacheControl: z.string().regex(/^[\x20-\x7E]{1,200}$/, 'visible ASCII, e.g. "public, max-age=60"').optional(),
  /**
   * The balancer's response cache for the static pool (docs/balancing.md, "Response
   * cache"): `{ maxBytes?, maxObjectBytes?, maxAgeMs? }`, or `false` for none. The
   * static servers say `Surrogate-Control: max-age=1`, so a new generation reaches
   * clients within a second. @defaultValue {} (on, with the balancer's defaults)
   */
  cache: z.union([z.literal(false), responseCacheSchema], { error: 'use false, or { maxBytes?, maxObjectBytes?, maxAgeMs? }' }).default(() => responseCacheSchema.parse({})),
}).strict();

/** Which engines back sessions, cache L2, bus and queue. */
export const PROFILES = ['redis', 'postgres'] as const;

export const runtimeConfigSchema = z.object({
  app: appSchema,
  /**
   * `redis`: sessions, cache L2, bus and queue in Redis; `postgres`: all of them in
   * PostgreSQL, and no Redis is started. @defaultValue `redis` when REDIS_URL is set
   * or a redis-server is on the PATH (and `engines.redis` is not false), else `postgres`
   */
  profile: z.enum(PROFILES).optional(),
  balancer: balancerSchema.default(balancerSchema.parse({})),
  engines: enginesSchema.default(enginesSchema.parse({})),
  deploy: deploySchema.default(deploySchema.parse({})),
  db: dbSchema.default({}),
  dns: dnsSchema.optional(),
  static: staticSchema.optional(),
  workers: z.record(z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, 'use a short lowercase name such as "mailer"'), workerSchema).default({}),
}).strict();

/** What `scaleout.config.*` may contain (defaults not yet applied). */
export type RuntimeConfigInput = z.input<typeof runtimeConfigSchema>;
/** A validated config with every default applied. */
export type RuntimeConfig = z.output<typeof runtimeConfigSchema>;
export type DeployStrategy = RuntimeConfig['deploy']['strategy'];
export type Profile = (typeof PROFILES)[number];
/** The `db.shards` section, validated. */
export type ShardsConfig = NonNullable<RuntimeConfig['db']['shards']>;

/**
 * Declares an app's deployment for `scaleout up`. Only gives types; validation happens
 * when the supervisor loads the file.
 *
 * @example
 * ```ts
 * // scaleout.config.ts
 * import { defineConfig } from 'scaleout/runtime';
 * export default defineConfig({
 *   app: { entry: 'src/server.ts', instances: 3 },
 *   balancer: { listen: '127.0.0.1:8080', affinity: 'cookie' },
 *   engines: { postgres: { replicas: 1 } },
 * });
 * ```
 */
export function defineConfig(config: RuntimeConfigInput): RuntimeConfigInput {
  return config;
}
