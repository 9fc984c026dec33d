/**
 * Header field lines shared by the request and response parsers: the strict line
 * scanner, recognition of the field names the balancer cares about, drop flags, and
 * lazy access to any other field by name.
 *
 * A head's fields are kept as absolute byte offsets into the caller's buffer, three
 * numbers per field, so nothing is copied and the proxy rewrites a head by copying
 * byte ranges:
 *
 *     fields[3i]      fields[3i+1]       fields[3i+2]
 *     v               v                  v
 *     Content-Length  :  42              \r\n
 *     lineStart       nameEnd (colon)    lineEnd (CR)
 */
import { LOAD_HEADER } from '../../internal/wire.js';
import { COLON, CR, FIELD_VALUE, HTAB, LF, LOWER, SP, TCHAR } from './chars.js';
import {
  E_BARE_CR, E_BARE_LF, E_EMPTY_FIELD_NAME, E_FIELD_NAME_BYTE, E_FIELD_VALUE_BYTE, E_MISSING_COLON, E_OBS_FOLD,
  E_SPACE_BEFORE_COLON, E_TOO_MANY_FIELDS, INCOMPLETE,
} from './head-result.js';
import type { HeadError, HeadIncomplete } from './head-result.js';

// Drop flags, one number per field (`drop[i]` for field i). 0 means forward the field
// unchanged; any other value means leave it out, and the bits say why.

/** Hop-by-hop (RFC 9110 7.6.1) or named in Connection: never forwarded. */
export const DROP_HOP_BY_HOP = 1;
/**
 * Read by the balancer, which writes its own version: x-forwarded-for, -proto, -host and
 * x-request-id in requests, scaleout-load in responses.
 */
export const DROP_EXTRACTED = 2;

// Names the parsers recognise. 0 is "any other field".
export const F_OTHER = 0;
export const F_HOST = 1;
export const F_CONTENT_LENGTH = 2;
export const F_TRANSFER_ENCODING = 3;
export const F_CONNECTION = 4;
export const F_KEEP_ALIVE = 5;
export const F_PROXY_CONNECTION = 6;
export const F_TE = 7;
export const F_TRAILER = 8;
export const F_UPGRADE = 9;
export const F_EXPECT = 10;
export const F_COOKIE = 11;
export const F_X_FORWARDED_FOR = 12;
export const F_X_FORWARDED_PROTO = 13;
export const F_X_FORWARDED_HOST = 14;
export const F_X_REQUEST_ID = 15;
export const F_SCALEOUT_LOAD = 16;
export const F_AUTHORIZATION = 17;
export const F_IF_NONE_MATCH = 18;

const KNOWN: ReadonlyArray<readonly [string, number]> = [
  ['host', F_HOST], ['content-length', F_CONTENT_LENGTH], ['transfer-encoding', F_TRANSFER_ENCODING],
  ['connection', F_CONNECTION], ['keep-alive', F_KEEP_ALIVE], ['proxy-connection', F_PROXY_CONNECTION],
  ['te', F_TE], ['trailer', F_TRAILER], ['upgrade', F_UPGRADE], ['expect', F_EXPECT], ['cookie', F_COOKIE],
  ['x-forwarded-for', F_X_FORWARDED_FOR], ['x-forwarded-proto', F_X_FORWARDED_PROTO],
  ['x-forwarded-host', F_X_FORWARDED_HOST], ['x-request-id', F_X_REQUEST_ID], [LOAD_HEADER, F_SCALEOUT_LOAD],
  ['authorization', F_AUTHORIZATION], ['if-none-match', F_IF_NONE_MATCH],
];

interface KnownName {
  readonly bytes: Uint8Array;
  readonly id: number;
}

// Indexed by name length: at most three candidates per length, so recognising a name
// costs a length lookup and one or two short compares.
const BY_LENGTH: KnownName[][] = [];
for (const [name, id] of KNOWN) {
  (BY_LENGTH[name.length] ??= []).push({ bytes: Buffer.from(name, 'latin1'), id });
}

/** Which known field the name at [start, end) is (case-insensitive), or F_OTHER. */
export function fieldId(buf: Buffer, start: number, end: number): number {
  const candidates = BY_LENGTH[end - start];
  if (candidates === undefined) return F_OTHER;
  for (let c = 0; c < candidates.length; c++) {
    const known = candidates[c]!;
    if (equalsLower(buf, start, known.bytes)) return known.id;
  }
  return F_OTHER;
}

/** Whether buf[start ..] equals the lowercase ASCII `lower`, ignoring case in buf. */
export function equalsLower(buf: Buffer, start: number, lower: Uint8Array): boolean {
  for (let i = 0; i < lower.length; i++) {
    if (LOWER[buf[start + i]!] !== lower[i]) return false;
  }
  return true;
}

type Latin1Slicer = Buffer & { latin1Slice(start: number, end: number): string };

/**
 * buf[start, end) as a latin1 string. Buffer's own latin1 slicer skips the encoding
 * dispatch and bounds normalisation of `toString`; heads only ever need latin1 (RFC 9110
 * field values are octets, and targets are ASCII).
 */
export function latin1(buf: Buffer, start: number, end: number): string {
  return (buf as Latin1Slicer).latin1Slice(start, end);
}

/** Index of the first value byte after OWS, in [from, lineEnd]. */
export function valueStart(buf: Buffer, from: number, lineEnd: number): number {
  let i = from;
  while (i < lineEnd) {
    const b = buf[i]!;
    if (b !== SP && b !== HTAB) break;
    i++;
  }
  return i;
}

/** Index just after the last value byte before trailing OWS, in [from, lineEnd]. */
export function valueEnd(buf: Buffer, from: number, lineEnd: number): number {
  let i = lineEnd;
  while (i > from) {
    const b = buf[i - 1]!;
    if (b !== SP && b !== HTAB) break;
    i--;
  }
  return i;
}

/** The field value of field `i` (OWS trimmed) as a latin1 string. */
export function fieldValue(buf: Buffer, fields: readonly number[], i: number): string {
  const nameEnd = fields[3 * i + 1]!;
  const lineEnd = fields[3 * i + 2]!;
  const vs = valueStart(buf, nameEnd + 1, lineEnd);
  return latin1(buf, vs, valueEnd(buf, vs, lineEnd));
}

/**
 * Skips field-value bytes four at a time while none of the four is a control byte
 * (below 0x20, which includes HTAB, CR and LF) or DEL, and returns where the byte loop
 * must go on: at the line's CR at the latest. Values make up most of a head, and one
 * test per four bytes costs less than a table lookup and a branch per byte. Bytes from
 * 0x80 (obs-text) pass, as in FIELD_VALUE. HTAB, which a value may hold, only sends the
 * rest of the value to the byte loop.
 */
function skipPlainValueWords(buf: Buffer, pos: number, end: number): number {
  while (pos + 4 <= end) {
    const w = buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 24);
    const del = w ^ 0x7f7f7f7f;
    // SWAR: the high bit of a byte survives in (x - 0x01..) & ~x only if that byte of x
    // was below the subtrahend's byte; with x = w for "below 0x20" and x = w ^ 0x7f.. for
    // "equals DEL". Borrows can only mark bytes above a real hit, never invent one.
    if ((((w - 0x20202020) & ~w) | ((del - 0x01010101) & ~del)) & 0x80808080) return pos;
    pos += 4;
  }
  return pos;
}

/**
 * Scans header field lines from `pos` (the first byte after the start line's CRLF) up
 * to and including the empty line, pushing three offsets per field onto `fields`.
 *
 * Strict by construction: every line ends in CRLF, names are tokens directly followed
 * by a colon, values hold only HTAB, SP, VCHAR and obs-text, and a line starting with
 * whitespace (obsolete folding) is refused. Stops at the first problem, even when the
 * head is not complete yet, so garbage is refused as early as possible.
 *
 * Precondition (see findHeadEnd in head-range.ts): a byte outside every byte class (CR of the
 * final CRLFCRLF, or a NUL stop byte) sits at or before index `end`, so the inner loops
 * run without bounds checks and `end` is compared once per token instead of per byte.
 *
 * @returns the index just after the empty line's LF, INCOMPLETE when `end` comes first,
 *   or the error (request statuses; the response parser maps them to 502).
 */
export function scanFields(buf: Buffer, pos: number, end: number, maxCount: number,
  fields: number[]): number | HeadIncomplete | HeadError {
  let count = 0;
  for (;;) {
    if (pos >= end) return INCOMPLETE;
    let b = buf[pos]!;
    if (b === CR) {
      if (pos + 1 >= end) return INCOMPLETE;
      return buf[pos + 1] === LF ? pos + 2 : E_BARE_CR;
    }
    const lineStart = pos;
    while (TCHAR[b] === 1) b = buf[++pos]!;
    if (pos >= end) return INCOMPLETE;
    if (b !== COLON) {
      if (pos === lineStart) {
        if (b === SP || b === HTAB) return E_OBS_FOLD;
        if (b === LF) return E_BARE_LF;
        return E_FIELD_NAME_BYTE;
      }
      if (b === SP || b === HTAB) return E_SPACE_BEFORE_COLON;
      if (b === LF) return E_BARE_LF;
      return b === CR ? E_MISSING_COLON : E_FIELD_NAME_BYTE;
    }
    if (pos === lineStart) return E_EMPTY_FIELD_NAME;
    const nameEnd = pos;
    pos = skipPlainValueWords(buf, pos + 1, end);
    b = buf[pos]!;
    while (FIELD_VALUE[b] === 1) b = buf[++pos]!;
    if (pos >= end) return INCOMPLETE;
    if (b !== CR) return b === LF ? E_BARE_LF : E_FIELD_VALUE_BYTE;
    if (pos + 1 >= end) return INCOMPLETE;
    if (buf[pos + 1] !== LF) return E_BARE_CR;
    if (++count > maxCount) return E_TOO_MANY_FIELDS;
    fields.push(lineStart, nameEnd, pos);
    pos += 2;
  }
}

/**
 * The value of every field named `lowerName` (ASCII lowercase), OWS trimmed and joined
 * with ", " as RFC 9110 5.3 allows for list fields, or undefined when absent. Scans the
 * head's field offsets on each call: meant for the few fields read per request (a route's
 * hash header, a forwarded header), not for iterating all of them.
 *
 * @example
 * headerValue(buf, head, 'accept-language') // 'en, de;q=0.8'
 */
export function headerValue(buf: Buffer, head: { readonly fields: readonly number[] }, lowerName: string):
  string | undefined {
  const fields = head.fields;
  const length = lowerName.length;
  let result: string | undefined;
  for (let f = 0; f < fields.length; f += 3) {
    const lineStart = fields[f]!;
    if (fields[f + 1]! - lineStart !== length) continue;
    let same = true;
    for (let i = 0; i < length; i++) {
      if (LOWER[buf[lineStart + i]!] !== lowerName.charCodeAt(i)) {
        same = false;
        break;
      }
    }
    if (!same) continue;
    const value = fieldValue(buf, fields, f / 3);
    result = result === undefined ? value : `${result}, ${value}`;
  }
  return result;
}

/**
 * Marks every field named `lowerName` with `flag` in `head.drop`, so it is not forwarded.
 * For the rare rewrites decided after parsing (a chunked response to an HTTP/1.0 client
 * loses its Transfer-Encoding); the parsers set the common flags themselves.
 */
export function dropField(buf: Buffer, head: { readonly fields: readonly number[]; readonly drop: number[] },
  lowerName: string, flag: number): void {
  const fields = head.fields;
  const length = lowerName.length;
  for (let f = 0; f < fields.length; f += 3) {
    const lineStart = fields[f]!;
    if (fields[f + 1]! - lineStart !== length) continue;
    let same = true;
    for (let i = 0; i < length && same; i++) same = LOWER[buf[lineStart + i]!] === lowerName.charCodeAt(i);
    if (same) head.drop[f / 3] = head.drop[f / 3]! | flag;
  }
}

function sameNameIgnoringCase(buf: Buffer, a: number, b: number, length: number): boolean {
  for (let i = 0; i < length; i++) {
    if (LOWER[buf[a + i]!] !== LOWER[buf[b + i]!]) return false;
  }
  return true;
}

/**
 * Marks the fields named in Connection (`nominated`: [start, end) pairs) as hop-by-hop.
 * Host, Content-Length and Transfer-Encoding are never dropped this way: removing them
 * would change routing or framing between this hop and the next, which is exactly what a
 * request smuggler would ask for.
 */
export function dropNominated(buf: Buffer, fields: readonly number[], drop: number[],
  nominated: readonly number[]): void {
  for (let f = 0; f < fields.length; f += 3) {
    const lineStart = fields[f]!;
    const nameEnd = fields[f + 1]!;
    const length = nameEnd - lineStart;
    for (let n = 0; n < nominated.length; n += 2) {
      const s = nominated[n]!;
      if (nominated[n + 1]! - s !== length || !sameNameIgnoringCase(buf, lineStart, s, length)) continue;
      const id = fieldId(buf, lineStart, nameEnd);
      if (id !== F_HOST && id !== F_CONTENT_LENGTH && id !== F_TRANSFER_ENCODING) {
        drop[f / 3] = drop[f / 3]! | DROP_HOP_BY_HOP;
      }
      break;
    }
  }
}
