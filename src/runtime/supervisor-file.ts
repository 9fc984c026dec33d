import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writePrivateFile } from './private-file.js';

/** Where a running supervisor can be reached: `<app>/.scaleout/supervisor.json`, mode 0600. */
export interface SupervisorFile {
  pid: number;
  /** Absolute app folder. */
  dir: string;
  /** Control API `host:port` (loopback). */
  control: string;
  /** Bearer token of the control API. */
  token: string;
  startedAt: string;
  appUrl: string | null;
  adminUrl: string | null;
  /** Bearer token of the balancer's admin API. */
  adminToken: string | null;
}

export function supervisorFilePath(dir: string): string {
  return join(dir, '.scaleout', 'supervisor.json');
}

export async function writeSupervisorFile(dir: string, content: SupervisorFile): Promise<void> {
  await writePrivateFile(supervisorFilePath(dir), `${JSON.stringify(content, null, 2)}\n`);
}

/** The file's content, or undefined when there is none (or it is damaged). */
export function readSupervisorFile(dir: string): SupervisorFile | undefined {
  try {
    const parsed = JSON.parse(readFileSync(supervisorFilePath(dir), 'utf8')) as SupervisorFile;
    if (typeof parsed.pid !== 'number' || typeof parsed.control !== 'string' || typeof parsed.token !== 'string') return undefined;
    return parsed;
  } catch {
    return undefined;
  }
}

/** Removes the file if it still describes this process (a newer supervisor may own it). */
export function removeSupervisorFile(dir: string, pid = process.pid): void {
  if (readSupervisorFile(dir)?.pid !== pid) return;
  rmSync(supervisorFilePath(dir), { force: true });
}

/** True when a process with this pid exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
