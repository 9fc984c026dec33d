import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { SessionKey } from 'scaleout/session';
import { ShopEnvError } from './errors.js';

/** Where the shop listens when `HOST` is not set. @defaultValue '127.0.0.1' */
export const DEFAULT_HOST = '127.0.0.1';
/** Shard databases are `<prefix>_0` and `<prefix>_1` when `SHOP_SHARD_PREFIX` is not set. @defaultValue 'shop_shard' */
export const DEFAULT_SHARD_PREFIX = 'shop_shard';
/** The id of the session key derived when `SCALEOUT_SESSION_KEYS` is not set. @defaultValue 'dev' */
export const DEV_SESSION_KEY_ID = 'dev';
// Known to everyone who reads this file: fine on a laptop, never in production.
const DEV_SESSION_SECRET_SEED = 'scaleout-shop-development-session-key';

/** The instance's settings, read from the environment the runtime gives it. */
export interface ShopEnv {
  port: number;
  host: string;
  instanceId: string | undefined;
  buildId: string | undefined;
  databaseUrl: string;
  replicaUrls: string[];
  redisUrl: string | undefined;
  /** Where sessions live: `redis` needs `REDIS_URL`; `postgres` keeps them in `DATABASE_URL`. */
  profile: 'redis' | 'postgres';
  sessionKeys: SessionKey[];
  /** True when the keys were derived from the fixed development secret. */
  devSessionKey: boolean;
  shardPrefix: string;
  /** Prefix of the session keys in Redis (`SHOP_SESSION_PREFIX`); the store's default when unset. */
  sessionPrefix: string | undefined;
}

const pgUrl = z.string().regex(/^postgres(ql)?:\/\/\S+$/, 'expected a postgres:// URL');
const redisUrl = z.string().regex(/^rediss?:\/\/\S+$/, 'expected a redis:// URL');
const blankToUndefined = (value: unknown): unknown => (typeof value === 'string' && value.trim() === '' ? undefined : value);

const schema = z.object({
  PORT: z.string().regex(/^\d{1,5}$/, 'expected a port number').transform(Number)
    .refine((n) => n >= 0 && n <= 65535, 'expected a port from 0 to 65535'),
  HOST: z.preprocess(blankToUndefined, z.string().min(1).default(DEFAULT_HOST)),
  INSTANCE_ID: z.preprocess(blankToUndefined, z.string().regex(/^[\x21-\x7E]{1,128}$/, 'use 1-128 visible ASCII characters').optional()),
  SCALEOUT_BUILD_ID: z.preprocess(blankToUndefined, z.string().regex(/^[\x21-\x7E]{1,128}$/, 'use 1-128 visible ASCII characters').optional()),
  DATABASE_URL: pgUrl,
  DATABASE_REPLICA_URLS: z.preprocess(blankToUndefined, z.string().optional())
    .transform((s) => (s ?? '').split(',').map((u) => u.trim()).filter((u) => u !== ''))
    .pipe(z.array(pgUrl)),
  REDIS_URL: z.preprocess(blankToUndefined, redisUrl.optional()),
  SCALEOUT_PROFILE: z.preprocess(blankToUndefined, z.enum(['redis', 'postgres']).optional()),
  SCALEOUT_SESSION_KEYS: z.preprocess(blankToUndefined, z.string().optional()),
  SHOP_SHARD_PREFIX: z.preprocess(blankToUndefined, z.string()
    .regex(/^[a-z_][a-z0-9_]{0,40}$/, 'use lower-case letters, digits and _ (at most 41)').default(DEFAULT_SHARD_PREFIX)),
  SHOP_SESSION_PREFIX: z.preprocess(blankToUndefined, z.string().regex(/^[\x21-\x7E]{1,64}$/, 'use 1-64 visible ASCII characters').optional()),
});

/**
 * Parses `SCALEOUT_SESSION_KEYS`: `id:secret,id:secret`, the signing key first.
 * Returns the problems found instead of throwing, so all of them are reported at once.
 */
export function parseSessionKeys(text: string, name = 'SCALEOUT_SESSION_KEYS'): SessionKey[] | string {
  const keys: SessionKey[] = [];
  for (const part of text.split(',')) {
    const colon = part.indexOf(':');
    const id = colon < 0 ? '' : part.slice(0, colon).trim();
    const secret = colon < 0 ? '' : part.slice(colon + 1).trim();
    if (!/^[A-Za-z0-9_-]{1,16}$/.test(id)) {
      return `${name}: each key is id:secret with an id of 1-16 characters of [A-Za-z0-9_-]`;
    }
    if (secret.length < 16) return `${name}: the secret of key "${id}" is shorter than 16 characters; use 32 random bytes`;
    if (keys.some((k) => k.id === id)) return `${name}: key id "${id}" appears twice`;
    keys.push({ id, secret });
  }
  return keys;
}

/** The development key: the same on every instance, so sessions work across them. */
export function devSessionKeys(): SessionKey[] {
  return [{ id: DEV_SESSION_KEY_ID, secret: createHash('sha256').update(DEV_SESSION_SECRET_SEED).digest('hex') }];
}

/**
 * Reads and validates the instance's environment. Throws one {@link ShopEnvError}
 * that lists every problem, each naming the variable and what it should hold.
 */
export function readEnv(env: NodeJS.ProcessEnv): ShopEnv {
  const parsed = schema.safeParse(env);
  const problems: string[] = parsed.success ? [] : parsed.error.issues.map((issue) => {
    const name = issue.path.map(String).join('.');
    return env[name] === undefined ? `${name} is not set (${issue.message})` : `${name}: ${issue.message}`;
  });
  let sessionKeys: SessionKey[] = devSessionKeys();
  let devSessionKey = true;
  const keysText = parsed.success ? parsed.data.SCALEOUT_SESSION_KEYS : undefined;
  if (keysText !== undefined) {
    const keys = parseSessionKeys(keysText);
    if (typeof keys === 'string') problems.push(keys);
    else {
      sessionKeys = keys;
      devSessionKey = false;
    }
  }
  if (parsed.success && parsed.data.SCALEOUT_PROFILE === 'redis' && parsed.data.REDIS_URL === undefined) {
    problems.push('SCALEOUT_PROFILE is "redis" but REDIS_URL is not set; set REDIS_URL, or use the postgres profile');
  }
  if (!parsed.success || problems.length > 0) throw new ShopEnvError(problems);
  const data = parsed.data;
  const profile = data.SCALEOUT_PROFILE ?? (data.REDIS_URL !== undefined ? 'redis' : 'postgres');
  return {
    port: data.PORT,
    host: data.HOST,
    instanceId: data.INSTANCE_ID,
    buildId: data.SCALEOUT_BUILD_ID,
    databaseUrl: data.DATABASE_URL,
    replicaUrls: data.DATABASE_REPLICA_URLS,
    redisUrl: profile === 'redis' ? data.REDIS_URL : undefined,
    profile,
    sessionKeys,
    devSessionKey,
    shardPrefix: data.SHOP_SHARD_PREFIX,
    sessionPrefix: data.SHOP_SESSION_PREFIX,
  };
}
