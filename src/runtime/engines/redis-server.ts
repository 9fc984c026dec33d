import { mkdirSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { RedisStartError } from '../errors.js';
import { processesUsing } from './data-dir.js';
import { findExecutable } from './find-executable.js';
import { commandOf, onFreePort, signal, spawnServer } from './server-process.js';
import type { ServerProcess } from './server-process.js';

/** @defaultValue 15000 */
export const DEFAULT_REDIS_START_TIMEOUT_MS = 15_000;
/** A redis-server that does not stop after SIGTERM in this time is killed. @defaultValue 10000 */
export const DEFAULT_REDIS_STOP_TIMEOUT_MS = 10_000;
const PORT_ATTEMPTS = 4;
const LEFTOVER_POLL_MS = 50;

export interface RedisServerOptions {
  /** Working folder: the append-only file and the log live here. */
  dataDir: string;
  /** @defaultValue '127.0.0.1' */
  host?: string;
  /** @defaultValue a free port */
  port?: number;
  /**
   * Append-only file with fsync every second: at most a second of writes is lost
   * when the machine (not just the process) fails.
   * @defaultValue true
   */
  appendonly?: boolean;
  /** @defaultValue the `redis-server` found on the PATH */
  binary?: string;
  /** @defaultValue {@link DEFAULT_REDIS_START_TIMEOUT_MS} */
  startTimeoutMs?: number;
  /** A redis-server left running in `dataDir` by an earlier run was stopped (its pid). */
  onLeftover?: (pid: number) => void;
  /** More arguments, after the runtime's own: `--maxmemory 128mb --maxmemory-policy allkeys-lru`. */
  extraArgs?: readonly string[];
}

/** A redis-server process started by the runtime. */
export interface RedisServer extends ServerProcess {
  /** `redis://host:port` */
  readonly url: string;
  readonly logFile: string;
}

/** The `redis-server` executable on the PATH, if any. */
export function findRedisServer(path = process.env.PATH ?? ''): string | undefined {
  return findExecutable('redis-server', path);
}

/**
 * Starts a redis-server bound to loopback and resolves once it answers (with its own
 * pid, so another server on the port is never mistaken for it). A port
 * taken between picking and binding is replaced by another free one (unless `port`
 * was given).
 */
export async function startRedisServer(options: RedisServerOptions): Promise<RedisServer> {
  const binary = options.binary ?? findRedisServer();
  if (binary === undefined) throw new RedisStartError('no redis-server on the PATH; install Redis, or set REDIS_URL');
  const host = options.host ?? '127.0.0.1';
  mkdirSync(options.dataDir, { recursive: true });
  // Two servers on one append-only file would corrupt it.
  for (const pid of await stopLeftovers(options.dataDir)) options.onLeftover?.(pid);
  const logFile = join(options.dataDir, 'redis.log');
  const portTaken = (err: unknown): boolean => err instanceof RedisStartError && /Address already in use/i.test(err.message);
  return onFreePort(host, options.port, PORT_ATTEMPTS, portTaken, (port) => startOnce(binary, host, port, options, logFile));
}

async function startOnce(binary: string, host: string, port: number, options: RedisServerOptions, logFile: string): Promise<RedisServer> {
  const args = [
    '--port', String(port), '--bind', host, '--dir', options.dataDir, '--daemonize', 'no',
    '--save', '', '--appendonly', options.appendonly === false ? 'no' : 'yes', '--appendfsync', 'everysec',
    '--logfile', '', ...options.extraArgs ?? [],
  ];
  const server = await spawnServer({
    name: 'redis-server', binary, args, cwd: options.dataDir, logFile, host, port,
    startTimeoutMs: options.startTimeoutMs ?? DEFAULT_REDIS_START_TIMEOUT_MS,
    stopTimeoutMs: DEFAULT_REDIS_STOP_TIMEOUT_MS,
    answeringPid: serverPid,
    check: 'answer PING',
    error: (message, errorOptions) => new RedisStartError(message, errorOptions),
  });
  return { ...server, url: `redis://${host}:${port}`, logFile };
}

/**
 * Stops redis-servers that run in `dataDir` (their working directory, which the
 * runtime sets): ones an earlier run left behind when it could not stop them (its
 * supervisor and orphan reaper both killed). Only a process whose command is
 * redis-server and whose working directory is `dataDir` is touched. SIGTERM (it
 * flushes its append-only file), SIGKILL after {@link DEFAULT_REDIS_STOP_TIMEOUT_MS}.
 */
export async function stopLeftovers(dataDir: string, timeoutMs = DEFAULT_REDIS_STOP_TIMEOUT_MS): Promise<number[]> {
  const leftovers = (await processesUsing(dataDir)).filter((pid) => commandOf(pid) === 'redis-server');
  for (const pid of leftovers) signal(pid, 'SIGTERM');
  const termDeadline = performance.now() + timeoutMs;
  const killDeadline = termDeadline + 2_000;
  let killed = false;
  let running = leftovers;
  while (running.length > 0 && performance.now() < killDeadline) {
    if (!killed && performance.now() > termDeadline) {
      running.forEach((pid) => signal(pid, 'SIGKILL'));
      killed = true;
    }
    await delay(LEFTOVER_POLL_MS);
    running = running.filter((pid) => commandOf(pid) === 'redis-server');
  }
  return leftovers;
}

/** True when a PING on a fresh connection gets +PONG within a second. */
export function answersPing(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let reply = '';
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
    socket.once('error', () => done(false));
    socket.once('close', () => done(false));
  });
}

/** The `process_id` that `INFO server` reports on a fresh connection, or undefined. */
function serverPid(host: string, port: number, timeoutMs = 1000): Promise<number | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let reply = '';
    const done = (pid: number | undefined): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(pid);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.once('connect', () => socket.write('*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      const match = /process_id:(\d+)/.exec(reply);
      if (match !== null) done(Number(match[1]));
      else if (reply.startsWith('-') && reply.includes('\r\n')) done(undefined);
    });
    socket.once('error', () => done(undefined));
    socket.once('close', () => done(undefined));
  });
}
