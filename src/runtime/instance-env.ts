import { z } from 'zod';
import { INSTANCE_ENV, INSTANCE_PROFILES, parseSessionKeys } from '../internal/instance-env.js';
import type { EnvSessionKey, InstanceProfile } from '../internal/instance-env.js';
import { InstanceEnvError } from './errors.js';

export { INSTANCE_ENV } from '../internal/instance-env.js';
export { InstanceEnvError } from './errors.js';
export type { EnvSessionKey, InstanceProfile } from '../internal/instance-env.js';

/** Where an instance listens when `HOST` is not set. @defaultValue '127.0.0.1' */
export const DEFAULT_INSTANCE_HOST = '127.0.0.1';

/** An instance's settings, as the runtime gave them. */
export interface InstanceEnv {
  port: number;
  host: string;
  /** Undefined when the process was not started by `scaleout up`. */
  instanceId: string | undefined;
  buildId: string | undefined;
  /** Session cookie keys, the signing key first; undefined when none were given. */
  sessionKeys: EnvSessionKey[] | undefined;
  /** The PostgreSQL primary. */
  databaseUrl: string | undefined;
  /** The PostgreSQL replicas; empty when there are none. */
  replicaUrls: string[];
  /** Redis; undefined under the `postgres` profile, even when `REDIS_URL` is set. */
  redisUrl: string | undefined;
  /** The cache's Redis (evicts, `allkeys-lru`); undefined under the `postgres` profile. */
  cacheRedisUrl: string | undefined;
  /** Memcached (`host:port`), when the deployment has one. */
  memcachedUrl: string | undefined;
  /**
   * Where sessions (and later cache, bus, queue) live: `SCALEOUT_PROFILE` when set,
   * else `redis` when `REDIS_URL` is set, else `postgres`.
   */
  profile: InstanceProfile;
  /** The static tier's folder (`STATIC_DIR`), when the deployment has a `static` role. */
  staticDir: string | undefined;
}

/** What the app cannot run without; each one missing is an error. */
export type InstanceNeed = 'databaseUrl' | 'redisUrl' | 'sessionKeys';

export interface InstanceEnvOptions {
  /** @defaultValue none: PORT is the only variable always required */
  need?: readonly InstanceNeed[];
}

const pgUrl = z.string().regex(/^postgres(ql)?:\/\/\S+$/, 'expected a postgres:// URL');
const redisUrl = z.string().regex(/^rediss?:\/\/\S+$/, 'expected a redis:// URL');
const headerSafe = z.string().regex(/^[\x21-\x7E]{1,128}$/, 'use 1-128 visible ASCII characters');
const blankToUndefined = (value: unknown): unknown => (typeof value === 'string' && value.trim() === '' ? undefined : value);
const optional = <T extends z.ZodType>(schema: T) => z.preprocess(blankToUndefined, schema.optional());

const E = INSTANCE_ENV;
const schema = z.object({
  [E.port]: z.string().regex(/^\d{1,5}$/, 'expected a port number').transform(Number)
    .refine((n) => n >= 0 && n <= 65535, 'expected a port from 0 to 65535'),
  [E.host]: z.preprocess(blankToUndefined, z.string().min(1).default(DEFAULT_INSTANCE_HOST)),
  [E.instanceId]: optional(headerSafe),
  [E.buildId]: optional(headerSafe),
  [E.databaseUrl]: optional(pgUrl),
  [E.databaseReplicaUrls]: z.preprocess(blankToUndefined, z.string().optional())
    .transform((s) => (s ?? '').split(',').map((u) => u.trim()).filter((u) => u !== ''))
    .pipe(z.array(pgUrl)),
  [E.redisUrl]: optional(redisUrl),
  [E.cacheRedisUrl]: optional(redisUrl),
  [E.memcachedUrl]: optional(z.string().regex(/^[A-Za-z0-9.[\]:-]+:\d{1,5}(,[A-Za-z0-9.[\]:-]+:\d{1,5})*$/, 'expected host:port (comma-separated for several)')),
  [E.profile]: optional(z.enum(INSTANCE_PROFILES)),
  [E.sessionKeys]: optional(z.string()),
  [E.staticDir]: optional(z.string().startsWith('/', 'expected an absolute folder')),
});

const NEED_NAMES: Record<InstanceNeed, string> = { databaseUrl: E.databaseUrl, redisUrl: E.redisUrl, sessionKeys: E.sessionKeys };

/**
 * Reads and validates the environment `scaleout up` gives each instance (see
 * `INSTANCE_ENV` for the names). Throws one {@link InstanceEnvError} that lists every
 * problem, each naming the variable and what it should hold.
 *
 * Also exported by `scaleout/runtime/instance`, which loads nothing else of the runtime:
 * an app instance should import it from there (the whole `scaleout/runtime` costs an
 * instance about a second of start-up and 30 MB).
 *
 * @example
 * ```ts
 * import { instanceEnv } from 'scaleout/runtime/instance';
 *
 * const env = instanceEnv(process.env, { need: ['databaseUrl'] });
 * const app = await buildApp({ databaseUrl: env.databaseUrl!, sessionKeys: env.sessionKeys ?? devKeys });
 * await app.listen({ port: env.port, host: env.host });
 * ```
 */
export function instanceEnv(env: NodeJS.ProcessEnv = process.env, options: InstanceEnvOptions = {}): InstanceEnv {
  const parsed = schema.safeParse(env);
  const problems: string[] = parsed.success ? [] : parsed.error.issues.map((issue) => {
    const name = issue.path.map(String).join('.');
    return env[name] === undefined ? `${name} is not set (${issue.message})` : `${name}: ${issue.message}`;
  });
  let sessionKeys: EnvSessionKey[] | undefined;
  const keysText = parsed.success ? parsed.data[E.sessionKeys] : undefined;
  if (keysText !== undefined) {
    const keys = parseSessionKeys(keysText);
    if (typeof keys === 'string') problems.push(keys);
    else sessionKeys = keys;
  }
  // Judged on the raw text, so these are reported even when other variables are invalid.
  const isSet = (name: string): boolean => blankToUndefined(env[name]) !== undefined;
  if (env[E.profile] === 'redis' && !isSet(E.redisUrl)) {
    problems.push(`${E.profile} is "redis" but ${E.redisUrl} is not set; set ${E.redisUrl}, or use the postgres profile`);
  }
  for (const need of options.need ?? []) {
    if (!isSet(NEED_NAMES[need])) problems.push(`${NEED_NAMES[need]} is not set; the app needs it (scaleout up sets it; outside it, set it yourself)`);
  }
  const data = parsed.success ? parsed.data : undefined;
  if (data === undefined || problems.length > 0) throw new InstanceEnvError(problems);
  const profile = data[E.profile] ?? (data[E.redisUrl] !== undefined ? 'redis' : 'postgres');
  return {
    port: data[E.port],
    host: data[E.host],
    instanceId: data[E.instanceId],
    buildId: data[E.buildId],
    sessionKeys,
    databaseUrl: data[E.databaseUrl],
    replicaUrls: data[E.databaseReplicaUrls],
    redisUrl: profile === 'redis' ? data[E.redisUrl] : undefined,
    cacheRedisUrl: profile === 'redis' ? data[E.cacheRedisUrl] : undefined,
    memcachedUrl: data[E.memcachedUrl],
    profile,
    staticDir: data[E.staticDir],
  };
}
