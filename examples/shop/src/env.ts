import { createHash } from 'node:crypto';
import { z } from 'zod';
import { instanceEnv, InstanceEnvError } from 'scaleout/runtime/instance';
import type { InstanceEnv } from 'scaleout/runtime/instance';
import type { SessionKey } from 'scaleout/session';
import { ShopEnvError } from './errors.js';

/** Shard databases are `<prefix>_0` and `<prefix>_1` when `SHOP_SHARD_PREFIX` is not set. @defaultValue 'shop_shard' */
export const DEFAULT_SHARD_PREFIX = 'shop_shard';
/** The id of the session key derived when `SCALEOUT_SESSION_KEYS` is not set. @defaultValue 'dev' */
export const DEV_SESSION_KEY_ID = 'dev';
// Known to everyone who reads this file: fine on a laptop, never in production.
const DEV_SESSION_SECRET_SEED = 'scaleout-shop-development-session-key';

/**
 * The instance's settings: what the runtime gives every instance (`instanceEnv()` of
 * `scaleout/runtime/instance` reads it), plus the shop's own `SHOP_*` settings.
 */
export interface ShopEnv extends Omit<InstanceEnv, 'databaseUrl' | 'sessionKeys'> {
  databaseUrl: string;
  sessionKeys: SessionKey[];
  /** True when the keys were derived from the fixed development secret. */
  devSessionKey: boolean;
  shardPrefix: string;
  /** Prefix of the session keys in Redis (`SHOP_SESSION_PREFIX`); the store's default when unset. */
  sessionPrefix: string | undefined;
  /** `SHOP_CACHE=off`: no cache (to measure what it saves). */
  cache: boolean;
  /** `SHOP_DEMO_ORDERS`: orders of demo customers seeded on a fresh start (0: none). */
  demoOrders: number;
}

/** The most demo orders `SHOP_DEMO_ORDERS` may ask for (they are generated at start). @defaultValue 1000000 */
export const MAX_DEMO_ORDERS = 1_000_000;

const blankToUndefined = (value: unknown): unknown => (typeof value === 'string' && value.trim() === '' ? undefined : value);

const shopSchema = z.object({
  SHOP_SHARD_PREFIX: z.preprocess(blankToUndefined, z.string()
    .regex(/^[a-z_][a-z0-9_]{0,40}$/, 'use lower-case letters, digits and _ (at most 41)').default(DEFAULT_SHARD_PREFIX)),
  SHOP_CACHE: z.preprocess(blankToUndefined, z.enum(['on', 'off'], { error: 'use "on" or "off"' }).default('on')),
  SHOP_DEMO_ORDERS: z.preprocess(blankToUndefined, z.coerce.number({ error: 'use a whole number' })
    .int('use a whole number').min(0, 'use 0 or more').max(MAX_DEMO_ORDERS, `use at most ${MAX_DEMO_ORDERS}`).default(0)),
  SHOP_SESSION_PREFIX: z.preprocess(blankToUndefined, z.string().regex(/^[\x21-\x7E]{1,64}$/, 'use 1-64 visible ASCII characters').optional()),
});

/** The development key: the same on every instance, so sessions work across them. */
export function devSessionKeys(): SessionKey[] {
  return [{ id: DEV_SESSION_KEY_ID, secret: createHash('sha256').update(DEV_SESSION_SECRET_SEED).digest('hex') }];
}

/**
 * Reads and validates the instance's environment. Throws one {@link ShopEnvError}
 * that lists every problem, each naming the variable and what it should hold.
 */
export function readEnv(env: NodeJS.ProcessEnv): ShopEnv {
  const problems: string[] = [];
  let instance: InstanceEnv | undefined;
  try {
    instance = instanceEnv(env, { need: ['databaseUrl'] });
  } catch (err) {
    if (!(err instanceof InstanceEnvError)) throw err;
    problems.push(...err.problems);
  }
  const shop = shopSchema.safeParse(env);
  if (!shop.success) problems.push(...shop.error.issues.map((issue) => `${issue.path.map(String).join('.')}: ${issue.message}`));
  if (instance === undefined || !shop.success || problems.length > 0) throw new ShopEnvError(problems);
  return {
    ...instance,
    databaseUrl: instance.databaseUrl!,
    sessionKeys: instance.sessionKeys ?? devSessionKeys(),
    devSessionKey: instance.sessionKeys === undefined,
    shardPrefix: shop.data.SHOP_SHARD_PREFIX,
    sessionPrefix: shop.data.SHOP_SESSION_PREFIX,
    cache: shop.data.SHOP_CACHE === 'on',
    demoOrders: shop.data.SHOP_DEMO_ORDERS,
  };
}
