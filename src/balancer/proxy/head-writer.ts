import { latin1 } from '../http/index.js';

/**
 * Rewrites a parsed head into the bytes sent on, as a latin1 string (one char per
 * byte): the start line and every kept field are sliced as raw byte runs (no string per
 * header; adjacent kept fields are one run), then the balancer's own fields follow.
 *
 * A string rather than a Buffer because that is cheaper here: slicing runs costs one
 * native call each, while copying them into a fresh Buffer allocates a view per copy,
 * and a socket writes a latin1 string without converting it first. Every write of the
 * result must pass the 'latin1' encoding.
 */
export interface ParsedFields {
  /** Three numbers per field: line start, colon index, index of the line's CR. */
  fields: readonly number[];
  /** Per field: nonzero when the field is not forwarded. */
  drop: ArrayLike<number | boolean>;
}

export function writeHead(buf: Buffer, start: number, startLineEnd: number, head: ParsedFields, extra: string, tailStart = 0, tailEnd = 0): string {
  const { fields, drop } = head;
  let out = '';
  let runStart = start;
  let runEnd = startLineEnd + 2;
  for (let i = 0, f = 0; f < fields.length; i++, f += 3) {
    const lineStart = fields[f]!;
    const lineEnd = fields[f + 2]! + 2;
    if (drop[i]) continue;
    if (lineStart === runEnd) {
      runEnd = lineEnd;
    } else {
      out += latin1(buf, runStart, runEnd);
      runStart = lineStart;
      runEnd = lineEnd;
    }
  }
  out += latin1(buf, runStart, runEnd) + extra;
  // The body bytes that followed the head in the same read go out in the same write.
  return tailEnd > tailStart ? out + latin1(buf, tailStart, tailEnd) : out;
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
