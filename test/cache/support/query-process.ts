// Another app instance with its own Database and cache, in a process of its own, driven
// over IPC: { id, op: 'sql' | 'cached' | 'close', sql?, params? } gets { id, result | error }.
import { Cache, RedisBus, RedisL2Store } from '../../../src/cache/index.js';
import { createDatabase } from '../../../src/db/index.js';

const [redisUrl, databaseUrl, keyPrefix, channel] = process.argv.slice(2);
const bus = new RedisBus({ url: redisUrl });
const l2 = new RedisL2Store({ url: redisUrl, keyPrefix });
const cache = new Cache({ l2, bus, channel, l1MaxStaleMs: 60_000 });
const db = createDatabase({ primary: databaseUrl! });
// This instance only writes here: without attaching, its writes would invalidate nothing.
cache.attach(db);

interface Request { id: number; op: 'sql' | 'cached' | 'close'; sql?: string; params?: unknown[] }

process.on('message', (m: Request) => {
  void (async () => {
    try {
      let result: unknown;
      if (m.op === 'sql') result = (await db.query(m.sql!, m.params)).rowCount;
      else if (m.op === 'cached') result = await cache.query(db, m.sql!, m.params, { ttlMs: 600_000 });
      else {
        await cache.close();
        await Promise.all([bus.close(), l2.close(), db.close()]);
        result = 'closed';
      }
      process.send!({ id: m.id, result });
    } catch (err) {
      process.send!({ id: m.id, error: String(err) });
    }
  })();
});
await Promise.all([cache.ready(), db.ready()]);
process.send!({ id: 0, result: 'ready' });
