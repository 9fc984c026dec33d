import { describe, expect, it } from 'vitest';
import { loginCookie, readCookie, sameSecret, sessionValue } from './session-cookie.js';

describe('dashboard session cookie', () => {
  it('is derived from the token and differs from it', () => {
    expect(sessionValue('t1')).toBe(sessionValue('t1'));
    expect(sessionValue('t1')).not.toBe(sessionValue('t2'));
    expect(sessionValue('t1')).not.toContain('t1');
  });

  it('compares secrets of any length without throwing', () => {
    expect(sameSecret('abc', 'abc')).toBe(true);
    expect(sameSecret('abc', 'abd')).toBe(false);
    expect(sameSecret('', 'abc')).toBe(false);
    expect(sameSecret('abcd', 'abc')).toBe(false);
  });

  it('reads one cookie among others', () => {
    expect(readCookie('a=1; scaleout_dashboard=xyz; b=2', 'scaleout_dashboard')).toBe('xyz');
    expect(readCookie('a=1', 'scaleout_dashboard')).toBeUndefined();
    expect(readCookie(undefined, 'scaleout_dashboard')).toBeUndefined();
  });

  it('is HttpOnly and SameSite=Strict', () => {
    expect(loginCookie('v')).toMatch(/HttpOnly/);
    expect(loginCookie('v')).toMatch(/SameSite=Strict/);
  });
});
