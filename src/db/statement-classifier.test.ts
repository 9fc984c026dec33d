import { describe, expect, it } from 'vitest';
import { classifyStatement, type RouteReason, type StatementRoute } from './statement-classifier.js';

const cases: [sql: string, route: StatementRoute, reason: RouteReason, functions?: string[]][] = [
  // plain reads
  ['SELECT * FROM users WHERE id = $1', 'replica', 'read'],
  ['select id, name from users order by id limit $1 offset $2', 'replica', 'read'],
  ['  /* leading comment */ -- and a line comment\n SELECT 1', 'replica', 'read'],
  ['/* nested /* comment */ still */ SELECT 1', 'replica', 'read'],
  ['(SELECT 1) UNION (SELECT 2)', 'replica', 'read'],
  ['SELECT 1 UNION ALL SELECT 2', 'replica', 'read'],
  ['WITH recent AS (SELECT * FROM orders WHERE at > now() - interval \'1 day\') SELECT count(*) FROM recent', 'replica', 'read'],
  ['WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r', 'replica', 'read'],
  ['VALUES (1), (2)', 'replica', 'read'],
  ['SHOW search_path', 'replica', 'read'],
  ['TABLE users', 'replica', 'read'],
  ['SELECT count(*), lower(name), now() FROM t GROUP BY 2', 'replica', 'read'],
  ['SELECT coalesce(a, b), greatest(a, b), x = ANY($1) FROM t', 'replica', 'read'],
  ['SELECT pg_catalog.now()', 'replica', 'read'],
  ['SELECT random(), gen_random_uuid()', 'replica', 'read'],
  ['SELECT inet_server_port()', 'replica', 'read'],
  ['SELECT * FROM generate_series(1, 10)', 'replica', 'read'],
  ['select count(*) filter (where x) over (partition by y) from t', 'replica', 'read'],
  // reads whose functions need a pg_proc lookup
  ['SELECT * FROM my_func($1)', 'replica', 'read', ['my_func']],
  ['SELECT public.score(u) FROM users u', 'replica', 'read', ['public.score']],
  ['SELECT "MixedCase"()', 'replica', 'read', ['MixedCase']],
  // explain
  ['EXPLAIN SELECT 1', 'replica', 'explain'],
  ['EXPLAIN INSERT INTO t VALUES (1)', 'replica', 'explain'],
  ['EXPLAIN ANALYZE SELECT * FROM t', 'replica', 'explain'],
  ['EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM t', 'replica', 'explain'],
  ['EXPLAIN (ANALYZE false) DELETE FROM t', 'replica', 'explain'],
  ['EXPLAIN ANALYZE DELETE FROM t', 'primary', 'write'],
  ['EXPLAIN VERBOSE ANALYSE UPDATE t SET a = 1', 'primary', 'write'],
  ['EXPLAIN (ANALYZE on, COSTS off) INSERT INTO t VALUES (1)', 'primary', 'write'],
  ['EXPLAIN (ANALYZE', 'primary', 'unparsable'],
  // writes
  ['INSERT INTO t (a) VALUES ($1) RETURNING id', 'primary', 'write'],
  ['UPDATE t SET a = $1 WHERE id = $2', 'primary', 'write'],
  ['DELETE FROM t WHERE id = $1', 'primary', 'write'],
  ['MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE', 'primary', 'write'],
  ['COPY t FROM STDIN', 'primary', 'write'],
  ['CREATE TABLE t (id int)', 'primary', 'write'],
  ['create index concurrently i on t (a)', 'primary', 'write'],
  ['ALTER TABLE t ADD COLUMN b int', 'primary', 'write'],
  ['DROP TABLE t', 'primary', 'write'],
  ['TRUNCATE t', 'primary', 'write'],
  ['VACUUM t', 'primary', 'write'],
  ['GRANT SELECT ON t TO someone', 'primary', 'write'],
  ['DO $$ BEGIN PERFORM 1; END $$', 'primary', 'write'],
  ['CALL my_procedure()', 'primary', 'write'],
  // data-modifying CTEs
  ['WITH x AS (INSERT INTO t VALUES (1) RETURNING id) SELECT * FROM x', 'primary', 'write'],
  ['WITH x AS (UPDATE t SET a = 1 RETURNING *) SELECT count(*) FROM x', 'primary', 'write'],
  ['WITH x AS (DELETE FROM t RETURNING *) SELECT 1', 'primary', 'write'],
  ['WITH x AS (SELECT 1 AS a) INSERT INTO t SELECT a FROM x', 'primary', 'write'],
  // locking
  ['SELECT * FROM t WHERE id = $1 FOR UPDATE', 'primary', 'locking'],
  ['SELECT * FROM t FOR NO KEY UPDATE SKIP LOCKED', 'primary', 'locking'],
  ['SELECT * FROM t FOR SHARE', 'primary', 'locking'],
  ['SELECT * FROM t FOR KEY SHARE', 'primary', 'locking'],
  ['SELECT a FROM t WHERE b IN (SELECT c FROM u FOR SHARE)', 'primary', 'locking'],
  ['WITH a AS (SELECT 1 FOR UPDATE) SELECT * FROM a', 'primary', 'locking'],
  ['LOCK TABLE t IN ACCESS EXCLUSIVE MODE', 'primary', 'locking'],
  // functions that need the primary
  ["SELECT nextval('orders_id_seq')", 'primary', 'function'],
  ["SELECT NEXTVAL('orders_id_seq')", 'primary', 'function'],
  ["SELECT (SELECT nextval('x'))", 'primary', 'function'],
  ["SELECT setval('s', 10)", 'primary', 'function'],
  ['SELECT pg_advisory_lock(1)', 'primary', 'function'],
  ['SELECT pg_try_advisory_xact_lock(1, 2)', 'primary', 'function'],
  ['SELECT pg_catalog.pg_advisory_unlock(1)', 'primary', 'function'],
  ["SELECT pg_notify('ch', 'x')", 'primary', 'function'],
  ['SELECT txid_current()', 'primary', 'function'],
  // session and transaction control
  ['SET search_path = app', 'primary', 'utility'],
  ['BEGIN', 'primary', 'utility'],
  ['COMMIT', 'primary', 'utility'],
  ['LISTEN jobs', 'primary', 'utility'],
  ['PREPARE p AS SELECT 1', 'primary', 'utility'],
  // multi-statement
  ['select 1; select 2', 'primary', 'multi-statement'],
  ['SELECT 1; DELETE FROM t', 'primary', 'multi-statement'],
  // unsure or garbage
  ['SELECT * INTO newt FROM t', 'primary', 'unparsable'],
  ['TABLE t ORDER BY 1', 'primary', 'unparsable'],
  ['garbage ((', 'primary', 'unparsable'],
  ['SELECT FROM WHERE', 'primary', 'unparsable'],
  ['', 'primary', 'unparsable'],
  ['   ', 'primary', 'unparsable'],
  [';', 'primary', 'unparsable'],
  ['SELECT \'unterminated', 'primary', 'unparsable'],
  ['/* never closed', 'primary', 'unparsable'],
  ['\u0000\u0001\u0002', 'primary', 'unparsable'],
  ['ＳＥＬＥＣＴ 1', 'primary', 'unparsable'],
];

describe('classifyStatement', () => {
  it.each(cases)('%s -> %s (%s)', (sql, route, reason, functions = []) => {
    const result = classifyStatement(sql);
    expect(result.route).toBe(route);
    expect(result.reason).toBe(reason);
    expect([...result.functions]).toEqual(functions);
  });

  it('sends texts over the parse limit to the primary without parsing them', () => {
    const long = `SELECT ${'1 + '.repeat(50)}1`;
    expect(classifyStatement(long, 40)).toMatchObject({ route: 'primary', reason: 'unparsable' });
    expect(classifyStatement(long)).toMatchObject({ route: 'replica', reason: 'read' });
  });

  it('never throws on arbitrary input', () => {
    const junk = ['SELECT (((((', 'WITH', 'EXPLAIN', 'EXPLAIN (', 'SELECT $', '$$', "E'\\", 'select * from t where a = \'\'\'', 'x'.repeat(10_000)];
    for (const sql of junk) expect(() => classifyStatement(sql)).not.toThrow();
    expect(classifyStatement(undefined as unknown as string).route).toBe('primary');
  });
});
