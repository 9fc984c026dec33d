import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BalancerChildMessage } from './balancer-child.js';
import type { ListenSocket } from './listen-socket.js';
import { trackChild } from './child-registry.js';
import type { ExitInfo } from './app-process.js';
import { describeExit } from './app-process.js';
import { BalancerStartError, PortInUseError } from './errors.js';
import { readLogTail } from './log-tail.js';

/**
 * A stopping balancer is killed after this: its own shutdown timeout (the supervisor
 * gives it 5 s to finish requests in flight) plus a margin. @defaultValue 10000
 */
export const DEFAULT_BALANCER_STOP_GRACE_MS = 10_000;

/** The message that carries the listening socket to the child. */
export const LISTEN_HANDLE_MESSAGE = 'listen-handle';

/** How long the balancer may take to bind and answer. @defaultValue 30000 */
export const DEFAULT_BALANCER_START_TIMEOUT_MS = 30_000;

export interface BalancerProcessOptions {
  /** JSON balancer options plus `admin: "host:port"`. */
  configFile: string;
  adminToken: string;
  logFile: string;
  /** @defaultValue {@link DEFAULT_BALANCER_START_TIMEOUT_MS} */
  startTimeoutMs?: number;
  /** The client socket, bound by the supervisor; the child listens on it instead of binding `listen`. */
  listenSocket?: ListenSocket | undefined;
}

/** The child entry next to this module (`.ts` under tsx, `.js` once built). */
function childEntry(): { file: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.ts')) {
    return { file: here.replace(/balancer-process\.ts$/, 'balancer-child.ts'), execArgv: ['--import', import.meta.resolve('tsx')] };
  }
  return { file: here.replace(/balancer-process\.js$/, 'balancer-child.js'), execArgv: [] };
}

/** The balancer, running as its own process (see `balancer-child.ts`). */
export class BalancerProcess {
  readonly listeners: string[];
  readonly adminAddress: string;
  readonly logFile: string;
  readonly exited: Promise<ExitInfo>;
  readonly #child: ChildProcess;
  #exit: ExitInfo | undefined;
  #crashStack: string | undefined;

  private constructor(child: ChildProcess, exited: Promise<ExitInfo>, ready: { listeners: string[]; admin: string }, logFile: string) {
    this.#child = child;
    this.listeners = ready.listeners;
    this.adminAddress = ready.admin;
    this.logFile = logFile;
    this.exited = exited.then((exit) => (this.#exit = exit));
    child.on('message', (message: BalancerChildMessage) => {
      if (message?.type === 'crash') this.#crashStack = String(message.stack);
    });
  }

  /** The stack of the uncaught error the child reported before it exited, if it did. Complete once {@link exited} resolved. */
  crashReport(): string | undefined {
    return this.#crashStack;
  }

  static async start(options: BalancerProcessOptions): Promise<BalancerProcess> {
    const entry = childEntry();
    const fd = openSync(options.logFile, 'a');
    let child: ChildProcess;
    try {
      child = fork(entry.file, [options.configFile], {
        execArgv: entry.execArgv,
        env: { ...process.env, SCALEOUT_ADMIN_TOKEN: options.adminToken, ...(options.listenSocket === undefined ? {} : { SCALEOUT_LISTEN_HANDLE: '1' }) },
        stdio: ['ignore', fd, fd, 'ipc'],
        detached: true,
      });
    } finally {
      closeSync(fd);
    }
    trackChild(child);
    child.on('error', () => {});
    // 'close', not 'exit': it comes after the IPC channel has delivered every message, crash reports included.
    const exited = new Promise<ExitInfo>((resolve) => {
      child.once('close', (code, signal) => resolve({ code, signal }));
      child.once('error', () => resolve({ code: null, signal: null }));
    });
    if (options.listenSocket !== undefined) child.send({ type: LISTEN_HANDLE_MESSAGE }, options.listenSocket.handle as never, () => {});
    const timeoutMs = options.startTimeoutMs ?? DEFAULT_BALANCER_START_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    const message = await Promise.race([
      new Promise<BalancerChildMessage>((resolve) => child.once('message', (m) => resolve(m as BalancerChildMessage))),
      exited.then((exit) => ({ type: 'exit' as const, exit })),
      new Promise<{ type: 'timeout' }>((resolve) => {
        timer = setTimeout(() => resolve({ type: 'timeout' }), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (message.type === 'ready') {
      child.channel?.unref();
      return new BalancerProcess(child, exited, message, options.logFile);
    }
    child.kill('SIGKILL');
    await exited;
    if (message.type === 'crash') throw new BalancerStartError(`it crashed while starting: ${message.stack}`);
    if (message.type === 'failed') {
      const inUse = /EADDRINUSE/.exec(message.message) !== null ? /cannot listen on (\S+?)(?::\s|\s)/.exec(message.message) : null;
      if (inUse !== null) throw new PortInUseError('the balancer address', inUse[1] ?? '?');
      throw new BalancerStartError(`${message.message} [${message.code}]`);
    }
    const tail = await readLogTail(options.logFile, 10);
    if (message.type === 'exit') throw new BalancerStartError(`${describeExit(message.exit)}; its log:\n${tail}`);
    throw new BalancerStartError(`no answer within ${timeoutMs} ms; its log:\n${tail}`);
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get running(): boolean {
    return this.#exit === undefined;
  }

  /** SIGTERM (in-flight requests finish), then SIGKILL after `graceMs`. */
  async stop(graceMs = DEFAULT_BALANCER_STOP_GRACE_MS): Promise<void> {
    if (!this.running) return;
    try {
      this.#child.kill('SIGTERM');
    } catch {
      // Already gone.
    }
    const timer = setTimeout(() => this.kill(), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  kill(): void {
    if (!this.running) return;
    try {
      this.#child.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  }
}
