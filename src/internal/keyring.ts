import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { KeyringError } from './errors.js';

export { KeyringError };

/**
 * HMAC signing with named keys, so a key can be rotated without invalidating every
 * value signed before: values carry the id of the key that signed them, new values are
 * signed with the first (current) key, and any listed key still verifies.
 * Several processes (balancers, app instances) that share the key list verify each
 * other's values.
 *
 * Signed form: `<payload>.<keyId>.<mac>` where mac is base64url HMAC-SHA256 truncated
 * to 16 bytes (128 bits: forging needs 2^128 tries; the payload is not secret).
 */
export interface SigningKey {
  /** Short id carried in signed values; [A-Za-z0-9_-]{1,16}. */
  id: string;
  /** Secret, at least 16 bytes (32 recommended). */
  secret: string | Buffer;
}

const KEY_ID = /^[A-Za-z0-9_-]{1,16}$/;
const MAC_BYTES = 16;
const MAC_CHARS = 22; // base64url of 16 bytes, no padding

export class Keyring {
  readonly #keys = new Map<string, Buffer>();
  readonly #currentId: string;

  /** @param keys the current signing key first, then older keys that still verify. */
  constructor(keys: readonly SigningKey[]) {
    if (keys.length === 0) throw new KeyringError('a keyring needs at least one key; pass keys: [{ id, secret }]');
    for (const key of keys) {
      if (!KEY_ID.test(key.id)) throw new KeyringError(`key id "${key.id}" is invalid; use 1-16 characters of [A-Za-z0-9_-]`);
      const secret = typeof key.secret === 'string' ? Buffer.from(key.secret, 'utf8') : key.secret;
      if (secret.length < 16) throw new KeyringError(`key "${key.id}" is shorter than 16 bytes; use a random secret of 32 bytes`);
      if (this.#keys.has(key.id)) throw new KeyringError(`key id "${key.id}" appears twice; give each key its own id`);
      this.#keys.set(key.id, secret);
    }
    this.#currentId = keys[0]!.id;
  }

  /** A keyring with one fresh random key: fine for one process, useless across several. */
  static random(): Keyring {
    return new Keyring([{ id: 'k0', secret: randomBytes(32) }]);
  }

  get currentKeyId(): string {
    return this.#currentId;
  }

  /** `payload` must not contain '.' characters after its last field separator is ambiguous; use base64url/hex payloads. */
  sign(payload: string): string {
    return `${payload}.${this.#currentId}.${this.#mac(this.#keys.get(this.#currentId)!, payload)}`;
  }

  /** The payload if `signed` carries a valid MAC by a known key, otherwise undefined. Never throws. */
  verify(signed: string): string | undefined {
    const macDot = signed.lastIndexOf('.');
    if (macDot <= 0 || signed.length - macDot - 1 !== MAC_CHARS) return undefined;
    const kidDot = signed.lastIndexOf('.', macDot - 1);
    if (kidDot <= 0) return undefined;
    const secret = this.#keys.get(signed.slice(kidDot + 1, macDot));
    if (secret === undefined) return undefined;
    const payload = signed.slice(0, kidDot);
    // Compare the text, not decoded bytes: the last base64url character carries two
    // unused bits, and decoding would accept four spellings of one MAC.
    const given = Buffer.from(signed.slice(macDot + 1), 'latin1');
    const expected = Buffer.from(this.#mac(secret, payload), 'latin1');
    return timingSafeEqual(given, expected) ? payload : undefined;
  }

  /**
   * A stable, unguessable name for `label`: the same on every process that shares the
   * keys. Derived from the oldest key, so adding a new signing key (rotation) does not
   * change it; retiring the oldest key does.
   */
  derive(label: string): string {
    const oldest = [...this.#keys.values()].at(-1)!;
    return createHmac('sha256', oldest).update(`scaleout-derive\u0000${label}`).digest().subarray(0, 12).toString('base64url');
  }

  #mac(secret: Buffer, payload: string): string {
    return createHmac('sha256', secret).update(payload).digest().subarray(0, MAC_BYTES).toString('base64url');
  }
}
