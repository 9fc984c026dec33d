import { describe, expect, it } from 'vitest';
import { FIELD_VALUE, HEX_VALUE, HOST, LOWER, QDTEXT, TARGET, TCHAR } from './chars.js';

function members(table: Uint8Array): string {
  let s = '';
  for (let b = 0; b < 128; b++) if (table[b] === 1) s += String.fromCharCode(b);
  return s;
}

describe('byte classes', () => {
  it('tchar is exactly the RFC 9110 token set', () => {
    expect(members(TCHAR)).toBe("!#$%&'*+-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ^_`abcdefghijklmnopqrstuvwxyz|~");
    for (let b = 128; b < 256; b++) expect(TCHAR[b]).toBe(0);
  });

  it('field values allow HTAB, SP, VCHAR and obs-text only', () => {
    for (let b = 0; b < 256; b++) {
      expect(FIELD_VALUE[b]).toBe(b === 0x09 || (b >= 0x20 && b !== 0x7f) ? 1 : 0);
    }
  });

  it('targets allow visible ASCII only', () => {
    for (let b = 0; b < 256; b++) expect(TARGET[b]).toBe(b > 0x20 && b < 0x7f ? 1 : 0);
  });

  it('hosts refuse userinfo, paths and whitespace', () => {
    for (const c of '@/ \t?#"<>\\') expect(HOST[c.charCodeAt(0)]).toBe(0);
    for (const c of 'aZ09-._~[]:%') expect(HOST[c.charCodeAt(0)]).toBe(1);
  });

  it('qdtext excludes DQUOTE, backslash and CTLs', () => {
    expect(QDTEXT[0x22]).toBe(0);
    expect(QDTEXT[0x5c]).toBe(0);
    expect(QDTEXT[0x0d]).toBe(0);
    expect(QDTEXT[0x7f]).toBe(0);
    expect(QDTEXT[0x09]).toBe(1);
    expect(QDTEXT[0xe9]).toBe(1);
  });

  it('maps hex digits and lowercases ASCII only', () => {
    expect([...'09afAF'].map((c) => HEX_VALUE[c.charCodeAt(0)])).toEqual([0, 9, 10, 15, 10, 15]);
    expect(HEX_VALUE['g'.charCodeAt(0)]).toBe(0xff);
    expect(LOWER['A'.charCodeAt(0)]).toBe('a'.charCodeAt(0));
    expect(LOWER[0xc9]).toBe(0xc9);
  });
});
