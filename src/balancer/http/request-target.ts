/**
 * The request line's method and request-target beyond their byte classes: common
 * methods as interned strings, and the target's form (RFC 9112 3.2).
 */
import { HOST, LOWER, SCHEME } from './chars.js';
import { latin1 } from './head-fields.js';

/** The request-target forms the balancer accepts; authority-form (CONNECT) is refused. */
export type TargetForm = 'origin' | 'absolute' | 'asterisk';

/** What {@link scanTarget} found; `authorityEnd` is 0 unless the form is absolute. */
export interface TargetScan {
  form: TargetForm;
  authorityStart: number;
  authorityEnd: number;
}

// Parsing is synchronous and never re-entered: one result object serves every call.
const scan: TargetScan = { form: 'origin', authorityStart: 0, authorityEnd: 0 };

const SLASH = 0x2f;
const STAR = 0x2a;
const QUESTION = 0x3f;
const HASH = 0x23;

/**
 * Checks the form of the target at [start, end) (bytes already known to be visible
 * ASCII). Absolute-form is accepted for http and https only and must carry a host; the
 * authority may not hold userinfo (`@` is not a Host byte), a classic way to make a proxy
 * and a server see different hosts.
 *
 * @returns the shared scan result (valid until the next call), or undefined to refuse.
 */
export function scanTarget(buf: Buffer, start: number, end: number, method: string): TargetScan | undefined {
  const first = buf[start]!;
  scan.authorityStart = 0;
  scan.authorityEnd = 0;
  if (first === SLASH) {
    scan.form = 'origin';
    return scan;
  }
  if (first === STAR) {
    if (end - start !== 1 || method !== 'OPTIONS') return undefined;
    scan.form = 'asterisk';
    return scan;
  }
  let i = start;
  while (i < end && SCHEME[buf[i]!] === 1) i++;
  const schemeLength = i - start;
  if (!isHttpScheme(buf, start, schemeLength)) return undefined;
  if (end - i < 3 || buf[i] !== 0x3a || buf[i + 1] !== SLASH || buf[i + 2] !== SLASH) return undefined;
  const authorityStart = i + 3;
  i = authorityStart;
  for (; i < end; i++) {
    const b = buf[i]!;
    if (b === SLASH || b === QUESTION || b === HASH) break;
    if (HOST[b] !== 1) return undefined;
  }
  if (i === authorityStart) return undefined;
  scan.form = 'absolute';
  scan.authorityStart = authorityStart;
  scan.authorityEnd = i;
  return scan;
}

function isHttpScheme(buf: Buffer, start: number, length: number): boolean {
  if (length !== 4 && length !== 5) return false;
  if (LOWER[buf[start]!] !== 0x68 || LOWER[buf[start + 1]!] !== 0x74 || LOWER[buf[start + 2]!] !== 0x74 ||
    LOWER[buf[start + 3]!] !== 0x70) return false;
  return length === 4 || LOWER[buf[start + 4]!] === 0x73;
}

/**
 * The method at [start, end) as a string; the common ones come back as literals so the
 * hot path allocates no string for them. Methods are case-sensitive: `get` is not GET.
 */
export function methodString(buf: Buffer, start: number, end: number): string {
  const b0 = buf[start]!;
  switch (end - start) {
    case 3:
      if (b0 === 0x47 && buf[start + 1] === 0x45 && buf[start + 2] === 0x54) return 'GET';
      if (b0 === 0x50 && buf[start + 1] === 0x55 && buf[start + 2] === 0x54) return 'PUT';
      break;
    case 4:
      if (b0 === 0x50 && buf[start + 1] === 0x4f && buf[start + 2] === 0x53 && buf[start + 3] === 0x54) return 'POST';
      if (b0 === 0x48 && buf[start + 1] === 0x45 && buf[start + 2] === 0x41 && buf[start + 3] === 0x44) return 'HEAD';
      break;
    default:
      break;
  }
  return latin1(buf, start, end);
}
