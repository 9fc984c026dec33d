import { z } from 'zod';
import { systemClock, type Clock } from '../internal/clock.js';
import { Keyring, type SigningKey } from '../internal/keyring.js';
import { describeIssues } from '../internal/zod-issues.js';
import { DEFAULT_AFFINITY_COOKIE_NAME, DEFAULT_HEALTH_PATH } from '../internal/wire.js';
import { listenAddressSchema, serverAddressSchema } from './address.js';
import { BalancerConfigError } from './errors.js';
import type { ActiveCheckerOptions, ActiveCheckerRunOptions } from './health/active-checker.js';
import { STRATEGY_NAMES } from './strategies/strategy.js';
import { MAX_WORKERS } from './workers/limits.js';

/** Defaults, exported so docs, CLI help and tests quote the same numbers. */
export const DEFAULT_TIMEOUTS = {
  /** A client must send a complete request head within this time (else 408). */
  headMs: 10_000,
  /** An idle keep-alive client connection is closed after this time. */
  keepAliveMs: 60_000,
  /** Gap allowed between two pieces of a request body (else 408). */
  clientBodyMs: 30_000,
  /** Connecting to a server (else the request is retried on another one). */
  connectMs: 2_000,
  /** Waiting for a server's response head, and between response body pieces (else 504). */
  serverMs: 30_000,
  /** Idle upstream keep-alive connections are closed after this (below Node's 5 s default). */
  upstreamIdleMs: 4_000,
  /** Graceful shutdown: in-flight requests get this long before connections are cut. */
  shutdownMs: 30_000,
} as const;

export const DEFAULT_LIMITS = {
  maxHeadBytes: 16 * 1024,
  maxHeaderCount: 100,
  /** Request bodies up to this size are held so an idempotent request can be retried. */
  maxReplayBytes: 64 * 1024,
  maxIdlePerServer: 64,
  /** Bytes of one chunk-size line (size and extensions) of a chunked body; bounds extension floods. */
  maxChunkLineBytes: 4096,
  /** Bytes of a chunked body's trailer fields together. */
  maxTrailerBytes: 16 * 1024,
} as const;

export const DEFAULT_COOKIE_NAME = DEFAULT_AFFINITY_COOKIE_NAME;

/**
 * Active checks: `GET path` every `intervalMs`; `rise` passes bring a server up, `fall`
 * failures take it down. The balancer's only copy of these numbers: the pool schema,
 * the checker and the docs read them from here.
 */
export const DEFAULT_HEALTH = {
  path: DEFAULT_HEALTH_PATH,
  intervalMs: 2_000,
  timeoutMs: 1_000,
  /** Interval while a server changes state (HAProxy's fastinter); capped at intervalMs. */
  fastIntervalMs: 250,
  /** Each interval is stretched or shrunk by up to this share, so servers are not probed in lockstep. */
  jitterRatio: 0.1,
  /** Body bytes read looking for `{ load }`. */
  maxBodyBytes: 16 * 1024,
  rise: 2,
  fall: 3,
  /** HAProxy's default: a new server takes traffic at once, unconfirmed. */
  initialState: 'up',
} as const;

/** Passive health: ejection on errors in a row, and stall detection. */
export const DEFAULT_OUTLIER = {
  consecutiveServerErrors: 5,
  consecutiveConnectFailures: 3,
  baseEjectionMs: 30_000,
  maxEjectionMs: 300_000,
  maxEjectionPercent: 50,
  stallMs: 500,
} as const;

/** Signed-cookie affinity. */
export const DEFAULT_COOKIE_AFFINITY = {
  cookieName: DEFAULT_AFFINITY_COOKIE_NAME,
  /** 24 h; re-issued past half of it. */
  maxAgeSec: 86_400,
  path: '/',
  /** Verified values remembered so a returning client costs a Map lookup, not an HMAC. */
  cacheMaxEntries: 10_000,
} as const;

/** Stick-table affinity. */
export const DEFAULT_STICK_TABLE = {
  idleTimeoutMs: 30 * 60_000,
  maxEntries: 100_000,
  /** Longer keys are not stored, so clients cannot fill memory with huge keys. */
  maxKeyLength: 256,
  saveIntervalMs: 10_000,
} as const;

/**
 * A pool's response cache (`cache: {}`): what it holds at most, the largest answer it
 * keeps, and the longest it keeps one whatever the origin says (HAProxy's `cache`
 * section: total-max-size, max-object-size, max-age).
 */
export const DEFAULT_RESPONSE_CACHE = {
  /** Bytes of every stored answer together (head and body). */
  maxBytes: 64 * 1024 * 1024,
  /** A larger answer passes through and is not stored. */
  maxObjectBytes: 1024 * 1024,
  /** An answer is fresh at most this long, whatever its Surrogate-Control or s-maxage says. */
  maxAgeMs: 60_000,
} as const;

/** A returning server's weight ramps up over this window. */
export const DEFAULT_SLOW_START_MS = 10_000;

/** Browsers cap cookie lifetimes at 400 days; a longer Max-Age would be cut anyway. */
export const MAX_AFFINITY_AGE_SEC = 400 * 86_400;

const hostPort = listenAddressSchema;
const duration = z.number().int().nonnegative();
// Names become keys of plain objects (snapshots, JSON); "__proto__" would vanish there.
const NAME_HELP = 'use 1-64 characters of [A-Za-z0-9_.-]';
const name = z.string({ error: NAME_HELP }).regex(/^[A-Za-z0-9_.-]{1,64}$/, NAME_HELP)
  .refine((text) => text !== '__proto__', 'the name "__proto__" is reserved; pick another');
/** Pool and server names. */
export const nameSchema = name;

/** The highest server weight. */
export const MAX_SERVER_WEIGHT = 1000;

/** A server's share relative to the others of its pool. */
const WEIGHT_HELP = `use a number above 0 and at most ${MAX_SERVER_WEIGHT}`;
export const weightSchema = z.number({ error: WEIGHT_HELP }).positive(WEIGHT_HELP).max(MAX_SERVER_WEIGHT, WEIGHT_HELP);

/** One server, in the config and in the admin API alike. */
export const serverSchema = z.object({
  id: name,
  address: serverAddressSchema,
  weight: weightSchema.default(1),
}).strict();

const keySchema = z.object({ id: z.string(), secret: z.string().min(16, 'use a secret of at least 16 characters (32 random bytes recommended)') }).strict();

// ── the pool's parts: each takes its resolved options, defaults filled here ──────

const VISIBLE_ASCII = /^[\x21-\x7e]+$/;
const whole = (min: number, help: string): z.ZodNumber => z.number({ error: help }).int(help).min(min, help);
const ms = (min: number): z.ZodNumber => whole(min, `use whole milliseconds of at least ${min}`);

/** Rise/fall counting of one server's check results. */
export const healthTrackerSchema = z.object({
  /** Consecutive successful checks that bring a down server up. */
  rise: whole(1, 'use a whole number of checks, at least 1').default(DEFAULT_HEALTH.rise),
  /** Consecutive failed checks that take a confirmed-up server down. */
  fall: whole(1, 'use a whole number of checks, at least 1').default(DEFAULT_HEALTH.fall),
  /** State before the first check. */
  initialState: z.enum(['up', 'down']).default(DEFAULT_HEALTH.initialState),
});

/** Active checks of a pool's servers; `fastIntervalMs` is capped at `intervalMs` once resolved. */
export const activeCheckerSchema = healthTrackerSchema.extend({
  path: z.string().startsWith('/', "use a path starting with '/' without spaces, e.g. /healthz")
    .regex(VISIBLE_ASCII, "use a path starting with '/' without spaces, e.g. /healthz").default(DEFAULT_HEALTH.path),
  intervalMs: ms(10).default(DEFAULT_HEALTH.intervalMs),
  timeoutMs: ms(10).default(DEFAULT_HEALTH.timeoutMs),
  fastIntervalMs: ms(10).default(DEFAULT_HEALTH.fastIntervalMs),
  jitterRatio: z.number().min(0).max(0.5, 'use a number from 0 to 0.5').default(DEFAULT_HEALTH.jitterRatio),
  /** Host header sent; default: the target's host and port. */
  hostHeader: z.string().regex(/^[\x20-\x7e]+$/, 'use a host name, optionally with :port').optional(),
  maxBodyBytes: whole(0, 'use a whole number of bytes').default(DEFAULT_HEALTH.maxBodyBytes),
}).transform((o) => ({ ...o, fastIntervalMs: Math.min(o.fastIntervalMs, o.intervalMs) }));

/** A pool's `health`: what a config may set of the active checks. */
export const healthSchema = z.object({
  path: activeCheckerSchema.in.shape.path,
  intervalMs: activeCheckerSchema.in.shape.intervalMs,
  timeoutMs: activeCheckerSchema.in.shape.timeoutMs,
  /** Interval while a server changes state (HAProxy's fastinter); capped at intervalMs. */
  fastIntervalMs: activeCheckerSchema.in.shape.fastIntervalMs,
  rise: healthTrackerSchema.shape.rise,
  fall: healthTrackerSchema.shape.fall,
}).strict().transform((health) => activeCheckerSchema.parse(health));

const outlierFields = {
  /** 0 turns ejection on 5xx off. */
  consecutiveServerErrors: whole(0, 'use a whole number, 0 to disable').default(DEFAULT_OUTLIER.consecutiveServerErrors),
  /** 0 turns ejection on connect failures and timeouts off. */
  consecutiveConnectFailures: whole(0, 'use a whole number, 0 to disable').default(DEFAULT_OUTLIER.consecutiveConnectFailures),
  baseEjectionMs: ms(1).default(DEFAULT_OUTLIER.baseEjectionMs),
  maxEjectionMs: ms(1).default(DEFAULT_OUTLIER.maxEjectionMs),
  maxEjectionPercent: z.number().min(0, 'use a number from 0 to 100').max(100, 'use a number from 0 to 100').default(DEFAULT_OUTLIER.maxEjectionPercent),
};
const ejectionOrder = { path: ['maxEjectionMs'], message: 'must not be below baseEjectionMs; raise maxEjectionMs or lower baseEjectionMs' };

/** Passive ejection of servers that fail in a row. */
export const outlierEjectorSchema = z.object(outlierFields).refine((o) => o.maxEjectionMs >= o.baseEjectionMs, ejectionOrder);

/** Stall detection: a server silent this long with requests in flight is probed at once; 0 turns it off. */
export const stallDetectorSchema = z.object({ stallMs: ms(0).default(DEFAULT_OUTLIER.stallMs) });

export const outlierSchema = z.object({
  ...outlierFields,
  /**
   * A server silent this long with requests in flight is probed at once (timeout: the
   * same) and taken down when the probe fails too; 0 turns stall detection off.
   */
  stallMs: stallDetectorSchema.shape.stallMs,
}).strict().refine((o) => o.maxEjectionMs >= o.baseEjectionMs, ejectionOrder);

const COOKIE_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const cookieName = z.string().regex(COOKIE_NAME, "not a valid cookie name; use letters, digits and !#$%&'*+-.^_`|~").default(DEFAULT_COOKIE_AFFINITY.cookieName);
const maxAgeSec = whole(1, `use whole seconds from 1 to ${MAX_AFFINITY_AGE_SEC} (400 days)`)
  .max(MAX_AFFINITY_AGE_SEC, `use whole seconds from 1 to ${MAX_AFFINITY_AGE_SEC} (400 days)`).default(DEFAULT_COOKIE_AFFINITY.maxAgeSec);

/** Signed-cookie affinity; `keyring` (or `keys` to make one) is required. */
export const cookieAffinitySchema = z.object({
  cookieName,
  maxAgeSec,
  path: z.string().regex(/^\/[\x21-\x3a\x3c-\x7e]*$/, "use a path starting with '/' without ';', spaces or control characters").default(DEFAULT_COOKIE_AFFINITY.path),
  cacheMaxEntries: whole(0, 'use a whole number, 0 to disable the cache').default(DEFAULT_COOKIE_AFFINITY.cacheMaxEntries),
});

/** Stick-table affinity's table. */
export const stickTableSchema = z.object({
  idleTimeoutMs: ms(1).default(DEFAULT_STICK_TABLE.idleTimeoutMs),
  maxEntries: whole(1, 'use a whole number, at least 1').default(DEFAULT_STICK_TABLE.maxEntries),
  maxKeyLength: whole(1, 'use a whole number, at least 1').default(DEFAULT_STICK_TABLE.maxKeyLength),
});

export const affinitySchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('cookie'),
    cookieName,
    maxAgeSec,
  }).strict(),
  z.object({
    type: z.literal('table'),
    key: z.discriminatedUnion('on', [
      z.object({ on: z.literal('ip') }).strict(),
      z.object({ on: z.literal('cookie'), name: z.string().min(1) }).strict(),
      z.object({ on: z.literal('header'), name: z.string().min(1) }).strict(),
    ]).default({ on: 'ip' }),
    idleTimeoutMs: stickTableSchema.shape.idleTimeoutMs,
    maxEntries: stickTableSchema.shape.maxEntries,
    /** Saved here periodically and at shutdown, loaded at start. */
    file: z.string().optional(),
    saveIntervalMs: ms(100).default(DEFAULT_STICK_TABLE.saveIntervalMs),
  }).strict(),
]);

/** A pool's response cache; see {@link DEFAULT_RESPONSE_CACHE}. */
export const responseCacheSchema = z.object({
  maxBytes: whole(1024, 'use a whole number of bytes, at least 1024').default(DEFAULT_RESPONSE_CACHE.maxBytes),
  maxObjectBytes: whole(1, 'use a whole number of bytes, at least 1').default(DEFAULT_RESPONSE_CACHE.maxObjectBytes),
  maxAgeMs: ms(1).default(DEFAULT_RESPONSE_CACHE.maxAgeMs),
}).strict().refine((o) => o.maxObjectBytes <= o.maxBytes, {
  path: ['maxObjectBytes'], message: 'must not be above maxBytes; lower maxObjectBytes or raise maxBytes',
});

export type ResolvedHealthTrackerOptions = z.output<typeof healthTrackerSchema>;
export type ResolvedActiveCheckerOptions = z.output<typeof activeCheckerSchema>;
export type ResolvedOutlierEjectorOptions = z.output<typeof outlierEjectorSchema> & { clock: Clock };
export type ResolvedStallDetectorOptions = z.output<typeof stallDetectorSchema>;
export type ResolvedCookieAffinityOptions = z.output<typeof cookieAffinitySchema> & { keyring: Keyring; clock: Clock };
export type ResolvedStickTableOptions = z.output<typeof stickTableSchema> & { clock: Clock };
export type ResolvedResponseCacheOptions = z.output<typeof responseCacheSchema> & { clock: Clock };

function parse<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  throw new BalancerConfigError(`${what}: ${describeIssues(result.error.issues, input ?? {})}`);
}

/** For a part built on its own (tests, benches): validated and filled as a pool does. */
export function resolveHealthTrackerOptions(input?: z.input<typeof healthTrackerSchema>): ResolvedHealthTrackerOptions {
  return parse(healthTrackerSchema, input, 'health');
}

/** Keeps the checker's listeners (`onChange`, `onLoad`) as given. */
export function resolveActiveCheckerOptions(input: ActiveCheckerOptions = {}): ActiveCheckerRunOptions {
  const { onChange, onLoad, ...fields } = input;
  return { ...parse(activeCheckerSchema, fields, 'health'), onChange, onLoad };
}

export function resolveOutlierEjectorOptions(input?: z.input<typeof outlierEjectorSchema> & { clock?: Clock }): ResolvedOutlierEjectorOptions {
  return { ...parse(outlierEjectorSchema, input, 'outlier'), clock: input?.clock ?? systemClock };
}

export function resolveStallDetectorOptions(input?: z.input<typeof stallDetectorSchema>): ResolvedStallDetectorOptions {
  return parse(stallDetectorSchema, input, 'outlier');
}

export function resolveCookieAffinityOptions(
  input: z.input<typeof cookieAffinitySchema> & { keyring?: Keyring; keys?: readonly SigningKey[]; clock?: Clock },
): ResolvedCookieAffinityOptions {
  const keyring = input.keyring ?? (input.keys !== undefined ? new Keyring(input.keys) : undefined);
  if (keyring === undefined) throw new BalancerConfigError('cookie affinity needs signing keys; pass keyring or keys: [{ id, secret }] (share them between balancers)');
  return { ...parse(cookieAffinitySchema, input, 'affinity'), keyring, clock: input.clock ?? systemClock };
}

export function resolveStickTableOptions(input?: z.input<typeof stickTableSchema> & { clock?: Clock }): ResolvedStickTableOptions {
  return { ...parse(stickTableSchema, input, 'stick table'), clock: input?.clock ?? systemClock };
}

export function resolveResponseCacheOptions(input?: z.input<typeof responseCacheSchema> & { clock?: Clock }): ResolvedResponseCacheOptions {
  const { clock, ...fields } = input ?? {};
  return { ...parse(responseCacheSchema, fields, 'cache'), clock: clock ?? systemClock };
}

export const poolSchema = z.object({
  servers: z.array(serverSchema).default([]),
  strategy: z.enum(STRATEGY_NAMES as [string, ...string[]]).default('round-robin'),
  hash: z.object({
    on: z.enum(['header', 'cookie', 'ip']),
    name: z.string().optional(),
    balanceFactor: z.number().min(1).default(1.25),
  }).strict().optional(),
  affinity: affinitySchema.optional(),
  health: healthSchema.optional(),
  outlier: outlierSchema.default(outlierSchema.parse({})),
  /** Ramp a returning server's weight up over this window (0 disables). */
  slowStartMs: duration.default(DEFAULT_SLOW_START_MS),
  /** Sticky clients of a draining server may stay until this long after the drain began. */
  drainStickyMs: duration.default(0),
  /**
   * Keep the pool's small, public GET answers in the balancer and answer repeats from
   * there (docs/balancing.md, "Response cache"); absent: every request goes to a server.
   */
  cache: responseCacheSchema.optional(),
}).strict().superRefine((pool, ctx) => {
  if (pool.strategy === 'hash' && pool.hash === undefined) {
    ctx.addIssue({ code: 'custom', path: ['hash'], message: 'strategy "hash" needs hash: { on: "header" | "cookie" | "ip", name? }' });
  }
  if (pool.hash !== undefined && pool.hash.on !== 'ip' && pool.hash.name === undefined) {
    ctx.addIssue({ code: 'custom', path: ['hash', 'name'], message: `hash on ${pool.hash.on} needs the ${pool.hash.on} name` });
  }
  const ids = new Set<string>();
  pool.servers.forEach((s, i) => {
    if (ids.has(s.id)) ctx.addIssue({ code: 'custom', path: ['servers', i, 'id'], message: `server id "${s.id}" appears twice` });
    ids.add(s.id);
  });
});

export const routeSchema = z.object({
  host: z.string().min(1).optional(),
  pathPrefix: z.string().startsWith('/').optional(),
  pool: name,
  /** GET and HEAD only; a 404 from the pool goes on to the next matching rule (a static tier before the app). */
  fallthrough: z.boolean().optional(),
}).strict();

export const listenerSchema = z.object({
  address: hostPort,
  tls: z.object({ cert: z.string(), key: z.string() }).strict().optional(),
}).strict();

export { MAX_WORKERS };
const WORKERS_HELP = `use a whole number from 1 to ${MAX_WORKERS}, or "auto" (one per core)`;

/** Where the admin API listens and the bearer token it requires. */
export const adminOptionsSchema = z.object({
  address: hostPort,
  token: z.string().min(16, 'use an admin token of at least 16 characters'),
}).strict();

export const balancerOptionsSchema = z.object({
  // Not a union: a union would report "Invalid input" instead of what is wrong with the address.
  listen: z.preprocess((value) => (typeof value === 'string' ? [{ address: value }] : value), z.array(listenerSchema).min(1)) as
    unknown as z.ZodType<Array<z.output<typeof listenerSchema>>, string | Array<z.input<typeof listenerSchema>>>,
  pools: z.record(name, poolSchema),
  routes: z.array(routeSchema).optional(),
  /** Affinity cookie keys; the first signs. Share them between balancers that serve the same clients. */
  keys: z.array(keySchema).min(1).optional(),
  timeouts: z.object({
    headMs: duration.min(1).default(DEFAULT_TIMEOUTS.headMs),
    keepAliveMs: duration.min(1).default(DEFAULT_TIMEOUTS.keepAliveMs),
    clientBodyMs: duration.min(1).default(DEFAULT_TIMEOUTS.clientBodyMs),
    connectMs: duration.min(1).default(DEFAULT_TIMEOUTS.connectMs),
    serverMs: duration.min(1).default(DEFAULT_TIMEOUTS.serverMs),
    upstreamIdleMs: duration.min(1).default(DEFAULT_TIMEOUTS.upstreamIdleMs),
    shutdownMs: duration.default(DEFAULT_TIMEOUTS.shutdownMs),
  }).strict().default({ ...DEFAULT_TIMEOUTS }),
  limits: z.object({
    maxHeadBytes: z.number().int().min(1024).max(1024 * 1024).default(DEFAULT_LIMITS.maxHeadBytes),
    maxHeaderCount: z.number().int().min(8).max(10_000).default(DEFAULT_LIMITS.maxHeaderCount),
    maxReplayBytes: z.number().int().nonnegative().default(DEFAULT_LIMITS.maxReplayBytes),
    maxIdlePerServer: z.number().int().nonnegative().default(DEFAULT_LIMITS.maxIdlePerServer),
    maxChunkLineBytes: z.number().int().min(64).max(1024 * 1024).default(DEFAULT_LIMITS.maxChunkLineBytes),
    maxTrailerBytes: z.number().int().min(256).max(1024 * 1024).default(DEFAULT_LIMITS.maxTrailerBytes),
  }).strict().default({ ...DEFAULT_LIMITS }),
  admin: adminOptionsSchema.optional(),
  /**
   * Processes that share the listening socket (`'auto'`: one per core). Without it the
   * balancer is the calling process; with it, a primary holds the socket, the admin API
   * and the shared state, and each worker is a whole balancer (docs/balancing.md).
   */
  workers: z.union([z.number({ error: WORKERS_HELP }).int(WORKERS_HELP).min(1, WORKERS_HELP).max(MAX_WORKERS, WORKERS_HELP), z.literal('auto')], { error: WORKERS_HELP }).optional(),
  /** Pools with a stick table and no `file` of their own save it here, as `stick-<pool>.json`. */
  stickTableDir: z.string().min(1).optional(),
  /**
   * The other balancers that serve the same clients, by admin address: new stick table
   * entries are pushed to them, with a full resync whenever one (re)appears. They share
   * this balancer's `admin.token` (see affinity/stick-peers.ts).
   */
  peers: z.object({
    addresses: z.array(hostPort).min(1, 'list the admin address of at least one other balancer'),
    syncIntervalMs: duration.min(50).default(1000),
  }).strict().optional(),
}).strict().superRefine((opts, ctx) => {
  if (opts.peers !== undefined && opts.admin === undefined) {
    ctx.addIssue({ code: 'custom', path: ['peers'], message: 'peers push to each other\'s admin API: set admin { address, token } too' });
  }
  const pools = Object.keys(opts.pools);
  if (pools.length === 0) ctx.addIssue({ code: 'custom', path: ['pools'], message: 'define at least one pool' });
  if (opts.routes === undefined && pools.length > 1) {
    ctx.addIssue({ code: 'custom', path: ['routes'], message: 'with several pools, routes must say which requests go to which pool' });
  }
  opts.routes?.forEach((r, i) => {
    if (!(r.pool in opts.pools)) ctx.addIssue({ code: 'custom', path: ['routes', i, 'pool'], message: `unknown pool "${r.pool}"; defined: ${pools.join(', ')}` });
  });
});

/** Options of one balancer process; see {@link BalancerWorkersOptionsInput} for several. */
export type BalancerOptionsInput = Omit<z.input<typeof balancerOptionsSchema>, 'workers'>;
/** Options of a balancer whose worker processes share its listeners. */
export type BalancerWorkersOptionsInput = BalancerOptionsInput & { workers: number | 'auto' };
export type BalancerOptions = z.output<typeof balancerOptionsSchema>;
export type PoolOptions = z.output<typeof poolSchema>;
export type PoolOptionsInput = z.input<typeof poolSchema>;

/** The fields of a pool's `health` a config may set (the rest are filled when resolved). */
const HEALTH_INPUT_FIELDS = ['path', 'intervalMs', 'timeoutMs', 'fastIntervalMs', 'rise', 'fall'] as const;

/**
 * Resolved pool options as options again, for a pool rebuilt elsewhere (a balancer
 * worker started later, `GET /config`): resolving fills `health` with fields a config
 * may not set, which the strict schema would refuse when parsed a second time.
 */
export function poolInputOf(options: PoolOptions): PoolOptionsInput {
  if (options.health === undefined) return options as PoolOptionsInput;
  const health: Record<string, unknown> = {};
  for (const field of HEALTH_INPUT_FIELDS) health[field] = options.health[field];
  return { ...options, health } as PoolOptionsInput;
}
export type ServerOptions = z.output<typeof serverSchema>;
export type ServerOptionsInput = z.input<typeof serverSchema>;
export type RouteOptions = z.output<typeof routeSchema>;

/** Validate once, at construction: names the field, the value and what is allowed. */
export function parseBalancerOptions(input: unknown): BalancerOptions {
  const result = balancerOptionsSchema.safeParse(input);
  if (result.success) return result.data;
  // `listen: "host:port"` is checked as `[{ address }]`; name the field the user wrote.
  const listenText = typeof (input as { listen?: unknown } | null)?.listen === 'string';
  const issues = result.error.issues.map((issue) => (listenText && issue.path[0] === 'listen' ? { ...issue, path: ['listen'] } : issue));
  throw new BalancerConfigError(describeIssues(issues, input));
}

/** Validates one server as `pools.<name>.servers[i]` would be: the admin API and `Balancer.addServer` use it. */
export function parseServerOptions(input: unknown): ServerOptions {
  const result = serverSchema.safeParse(input);
  if (result.success) return result.data;
  throw new BalancerConfigError(describeIssues(result.error.issues, input));
}

export function parsePoolOptions(input: unknown): PoolOptions {
  const result = poolSchema.safeParse(input);
  if (result.success) return result.data;
  throw new BalancerConfigError(describeIssues(result.error.issues, input));
}

