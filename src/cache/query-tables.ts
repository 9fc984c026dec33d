import { astVisitor, parse, toSql, type QName, type Statement } from 'pgsql-ast-parser';

/** What the query cache needs to know about a read: its normalized text and the tables it reads. */
export type ReadAnalysis =
  | { cacheable: true; normalized: string; tables: readonly string[] }
  | { cacheable: false; reason: 'unparsable' | 'not-a-read' | 'volatile' | 'too-long' };

/** The tables a statement may have written, or `'all'` when that cannot be told (a function, `DO`, an unknown statement). */
export type WrittenTables = readonly string[] | 'all';

/** Longer texts are not parsed: they are not cached, and a write of that size invalidates every table. */
export const MAX_ANALYZED_SQL_CHARS = 65_536;

/**
 * Reads a SELECT the way the query cache needs it: re-printed from its syntax tree
 * (so whitespace, comments, keyword case and redundant parentheses do not make two
 * keys for one query) and the tables it reads, in joins, subqueries, CTEs and
 * set operations. Not cacheable: text the parser cannot read, anything but a read,
 * locking reads, and reads whose answer changes without a table write (time,
 * randomness, sequences, the session, or any function not known to depend only on
 * its arguments, since a user function may read tables the parser cannot see).
 */
export function analyzeRead(sql: string): ReadAnalysis {
  if (sql.length > MAX_ANALYZED_SQL_CHARS) return { cacheable: false, reason: 'too-long' };
  let statements: Statement[];
  try {
    statements = parse(sql);
  } catch {
    return { cacheable: false, reason: 'unparsable' };
  }
  if (statements.length !== 1) return { cacheable: false, reason: statements.length === 0 ? 'unparsable' : 'not-a-read' };
  const statement = statements[0]!;
  if (!READ_TYPES.has(statement.type)) return { cacheable: false, reason: 'not-a-read' };
  const tables = new Set<string>();
  const ctes = new Set<string>();
  let writes = false;
  let volatile = false;
  const visitor = astVisitor((m) => ({
    with: (node) => { for (const b of node.bind) ctes.add(b.alias.name); m.super().with(node); },
    withRecursive: (node) => { ctes.add(node.alias.name); m.super().withRecursive(node); },
    fromTable: (node) => { tables.add(tableName(node.name)); m.super().fromTable(node); },
    insert: (node) => { writes = true; m.super().insert(node); },
    update: (node) => { writes = true; m.super().update(node); },
    delete: (node) => { writes = true; m.super().delete(node); },
    selection: (node) => { if (node.for) writes = true; m.super().selection(node); },
    call: (node) => { if (!DETERMINISTIC_FUNCTIONS.has(bareName(node.function))) volatile = true; m.super().call(node); },
    valueKeyword: (node) => { volatile = true; return m.super().valueKeyword(node); },
  }));
  try {
    visitor.statement(statement);
  } catch {
    return { cacheable: false, reason: 'unparsable' };
  }
  if (writes) return { cacheable: false, reason: 'not-a-read' };
  if (volatile) return { cacheable: false, reason: 'volatile' };
  // A CTE's name shadows a table of the same name; a schema-qualified name never refers to a CTE.
  for (const name of ctes) tables.delete(name);
  let normalized: string;
  try {
    normalized = toSql.statement(statement);
  } catch {
    return { cacheable: false, reason: 'unparsable' };
  }
  return { cacheable: true, normalized, tables: [...tables].sort() };
}

/**
 * The tables a statement (or several, in one text) may have written. Conservative:
 * what cannot be read, and anything that runs code (`DO`, `CALL`, a function the
 * analysis does not know), counts as writing every table.
 */
export function writtenTables(sql: string): WrittenTables {
  if (sql.length > MAX_ANALYZED_SQL_CHARS) return 'all';
  let statements: Statement[];
  try {
    statements = parse(sql);
  } catch {
    return writtenByKeyword(sql);
  }
  const tables = new Set<string>();
  for (const statement of statements) {
    const found = writtenBy(statement);
    if (found === 'all') return 'all';
    for (const t of found) tables.add(t);
  }
  return [...tables].sort();
}

function writtenBy(statement: Statement): WrittenTables {
  switch (statement.type) {
    case 'truncate table': return statement.tables.map(tableName);
    case 'drop table': return statement.names.map(tableName);
    case 'create table': return [tableName(statement.name)];
    case 'alter table': return [tableName(statement.table)];
    case 'refresh materialized view': return [tableName(statement.name)];
    case 'select': case 'union': case 'union all': case 'with': case 'with recursive': case 'values':
    case 'insert': case 'update': case 'delete':
      break;
    default:
      return NO_DATA_STATEMENTS.has(statement.type) ? [] : 'all';
  }
  const tables = new Set<string>();
  let unknownCode = false;
  const visitor = astVisitor((m) => ({
    insert: (node) => { tables.add(tableName(node.into)); m.super().insert(node); },
    update: (node) => { tables.add(tableName(node.table)); m.super().update(node); },
    delete: (node) => { tables.add(tableName(node.from)); m.super().delete(node); },
    call: (node) => {
      const name = bareName(node.function);
      if (!DETERMINISTIC_FUNCTIONS.has(name) && !NON_WRITING_FUNCTIONS.has(name) && !name.startsWith('pg_advisory_') &&
        !name.startsWith('pg_try_advisory_')) unknownCode = true;
      m.super().call(node);
    },
  }));
  try {
    visitor.statement(statement);
  } catch {
    return 'all';
  }
  return unknownCode ? 'all' : [...tables];
}

// What the parser does not read: MERGE and COPY name their one target right after the keyword.
const KEYWORD_TARGET = /^\s*(?:merge\s+into|copy|insert\s+into|update|delete\s+from|truncate(?:\s+table)?)\s+(?:only\s+)?((?:"[^"]+"|[A-Za-z_][\w$]*)(?:\.(?:"[^"]+"|[A-Za-z_][\w$]*))?)\s*[\s(;]/i;
const KEYWORD_NO_DATA = /^\s*(set|reset|begin|start|commit|end|rollback|abort|savepoint|release|listen|unlisten|notify|discard|show|explain|deallocate|checkpoint|analy[sz]e|vacuum)\b/i;

function writtenByKeyword(sql: string): WrittenTables {
  const text = sql.replace(/^(\s|--[^\n]*\n|\/\*[\s\S]*?\*\/)+/, '');
  // One statement only: a second one could write anything.
  if (/;\s*\S/.test(text)) return 'all';
  const target = KEYWORD_TARGET.exec(`${text} `);
  if (target?.[1] !== undefined) {
    // `MERGE INTO t USING ...` writes only t; `COPY t TO` writes nothing but is rare enough to count.
    return [target[1].split('.').map((p) => (p.startsWith('"') ? p.slice(1, -1) : p.toLowerCase())).join('.').replace(/^public\./, '')];
  }
  return KEYWORD_NO_DATA.test(text) ? [] : 'all';
}

/** `schema.name`, or `name` for the default schema (`public.t` and `t` are one table). */
function tableName(name: QName): string {
  return name.schema === undefined || name.schema === 'public' ? name.name : `${name.schema}.${name.name}`;
}

function bareName(name: QName): string {
  return name.schema === undefined || name.schema === 'pg_catalog' ? name.name : `${name.schema}.${name.name}`;
}

const READ_TYPES = new Set<string>(['select', 'union', 'union all', 'with', 'with recursive', 'values']);

// Statements that change no table's rows.
const NO_DATA_STATEMENTS = new Set<string>([
  'start transaction', 'commit', 'rollback', 'begin', 'set', 'set timezone', 'set names', 'show', 'prepare',
  'deallocate', 'create index', 'alter index', 'create sequence', 'alter sequence', 'drop sequence', 'drop index',
  'create extension', 'create schema', 'comment', 'tablespace', 'create enum', 'alter enum', 'create composite type',
  'drop type',
]);

// Functions that write nothing a cached query reads (sequences, locks, notifications, the clock).
const NON_WRITING_FUNCTIONS = new Set([
  'nextval', 'currval', 'lastval', 'setval', 'txid_current', 'pg_current_xact_id', 'pg_notify', 'now', 'random',
  'clock_timestamp', 'statement_timestamp', 'transaction_timestamp', 'gen_random_uuid', 'pg_sleep', 'current_setting',
  'set_config', 'pg_backend_pid', 'version', 'current_database', 'current_schema',
]);

/**
 * Functions whose answer depends only on their arguments (and the rows the query
 * reads): syntax forms the parser reports as calls, aggregates, window functions,
 * strings, numbers, JSON and arrays. Time, randomness and user functions are absent on purpose.
 */
const DETERMINISTIC_FUNCTIONS = new Set([
  'coalesce', 'greatest', 'least', 'nullif', 'any', 'all', 'some', 'exists', 'row', 'array',
  'count', 'sum', 'avg', 'min', 'max', 'bool_and', 'bool_or', 'every', 'array_agg', 'string_agg',
  'json_agg', 'jsonb_agg', 'json_object_agg', 'jsonb_object_agg', 'stddev', 'variance', 'percentile_cont',
  'percentile_disc', 'mode', 'row_number', 'rank', 'dense_rank', 'lag', 'lead', 'first_value', 'last_value',
  'nth_value', 'ntile', 'cume_dist', 'percent_rank',
  'lower', 'upper', 'length', 'char_length', 'octet_length', 'substr', 'substring', 'concat', 'concat_ws',
  'trim', 'btrim', 'ltrim', 'rtrim', 'replace', 'split_part', 'position', 'strpos', 'left', 'right', 'lpad',
  'rpad', 'initcap', 'md5', 'format', 'regexp_replace', 'regexp_match', 'regexp_matches', 'starts_with',
  'string_to_array', 'array_to_string', 'quote_ident', 'quote_literal', 'encode', 'decode', 'reverse', 'repeat',
  'translate', 'ascii', 'chr',
  'abs', 'round', 'floor', 'ceil', 'ceiling', 'trunc', 'mod', 'power', 'sqrt', 'ln', 'log', 'exp', 'sign', 'width_bucket',
  'date_trunc', 'date_part', 'extract', 'make_date', 'make_timestamp', 'make_interval', 'date_bin', 'isfinite',
  'json_build_object', 'jsonb_build_object', 'json_build_array', 'jsonb_build_array', 'to_json', 'to_jsonb',
  'row_to_json', 'jsonb_set', 'jsonb_insert', 'jsonb_path_query', 'jsonb_path_exists', 'jsonb_array_elements',
  'json_array_elements', 'jsonb_array_length', 'json_array_length', 'jsonb_each', 'json_each',
  'jsonb_object_keys', 'jsonb_typeof', 'jsonb_strip_nulls', 'array_length', 'cardinality',
  'unnest', 'array_position', 'array_positions', 'array_remove', 'array_append', 'array_prepend',
  'array_cat', 'generate_series', 'generate_subscripts',
]);
