import { execFile, execFileSync } from 'node:child_process';
import { SystemCommandError } from './errors.js';

/** A system command (ip, nft, tc) that takes longer is killed and counts as failed. @defaultValue 10000 */
export const SYSTEM_COMMAND_TIMEOUT_MS = 10_000;

/**
 * Runs a system command (`ip`, `nft`, `tc`) to completion and resolves with its
 * stdout. Never through a shell: the arguments are passed as they are. A command
 * that fails or hangs rejects with a {@link SystemCommandError} carrying its stderr.
 */
export function runSystemCommand(file: string, args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { timeout: options.timeoutMs ?? SYSTEM_COMMAND_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err === null) resolve(stdout);
      else reject(new SystemCommandError([file, ...args].join(' '), String(stderr).trim() || err.message, { cause: err }));
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/**
 * The same, synchronous: for cleanup in a process `exit` handler, where nothing async
 * runs. Never throws: resolves with stdout, or undefined when the command failed.
 */
export function runSystemCommandSync(file: string, args: readonly string[]): string | undefined {
  try {
    return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: SYSTEM_COMMAND_TIMEOUT_MS, killSignal: 'SIGKILL' });
  } catch {
    return undefined;
  }
}
