// A write-behind flusher in a process of its own, so a test can SIGKILL it mid-batch.
// Each value is { seqs: number[] }; a batch's values for one key are concatenated and
// appended to the key's row, slowly, so a kill is likely to land inside a transaction.
import { WriteBehindFlusher } from '../../../src/cache/index.js';
import { createDatabase } from '../../../src/db/index.js';
import { openLog } from './write-behind-logs.js';
import type { LogKind } from './write-behind-logs.js';

const [kind, redisUrl, databaseUrl, name, table, offsetsTable] = process.argv.slice(2);
const db = createDatabase({ primary: databaseUrl! });
const log = openLog(kind as LogKind, name!, { redisUrl: redisUrl!, databaseUrl: databaseUrl! }, offsetsTable);
const flusher = new WriteBehindFlusher<{ seqs: number[] }>({
  log,
  db,
  batchSize: 25,
  minBackoffMs: 10,
  maxBackoffMs: 200,
  coalesce: (values) => ({ seqs: values.flatMap((v) => v.seqs) }),
  apply: async (tx, key, value) => {
    await tx.query(`INSERT INTO ${table} (key, seqs) VALUES ($1, $2::int[])
      ON CONFLICT (key) DO UPDATE SET seqs = ${table}.seqs || EXCLUDED.seqs`, [key, value.seqs]);
    await tx.query('SELECT pg_sleep(0.003)');
  },
});
// Listening keeps the IPC channel, and so the process, alive.
process.on('message', (m: { id: number; op: string }) => {
  if (m.op === 'stats') process.send!({ id: m.id, result: flusher.stats() });
  if (m.op === 'close') void flusher.close().then(() => log.close()).then(() => db.close()).then(() => process.send!({ id: m.id, result: 'closed' }));
});
await db.ready();
flusher.start();
process.send!({ id: 0, result: 'ready' });
