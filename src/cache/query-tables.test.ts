import { describe, expect, it } from 'vitest';
import { analyzeRead, writtenTables } from './query-tables.js';

describe('analyzeRead', () => {
  it('gives one normalized text for spellings of one query', () => {
    const a = analyzeRead('select * from products where id = $1');
    const b = analyzeRead('SELECT  *\n  FROM Products -- the catalogue\n WHERE id=$1');
    expect(a.cacheable && b.cacheable && a.normalized === b.normalized).toBe(true);
  });

  it.each([
    ['select p.name, c.name from products p join categories c on c.id = p.category_id', ['categories', 'products']],
    ['select * from a where id in (select a_id from b)', ['a', 'b']],
    ['with x as (select * from orders) select * from x join public.users u on true', ['orders', 'users']],
    ['select * from t union select * from s.u', ['s.u', 't']],
    ['select count(*) from t', ['t']],
  ])('finds the tables %s reads', (sql, tables) => {
    expect(analyzeRead(sql)).toMatchObject({ cacheable: true, tables });
  });

  it.each([
    ['select now()', 'volatile'],
    ['select * from t where created > current_timestamp', 'volatile'],
    ['select my_func(1) from t', 'volatile'],
    ['select * from t for update', 'not-a-read'],
    ['with w as (delete from t returning *) select * from w', 'not-a-read'],
    ['select 1; select 2', 'not-a-read'],
    ['update t set x = 1', 'not-a-read'],
    ['selec x', 'unparsable'],
  ])('does not cache %s', (sql, reason) => {
    expect(analyzeRead(sql)).toEqual({ cacheable: false, reason });
  });
});

describe('writtenTables', () => {
  it.each([
    ['UPDATE products SET price = 1', ['products']],
    ['update a set x = 1 from b where a.id = b.id', ['a']],
    ['insert into a select * from b', ['a']],
    ['delete from public.b', ['b']],
    ['truncate c, d', ['c', 'd']],
    ['with w as (insert into e values (1) returning *) select * from w', ['e']],
    ['merge into f using g on f.id = g.id when matched then update set x = 1', ['f']],
    ['copy h from stdin', ['h']],
    ['alter table products add column x int', ['products']],
    ["select nextval('s')", []],
    ['begin', []],
    ['create index on t (x)', []],
  ])('%s writes %j', (sql, tables) => {
    expect(writtenTables(sql)).toEqual(tables);
  });

  it.each(['select my_writer()', 'DO $$ begin end $$', 'call proc()', 'merge into a using b on true when matched then delete; drop table c'])(
    'counts %s as writing every table', (sql) => {
      expect(writtenTables(sql)).toBe('all');
    });
});
