import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BalancerEvent } from '../balancer/index.js';
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
  /** The balancer's events (server states, warnings), forwarded over IPC from its first moments. */
  onEvent?: ((event: BalancerEvent) => void) | undefined;
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

  /**
   * Forks a balancer child and resolves once it has loaded its code and waits to be
   * told what to run: what {@link start} does first, and a spare the supervisor keeps
   * so that a restart after a crash skips Node's start and the module loading.
   */
  static async load(options: Pick<BalancerProcessOptions, 'adminToken' | 'logFile' | 'startTimeoutMs'>): Promise<LoadedBalancer> {
    const entry = childEntry();
    const fd = openSync(options.logFile, 'a');
    let child: ChildProcess;
    try {
      child = fork(entry.file, [], {
        execArgv: entry.execArgv,
        // In the app's state folder: the process is the app's (tools find it by its folder), not the shell's.
        cwd: dirname(options.logFile),
        env: { ...process.env, SCALEOUT_ADMIN_TOKEN: options.adminToken },
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
    const loaded: LoadedBalancer = { child, exited, logFile: options.logFile, onEvent: undefined };
    child.on('message', (message: BalancerChildMessage) => {
      if (message?.type === 'event') loaded.onEvent?.(message.event);
    });
    const message = await nextMessage(loaded, options.startTimeoutMs ?? DEFAULT_BALANCER_START_TIMEOUT_MS);
    if (message.type === 'loaded') {
      // An idle spare must not keep the supervisor alive.
      child.channel?.unref();
      return loaded;
    }
    throw await startFailure(loaded, message, options.startTimeoutMs ?? DEFAULT_BALANCER_START_TIMEOUT_MS);
  }

  /**
   * Starts the balancer of `options.configFile`: in `options.loaded` (a spare from
   * {@link load}) when given and still alive, else in a new child.
   */
  static async start(options: BalancerProcessOptions & { loaded?: LoadedBalancer | undefined }): Promise<BalancerProcess> {
    const timeoutMs = options.startTimeoutMs ?? DEFAULT_BALANCER_START_TIMEOUT_MS;
    const spare = options.loaded;
    const loaded = spare !== undefined && spare.child.exitCode === null && spare.child.signalCode === null && spare.child.connected
      ? spare
      : await BalancerProcess.load(options);
    const { child } = loaded;
    loaded.onEvent = options.onEvent;
    child.channel?.ref();
    const start: BalancerStartMessage = { type: 'start', configFile: options.configFile };
    if (options.listenSocket !== undefined) child.send(start, options.listenSocket.handle as never, () => {});
    else child.send(start, () => {});
    const message = await nextMessage(loaded, timeoutMs);
    if (message.type === 'ready') {
      child.channel?.unref();
      return new BalancerProcess(child, loaded.exited, message, options.logFile);
    }
    throw await startFailure(loaded, message, timeoutMs);
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

/** A balancer child that has loaded its code and waits for {@link BalancerStartMessage}. */
export interface LoadedBalancer {
  readonly child: ChildProcess;
  readonly exited: Promise<ExitInfo>;
  readonly logFile: string;
  /** Where its events go once it was told what to run. */
  onEvent: ((event: BalancerEvent) => void) | undefined;
}

/** What the supervisor sends a loaded child: the config to run, with the client socket as the message's handle. */
export interface BalancerStartMessage {
  type: 'start';
  configFile: string;
}

type Outcome = BalancerChildMessage | { type: 'exit'; exit: ExitInfo } | { type: 'timeout' };

function nextMessage(loaded: LoadedBalancer, timeoutMs: number): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  let onMessage: ((m: unknown) => void) | undefined;
  return Promise.race([
    new Promise<Outcome>((resolve) => {
      onMessage = (m) => {
        // Events come at any time; they are not an answer.
        if ((m as BalancerChildMessage | null)?.type !== 'event') resolve(m as BalancerChildMessage);
      };
      loaded.child.on('message', onMessage);
    }),
    loaded.exited.then((exit) => ({ type: 'exit' as const, exit })),
    new Promise<Outcome>((resolve) => {
      timer = setTimeout(() => resolve({ type: 'timeout' }), timeoutMs);
    }),
  ]).finally(() => {
    clearTimeout(timer);
    if (onMessage !== undefined) loaded.child.off('message', onMessage);
  });
}

async function startFailure(loaded: LoadedBalancer, message: Outcome, timeoutMs: number): Promise<Error> {
  loaded.child.kill('SIGKILL');
  await loaded.exited;
  if (message.type === 'crash') return new BalancerStartError(`it crashed while starting: ${message.stack}`);
  if (message.type === 'failed') {
    const inUse = /EADDRINUSE/.exec(message.message) !== null ? /cannot listen on (\S+?)(?::\s|\s)/.exec(message.message) : null;
    if (inUse !== null) return new PortInUseError('the balancer address', inUse[1] ?? '?');
    return new BalancerStartError(`${message.message} [${message.code}]`);
  }
  const tail = await readLogTail(loaded.logFile, 10);
  if (message.type === 'exit') return new BalancerStartError(`${describeExit(message.exit)}; its log:\n${tail}`);
  if (message.type === 'timeout') return new BalancerStartError(`no answer within ${timeoutMs} ms; its log:\n${tail}`);
  return new BalancerStartError(`unexpected message "${message.type}"; its log:\n${tail}`);
}
