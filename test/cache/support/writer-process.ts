// An app instance that writes behind, one write after another to one key, and reports
// each acknowledged sequence number over IPC, until it is killed.
import { WriteBehind } from '../../../src/cache/index.js';
import { openLog } from './write-behind-logs.js';
import type { LogKind } from './write-behind-logs.js';

const [kind, redisUrl, databaseUrl, name, key] = process.argv.slice(2);
const log = new WriteBehind({ log: openLog(kind as LogKind, name!, { redisUrl: redisUrl!, databaseUrl: databaseUrl! }) });
process.on('message', () => undefined);
process.send!({ id: 0, result: 'ready' });
for (let seq = 1; seq <= 100_000; seq++) {
  await log.write(key!, { seqs: [seq] });
  process.send!({ id: -1, acked: seq });
}
