import { latin1 } from '../http/index.js';

/** The field offsets of a parsed head, as the request and response parsers give them. */
export interface ParsedFields {
  /** Three numbers per field: line start, colon index, index of the line's CR. */
  fields: readonly number[];
  /** Per field: nonzero when the field is not forwarded. */
  drop: ArrayLike<number | boolean>;
}

/**
 * Rewrites a parsed head into the bytes sent on, as a latin1 string (one char per
 * byte): the start line and every kept field, then the balancer's own fields, then the
 * body bytes that followed the head in the same read (sent in the same write).
 *
 * A string rather than a Buffer because that is cheaper here: the head (and that body)
 * is decoded with one native call, the kept runs are cut from it with String#slice (a
 * builtin that shares the characters instead of copying them), and a socket writes a
 * latin1 string without converting it first. Copying runs into a Buffer instead costs a
 * native call and a view per run. Every write of the result must pass 'latin1'.
 */
export function writeHead(buf: Buffer, start: number, startLineEnd: number, head: ParsedFields, extra: string, tailStart = 0, tailEnd = 0): string {
  const fields = head.fields;
  const fieldsEnd = fields.length > 0 ? fields[fields.length - 1]! + 2 : startLineEnd + 2;
  return rewriteHead(latin1(buf, start, tailEnd > tailStart ? tailEnd : fieldsEnd), start, startLineEnd, head, extra, tailStart, tailEnd);
}

/**
 * writeHead for a head already decoded: `text` holds the bytes from offset `start` on
 * (a request head's `text`), and reaches at least to the last field's CRLF, or to
 * `tailEnd` when there is a tail.
 */
export function rewriteHead(text: string, start: number, startLineEnd: number, head: ParsedFields, extra: string, tailStart = 0, tailEnd = 0): string {
  const { fields, drop } = head;
  // Offsets below are into `text`. Adjacent kept fields form one run.
  let out = '';
  let runStart = 0;
  let runEnd = startLineEnd + 2 - start;
  for (let i = 0, f = 0; f < fields.length; i++, f += 3) {
    const lineStart = fields[f]! - start;
    const lineEnd = fields[f + 2]! + 2 - start;
    if (drop[i]) continue;
    if (lineStart === runEnd) {
      runEnd = lineEnd;
    } else {
      out += text.slice(runStart, runEnd);
      runStart = lineStart;
      runEnd = lineEnd;
    }
  }
  out += text.slice(runStart, runEnd) + extra;
  return tailEnd > tailStart ? out + text.slice(tailStart - start) : out;
}

/** True for methods a proxy may send twice (RFC 9110 9.2.2). */
export function isIdempotent(method: string): boolean {
  switch (method) {
    case 'GET': case 'HEAD': case 'OPTIONS': case 'TRACE': case 'PUT': case 'DELETE':
      return true;
    default:
      return false;
  }
}
