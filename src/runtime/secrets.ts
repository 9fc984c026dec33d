import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RuntimeConfigError } from './errors.js';
import { writePrivateFile } from './private-file.js';

/** A signing key: the first of a list signs, all verify (rotation). */
export interface SigningKey {
  id: string;
  secret: string;
}

/** Keys the runtime generates once per app and keeps in `.scaleout/secrets.json` (mode 0600). */
export interface RuntimeSecrets {
  /** Session cookie keys, given to every instance as SCALEOUT_SESSION_KEYS. */
  session: SigningKey[];
  /** The balancer's affinity cookie keys. */
  balancer: SigningKey[];
}

const newKey = (prefix: string): SigningKey => ({ id: `${prefix}-${randomBytes(3).toString('hex')}`, secret: randomBytes(32).toString('base64url') });

/**
 * The app's keys: read from `<stateDir>/secrets.json`, or made and saved there. They
 * outlive restarts of `scaleout up`, so sessions and sticky cookies stay valid.
 */
export async function loadOrCreateSecrets(stateDir: string): Promise<RuntimeSecrets> {
  const file = join(stateDir, 'secrets.json');
  if (existsSync(file)) {
    try {
      const parsed = JSON.parse(await readFile(file, 'utf8')) as RuntimeSecrets;
      if (validKeys(parsed.session) && validKeys(parsed.balancer)) return parsed;
    } catch {
      // Unreadable: reported below.
    }
    throw new RuntimeConfigError(`${file} is damaged; delete it to make new keys (signed-in users will have to sign in again)`);
  }
  const secrets: RuntimeSecrets = { session: [newKey('s')], balancer: [newKey('b')] };
  await writePrivateFile(file, `${JSON.stringify(secrets, null, 2)}\n`);
  return secrets;
}

function validKeys(keys: unknown): keys is SigningKey[] {
  return Array.isArray(keys) && keys.length > 0 &&
    keys.every((k) => typeof k?.id === 'string' && typeof k?.secret === 'string' && k.secret.length >= 16 && !k.id.includes(':') && !k.id.includes(','));
}
