/**
 * Rewrites a parsed head into the bytes sent on: the start line and every kept field
 * are copied as raw byte runs (no string per header), then the balancer's own fields
 * are appended as one latin1 string. Adjacent kept fields are copied as one run.
 */
export interface ParsedFields {
  /** Three numbers per field: line start, colon index, index of the line's CR. */
  fields: readonly number[];
  /** Per field: nonzero when the field is not forwarded. */
  drop: ArrayLike<number | boolean>;
}

export function writeHead(buf: Buffer, start: number, startLineEnd: number, head: ParsedFields, extra: string, tailStart = 0, tailEnd = 0): Buffer {
  const { fields, drop } = head;
  // Upper bound: everything up to the last field's CRLF, plus the extra fields, plus
  // the body bytes that followed the head in the same read (sent in the same write).
  const lastEnd = fields.length > 0 ? fields[fields.length - 1]! + 2 : startLineEnd + 2;
  const out = Buffer.allocUnsafe(lastEnd - start + extra.length + (tailEnd - tailStart));
  let at = 0;
  let runStart = start;
  let runEnd = startLineEnd + 2;
  for (let i = 0, f = 0; f < fields.length; i++, f += 3) {
    const lineStart = fields[f]!;
    const lineEnd = fields[f + 2]! + 2;
    if (drop[i]) continue;
    if (lineStart === runEnd) {
      runEnd = lineEnd;
    } else {
      at += buf.copy(out, at, runStart, runEnd);
      runStart = lineStart;
      runEnd = lineEnd;
    }
  }
  at += buf.copy(out, at, runStart, runEnd);
  at += out.write(extra, at, 'latin1');
  if (tailEnd > tailStart) at += buf.copy(out, at, tailStart, tailEnd);
  return at === out.length ? out : out.subarray(0, at);
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
