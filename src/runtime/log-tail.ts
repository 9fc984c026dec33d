import { open } from 'node:fs/promises';

/** Bytes read from the end of a log to find its last lines. @defaultValue 8192 */
export const LOG_TAIL_BYTES = 8192;

/** The last `lines` lines of a log file ('' when it is missing or empty). */
export async function readLogTail(file: string, lines: number): Promise<string> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch {
    return '';
  }
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, LOG_TAIL_BYTES);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    return buffer.toString('utf8').split('\n').filter((line) => line.trim() !== '').slice(-lines).join('\n');
  } finally {
    await handle.close();
  }
}
