import { AmqplibBackend, RedisJobTracker } from '../../src/jobs/index.js';
import { AMQP_URL, deleteKeys, deleteQueues, REDIS_URL, uniqueName } from './engines.js';
import { describeQueueContract } from './queue-contract.js';

const prefix = `${uniqueName('amqp')}:`;

describeQueueContract('amqplib', async () => {
  const ta = new RedisJobTracker({ url: REDIS_URL, keyPrefix: prefix });
  const tb = new RedisJobTracker({ url: REDIS_URL, keyPrefix: prefix });
  const a = new AmqplibBackend({ url: AMQP_URL, tracker: ta });
  const b = new AmqplibBackend({ url: AMQP_URL, tracker: tb });
  return {
    a, b,
    async cleanup(queues) {
      await a.close();
      await b.close();
      await ta.close();
      await tb.close();
      await deleteQueues(queues);
      await deleteKeys(REDIS_URL, `${prefix}*`);
    },
  };
});
