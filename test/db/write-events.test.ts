import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../src/db/index.js';
import type { Database, WriteEvent } from '../../src/db/index.js';

const DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const table = `write_events_${randomBytes(4).toString('hex')}`;
let db: Database;
const events: WriteEvent[] = [];

beforeAll(async () => {
  db = createDatabase({ primary: DATABASE_URL });
  await db.ready();
  await db.query(`CREATE TABLE ${table} (id int PRIMARY KEY)`);
  db.on('write', (event) => { events.push(event); });
});

afterAll(async () => {
  await db?.query(`DROP TABLE IF EXISTS ${table}`);
  await db?.close();
});

describe('write events', () => {
  it('announce a write before it resolves, with its token; reads announce nothing', async () => {
    events.length = 0;
    let settled = false;
    const off = db.on('write', async () => { await new Promise((r) => setTimeout(r, 50)); settled = true; });
    const { token } = await db.query(`INSERT INTO ${table} VALUES (1)`);
    off();
    expect(settled).toBe(true);
    await db.query(`SELECT * FROM ${table}`);
    expect(events).toEqual([{ statements: [`INSERT INTO ${table} VALUES (1)`], token }]);
  });

  it('announce a failed statement (it may have committed) and still throw its error', async () => {
    events.length = 0;
    await expect(db.query(`INSERT INTO ${table} VALUES (1)`)).rejects.toMatchObject({ code: expect.stringMatching(/^SCALEOUT_DB_/) });
    expect(events).toEqual([{ statements: [`INSERT INTO ${table} VALUES (1)`] }]);
  });

  it('announce a transaction once at COMMIT, and a rolled-back one never', async () => {
    events.length = 0;
    await expect(db.transaction(async (tx) => {
      await tx.query(`INSERT INTO ${table} VALUES (2)`);
      expect(events).toEqual([]);
      throw new Error('roll back');
    })).rejects.toThrow('roll back');
    expect(events).toEqual([]);
    const { token } = await db.transaction(async (tx) => {
      await tx.query(`INSERT INTO ${table} VALUES (3)`);
      await tx.query(`SELECT count(*) FROM ${table}`);
      expect(events).toEqual([]);
    });
    expect(events).toEqual([{ statements: [`INSERT INTO ${table} VALUES (3)`, `SELECT count(*) FROM ${table}`], token }]);
  });

  it('a listener that fails does not fail the write', async () => {
    const off = db.on('write', () => Promise.reject(new Error('listener down')));
    await expect(db.query(`INSERT INTO ${table} VALUES (4)`)).resolves.toMatchObject({ rowCount: 1 });
    off();
  });
});
