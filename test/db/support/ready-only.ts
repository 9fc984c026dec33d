// A script whose only work is to wait for the database to be ready, then close it.
import { createDatabase } from '../../../src/db/index.js';

const db = createDatabase({ primary: process.argv[2]! });
await db.ready();
process.stdout.write('ready\n');
await db.close();
