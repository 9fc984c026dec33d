import { BullMQBackend } from '../../src/jobs/index.js';
import { deleteKeys, REDIS_URL, uniqueName } from './engines.js';
import { describeQueueContract } from './queue-contract.js';

const prefix = uniqueName('bullmq');

describeQueueContract('bullmq', async () => {
  const a = new BullMQBackend({ url: REDIS_URL, prefix, visibilityTimeoutMs: 2_000 });
  const b = new BullMQBackend({ url: REDIS_URL, prefix, visibilityTimeoutMs: 2_000 });
  return {
    a, b,
    async cleanup() {
      await a.close();
      await b.close();
      await deleteKeys(REDIS_URL, `${prefix}*`);
    },
  };
});
