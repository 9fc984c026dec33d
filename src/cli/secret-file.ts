import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { UsageError } from './cli-error.js';

/** A secret file is a line or two; anything larger is the wrong file. @defaultValue 4096 */
export const MAX_SECRET_FILE_BYTES = 4096;

export interface SecretFile {
  secret: string;
  /** Set when the file is readable by its group: allowed (a service group may share it), but said. */
  warning: string | undefined;
}

/**
 * Reads a secret (an admin token) from a file, the way to keep it out of `ps` and shell
 * history. Like ssh with private keys, a file that other users may read is refused: the
 * secret is already out. Group access only warns, as PostgreSQL allows 0640 key files for
 * a service group.
 */
export function readSecretFile(flag: string, path: string): SecretFile {
  // Mode bits mean nothing on Windows.
  const checkMode = process.platform !== 'win32';
  let fd: number;
  try {
    // Non-blocking, so a named pipe given by mistake is refused instead of hanging the start.
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    throw new UsageError(`cannot read ${flag} ${path}: ${(err as Error).message}`);
  }
  let secret: string;
  let mode: number;
  // One descriptor for the check and the read: the file cannot be swapped in between.
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new UsageError(`${flag} ${path} is not a regular file`);
    if (stat.size > MAX_SECRET_FILE_BYTES) throw new UsageError(`${flag} ${path} has ${stat.size} bytes; it should hold only the token (at most ${MAX_SECRET_FILE_BYTES} bytes)`);
    mode = stat.mode & 0o777;
    if (checkMode && (mode & 0o007) !== 0) {
      throw new UsageError(`${flag} ${path} is accessible to other users (mode ${mode.toString(8).padStart(4, '0')}); run \`chmod 600 ${path}\``);
    }
    secret = readFileSync(fd, 'utf8').trim();
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`cannot read ${flag} ${path}: ${(err as Error).message}`);
  } finally {
    closeSync(fd);
  }
  if (secret === '') throw new UsageError(`${flag} ${path} is empty; write the token into it`);
  if (/[\r\n]/.test(secret)) throw new UsageError(`${flag} ${path} holds several lines; it should hold only the token`);
  const warning = checkMode && (mode & 0o070) !== 0
    ? `${flag} ${path} is accessible to its group (mode ${mode.toString(8).padStart(4, '0')}); \`chmod 600 ${path}\` unless that group should read it`
    : undefined;
  return { secret, warning };
}
