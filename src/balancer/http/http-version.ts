import { HEX_VALUE } from './chars.js';
import { E_BAD_VERSION, INCOMPLETE } from './head-result.js';
import type { HeadError, HeadIncomplete } from './head-result.js';

const HTTP_SLASH = Buffer.from('HTTP/', 'latin1');
/** Bytes of `HTTP/x.y`. */
export const VERSION_LENGTH = 8;

function digit(b: number): number {
  return b >= 0x30 && b <= 0x39 ? HEX_VALUE[b]! : -1;
}

/**
 * Reads `HTTP/<digit>.<digit>` at `pos` (case-sensitive, as RFC 9112 2.3 requires).
 * Only the syntax is checked here, so a caller can tell garbage (400) from a well-formed
 * version it does not speak (505) once it has also seen what follows the version.
 *
 * @returns `major * 10 + minor`, INCOMPLETE, or E_BAD_VERSION.
 */
export function scanVersion(buf: Buffer, pos: number, end: number): number | HeadIncomplete | HeadError {
  for (let k = 0; k < VERSION_LENGTH; k++) {
    if (pos + k >= end) return INCOMPLETE;
    const b = buf[pos + k]!;
    const ok = k < 5 ? b === HTTP_SLASH[k] : k === 6 ? b === 0x2e : digit(b) >= 0;
    if (!ok) return E_BAD_VERSION;
  }
  return digit(buf[pos + 5]!) * 10 + digit(buf[pos + 7]!);
}
