import { describe, expect, it } from 'vitest';
import { Keyring, KeyringError } from './keyring.js';

const k1 = { id: 'k1', secret: 'a'.repeat(32) };
const k2 = { id: 'k2', secret: 'b'.repeat(32) };

describe('Keyring', () => {
  it('verifies what it signed and returns the payload', () => {
    const ring = new Keyring([k1]);
    expect(ring.verify(ring.sign('abc'))).toBe('abc');
  });

  it('rejects a changed payload, a changed mac, an unknown key and garbage', () => {
    const ring = new Keyring([k1]);
    const signed = ring.sign('abc');
    expect(ring.verify(signed.replace('abc', 'abd'))).toBeUndefined();
    expect(ring.verify(signed.slice(0, -1) + (signed.endsWith('A') ? 'B' : 'A'))).toBeUndefined();
    expect(new Keyring([k2]).verify(signed)).toBeUndefined();
    for (const bad of ['', '.', '..', 'abc', 'abc.k1.', 'abc.k1.%%%%%%%%%%%%%%%%%%%%%%', '.k1.' + 'A'.repeat(22)]) {
      expect(ring.verify(bad)).toBeUndefined();
    }
  });

  it('rotates: signs with the first key and still verifies older ones', () => {
    const old = new Keyring([k1]);
    const rotated = new Keyring([k2, k1]);
    expect(rotated.verify(old.sign('x'))).toBe('x');
    expect(rotated.sign('x')).toContain('.k2.');
    expect(old.verify(rotated.sign('x'))).toBeUndefined();
  });

  it('refuses weak or malformed keys with a clear error', () => {
    expect(() => new Keyring([])).toThrow(KeyringError);
    expect(() => new Keyring([{ id: 'k', secret: 'short' }])).toThrow(/16 bytes/);
    expect(() => new Keyring([{ id: 'bad id', secret: 'a'.repeat(32) }])).toThrow(/invalid/);
    expect(() => new Keyring([k1, k1])).toThrow(/twice/);
  });
});

describe('Keyring.derive', () => {
  it('is stable across keyrings sharing the oldest key, and differs by label and key', () => {
    const a = new Keyring([k1]);
    const rotated = new Keyring([k2, k1]);
    expect(rotated.derive('server a')).toBe(a.derive('server a'));
    expect(a.derive('server a')).not.toBe(a.derive('server b'));
    expect(new Keyring([k2]).derive('server a')).not.toBe(a.derive('server a'));
    expect(a.derive('server a')).not.toContain('server');
  });
});
