import { MemcachedL2Store } from '../../src/cache/index.js';
import { freePort } from '../support/free-port.js';
import { describeCacheBehaviour } from './cache-behaviour.js';
import { describeL2Contract } from './l2-contract.js';
import { MemcachedServer } from '../support/memcached-server.js';

describeL2Contract('memcached', async () => {
  const server = await MemcachedServer.start();
  const a = new MemcachedL2Store({ servers: server.servers, keyPrefix: 'test:' });
  const b = new MemcachedL2Store({ servers: server.servers, keyPrefix: 'test:' });
  const closedPort = await freePort();
  return {
    a, b,
    unreachable: () => new MemcachedL2Store({ servers: `127.0.0.1:${closedPort}` }),
    async cleanup() {
      await a.close();
      await b.close();
      await server.kill();
    },
  };
});

describeCacheBehaviour('memcached', async () => {
  const server = await MemcachedServer.start();
  return {
    store: () => new MemcachedL2Store({ servers: server.servers, keyPrefix: 'behaviour:' }),
    cleanup: () => server.kill(),
  };
});
