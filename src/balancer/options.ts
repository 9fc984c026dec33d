import { z } from 'zod';
import { describeIssues } from '../internal/zod-issues.js';
import { DEFAULT_AFFINITY_COOKIE_NAME, DEFAULT_HEALTH_PATH } from '../internal/wire.js';
import { listenAddressSchema, serverAddressSchema } from './address.js';
import { BalancerConfigError } from './errors.js';
import { DEFAULT_CHECK_FAST_INTERVAL_MS, DEFAULT_STALL_MS } from './health/index.js';
import { STRATEGY_NAMES } from './strategies/strategy.js';

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
} as const;

export const DEFAULT_COOKIE_NAME = DEFAULT_AFFINITY_COOKIE_NAME;

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

export const healthSchema = z.object({
  path: z.string().startsWith('/').default(DEFAULT_HEALTH_PATH),
  intervalMs: duration.min(10).default(2000),
  timeoutMs: duration.min(10).default(1000),
  /** Interval while a server changes state (HAProxy's fastinter); capped at intervalMs. */
  fastIntervalMs: duration.min(10).default(DEFAULT_CHECK_FAST_INTERVAL_MS),
  rise: z.number().int().min(1).default(2),
  fall: z.number().int().min(1).default(3),
}).strict();

export const outlierSchema = z.object({
  /** 0 turns ejection on 5xx off. */
  consecutiveServerErrors: z.number().int().min(0).default(5),
  /** 0 turns ejection on connect failures and timeouts off. */
  consecutiveConnectFailures: z.number().int().min(0).default(3),
  baseEjectionMs: duration.min(1).default(30_000),
  maxEjectionMs: duration.min(1).default(300_000),
  maxEjectionPercent: z.number().min(0).max(100).default(50),
  /**
   * A server silent this long with requests in flight is probed at once (timeout: the
   * same) and taken down when the probe fails too; 0 turns stall detection off.
   */
  stallMs: duration.default(DEFAULT_STALL_MS),
}).strict().refine((o) => o.maxEjectionMs >= o.baseEjectionMs, { path: ['maxEjectionMs'], message: 'maxEjectionMs must be at least baseEjectionMs' });

const keySchema = z.object({ id: z.string(), secret: z.string().min(16, 'use a secret of at least 16 characters (32 random bytes recommended)') }).strict();

export const affinitySchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('cookie'),
    cookieName: z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/).default(DEFAULT_COOKIE_NAME),
    // Browsers cap cookie lifetimes at 400 days.
    maxAgeSec: z.number().int().positive().max(400 * 86_400).default(86_400),
  }).strict(),
  z.object({
    type: z.literal('table'),
    key: z.discriminatedUnion('on', [
      z.object({ on: z.literal('ip') }).strict(),
      z.object({ on: z.literal('cookie'), name: z.string().min(1) }).strict(),
      z.object({ on: z.literal('header'), name: z.string().min(1) }).strict(),
    ]).default({ on: 'ip' }),
    idleTimeoutMs: duration.min(1).default(30 * 60_000),
    maxEntries: z.number().int().positive().default(100_000),
    /** Saved here periodically and at shutdown, loaded at start. */
    file: z.string().optional(),
    saveIntervalMs: duration.min(100).default(10_000),
  }).strict(),
]);

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
  slowStartMs: duration.default(10_000),
  /** Sticky clients of a draining server may stay until this long after the drain began. */
  drainStickyMs: duration.default(0),
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
  }).strict().default({ ...DEFAULT_LIMITS }),
  admin: adminOptionsSchema.optional(),
}).strict().superRefine((opts, ctx) => {
  const pools = Object.keys(opts.pools);
  if (pools.length === 0) ctx.addIssue({ code: 'custom', path: ['pools'], message: 'define at least one pool' });
  if (opts.routes === undefined && pools.length > 1) {
    ctx.addIssue({ code: 'custom', path: ['routes'], message: 'with several pools, routes must say which requests go to which pool' });
  }
  opts.routes?.forEach((r, i) => {
    if (!(r.pool in opts.pools)) ctx.addIssue({ code: 'custom', path: ['routes', i, 'pool'], message: `unknown pool "${r.pool}"; defined: ${pools.join(', ')}` });
  });
});

export type BalancerOptionsInput = z.input<typeof balancerOptionsSchema>;
export type BalancerOptions = z.output<typeof balancerOptionsSchema>;
export type PoolOptions = z.output<typeof poolSchema>;
export type PoolOptionsInput = z.input<typeof poolSchema>;
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

