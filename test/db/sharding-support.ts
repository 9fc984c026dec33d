import { randomBytes } from 'node:crypto';
import pg from 'pg';

const ADMIN_URL = process.env.SCALEOUT_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Uniquely named scratch databases on the local PostgreSQL, dropped by `drop()`. */
export interface ScratchDatabases {
  urls: Record<string, string>;
  /** A new pool on one of them; ended by `drop()` unless ended before. */
  pool(name: string, max?: number): pg.Pool;
  drop(): Promise<void>;
}

export async function createScratchDatabases(names: readonly string[]): Promise<ScratchDatabases> {
  const prefix = `scaleout_shard_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  const urls: Record<string, string> = {};
  const pools: pg.Pool[] = [];
  try {
    for (const name of names) {
      const db = `${prefix}_${name}`;
      await admin.query(`CREATE DATABASE "${db}"`);
      const url = new URL(ADMIN_URL);
      url.pathname = `/${db}`;
      urls[name] = url.toString();
    }
  } finally {
    await admin.end();
  }
  return {
    urls,
    pool(name, max = 10) {
      const url = urls[name];
      if (url === undefined) throw new Error(`no scratch database ${name}`);
      const p = new pg.Pool({ connectionString: url, max });
      p.on('error', () => undefined);
      pools.push(p);
      return p;
    },
    async drop() {
      await Promise.all(pools.map((p) => (p.ended || p.ending ? undefined : p.end().catch(() => undefined))));
      const c = new pg.Client({ connectionString: ADMIN_URL });
      await c.connect();
      try {
        for (const name of names) await c.query(`DROP DATABASE IF EXISTS "${prefix}_${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** A small seeded PRNG (mulberry32), so a failing property run can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
