import { astVisitor, parse, type QName, type Statement } from 'pgsql-ast-parser';

/** Where a statement may run. */
export type StatementRoute = 'replica' | 'primary';

/**
 * Why a statement got its route:
 * - `read`: a plain read (SELECT, WITH ... SELECT, VALUES, SHOW, TABLE)
 * - `explain`: EXPLAIN without ANALYZE, or EXPLAIN ANALYZE of a read
 * - `write`: INSERT/UPDATE/DELETE/MERGE/COPY/DDL, or a data-modifying CTE
 * - `locking`: SELECT ... FOR UPDATE/SHARE/NO KEY UPDATE/KEY SHARE, LOCK
 * - `function`: calls a function that writes or must run on the primary (nextval, advisory locks...)
 * - `utility`: session and transaction control (SET, BEGIN, PREPARE, LISTEN...)
 * - `multi-statement`: several statements in one string
 * - `unparsable`: the parser could not read it, so the router plays safe
 */
export type RouteReason =
  | 'read' | 'explain' | 'write' | 'locking' | 'function' | 'utility' | 'multi-statement' | 'unparsable';

/** The result of classifying one SQL text. */
export interface Classification {
  route: StatementRoute;
  reason: RouteReason;
  /**
   * Functions called by a read whose volatility is not known statically. The router
   * looks each one up in `pg_proc` once; a volatile one sends the read to the primary.
   * Names are as PostgreSQL resolves them (`name` or `schema.name`). Empty for
   * primary routes.
   */
  functions: readonly string[];
}

/**
 * Longer texts are not parsed (the parser's cost grows with length and it never sees
 * them often enough to be worth it): they go to the primary.
 * @defaultValue 65536
 */
export const DEFAULT_MAX_PARSE_CHARS = 65_536;

const NO_FUNCTIONS: readonly string[] = Object.freeze([]);

const primary = (reason: RouteReason): Classification => ({ route: 'primary', reason, functions: NO_FUNCTIONS });

/**
 * Classifies a SQL text by what it does, not by which method sent it.
 *
 * Pure and synchronous; the router caches results per text. When in doubt the answer
 * is the primary: a read sent to the primary only costs capacity, a write sent to a
 * replica fails.
 */
export function classifyStatement(text: string, maxParseChars = DEFAULT_MAX_PARSE_CHARS): Classification {
  if (typeof text !== 'string' || text.length > maxParseChars) return primary('unparsable');
  const start = skipNoise(text, 0);
  const keyword = readWord(text, start).toLowerCase();
  switch (keyword) {
    case 'select': case 'with': case 'values': case 'show': case '':
      return classifyParsed(text);
    case 'explain':
      return classifyExplain(text, start + keyword.length, maxParseChars);
    case 'table':
      // `TABLE name` is SELECT * FROM name; anything fancier is left to the primary.
      return /^\s*table\s+[A-Za-z_][\w$]*(\.[A-Za-z_][\w$]*)?\s*;?\s*$/i.test(text.slice(start))
        ? { route: 'replica', reason: 'read', functions: NO_FUNCTIONS }
        : primary('unparsable');
    case 'lock':
      return primary('locking');
    default:
      if (WRITE_KEYWORDS.has(keyword)) return primary('write');
      if (UTILITY_KEYWORDS.has(keyword)) return primary('utility');
      return primary('unparsable');
  }
}

function classifyParsed(text: string): Classification {
  let statements: Statement[];
  try {
    statements = parse(text);
  } catch {
    return primary('unparsable');
  }
  if (statements.length !== 1) return primary(statements.length === 0 ? 'unparsable' : 'multi-statement');
  const statement = statements[0] as Statement;
  if (!READ_STATEMENT_TYPES.has(statement.type)) return primary('write');
  if (statement.type === 'show') return { route: 'replica', reason: 'read', functions: NO_FUNCTIONS };

  let writes = false;
  let locking = false;
  const called = new Set<string>();
  const visitor = astVisitor((mapper) => ({
    insert: (node) => { writes = true; mapper.super().insert(node); },
    update: (node) => { writes = true; mapper.super().update(node); },
    delete: (node) => { writes = true; mapper.super().delete(node); },
    selection: (node) => {
      if (node.for) locking = true;
      mapper.super().selection(node);
    },
    call: (node) => {
      called.add(functionName(node.function));
      mapper.super().call(node);
    },
  }));
  try {
    visitor.statement(statement);
  } catch {
    return primary('unparsable');
  }
  if (writes) return primary('write');
  if (locking) return primary('locking');

  const unknown: string[] = [];
  for (const name of called) {
    const bare = name.startsWith('pg_catalog.') ? name.slice('pg_catalog.'.length) : name;
    if (PRIMARY_FUNCTIONS.has(bare) || bare.startsWith('pg_advisory_') || bare.startsWith('pg_try_advisory_')) {
      return primary('function');
    }
    if (!REPLICA_SAFE_FUNCTIONS.has(bare)) unknown.push(name);
  }
  return { route: 'replica', reason: 'read', functions: unknown.length === 0 ? NO_FUNCTIONS : unknown };
}

function classifyExplain(text: string, afterKeyword: number, maxParseChars: number): Classification {
  let position = skipNoise(text, afterKeyword, false);
  let analyze = false;
  if (text[position] === '(') {
    const close = text.indexOf(')', position);
    if (close < 0) return primary('unparsable');
    const options = text.slice(position + 1, close);
    // `ANALYZE`, `ANALYZE true/on/1` turn execution on; `ANALYZE false/off/0` do not.
    analyze = /\banaly[sz]e\b(?!\s+(false|off|0)\b)/i.test(options);
    position = close + 1;
  } else {
    for (;;) {
      position = skipNoise(text, position, false);
      const word = readWord(text, position).toLowerCase();
      if (word === 'analyze' || word === 'analyse') analyze = true;
      else if (word !== 'verbose') break;
      position += word.length;
    }
  }
  if (!analyze) return { route: 'replica', reason: 'explain', functions: NO_FUNCTIONS };
  // EXPLAIN ANALYZE runs the statement: it goes where the statement would go.
  const inner = classifyStatement(text.slice(position), maxParseChars);
  return inner.route === 'replica' ? { ...inner, reason: 'explain' } : inner;
}

function functionName(name: QName): string {
  return name.schema ? `${name.schema}.${name.name}` : name.name;
}

/** Skips whitespace, comments and, at a statement's start, opening parentheses (`(SELECT 1)`). */
function skipNoise(text: string, from: number, parentheses = true): number {
  let i = from;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13 || c === 12 || (parentheses && c === 40 /* ( */)) {
      i++;
    } else if (c === 45 && text.charCodeAt(i + 1) === 45) {
      const end = text.indexOf('\n', i);
      i = end < 0 ? text.length : end + 1;
    } else if (c === 47 && text.charCodeAt(i + 1) === 42) {
      // Block comments nest in PostgreSQL.
      let depth = 1;
      i += 2;
      while (i < text.length && depth > 0) {
        if (text.charCodeAt(i) === 47 && text.charCodeAt(i + 1) === 42) { depth++; i += 2; } else if (text.charCodeAt(i) === 42 && text.charCodeAt(i + 1) === 47) { depth--; i += 2; } else i++;
      }
    } else {
      break;
    }
  }
  return i;
}

function readWord(text: string, from: number): string {
  let i = from;
  while (i < text.length) {
    const c = text.charCodeAt(i) | 0x20;
    if ((c >= 97 && c <= 122) || text.charCodeAt(i) === 95) i++;
    else break;
  }
  return text.slice(from, i);
}

const READ_STATEMENT_TYPES = new Set<string>(['select', 'union', 'union all', 'with', 'with recursive', 'values', 'show']);

const WRITE_KEYWORDS = new Set([
  'insert', 'update', 'delete', 'merge', 'copy', 'truncate', 'create', 'alter', 'drop', 'grant', 'revoke',
  'comment', 'refresh', 'reindex', 'cluster', 'vacuum', 'analyze', 'analyse', 'import', 'security', 'call',
  'do', 'upsert', 'replace',
]);

const UTILITY_KEYWORDS = new Set([
  'set', 'reset', 'begin', 'start', 'commit', 'end', 'rollback', 'abort', 'savepoint', 'release', 'prepare',
  'execute', 'deallocate', 'declare', 'fetch', 'move', 'close', 'listen', 'unlisten', 'notify', 'discard',
  'load', 'checkpoint',
]);

/** Functions that write, lock or need the primary whatever `pg_proc` says. */
const PRIMARY_FUNCTIONS = new Set([
  'nextval', 'setval', 'currval', 'lastval', 'txid_current', 'pg_current_xact_id', 'pg_notify', 'set_config',
  'lo_create', 'lo_creat', 'lo_import', 'lo_unlink', 'lo_from_bytea', 'lo_put', 'lo_open', 'lo_truncate',
  'pg_create_physical_replication_slot', 'pg_create_logical_replication_slot', 'pg_drop_replication_slot',
  'pg_terminate_backend', 'pg_cancel_backend', 'pg_reload_conf', 'pg_promote', 'pg_switch_wal',
  'pg_current_wal_lsn', 'pg_current_wal_insert_lsn', 'pg_current_wal_flush_lsn', 'pg_wal_replay_pause',
  'pg_wal_replay_resume', 'dblink_exec',
]);

/**
 * Built-ins known to be safe on a replica: immutable or stable, plus a few volatile
 * ones that only read (random, clock_timestamp, uuid generators, recovery status).
 * Also the syntax forms the parser reports as calls (coalesce, greatest, any...).
 * Anything not listed is looked up in `pg_proc` once.
 */
const REPLICA_SAFE_FUNCTIONS = new Set([
  // syntax forms
  'coalesce', 'greatest', 'least', 'nullif', 'any', 'all', 'some', 'exists', 'row', 'array',
  // aggregates and window functions
  'count', 'sum', 'avg', 'min', 'max', 'bool_and', 'bool_or', 'every', 'array_agg', 'string_agg',
  'json_agg', 'jsonb_agg', 'json_object_agg', 'jsonb_object_agg', 'stddev', 'variance', 'percentile_cont',
  'percentile_disc', 'mode', 'row_number', 'rank', 'dense_rank', 'lag', 'lead', 'first_value', 'last_value',
  'nth_value', 'ntile', 'cume_dist', 'percent_rank',
  // strings
  'lower', 'upper', 'length', 'char_length', 'octet_length', 'substr', 'substring', 'concat', 'concat_ws',
  'trim', 'btrim', 'ltrim', 'rtrim', 'replace', 'split_part', 'position', 'strpos', 'left', 'right', 'lpad',
  'rpad', 'initcap', 'md5', 'format', 'regexp_replace', 'regexp_match', 'regexp_matches', 'starts_with',
  'string_to_array', 'array_to_string', 'to_char', 'to_number', 'to_date', 'to_timestamp', 'quote_ident',
  'quote_literal', 'encode', 'decode', 'reverse', 'repeat', 'translate', 'ascii', 'chr',
  // numbers
  'abs', 'round', 'floor', 'ceil', 'ceiling', 'trunc', 'mod', 'power', 'sqrt', 'ln', 'log', 'exp', 'sign',
  'width_bucket',
  // time
  'now', 'current_timestamp', 'current_date', 'localtimestamp', 'statement_timestamp', 'transaction_timestamp',
  'date_trunc', 'date_part', 'extract', 'age', 'make_date', 'make_timestamp', 'make_interval', 'timezone',
  'date_bin', 'clock_timestamp', 'timeofday', 'isfinite',
  // json and arrays
  'json_build_object', 'jsonb_build_object', 'json_build_array', 'jsonb_build_array', 'to_json', 'to_jsonb',
  'row_to_json', 'jsonb_set', 'jsonb_insert', 'jsonb_path_query', 'jsonb_path_exists', 'jsonb_array_elements',
  'json_array_elements', 'jsonb_array_length', 'json_array_length', 'jsonb_each', 'json_each',
  'jsonb_object_keys', 'jsonb_typeof', 'jsonb_strip_nulls', 'jsonb_pretty', 'array_length', 'cardinality',
  'unnest', 'array_position', 'array_positions', 'array_remove', 'array_append', 'array_prepend',
  'array_cat', 'generate_series', 'generate_subscripts',
  // volatile but read-only
  'random', 'gen_random_uuid', 'uuidv4', 'uuidv7', 'pg_sleep',
  // introspection
  'version', 'current_database', 'current_schema', 'current_user', 'session_user', 'current_setting',
  'pg_backend_pid', 'inet_server_port', 'inet_server_addr', 'pg_is_in_recovery', 'pg_last_wal_replay_lsn',
  'pg_last_wal_receive_lsn', 'pg_last_xact_replay_timestamp', 'pg_postmaster_start_time', 'pg_typeof',
  'has_table_privilege', 'pg_relation_size', 'pg_total_relation_size', 'pg_size_pretty', 'pg_database_size',
  'to_regclass', 'obj_description', 'col_description', 'format_type',
]);
