/**
 * Where a head parser scans: the loops of the head parsers run without per-byte bounds
 * checks, which needs a byte that no byte class accepts at or before the end of the
 * range. This module provides that range.
 */

const HEAD_TERMINATOR = Buffer.from('\r\n\r\n', 'latin1');
// Partial heads are copied here, followed by a NUL stop byte. One buffer serves every
// call: parsing is synchronous and never re-entered.
let scratch = Buffer.allocUnsafeSlow(4096);

/** Where {@link findHeadEnd} says to parse: `buf[start, end)`, ending in a stop byte. */
export interface HeadRange {
  buf: Buffer;
  start: number;
  end: number;
  /** Whether the range holds the whole head (it ends with its CRLFCRLF). */
  complete: boolean;
}

const range: HeadRange = { buf: scratch, start: 0, end: 0, complete: false };

/**
 * Sets up the precondition of the scanning loops. When buf[start, end) holds a
 * CRLFCRLF, the range ends just after the first one: every scanning loop stops at its CR
 * at the latest. Otherwise the head is incomplete or too large; it is still scanned, to
 * refuse garbage early, but in a copy followed by a NUL stop byte, and the parser can
 * only answer INCOMPLETE or an error there.
 *
 * `end` is where the data ends or where the head limit cuts it, whichever comes first.
 * The search uses Buffer#indexOf (native and fast) and may look past `end` up to the
 * end of `buf`; pass a buffer that ends where its data ends.
 *
 * @returns the shared range object, valid until the next call.
 */
export function findHeadEnd(buf: Buffer, start: number, end: number): HeadRange {
  const terminator = buf.indexOf(HEAD_TERMINATOR, start);
  if (terminator >= 0 && terminator + 4 <= end) {
    range.buf = buf;
    range.start = start;
    range.end = terminator + 4;
    range.complete = true;
    return range;
  }
  const length = end > start ? end - start : 0;
  if (scratch.length <= length) scratch = Buffer.allocUnsafeSlow(Math.max(length + 1, scratch.length * 2));
  buf.copy(scratch, 0, start, start + length);
  scratch[length] = 0;
  range.buf = scratch;
  range.start = 0;
  range.end = length;
  range.complete = false;
  return range;
}
