import { randomBytes } from 'node:crypto';
import { RedisL2Store } from '../../src/cache/index.js';
import { freePort } from '../support/free-port.js';
import { describeCacheBehaviour } from './cache-behaviour.js';
import { describeL2Contract } from './l2-contract.js';
import { deleteRedisKeys, REDIS_URL } from './support/engines.js';

describeL2Contract('redis', async () => {
  const prefix = `scaleout-test:cache:${process.pid}:${randomBytes(4).toString('hex')}:`;
  const a = new RedisL2Store({ url: REDIS_URL, keyPrefix: prefix });
  const b = new RedisL2Store({ url: REDIS_URL, keyPrefix: prefix });
  const closedPort = await freePort();
  return {
    a, b,
    unreachable: () => new RedisL2Store({ url: `redis://127.0.0.1:${closedPort}`, keyPrefix: prefix }),
    async cleanup() {
      await a.close();
      await b.close();
      await deleteRedisKeys(prefix);
    },
  };
});

describeCacheBehaviour('redis', async () => {
  const prefix = `scaleout-test:cache:${process.pid}:${randomBytes(4).toString('hex')}:`;
  return {
    store: () => new RedisL2Store({ url: REDIS_URL, keyPrefix: prefix }),
    cleanup: () => deleteRedisKeys(prefix),
  };
});
