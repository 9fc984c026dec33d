import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/** scrypt cost (N). @defaultValue 16384 */
export const DEFAULT_SCRYPT_COST = 16_384;
/** @defaultValue 16 */
export const SALT_BYTES = 16;
/** @defaultValue 32 */
export const KEY_BYTES = 32;
const BLOCK_SIZE = 8;
const PARALLELISM = 1;

function derive(password: string, salt: Buffer, cost: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // maxmem must cover 128 * N * r bytes, or large costs fail.
    scrypt(password.normalize('NFKC'), salt, KEY_BYTES, { N: cost, r: BLOCK_SIZE, p: PARALLELISM, maxmem: 256 * cost * BLOCK_SIZE },
      (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/**
 * Hashes a password with scrypt and a fresh random salt. The result carries its own
 * parameters (`scrypt$<N>$<salt>$<key>`, base64url), so the cost can be raised later
 * without breaking stored hashes.
 */
export async function hashPassword(password: string, cost = DEFAULT_SCRYPT_COST): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, cost);
  return `scrypt$${cost}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

// Compared against when the user does not exist, so an unknown name costs as much as a
// wrong password and response times do not tell which names exist.
let dummyHash: Promise<string> | undefined;

/**
 * True when `password` matches `stored`. A missing or malformed hash never matches;
 * the comparison is constant-time.
 */
export async function verifyPassword(password: string, stored: string | undefined): Promise<boolean> {
  const parts = stored?.split('$');
  if (stored === undefined || parts === undefined || parts.length !== 4 || parts[0] !== 'scrypt') {
    dummyHash ??= hashPassword('not a password');
    await verifyPassword(password, await dummyHash);
    return false;
  }
  const cost = Number(parts[1]);
  if (!Number.isInteger(cost) || cost < 2 || cost > 1 << 20 || (cost & (cost - 1)) !== 0) return false;
  const salt = Buffer.from(parts[2] ?? '', 'base64url');
  const expected = Buffer.from(parts[3] ?? '', 'base64url');
  if (salt.length === 0 || expected.length !== KEY_BYTES) return false;
  const actual = await derive(password, salt, cost);
  return timingSafeEqual(actual, expected);
}
