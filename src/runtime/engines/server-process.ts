import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import type { ExitInfo } from '../app-process.js';
import { trackChild } from '../child-registry.js';
import { readLogTail } from '../log-tail.js';
import { freePort } from './free-port.js';

/** How often a starting server is asked whether it answers. */
const ANSWER_POLL_MS = 50;

/** A server process an engine started (redis-server, memcached): its own process group, its output in a log file. */
export interface ServerProcess {
  readonly host: string;
  readonly port: number;
  readonly pid: number | undefined;
  /** Resolves once the process is gone. */
  readonly exited: Promise<ExitInfo>;
  isRunning(): boolean;
  /** SIGTERM, then SIGKILL after `timeoutMs` (the spec's `stopTimeoutMs` unless given). */
  stop(timeoutMs?: number): Promise<void>;
  kill(): void;
}

export interface ServerSpec {
  /** The program, as errors name it: `redis-server`, `memcached`. */
  name: string;
  binary: string;
  args: readonly string[];
  cwd: string;
  /** stdout and stderr are appended here; its tail goes into start errors. */
  logFile: string;
  host: string;
  port: number;
  startTimeoutMs: number;
  stopTimeoutMs: number;
  /** The pid of the server answering on host:port, undefined while none answers. */
  answeringPid: (host: string, port: number) => Promise<number | undefined>;
  /** What `answeringPid` asks, for the timeout error: `answer PING`. */
  check: string;
  /** The engine's coded start error. */
  error: (message: string, options?: ErrorOptions) => Error;
}

/**
 * Spawns a server and resolves once it answers with its own pid, so another server
 * that holds the port (ours then exits with "address in use") is never taken for it.
 * Rejects with the spec's error and the log's tail when it exits or stays silent.
 */
export async function spawnServer(spec: ServerSpec): Promise<ServerProcess> {
  const fd = openSync(spec.logFile, 'a');
  let child: ChildProcess;
  try {
    // Own process group: a Ctrl-C reaches the supervisor, which stops engines last.
    child = spawn(spec.binary, spec.args, { cwd: spec.cwd, stdio: ['ignore', fd, fd], detached: true });
  } finally {
    closeSync(fd);
  }
  trackChild(child);
  let exited = false;
  let spawnError: Error | undefined;
  const exit = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = true;
      resolve({ code, signal });
    });
    child.once('error', (err) => {
      spawnError = err;
      exited = true;
      resolve({ code: null, signal: null });
    });
  });
  const deadline = performance.now() + spec.startTimeoutMs;
  for (;;) {
    if (exited) {
      if (spawnError !== undefined) throw spec.error(`cannot run ${spec.binary}: ${spawnError.message}`, { cause: spawnError });
      throw spec.error(`${spec.name} exited during startup; its log:\n${await readLogTail(spec.logFile, 10)}`);
    }
    if (child.pid !== undefined && await spec.answeringPid(spec.host, spec.port) === child.pid) break;
    if (performance.now() > deadline) {
      child.kill('SIGKILL');
      await exit;
      throw spec.error(`${spec.name} did not ${spec.check} on ${spec.host}:${spec.port} within ${spec.startTimeoutMs} ms; its log:\n${await readLogTail(spec.logFile, 10)}`);
    }
    await Promise.race([delay(ANSWER_POLL_MS), exit]);
  }
  const kill = (): void => {
    if (!exited) child.kill('SIGKILL');
  };
  return {
    host: spec.host,
    port: spec.port,
    pid: child.pid,
    exited: exit,
    isRunning: () => !exited,
    kill,
    async stop(timeoutMs = spec.stopTimeoutMs) {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(kill, timeoutMs);
      await exit;
      clearTimeout(timer);
    },
  };
}

/**
 * Starts a server on `port`, or on a free port when none is given: a free port can be
 * taken between picking and binding, so then up to `attempts` ports are tried, as
 * long as the failure is one `portTaken` recognises.
 */
export async function onFreePort<T>(
  host: string,
  port: number | undefined,
  attempts: number,
  portTaken: (err: unknown) => boolean,
  start: (port: number) => Promise<T>,
): Promise<T> {
  let lastError: unknown;
  for (let attempt = 0; attempt < (port === undefined ? attempts : 1); attempt++) {
    try {
      return await start(port ?? await freePort(host));
    } catch (err) {
      lastError = err;
      if (!portTaken(err)) throw err;
    }
  }
  throw lastError;
}

/** The process's name (`comm`), or undefined once it is gone (a zombie counts as gone). */
export function commandOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') return undefined;
    return stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
  } catch {
    return undefined;
  }
}

/** Sends a signal to a process that may be gone already. */
export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Gone meanwhile.
  }
}
