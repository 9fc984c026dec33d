import { z } from 'zod';
import { Keyring } from '../internal/keyring.js';
import { DEFAULT_SESSION_COOKIE_NAME } from '../internal/wire.js';
import { describeIssues } from '../internal/zod-issues.js';
import { SessionOptionsError } from './errors.js';
import type { SessionStore } from './store.js';

/**
 * Sessions' defaults, the only copy: the manager, the cookie, the stores and
 * docs/sessions.md's options read them from here.
 */
export const DEFAULT_SESSION = {
  /** A session lives this long after it was last touched (24 h). */
  ttlMs: 24 * 60 * 60 * 1000,
  /** A session's expiry is pushed back at most this often (and at most every half TTL), so most requests write nothing. */
  touchIntervalMs: 60_000,
} as const;

export const DEFAULT_SESSION_COOKIE = {
  name: DEFAULT_SESSION_COOKIE_NAME,
  path: '/',
  sameSite: 'lax',
  secure: 'auto',
  persistent: false,
} as const;

export const DEFAULT_REDIS_SESSION_STORE = {
  keyPrefix: 'scaleout:session:',
  /** Opening a connection may take this long before operations fail. */
  connectTimeoutMs: 1_000,
  /** One command may take this long before it fails (the request gets a 503, not a hang). */
  commandTimeoutMs: 1_000,
  /** Upper bound of the pause between reconnection attempts while Redis is away. */
  reconnectMaxDelayMs: 1_000,
  /** When neither `url` nor `REDIS_URL` says. */
  url: 'redis://127.0.0.1:6379',
} as const;

export const DEFAULT_POSTGRES_SESSION_STORE = {
  table: 'scaleout_sessions',
  createTable: true,
  connectTimeoutMs: 1_000,
  queryTimeoutMs: 2_000,
  /** Expired sessions are deleted this often (0: never, e.g. when a cron job does it). */
  cleanupIntervalMs: 60_000,
  cleanupBatchSize: 500,
  /** When neither `connectionString` nor `DATABASE_URL` says. */
  connectionString: 'postgres://postgres@127.0.0.1:5432/postgres',
} as const;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const ATTRIBUTE = /^[\x21-\x3A\x3C-\x7E]+$/; // visible ASCII without ';'
const IDENT = /^[a-z_][a-z0-9_]{0,47}$/;
const positiveMs = z.number().int('use a positive integer number of milliseconds').positive('use a positive integer number of milliseconds');

export const sessionCookieSchema = z.object({
  name: z.string().regex(TOKEN, 'not a valid cookie name; use letters, digits and -_.').default(DEFAULT_SESSION_COOKIE.name),
  /** `Domain` attribute; unset binds the cookie to the exact host. */
  domain: z.string().regex(ATTRIBUTE, 'use a host name such as "shop.example"').optional(),
  path: z.string().regex(ATTRIBUTE, 'use a URL path such as "/"').default(DEFAULT_SESSION_COOKIE.path),
  sameSite: z.enum(['lax', 'strict', 'none']).default(DEFAULT_SESSION_COOKIE.sameSite),
  secure: z.union([z.literal('auto'), z.boolean()]).default(DEFAULT_SESSION_COOKIE.secure),
  persistent: z.boolean().default(DEFAULT_SESSION_COOKIE.persistent),
}).refine((c) => !(c.sameSite === 'none' && c.secure === false), {
  path: ['secure'], message: "browsers drop SameSite=None cookies without Secure; use secure: 'auto' or true",
});

const sessionFieldsSchema = z.object({
  ttlMs: z.number().int().min(1_000, 'use an integer of at least 1000').default(DEFAULT_SESSION.ttlMs),
  touchIntervalMs: z.number().int().min(0).optional(),
  cookie: sessionCookieSchema.default(() => sessionCookieSchema.parse({})),
}).transform((o, ctx) => {
  const touchIntervalMs = o.touchIntervalMs ?? Math.min(DEFAULT_SESSION.touchIntervalMs, Math.floor(o.ttlMs / 2));
  if (touchIntervalMs >= o.ttlMs) ctx.addIssue({ code: 'custom', path: ['touchIntervalMs'], message: `use an integer from 0 up to below ttlMs (${o.ttlMs})` });
  return { ...o, touchIntervalMs };
});

export const redisSessionStoreSchema = z.object({
  keyPrefix: z.string().max(128, 'use a string of at most 128 characters').default(DEFAULT_REDIS_SESSION_STORE.keyPrefix),
  connectTimeoutMs: positiveMs.default(DEFAULT_REDIS_SESSION_STORE.connectTimeoutMs),
  commandTimeoutMs: positiveMs.default(DEFAULT_REDIS_SESSION_STORE.commandTimeoutMs),
  reconnectMaxDelayMs: positiveMs.default(DEFAULT_REDIS_SESSION_STORE.reconnectMaxDelayMs),
});

export const postgresSessionStoreSchema = z.object({
  table: z.string().refine((t) => t.split('.').length <= 2 && t.split('.').every((p) => IDENT.test(p)),
    'use [schema.]name of lower-case letters, digits and _ (at most 48 each)').default(DEFAULT_POSTGRES_SESSION_STORE.table),
  createTable: z.boolean().default(DEFAULT_POSTGRES_SESSION_STORE.createTable),
  connectTimeoutMs: positiveMs.default(DEFAULT_POSTGRES_SESSION_STORE.connectTimeoutMs),
  queryTimeoutMs: positiveMs.default(DEFAULT_POSTGRES_SESSION_STORE.queryTimeoutMs),
  cleanupIntervalMs: z.number().int().min(0, 'use 0 (off) or a positive integer').default(DEFAULT_POSTGRES_SESSION_STORE.cleanupIntervalMs),
  cleanupBatchSize: z.number().int().positive('use a positive integer').default(DEFAULT_POSTGRES_SESSION_STORE.cleanupBatchSize),
});

export type ResolvedSessionCookieOptions = z.output<typeof sessionCookieSchema>;
export type ResolvedRedisSessionStoreOptions = z.output<typeof redisSessionStoreSchema> & { url: string };
export type ResolvedPostgresSessionStoreOptions = z.output<typeof postgresSessionStoreSchema> & { connectionString: string };

/** What a {@link SessionManager} runs with. */
export interface ResolvedSessionOptions {
  store: SessionStore;
  keyring: Keyring;
  ttlMs: number;
  touchIntervalMs: number;
  cookie: ResolvedSessionCookieOptions;
}

function parse<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  throw new SessionOptionsError(`${what}: ${describeIssues(result.error.issues, input ?? {})}`);
}

/** `SessionOptions` validated once, every default filled. */
export function resolveSessionOptions(options: {
  store: SessionStore; keys: ConstructorParameters<typeof Keyring>[0]; ttlMs?: number; touchIntervalMs?: number; cookie?: z.input<typeof sessionCookieSchema>;
}): ResolvedSessionOptions {
  if (typeof options !== 'object' || options === null) throw new SessionOptionsError('session options must be an object with store and keys');
  const { store } = options;
  if (typeof store !== 'object' || store === null || typeof store.getAll !== 'function' || typeof store.create !== 'function') {
    throw new SessionOptionsError('session.store must be a session store, e.g. new RedisSessionStore({ url }) or new PostgresSessionStore({ connectionString })');
  }
  if (!Array.isArray(options.keys) || options.keys.length === 0) {
    throw new SessionOptionsError('session.keys is missing; pass [{ id: "k1", secret: <32 random bytes> }], the same on every instance');
  }
  const { ttlMs, touchIntervalMs, cookie } = parse(sessionFieldsSchema, { ttlMs: options.ttlMs, touchIntervalMs: options.touchIntervalMs, cookie: options.cookie }, 'session');
  return { store, keyring: new Keyring(options.keys), ttlMs, touchIntervalMs, cookie };
}

/** A Redis store's options; `url` from the options, else `REDIS_URL`, else the local default. */
export function resolveRedisSessionStoreOptions(input: z.input<typeof redisSessionStoreSchema> & { url?: string }, env: NodeJS.ProcessEnv = process.env): ResolvedRedisSessionStoreOptions {
  return { ...parse(redisSessionStoreSchema, input, 'redis session store'), url: input?.url ?? env.REDIS_URL ?? DEFAULT_REDIS_SESSION_STORE.url };
}

/** A PostgreSQL store's options; `connectionString` from the options, else `DATABASE_URL`, else the local default. */
export function resolvePostgresSessionStoreOptions(
  input: z.input<typeof postgresSessionStoreSchema> & { connectionString?: string },
  env: NodeJS.ProcessEnv = process.env,
): ResolvedPostgresSessionStoreOptions {
  return {
    ...parse(postgresSessionStoreSchema, input, 'postgres session store'),
    connectionString: input?.connectionString ?? env.DATABASE_URL ?? DEFAULT_POSTGRES_SESSION_STORE.connectionString,
  };
}
