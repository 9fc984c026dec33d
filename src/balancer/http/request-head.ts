/**
 * Strict parser for HTTP/1.x request heads, at least as strict as Node's llhttp:
 * anything it does not fully understand is refused with the status to answer.
 *
 * It keeps no state between calls: while the head is incomplete the proxy calls again
 * with more bytes and the head is scanned again from `start` (heads are small, and the
 * limits bound the rescans).
 */
import { CR, HOST, LF, SP, TARGET, TCHAR } from './chars.js';
import {
  DROP_EXTRACTED, DROP_HOP_BY_HOP, F_AUTHORIZATION, F_CONNECTION, F_CONTENT_LENGTH, F_COOKIE, F_EXPECT, F_HOST, F_KEEP_ALIVE,
  F_IF_NONE_MATCH, F_PROXY_CONNECTION, F_TE, F_TRAILER, F_TRANSFER_ENCODING, F_UPGRADE, F_X_FORWARDED_FOR, F_X_FORWARDED_HOST,
  F_X_FORWARDED_PROTO, F_X_REQUEST_ID, dropNominated, equalsLower, fieldId, latin1, scanFields, valueEnd,
  valueStart,
} from './head-fields.js';
import {
  CONN_CLOSE, CONN_INVALID, CONN_KEEP_ALIVE, CONN_OTHER, CONN_UPGRADE, TE_CHUNKED_LAST, TE_CHUNKED_NOT_LAST,
  TE_CHUNKED_TWICE, TE_INVALID, TE_OTHER, mergeCodings, parseContentLength, scanCodings, scanConnection,
} from './field-lists.js';
import { DEFAULT_HEAD_LIMITS } from './head-limits.js';
import { findHeadEnd } from './head-range.js';
import type { HeadLimits } from './head-limits.js';
import {
  E_BAD_CONNECTION, E_BAD_CONTENT_LENGTH, E_BAD_TRANSFER_ENCODING, E_BAD_VERSION, E_BARE_CR, E_BARE_LF,
  E_CHUNKED_NOT_LAST, E_CHUNKED_TWICE, E_CONTENT_LENGTH_AND_TE, E_DUPLICATE_CONTENT_LENGTH, E_HEAD_TOO_LARGE,
  E_TE_IN_HTTP10, E_UNSUPPORTED_VERSION, INCOMPLETE, headError,
} from './head-result.js';
import type { HeadError, HeadIncomplete } from './head-result.js';
import { scanVersion } from './http-version.js';
import { methodString, scanTarget } from './request-target.js';
import type { TargetForm } from './request-target.js';

// Rejections only a request head can earn; the shared ones are in head-result.ts.
export const E_BAD_METHOD = headError(400, 'invalid method');
export const E_CONNECT = headError(501, 'CONNECT is not supported');
export const E_BAD_TARGET = headError(400, 'invalid request target');
export const E_MISSING_VERSION = headError(400, 'request line without HTTP version');
export const E_MISSING_HOST = headError(400, 'missing Host');
export const E_DUPLICATE_HOST = headError(400, 'duplicate Host');
export const E_BAD_HOST = headError(400, 'invalid Host');
export const E_UNKNOWN_CODING = headError(501, 'unsupported transfer coding');

/** A parsed request head. Offsets are absolute indexes into the buffer given to the parser. */
export interface RequestHead {
  readonly kind: 'request';
  /** Method as sent (case-sensitive, a token). */
  readonly method: string;
  /** Request-target as sent (visible ASCII only). */
  readonly target: string;
  /**
   * `origin` (`/path?q`), `absolute` (`http://host/path`; `host` is then the target's
   * authority, as RFC 9112 3.2.2 requires) or `asterisk` (`OPTIONS *`).
   */
  readonly targetForm: TargetForm;
  /**
   * The target in origin form, as a server is sent it: `target` itself unless the form
   * is absolute, then its path and query (`/` when it has no path).
   */
  readonly originTarget: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1; no other version is accepted. */
  readonly versionMinor: 0 | 1;
  /** Index of the method's first byte: empty lines before the request line are skipped. */
  readonly headStart: number;
  /** Index of the CR ending the request line. */
  readonly requestLineEnd: number;
  /** Index just after the empty line that ends the head: the first body byte. */
  readonly headEnd: number;
  /** Three offsets per field: line start, colon, CR (see head-fields.ts). */
  readonly fields: number[];
  /**
   * One entry per field: 0 to forward it, otherwise DROP_HOP_BY_HOP and/or DROP_EXTRACTED
   * bits (hop-by-hop per RFC 9110 7.6.1 and the fields Connection names; the forwarded-
   * and request-id fields the balancer rewrites). Transfer-Encoding is forwarded, since
   * the chunked body passes through unchanged.
   */
  readonly drop: number[];
  /** Host value as sent (or the absolute target's authority); undefined only in HTTP/1.0. */
  readonly host: string | undefined;
  /** How the body is delimited; a Content-Length of 0 is 'none'. */
  readonly bodyKind: 'none' | 'length' | 'chunked';
  /** Body bytes when bodyKind is 'length', else 0. */
  readonly contentLength: number;
  /** HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`. */
  readonly keepAlive: boolean;
  /** The Upgrade value when Connection lists `upgrade` in HTTP/1.1, else undefined. */
  readonly upgrade: string | undefined;
  /** `Expect: 100-continue` in HTTP/1.1 (RFC 9110 10.1.1 says to ignore it in 1.0). */
  readonly expectContinue: boolean;
  /** Every X-Forwarded-For value, joined with ", ". */
  readonly xForwardedFor: string | undefined;
  /** Every X-Request-Id value, joined with ", ". */
  readonly xRequestId: string | undefined;
  /** Every Cookie value, joined with "; " (RFC 6265 5.4). */
  readonly cookie: string | undefined;
  /** The request carries credentials (an Authorization field): a shared cache neither answers nor stores it. */
  readonly authorization: boolean;
  /** Every If-None-Match value, joined with ", " (what a response cache answers 304 to). */
  readonly ifNoneMatch: string | undefined;
  /**
   * The head as latin1 text (one char per byte), from headStart to headEnd. The strings
   * above are slices of it: one native decode per head instead of one per string, and
   * the proxy rewrites the head from it without decoding again.
   */
  readonly text: string;
}

const CONTINUE_100 = Buffer.from('100-continue', 'latin1');

// Connection option names, gathered across a head's Connection fields. Parsing is
// synchronous and never re-entered, so one scratch array serves every call.
const nominated: number[] = [];

/**
 * Parses the request head in buf[start, end).
 *
 * Leading empty lines (CRLF only) are skipped, as RFC 9112 2.2 recommends for clients
 * that send a stray CRLF after a body; they count towards `maxHeadBytes`.
 *
 * @returns the head; INCOMPLETE while more bytes may complete it within the limits; or a
 *   HeadError with the status to answer (400, 431, 501, 505).
 * @example
 * const head = parseRequestHead(buf, 0, buf.length);
 * if (head.kind === 'request') forward(buf.subarray(head.headStart, head.headEnd));
 */
export function parseRequestHead(buf: Buffer, start: number, end: number,
  limits: HeadLimits = DEFAULT_HEAD_LIMITS): RequestHead | HeadIncomplete | HeadError {
  const limitEnd = start + limits.maxHeadBytes;
  const scanEnd = end < limitEnd ? end : limitEnd;
  let pos = start;
  for (;;) {
    if (pos >= scanEnd) return scanEnd === limitEnd ? E_HEAD_TOO_LARGE : INCOMPLETE;
    const b = buf[pos]!;
    if (b === LF) return E_BARE_LF;
    if (b !== CR) break;
    if (pos + 1 >= scanEnd) return scanEnd === limitEnd ? E_HEAD_TOO_LARGE : INCOMPLETE;
    if (buf[pos + 1] !== LF) return E_BARE_CR;
    pos += 2;
  }
  const range = findHeadEnd(buf, pos, scanEnd);
  // On an incomplete range (a scratch copy) parse can only answer INCOMPLETE or an error.
  const result = parse(range.buf, range.start, range.end, limits.maxHeaderCount);
  return result === INCOMPLETE && scanEnd === limitEnd ? E_HEAD_TOO_LARGE : result;
}

/** Parses a head starting at `headStart`; see findHeadEnd for what must follow `end`. */
function parse(buf: Buffer, headStart: number, end: number,
  maxCount: number): RequestHead | HeadIncomplete | HeadError {
  let pos = headStart;
  let b = buf[pos]!;
  while (TCHAR[b] === 1) b = buf[++pos]!;
  if (pos >= end) return INCOMPLETE;
  if (b !== SP || pos === headStart) return b === LF ? E_BARE_LF : E_BAD_METHOD;
  const methodEnd = pos;
  const method = methodString(buf, headStart, methodEnd);
  if (method === 'CONNECT') return E_CONNECT;

  const targetStart = ++pos;
  b = buf[pos]!;
  while (TARGET[b] === 1) b = buf[++pos]!;
  if (pos >= end) return INCOMPLETE;
  if (b !== SP || pos === targetStart) {
    if (b === LF) return E_BARE_LF;
    return b === CR && pos > targetStart ? E_MISSING_VERSION : E_BAD_TARGET;
  }
  const targetEnd = pos++;
  const target = scanTarget(buf, targetStart, targetEnd, method);
  if (target === undefined) return E_BAD_TARGET;

  const version = scanVersion(buf, pos, end);
  if (typeof version !== 'number') return version;
  pos += 8;
  if (pos >= end) return INCOMPLETE;
  b = buf[pos]!;
  if (b !== CR) return b === LF ? E_BARE_LF : E_BAD_VERSION;
  if (pos + 1 >= end) return INCOMPLETE;
  if (buf[pos + 1] !== LF) return E_BARE_CR;
  if (version !== 10 && version !== 11) return E_UNSUPPORTED_VERSION;
  const versionMinor = version === 11 ? 1 : 0;
  const requestLineEnd = pos;

  const fields: number[] = [];
  const headEnd = scanFields(buf, pos + 2, end, maxCount, fields);
  if (typeof headEnd !== 'number') return headEnd;

  // Field semantics: one pass over the offsets, strings only for what the proxy needs,
  // sliced from `text` (String#slice is a builtin; `text[i]` is buf[headStart + i]).
  const text = latin1(buf, headStart, headEnd);
  const drop: number[] = [];
  let host: string | undefined;
  let hostCount = 0;
  let hostField = -1;
  let contentLength = -1;
  let codings = 0;
  let connection = 0;
  let upgradeValue: string | undefined;
  let expectContinue = false;
  let xForwardedFor: string | undefined;
  let xRequestId: string | undefined;
  let cookie: string | undefined;
  let authorization = false;
  let ifNoneMatch: string | undefined;
  if (nominated.length !== 0) nominated.length = 0;
  for (let f = 0; f < fields.length; f += 3) {
    const nameEnd = fields[f + 1]!;
    const lineEnd = fields[f + 2]!;
    const id = fieldId(buf, fields[f]!, nameEnd);
    let flag = 0;
    if (id !== 0) {
      const vs = valueStart(buf, nameEnd + 1, lineEnd);
      const ve = valueEnd(buf, vs, lineEnd);
      switch (id) {
        case F_HOST:
          if (++hostCount > 1) return E_DUPLICATE_HOST;
          hostField = drop.length;
          if (!isHost(buf, vs, ve)) return E_BAD_HOST;
          host = text.slice(vs - headStart, ve - headStart);
          break;
        case F_CONTENT_LENGTH:
          if (contentLength >= 0) return E_DUPLICATE_CONTENT_LENGTH;
          contentLength = parseContentLength(buf, vs, ve);
          if (contentLength < 0) return E_BAD_CONTENT_LENGTH;
          break;
        case F_TRANSFER_ENCODING:
          codings = mergeCodings(codings, scanCodings(buf, vs, ve));
          break;
        case F_CONNECTION:
          flag = DROP_HOP_BY_HOP;
          connection |= scanConnection(buf, vs, ve, nominated);
          if ((connection & CONN_INVALID) !== 0) return E_BAD_CONNECTION;
          break;
        case F_KEEP_ALIVE: case F_PROXY_CONNECTION: case F_TE: case F_TRAILER:
          flag = DROP_HOP_BY_HOP;
          break;
        case F_UPGRADE:
          flag = DROP_HOP_BY_HOP;
          upgradeValue = join(upgradeValue, text.slice(vs - headStart, ve - headStart), ', ');
          break;
        case F_EXPECT:
          if (ve - vs === CONTINUE_100.length && equalsLower(buf, vs, CONTINUE_100)) expectContinue = true;
          break;
        case F_COOKIE:
          cookie = join(cookie, text.slice(vs - headStart, ve - headStart), '; ');
          break;
        case F_AUTHORIZATION:
          authorization = true;
          break;
        case F_IF_NONE_MATCH:
          ifNoneMatch = join(ifNoneMatch, text.slice(vs - headStart, ve - headStart), ', ');
          break;
        case F_X_FORWARDED_FOR:
          flag = DROP_EXTRACTED;
          xForwardedFor = join(xForwardedFor, text.slice(vs - headStart, ve - headStart), ', ');
          break;
        case F_X_REQUEST_ID:
          flag = DROP_EXTRACTED;
          xRequestId = join(xRequestId, text.slice(vs - headStart, ve - headStart), ', ');
          break;
        case F_X_FORWARDED_PROTO: case F_X_FORWARDED_HOST:
          flag = DROP_EXTRACTED;
          break;
      }
    }
    drop.push(flag);
  }

  if (hostCount === 0 && versionMinor === 1) return E_MISSING_HOST;
  let originTarget: string | undefined;
  if (target.authorityEnd > 0) {
    // RFC 9112 3.2.2: the target's authority wins and replaces Host, which the proxy
    // writes anew (one authority for routing and for the server).
    host = text.slice(target.authorityStart - headStart, target.authorityEnd - headStart);
    if (hostField >= 0) drop[hostField] = drop[hostField]! | DROP_EXTRACTED;
    const path = text.slice(target.authorityEnd - headStart, targetEnd - headStart);
    originTarget = path.startsWith('/') ? path : `/${path}`;
  }

  let bodyKind: RequestHead['bodyKind'] = 'none';
  if (codings !== 0) {
    if (versionMinor === 0) return E_TE_IN_HTTP10;
    if (contentLength >= 0) return E_CONTENT_LENGTH_AND_TE;
    if ((codings & TE_INVALID) !== 0) return E_BAD_TRANSFER_ENCODING;
    if ((codings & TE_CHUNKED_TWICE) !== 0) return E_CHUNKED_TWICE;
    if ((codings & TE_CHUNKED_NOT_LAST) !== 0 || (codings & TE_CHUNKED_LAST) === 0) return E_CHUNKED_NOT_LAST;
    if ((codings & TE_OTHER) !== 0) return E_UNKNOWN_CODING;
    bodyKind = 'chunked';
  } else if (contentLength > 0) {
    bodyKind = 'length';
  }
  if ((connection & CONN_OTHER) !== 0) dropNominated(buf, fields, drop, nominated);
  const requestTarget = text.slice(targetStart - headStart, targetEnd - headStart);

  return {
    kind: 'request',
    method,
    target: requestTarget,
    originTarget: originTarget ?? requestTarget,
    targetForm: target.form,
    versionMinor,
    headStart,
    requestLineEnd,
    headEnd,
    fields,
    drop,
    host,
    bodyKind,
    contentLength: bodyKind === 'length' ? contentLength : 0,
    keepAlive: (connection & CONN_CLOSE) === 0 && (versionMinor === 1 || (connection & CONN_KEEP_ALIVE) !== 0),
    upgrade: versionMinor === 1 && (connection & CONN_UPGRADE) !== 0 ? upgradeValue : undefined,
    expectContinue: expectContinue && versionMinor === 1,
    xForwardedFor,
    xRequestId,
    cookie,
    authorization,
    ifNoneMatch,
    text,
  };
}

function join(previous: string | undefined, value: string, separator: string): string {
  return previous === undefined ? value : previous + separator + value;
}

function isHost(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    if (HOST[buf[i]!] !== 1) return false;
  }
  return true;
}
