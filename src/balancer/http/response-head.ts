/**
 * Strict parser for HTTP/1.x response heads from servers. Every rejection is a 502
 * HeadError: the balancer's client gets "bad gateway", never the server's garbage.
 * Stateless between calls, like the request parser.
 */
import { CR, FIELD_VALUE, LF, SP } from './chars.js';
import {
  DROP_EXTRACTED, DROP_HOP_BY_HOP, F_CONNECTION, F_CONTENT_LENGTH, F_KEEP_ALIVE, F_PROXY_CONNECTION,
  F_SCALEOUT_LOAD, F_TE, F_TRAILER, F_TRANSFER_ENCODING, F_UPGRADE, dropNominated, fieldId,
  scanFields, valueEnd, valueStart,
} from './head-fields.js';
import {
  CONN_CLOSE, CONN_INVALID, CONN_KEEP_ALIVE, CONN_OTHER, TE_CHUNKED_LAST, TE_CHUNKED_NOT_LAST, TE_CHUNKED_TWICE,
  TE_INVALID, mergeCodings, parseContentLength, scanCodings, scanConnection,
} from './field-lists.js';
import { DEFAULT_HEAD_LIMITS } from './head-limits.js';
import { findHeadEnd } from './head-range.js';
import type { HeadLimits } from './head-limits.js';
import {
  E_BAD_CONNECTION, E_BAD_CONTENT_LENGTH, E_BAD_TRANSFER_ENCODING, E_BARE_CR, E_BARE_LF, E_CHUNKED_TWICE,
  E_CONTENT_LENGTH_AND_TE, E_DUPLICATE_CONTENT_LENGTH, E_HEAD_TOO_LARGE, E_TE_IN_HTTP10, E_UNSUPPORTED_VERSION,
  INCOMPLETE, asResponseError, headError,
} from './head-result.js';
import type { HeadError, HeadIncomplete } from './head-result.js';
import { VERSION_LENGTH, scanVersion } from './http-version.js';

// Rejections only a response head can earn; the shared ones are in head-result.ts.
export const E_BAD_STATUS = headError(502, 'invalid status line');
export const E_BAD_REASON = headError(502, 'invalid byte in reason phrase');

/** A parsed response head. Offsets are absolute indexes into the buffer given to the parser. */
export interface ResponseHead {
  readonly kind: 'response';
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  readonly versionMinor: 0 | 1;
  /** 100 to 999. */
  readonly status: number;
  /** Index of the CR ending the status line; the head starts at the parser's `start`. */
  readonly statusLineEnd: number;
  /** Index just after the empty line that ends the head: the first body byte. */
  readonly headEnd: number;
  /** Three offsets per field: line start, colon, CR (see head-fields.ts). */
  readonly fields: number[];
  /**
   * One entry per field: 0 to forward it, else DROP_HOP_BY_HOP (hop-by-hop, or named in
   * Connection) and/or DROP_EXTRACTED (scaleout-load, which the balancer reads and strips).
   */
  readonly drop: number[];
  /**
   * 'none' for 1xx, 204, 304, responses to HEAD and Content-Length 0; 'close' when the
   * body runs until the server closes (no length, or a Transfer-Encoding that does not
   * end in chunked, RFC 9112 6.3).
   */
  readonly bodyKind: 'none' | 'length' | 'chunked' | 'close';
  /** Body bytes when bodyKind is 'length', else 0. */
  readonly contentLength: number;
  /** Whether the server connection may carry another request after this response. */
  readonly keepAlive: boolean;
  /** 101 Switching Protocols: the connection becomes a tunnel after this head. */
  readonly upgrade: boolean;
  /** The `scaleout-load` value (a decimal such as 0.42; the last valid one), else undefined. */
  readonly load: number | undefined;
}

/**
 * Parses the response head in buf[start, end) to a request made with `requestMethod`.
 *
 * No empty lines may precede the status line: RFC 9112 grants that tolerance to servers
 * reading requests only, and a stray CRLF from a server means its framing is off.
 * Content-Length together with Transfer-Encoding is refused even though RFC 9112 6.3 lets
 * a recipient prefer Transfer-Encoding: the balancer does not guess which one the server
 * meant.
 *
 * @returns the head; INCOMPLETE while more bytes may complete it within the limits; or a
 *   HeadError, always with status 502.
 */
export function parseResponseHead(buf: Buffer, start: number, end: number, requestMethod: string,
  limits: HeadLimits = DEFAULT_HEAD_LIMITS): ResponseHead | HeadIncomplete | HeadError {
  const limitEnd = start + limits.maxHeadBytes;
  const scanEnd = end < limitEnd ? end : limitEnd;
  const range = findHeadEnd(buf, start, scanEnd);
  // On an incomplete range (a scratch copy) parse can only answer INCOMPLETE or an error.
  const result = parse(range.buf, range.start, range.end, requestMethod, limits.maxHeaderCount);
  if (result === INCOMPLETE) return scanEnd === limitEnd ? asResponseError(E_HEAD_TOO_LARGE) : INCOMPLETE;
  return result.kind === 'error' ? asResponseError(result) : result;
}

/** Parses a head starting at `start`; see findHeadEnd for what must follow `end`. */
function parse(buf: Buffer, start: number, end: number, requestMethod: string,
  maxCount: number): ResponseHead | HeadIncomplete | HeadError {
  const version = scanVersion(buf, start, end);
  if (typeof version !== 'number') return version;
  let pos = start + VERSION_LENGTH;
  // SP 3DIGIT, then SP reason or the CR right away (llhttp accepts "HTTP/1.1 200\r\n").
  for (let k = 0; k < 4; k++) {
    if (pos + k >= end) return INCOMPLETE;
    const b = buf[pos + k]!;
    const ok = k === 0 ? b === SP : b >= 0x30 && b <= 0x39 && (k > 1 || b !== 0x30);
    if (!ok) return E_BAD_STATUS;
  }
  const status = (buf[pos + 1]! - 0x30) * 100 + (buf[pos + 2]! - 0x30) * 10 + (buf[pos + 3]! - 0x30);
  pos += 4;
  if (pos >= end) return INCOMPLETE;
  let b = buf[pos]!;
  if (b === SP) {
    b = buf[++pos]!;
    while (FIELD_VALUE[b] === 1) b = buf[++pos]!;
    if (pos >= end) return INCOMPLETE;
    if (b !== CR) return b === LF ? E_BARE_LF : E_BAD_REASON;
  } else if (b !== CR) {
    return b === LF ? E_BARE_LF : E_BAD_STATUS;
  }
  if (pos + 1 >= end) return INCOMPLETE;
  if (buf[pos + 1] !== LF) return E_BARE_CR;
  if (version !== 10 && version !== 11) return E_UNSUPPORTED_VERSION;
  const versionMinor = version === 11 ? 1 : 0;
  const statusLineEnd = pos;

  const fields: number[] = [];
  const headEnd = scanFields(buf, pos + 2, end, maxCount, fields);
  if (typeof headEnd !== 'number') return headEnd;

  const drop: number[] = [];
  let contentLength = -1;
  let codings = 0;
  let connection = 0;
  let load: number | undefined;
  let nominated: number[] | undefined;
  for (let f = 0; f < fields.length; f += 3) {
    const nameEnd = fields[f + 1]!;
    const lineEnd = fields[f + 2]!;
    const id = fieldId(buf, fields[f]!, nameEnd);
    let flag = 0;
    if (id !== 0) {
      const vs = valueStart(buf, nameEnd + 1, lineEnd);
      const ve = valueEnd(buf, vs, lineEnd);
      switch (id) {
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
          connection |= scanConnection(buf, vs, ve, nominated ??= []);
          if ((connection & CONN_INVALID) !== 0) return E_BAD_CONNECTION;
          break;
        case F_KEEP_ALIVE: case F_PROXY_CONNECTION: case F_TE: case F_TRAILER: case F_UPGRADE:
          flag = DROP_HOP_BY_HOP;
          break;
        case F_SCALEOUT_LOAD:
          flag = DROP_EXTRACTED;
          load = parseLoad(buf, vs, ve) ?? load;
          break;
      }
    }
    drop.push(flag);
  }

  let bodyKind: ResponseHead['bodyKind'];
  if (codings !== 0) {
    if (versionMinor === 0) return E_TE_IN_HTTP10;
    if (contentLength >= 0) return E_CONTENT_LENGTH_AND_TE;
    if ((codings & TE_INVALID) !== 0) return E_BAD_TRANSFER_ENCODING;
    if ((codings & TE_CHUNKED_TWICE) !== 0) return E_CHUNKED_TWICE;
    bodyKind = (codings & TE_CHUNKED_LAST) !== 0 && (codings & TE_CHUNKED_NOT_LAST) === 0 ? 'chunked' : 'close';
  } else if (contentLength >= 0) {
    bodyKind = contentLength > 0 ? 'length' : 'none';
  } else {
    bodyKind = 'close';
  }
  if (status < 200 || status === 204 || status === 304 || requestMethod === 'HEAD') bodyKind = 'none';
  if ((connection & CONN_OTHER) !== 0 && nominated !== undefined) dropNominated(buf, fields, drop, nominated);

  return {
    kind: 'response',
    versionMinor,
    status,
    statusLineEnd,
    headEnd,
    fields,
    drop,
    bodyKind,
    contentLength: bodyKind === 'length' ? contentLength : 0,
    keepAlive: bodyKind !== 'close' && (connection & CONN_CLOSE) === 0 &&
      (versionMinor === 1 || (connection & CONN_KEEP_ALIVE) !== 0),
    upgrade: status === 101,
    load,
  };
}

/** Longest scaleout-load value read, in bytes; longer values are ignored. */
const MAX_LOAD_BYTES = 16;

/** `1*DIGIT [ "." 1*DIGIT ]` as a number, or undefined. */
function parseLoad(buf: Buffer, start: number, end: number): number | undefined {
  if (end - start < 1 || end - start > MAX_LOAD_BYTES) return undefined;
  let digits = 0;
  let scale = 0;
  let n = 0;
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    if (b === 0x2e) {
      if (scale !== 0 || digits === 0 || i === end - 1) return undefined;
      scale = 1;
      continue;
    }
    const d = b - 0x30;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
    digits++;
    if (scale !== 0) scale *= 10;
  }
  return scale === 0 ? n : n / scale;
}
