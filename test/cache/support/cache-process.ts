// One app instance's cache in a process of its own, driven over IPC by a test:
// messages { id, op: 'get' | 'stats', key?, value?, tags? } get { id, result | error }.
import { Cache, RedisBus, RedisL2Store } from '../../../src/cache/index.js';

const [url, keyPrefix, channel, busName, l1MaxStaleMs] = process.argv.slice(2);
const bus = new RedisBus({ url, connectionName: busName });
const l2 = new RedisL2Store({ url, keyPrefix });
const cache = new Cache({ l2, bus, channel, l1MaxStaleMs: Number(l1MaxStaleMs) });

interface Request { id: number; op: 'get' | 'stats' | 'close'; key?: string; value?: unknown; tags?: string[] }

process.on('message', (m: Request) => {
  void (async () => {
    try {
      let result: unknown;
      if (m.op === 'get') result = await cache.getOrSetWithSource(m.key!, () => m.value, { tags: m.tags, ttlMs: 600_000 });
      else if (m.op === 'stats') result = cache.stats();
      else {
        await cache.close();
        await bus.close();
        await l2.close();
        result = 'closed';
      }
      process.send!({ id: m.id, result });
    } catch (err) {
      process.send!({ id: m.id, error: String(err) });
    }
  })();
});
await cache.ready();
process.send!({ id: 0, result: 'ready' });
