/**
 * The environment contract between the runtime and each app instance: the variable
 * names, and how values that are not plain strings are written. The runtime writes it
 * (`formatInstanceEnv`), the app reads it (`instanceEnv()` in `scaleout/runtime`); both
 * take the names from here, so neither side can rename one alone.
 */

/** The variables the runtime gives every instance it starts. */
export const INSTANCE_ENV = {
  /** The port to listen on (a free one the runtime picked). */
  port: 'PORT',
  /** The address to listen on. */
  host: 'HOST',
  /** The instance's id (`app-3`): in the health body and the instance header. */
  instanceId: 'INSTANCE_ID',
  /** The build the instance runs. */
  buildId: 'SCALEOUT_BUILD_ID',
  /** Session cookie keys, `id:secret,id:secret`; the first signs, all verify. */
  sessionKeys: 'SCALEOUT_SESSION_KEYS',
  /** The PostgreSQL primary. */
  databaseUrl: 'DATABASE_URL',
  /** The PostgreSQL replicas, comma-separated. */
  databaseReplicaUrls: 'DATABASE_REPLICA_URLS',
  /** Redis, when the deployment has one (sessions, jobs, bus: it never evicts). */
  redisUrl: 'REDIS_URL',
  /** The cache's Redis (`allkeys-lru`), when the deployment has one. */
  cacheRedisUrl: 'CACHE_REDIS_URL',
  /** Memcached as `host:port`, when the config asks for it. */
  memcachedUrl: 'MEMCACHED_URL',
  /** Which engines back sessions (and later cache, bus, queue): `redis` or `postgres`. */
  profile: 'SCALEOUT_PROFILE',
  /** The static tier's folder, when the config has `static`: pre-renderers publish there, static servers read it. */
  staticDir: 'STATIC_DIR',
} as const;

/** The profiles an instance can be told to use. */
export const INSTANCE_PROFILES = ['redis', 'postgres'] as const;
export type InstanceProfile = typeof INSTANCE_PROFILES[number];

/** A session key as the environment carries it. */
export interface EnvSessionKey {
  id: string;
  secret: string;
}

/**
 * What the runtime tells one instance; every field it leaves out is not set. The
 * runtime writes it in parts (the engines their URLs, the instance its port), so even
 * `port` and `host` may be left out of one part.
 */
export interface InstanceEnvValues {
  port?: number;
  host?: string;
  instanceId?: string;
  buildId?: string;
  sessionKeys?: readonly EnvSessionKey[];
  databaseUrl?: string;
  replicaUrls?: readonly string[];
  redisUrl?: string;
  cacheRedisUrl?: string;
  memcachedUrl?: string;
  profile?: InstanceProfile;
  staticDir?: string;
}

/** Key ids go into signed cookie values: short, and free of the list's separators. */
const KEY_ID = /^[A-Za-z0-9_-]{1,16}$/;
/** Shortest secret accepted, in characters. @defaultValue 16 */
export const MIN_SESSION_SECRET_CHARS = 16;

/** `id:secret,id:secret` (the first signs): how {@link INSTANCE_ENV.sessionKeys} carries keys. */
export function formatSessionKeys(keys: readonly EnvSessionKey[]): string {
  return keys.map((k) => `${k.id}:${k.secret}`).join(',');
}

/**
 * Parses {@link formatSessionKeys}' text. Returns what is wrong instead of throwing, so
 * a caller can report it with every other problem at once. A secret may hold `:`.
 */
export function parseSessionKeys(text: string, name: string = INSTANCE_ENV.sessionKeys): EnvSessionKey[] | string {
  const keys: EnvSessionKey[] = [];
  for (const part of text.split(',')) {
    const colon = part.indexOf(':');
    const id = colon < 0 ? '' : part.slice(0, colon).trim();
    const secret = colon < 0 ? '' : part.slice(colon + 1).trim();
    if (!KEY_ID.test(id)) return `${name}: each key is id:secret with an id of 1-16 characters of [A-Za-z0-9_-]`;
    if (secret.length < MIN_SESSION_SECRET_CHARS) {
      return `${name}: the secret of key "${id}" is shorter than ${MIN_SESSION_SECRET_CHARS} characters; use 32 random bytes`;
    }
    if (keys.some((k) => k.id === id)) return `${name}: key id "${id}" appears twice`;
    keys.push({ id, secret });
  }
  return keys;
}

/** The variables for `values`, named as {@link INSTANCE_ENV} says; what is unset is left out. */
export function formatInstanceEnv(values: InstanceEnvValues): Record<string, string> {
  const env: Record<string, string> = {};
  if (values.port !== undefined) env[INSTANCE_ENV.port] = String(values.port);
  if (values.host !== undefined) env[INSTANCE_ENV.host] = values.host;
  if (values.instanceId !== undefined) env[INSTANCE_ENV.instanceId] = values.instanceId;
  if (values.buildId !== undefined) env[INSTANCE_ENV.buildId] = values.buildId;
  if (values.sessionKeys !== undefined) env[INSTANCE_ENV.sessionKeys] = formatSessionKeys(values.sessionKeys);
  if (values.databaseUrl !== undefined) env[INSTANCE_ENV.databaseUrl] = values.databaseUrl;
  if (values.replicaUrls !== undefined) env[INSTANCE_ENV.databaseReplicaUrls] = values.replicaUrls.join(',');
  if (values.redisUrl !== undefined) env[INSTANCE_ENV.redisUrl] = values.redisUrl;
  if (values.cacheRedisUrl !== undefined) env[INSTANCE_ENV.cacheRedisUrl] = values.cacheRedisUrl;
  if (values.memcachedUrl !== undefined) env[INSTANCE_ENV.memcachedUrl] = values.memcachedUrl;
  if (values.profile !== undefined) env[INSTANCE_ENV.profile] = values.profile;
  if (values.staticDir !== undefined) env[INSTANCE_ENV.staticDir] = values.staticDir;
  return env;
}
