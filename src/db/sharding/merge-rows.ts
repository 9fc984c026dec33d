import type { FieldInfo, QueryResult, Row } from './backend.js';
import { ShardConfigError } from './errors.js';

/** One ORDER BY term of a scatter-gather merge. */
export interface OrderByTerm {
  column: string;
  /** @defaultValue 'asc' */
  direction?: 'asc' | 'desc';
  /** Where nulls go. @defaultValue PostgreSQL's: last for asc, first for desc */
  nulls?: 'first' | 'last';
}

/** `'created_at desc'`, `'name asc nulls first'`, a term, or a list of them (first decides first). */
export type OrderBy = string | OrderByTerm | readonly (string | OrderByTerm)[];

interface CompiledTerm {
  column: string;
  sign: 1 | -1;
  /** Sign applied when exactly one side is null: +1 puts nulls after non-nulls. */
  nullSign: 1 | -1;
  decimalText: boolean;
}

// pg returns int8 and numeric as strings to keep their precision; they must be
// ordered as numbers, not as text ('10' < '9').
const DECIMAL_TEXT_OIDS = new Set([20, 1700]);

function parseTerm(term: string | OrderByTerm): OrderByTerm {
  if (typeof term !== 'string') return term;
  const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)(?:\s+(asc|desc))?(?:\s+nulls\s+(first|last))?\s*$/i.exec(term);
  if (m === null) {
    throw new ShardConfigError(`orderBy term "${term}" is not understood; write "<column> [asc|desc] [nulls first|last]"`);
  }
  return {
    column: m[1]!,
    direction: (m[2]?.toLowerCase() ?? 'asc') as 'asc' | 'desc',
    ...(m[3] === undefined ? {} : { nulls: m[3].toLowerCase() as 'first' | 'last' }),
  };
}

/** Normalises an {@link OrderBy} into terms; throws {@link ShardConfigError} on a malformed one. */
export function parseOrderBy(orderBy: OrderBy): OrderByTerm[] {
  const list = typeof orderBy === 'string' ? orderBy.split(',') : Array.isArray(orderBy) ? orderBy : [orderBy as OrderByTerm];
  return list.map((t: string | OrderByTerm) => parseTerm(t));
}

// Orders UTF-16 strings by code point, as PostgreSQL's "C" collation orders UTF-8 bytes:
// code units from U+E000 up must sort below surrogates, which stand for code points above U+FFFF.
function fixup(c: number): number {
  return c >= 0xe000 ? c - 0x800 : c >= 0xd800 ? c + 0x2000 : c;
}

/** Compares two strings by Unicode code point. */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca !== cb) return fixup(ca) - fixup(cb);
  }
  return a.length - b.length;
}

function decimalRank(s: string): number {
  if (s === 'NaN') return 3;
  if (s === 'Infinity') return 2;
  if (s === '-Infinity') return 0;
  return 1;
}

/** Compares decimal texts ('-12.50', '3', 'NaN', 'Infinity') as PostgreSQL orders numeric. */
export function compareDecimalText(a: string, b: string): number {
  const ra = decimalRank(a);
  const rb = decimalRank(b);
  if (ra !== rb || ra !== 1) return ra - rb;
  const negA = a.startsWith('-');
  const negB = b.startsWith('-');
  const magA = negA || a.startsWith('+') ? a.slice(1) : a;
  const magB = negB || b.startsWith('+') ? b.slice(1) : b;
  const cmp = compareMagnitude(magA, magB);
  if (negA !== negB) return cmp === 0 ? 0 : negA ? -1 : 1;
  return negA ? -cmp : cmp;
}

function compareMagnitude(a: string, b: string): number {
  const [ia = '', fa = ''] = a.split('.');
  const [ib = '', fb = ''] = b.split('.');
  const intA = ia.replace(/^0+/, '');
  const intB = ib.replace(/^0+/, '');
  if (intA.length !== intB.length) return intA.length - intB.length;
  if (intA !== intB) return intA < intB ? -1 : 1;
  const len = Math.max(fa.length, fb.length);
  const fracA = fa.padEnd(len, '0');
  const fracB = fb.padEnd(len, '0');
  return fracA === fracB ? 0 : fracA < fracB ? -1 : 1;
}

function compareNumbers(a: number, b: number): number {
  // PostgreSQL orders NaN above every other number.
  if (Number.isNaN(a)) return Number.isNaN(b) ? 0 : 1;
  if (Number.isNaN(b)) return -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Compares two non-null column values the way PostgreSQL would order them (strings as in COLLATE "C"). */
export function compareValues(a: unknown, b: unknown, decimalText = false): number {
  if (typeof a === 'number' && typeof b === 'number') return compareNumbers(a, b);
  if (typeof a === 'string' && typeof b === 'string') {
    return decimalText ? compareDecimalText(a, b) : compareCodePoints(a, b);
  }
  if (typeof a === 'bigint' && typeof b === 'bigint') return a < b ? -1 : a > b ? 1 : 0;
  if (a instanceof Date && b instanceof Date) return compareNumbers(a.getTime(), b.getTime());
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.compare(a, b);
  if (decimalText || typeof a === 'number' || typeof b === 'number' || typeof a === 'bigint' || typeof b === 'bigint') {
    return compareDecimalText(String(a), String(b));
  }
  return compareCodePoints(String(a), String(b));
}

function compile(terms: readonly OrderByTerm[], fields: readonly FieldInfo[] | undefined): CompiledTerm[] {
  return terms.map((t) => {
    const sign = t.direction === 'desc' ? -1 : 1;
    const nullsLast = t.nulls === undefined ? sign === 1 : t.nulls === 'last';
    const field = fields?.find((f) => f.name === t.column);
    return {
      column: t.column,
      sign,
      nullSign: nullsLast ? 1 : -1,
      decimalText: field !== undefined && DECIMAL_TEXT_OIDS.has(field.dataTypeID),
    };
  });
}

/** A comparator over rows for `terms`; `fields` (when known) tell which text columns hold numbers. */
export function rowComparator(terms: readonly OrderByTerm[], fields?: readonly FieldInfo[]): (a: Row, b: Row) => number {
  const compiled = compile(terms, fields);
  return (a, b) => {
    for (const t of compiled) {
      const va = a[t.column];
      const vb = b[t.column];
      const na = va === null || va === undefined;
      const nb = vb === null || vb === undefined;
      if (na || nb) {
        if (na && nb) continue;
        return na ? t.nullSign : -t.nullSign;
      }
      const c = compareValues(va, vb, t.decimalText);
      if (c !== 0) return c * t.sign;
    }
    return 0;
  };
}

/** How the rows of every shard are combined into one answer. */
export interface MergeOptions {
  orderBy?: OrderBy;
  /** Rows to skip after ordering. @defaultValue 0 */
  offset?: number;
  /** Most rows returned after ordering. @defaultValue no limit */
  limit?: number;
}

/**
 * Concatenates per-shard results (in shard order), sorts them stably by `orderBy` and
 * applies offset and limit. Each shard should already apply the same ORDER BY and a
 * LIMIT of `offset + limit`: the global top rows are then always among them.
 */
export function mergeRows(results: readonly QueryResult[], options: MergeOptions = {}): Row[] {
  const rows: Row[] = [];
  for (const r of results) for (const row of r.rows) rows.push(row);
  if (options.orderBy !== undefined) {
    const fields = results.find((r) => r.fields !== undefined && r.fields.length > 0)?.fields;
    rows.sort(rowComparator(parseOrderBy(options.orderBy), fields));
  }
  const offset = options.offset ?? 0;
  if (offset === 0 && options.limit === undefined) return rows;
  return rows.slice(offset, options.limit === undefined ? undefined : offset + options.limit);
}

/**
 * A `queryAll` merge that adds up columns across shards into one row, for
 * `SELECT count(*) AS n, sum(total) AS total ...`. int8 and numeric arrive as text;
 * integers are added exactly (as bigint, returned as a number when safe, else as
 * text), other values as numbers. A column that is null on every shard stays null.
 *
 * @example db.queryAll('SELECT count(*) AS n FROM orders', [], { merge: sumMerge('n') })
 */
export function sumMerge(...columns: string[]): (results: readonly QueryResult[]) => Row[] {
  return (results) => {
    const row: Row = {};
    for (const column of columns) {
      let exact = 0n;
      let approx = 0;
      let seen = false;
      let integral = true;
      for (const r of results) {
        for (const value of r.rows.map((x) => x[column])) {
          if (value === null || value === undefined) continue;
          seen = true;
          const text = String(value);
          if (integral && /^-?\d+$/.test(text)) exact += BigInt(text);
          else integral = false;
          approx += Number(value);
        }
      }
      row[column] = !seen ? null : !integral ? approx
        : exact <= BigInt(Number.MAX_SAFE_INTEGER) && exact >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(exact) : exact.toString();
    }
    return [row];
  };
}
