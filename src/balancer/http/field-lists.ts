/**
 * Values of the framing and connection fields: Content-Length, Transfer-Encoding and
 * Connection. Each scanner works on a trimmed value range [start, end) of the head's
 * buffer, allocates nothing, and answers with a number (a length or a bit set).
 */
import { COMMA, HTAB, SP, TCHAR } from './chars.js';
import { equalsLower } from './head-fields.js';

/** Longest Content-Length accepted, in digits: 15 digits stay exact in a double. */
export const MAX_CONTENT_LENGTH_DIGITS = 15;

/**
 * Content-Length as a number, or -1 unless the value is 1 to 15 ASCII digits: no sign,
 * no inner whitespace, no comma list (RFC 9110 8.6 allows identical-value lists;
 * accepting them is how smuggling variants start, so they are refused).
 */
export function parseContentLength(buf: Buffer, start: number, end: number): number {
  const digits = end - start;
  if (digits < 1 || digits > MAX_CONTENT_LENGTH_DIGITS) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = buf[i]! - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

// Bits answered by scanCodings / mergeCodings.
/** The last coding seen is chunked. */
export const TE_CHUNKED_LAST = 1;
/** chunked appears at least once. */
export const TE_HAS_CHUNKED = 2;
/** chunked appears more than once. */
export const TE_CHUNKED_TWICE = 4;
/** A coding follows chunked. */
export const TE_CHUNKED_NOT_LAST = 8;
/** A coding other than chunked appears. */
export const TE_OTHER = 16;
/** Not a plain comma list of tokens (empty element, parameters, stray bytes). */
export const TE_INVALID = 32;

const CHUNKED = Buffer.from('chunked', 'latin1');

function skipOws(buf: Buffer, i: number, end: number): number {
  while (i < end) {
    const b = buf[i]!;
    if (b !== SP && b !== HTAB) break;
    i++;
  }
  return i;
}

/**
 * Scans one Transfer-Encoding value: a non-empty comma list of codings. Stricter than
 * RFC 9110 list syntax on purpose: empty elements and transfer parameters are invalid,
 * since nothing legitimate needs them and parsers disagree on them.
 */
export function scanCodings(buf: Buffer, start: number, end: number): number {
  let bits = 0;
  let i = start;
  for (;;) {
    const s = i;
    while (i < end && TCHAR[buf[i]!] === 1) i++;
    if (i === s) return bits | TE_INVALID;
    if (i - s === CHUNKED.length && equalsLower(buf, s, CHUNKED)) {
      if ((bits & TE_HAS_CHUNKED) !== 0) bits |= TE_CHUNKED_TWICE;
      bits |= TE_HAS_CHUNKED | TE_CHUNKED_LAST;
    } else {
      if ((bits & TE_HAS_CHUNKED) !== 0) bits |= TE_CHUNKED_NOT_LAST;
      bits = (bits & ~TE_CHUNKED_LAST) | TE_OTHER;
    }
    i = skipOws(buf, i, end);
    if (i === end) return bits;
    if (buf[i] !== COMMA) return bits | TE_INVALID;
    i = skipOws(buf, i + 1, end);
  }
}

/** Bits for two Transfer-Encoding fields in order (RFC 9110 5.3: they form one list). */
export function mergeCodings(previous: number, next: number): number {
  let merged = ((previous | next) & ~TE_CHUNKED_LAST) | (next & TE_CHUNKED_LAST);
  if ((previous & TE_HAS_CHUNKED) !== 0) {
    merged |= TE_CHUNKED_NOT_LAST;
    if ((next & TE_HAS_CHUNKED) !== 0) merged |= TE_CHUNKED_TWICE;
  }
  return merged;
}

// Bits answered by scanConnection.
/** `close` listed. */
export const CONN_CLOSE = 1;
/** `keep-alive` listed. */
export const CONN_KEEP_ALIVE = 2;
/** `upgrade` listed. */
export const CONN_UPGRADE = 4;
/** Some other field name listed (its range was pushed to `nominated`). */
export const CONN_OTHER = 8;
/** Not a comma list of tokens. */
export const CONN_INVALID = 16;

const CLOSE = Buffer.from('close', 'latin1');
const KEEP_ALIVE = Buffer.from('keep-alive', 'latin1');
const UPGRADE = Buffer.from('upgrade', 'latin1');

/**
 * Scans one Connection value: a comma list of tokens (empty elements ignored, as RFC
 * 9110 5.6.1 requires). Option names other than close, keep-alive and upgrade are field
 * names the sender wants dropped at this hop; their [start, end) ranges go to `nominated`.
 */
export function scanConnection(buf: Buffer, start: number, end: number, nominated: number[]): number {
  let bits = 0;
  let i = start;
  while (i < end) {
    const b = buf[i]!;
    if (b === COMMA || b === SP || b === HTAB) {
      i++;
      continue;
    }
    const s = i;
    while (i < end && TCHAR[buf[i]!] === 1) i++;
    const length = i - s;
    if (length === 0) return bits | CONN_INVALID;
    if (length === CLOSE.length && equalsLower(buf, s, CLOSE)) bits |= CONN_CLOSE;
    else if (length === KEEP_ALIVE.length && equalsLower(buf, s, KEEP_ALIVE)) bits |= CONN_KEEP_ALIVE;
    else if (length === UPGRADE.length && equalsLower(buf, s, UPGRADE)) bits |= CONN_UPGRADE;
    else {
      bits |= CONN_OTHER;
      nominated.push(s, i);
    }
    i = skipOws(buf, i, end);
    if (i < end && buf[i] !== COMMA) return bits | CONN_INVALID;
  }
  return bits;
}
