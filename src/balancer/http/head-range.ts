/**
 * Where a head parser scans: the loops of the head parsers run without per-byte bounds
 * checks, which needs a byte that no byte class accepts at or before the end of the
 * range. This module provides that range.
 */

const CR = 0x0d;
const LF = 0x0a;
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
 *
 * @returns the shared range object, valid until the next call.
 */
export function findHeadEnd(buf: Buffer, start: number, end: number): HeadRange {
  const terminatorEnd = headTerminatorEnd(buf, start, end);
  if (terminatorEnd >= 0) {
    range.buf = buf;
    range.start = start;
    range.end = terminatorEnd;
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

/**
 * Index just after the first CRLFCRLF in buf[start, end), or -1. A Horspool search in
 * JS: heads are a few hundred bytes, where the call into Buffer#indexOf costs more than
 * the search. The window's last byte decides the shift: a byte that is neither CR nor
 * LF cannot be part of a match, so the window skips past it.
 */
export function headTerminatorEnd(buf: Buffer, start: number, end: number): number {
  let i = start + 3;
  while (i < end) {
    const b = buf[i]!;
    if (b === LF) {
      if (buf[i - 1] === CR && buf[i - 2] === LF && buf[i - 3] === CR) return i + 1;
      i += 2;
    } else {
      i += b === CR ? 1 : 4;
    }
  }
  return -1;
}
