/**
 * Byte classes for the HTTP/1.1 parsers, as 256-entry lookup tables so every check on
 * the hot path is one indexed load instead of a chain of comparisons.
 *
 * Tables hold 1 for "in the class" and 0 otherwise, except `HEX_VALUE` (see there).
 */

/** Carriage return. */
export const CR = 0x0d;
/** Line feed. */
export const LF = 0x0a;
/** Space. */
export const SP = 0x20;
/** Horizontal tab. */
export const HTAB = 0x09;
/** `:` */
export const COLON = 0x3a;
/** `,` */
export const COMMA = 0x2c;
/** `;` */
export const SEMICOLON = 0x3b;
/** `=` */
export const EQUALS = 0x3d;
/** `"` */
export const DQUOTE = 0x22;
/** `\` */
export const BACKSLASH = 0x5c;

function table(accept: (byte: number) => boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let b = 0; b < 256; b++) t[b] = accept(b) ? 1 : 0;
  return t;
}

const TCHAR_SPECIALS = "!#$%&'*+-.^_`|~";

function isAlpha(b: number): boolean {
  return (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
}

function isDigit(b: number): boolean {
  return b >= 0x30 && b <= 0x39;
}

/** RFC 9110 5.6.2 `tchar`: the bytes of a token (method, field name, coding, chunk-ext name). */
export const TCHAR = table((b) => isAlpha(b) || isDigit(b) || TCHAR_SPECIALS.includes(String.fromCharCode(b)));

/**
 * RFC 9110 5.5 field-value bytes: HTAB, SP, VCHAR and obs-text. CR, LF, NUL, DEL and the
 * other controls are out; the parsers reject them instead of passing them to a server.
 */
export const FIELD_VALUE = table((b) => b === HTAB || (b >= 0x20 && b <= 0x7e) || b >= 0x80);

/**
 * Request-target bytes: visible ASCII only. obs-text is refused because servers disagree
 * on how to decode it, which is how routing and access rules get bypassed.
 */
export const TARGET = table((b) => b >= 0x21 && b <= 0x7e);

/**
 * Host field bytes (RFC 3986 reg-name / IP-literal / port): unreserved, sub-delims,
 * `:`, `[`, `]` and `%`. The balancer routes on Host, so anything else is refused.
 */
export const HOST = table((b) => isAlpha(b) || isDigit(b) || "-._~!$&'()*+,;=:[]%".includes(String.fromCharCode(b)));

/** RFC 9110 5.6.4 `qdtext` inside a quoted-string (excluding `"` and `\`). */
export const QDTEXT = table((b) => b === HTAB || b === SP || b === 0x21 || (b >= 0x23 && b <= 0x5b) ||
  (b >= 0x5d && b <= 0x7e) || b >= 0x80);

/** `scheme` characters after the first letter (RFC 3986 3.1). */
export const SCHEME = table((b) => isAlpha(b) || isDigit(b) || b === 0x2b || b === 0x2d || b === 0x2e);

/** Value of a hex digit, or 0xff for any other byte. */
export const HEX_VALUE = (() => {
  const t = new Uint8Array(256).fill(0xff);
  for (let d = 0; d < 10; d++) t[0x30 + d] = d;
  for (let d = 0; d < 6; d++) {
    t[0x41 + d] = 10 + d;
    t[0x61 + d] = 10 + d;
  }
  return t;
})();

/** ASCII lowercase mapping for case-insensitive name comparison; other bytes map to themselves. */
export const LOWER = (() => {
  const t = new Uint8Array(256);
  for (let b = 0; b < 256; b++) t[b] = b >= 0x41 && b <= 0x5a ? b + 0x20 : b;
  return t;
})();
