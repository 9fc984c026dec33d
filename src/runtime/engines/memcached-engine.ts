import { mkdirSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import type { Clock } from '../../internal/clock.js';
import { INSTANCE_ENV } from '../../internal/instance-env.js';
import { EngineUnreachableError, MemcachedStartError } from '../errors.js';
import type { SupervisorEvent } from '../events.js';
import { SupervisedProcess } from '../supervised-process.js';
import type { ProcessRun } from '../supervised-process.js';
import type { ProcessStatus } from '../status.js';
import { processesUsing } from './data-dir.js';
import type { Engine, EngineContext, EngineSource } from './engine.js';
import { findExecutable } from './find-executable.js';
import { commandOf, onFreePort, signal, spawnServer } from './server-process.js';

/** @defaultValue 10000 */
export const MEMCACHED_START_TIMEOUT_MS = 10_000;
/** A memcached that does not stop after SIGTERM in this time is killed. @defaultValue 5000 */
export const MEMCACHED_STOP_TIMEOUT_MS = 5_000;
/** A lost memcached only costs cache misses, so its first crashes restart at once. @defaultValue 3 */
export const MEMCACHED_IMMEDIATE_RESTARTS = 3;
/** The environment variable instances get, and that names an existing memcached (`host:port`). */
export const MEMCACHED_URL_VARIABLE = INSTANCE_ENV.memcachedUrl;
const PORT_ATTEMPTS = 4;
const ANSWER_TIMEOUT_MS = 1_000;

export interface MemcachedEngineOptions extends EngineContext {
  /** `engines.memcached.memoryMb` of the config. */
  memoryMb: number;
  /** `app.restart` of the config. */
  restart: { initialMs: number; maxMs: number };
  emit: (event: SupervisorEvent) => void;
  clock?: Clock;
}

/** One memcached process the runtime started. */
interface MemcachedRun extends ProcessRun {
  readonly host: string;
  readonly port: number;
  isRunning(): boolean;
}

/**
 * Memcached, only when the config asks for it (`engines.memcached`): `MEMCACHED_URL`
 * when set, else a `memcached` from the PATH on a free loopback port, restarted on the
 * same port when it crashes (empty: memcached keeps nothing on disk, so a restart
 * only costs misses). Instances get `MEMCACHED_URL=host:port`.
 */
export class MemcachedEngine implements Engine {
  readonly role = 'memcached';
  readonly #options: MemcachedEngineOptions;
  #source: EngineSource = 'none';
  #url: string | undefined;
  #server: SupervisedProcess<MemcachedRun> | undefined;

  constructor(options: MemcachedEngineOptions) {
    this.#options = options;
  }

  get source(): EngineSource {
    return this.#source;
  }

  async start(): Promise<void> {
    const { env, step, emit, dir, memoryMb } = this.#options;
    const given = env[MEMCACHED_URL_VARIABLE];
    if (given !== undefined && given !== '') {
      const [host, port] = splitHostPort(given);
      if (!await answersVersion(host, port)) {
        throw new EngineUnreachableError(MEMCACHED_URL_VARIABLE, `memcache://${given}`, 'no answer to "version"');
      }
      this.#url = given;
      this.#source = 'external';
      step(`memcached: ${given} (${MEMCACHED_URL_VARIABLE})`);
      return;
    }
    const binary = findMemcached(env.PATH);
    if (binary === undefined) {
      throw new MemcachedStartError(`engines.memcached is set but there is no memcached on the PATH and no ${MEMCACHED_URL_VARIABLE}`);
    }
    // Its working folder: how a memcached left by an earlier run is found.
    const workDir = join(dir, '.scaleout', 'memcached');
    // A restart keeps the port: instances hold MEMCACHED_URL, and their clients reconnect to it.
    let port: number | undefined;
    const supervised = new SupervisedProcess<MemcachedRun>({
      name: 'memcached',
      source: 'memcached',
      start: async () => {
        const run = await startMemcached({
          binary, workDir, memoryMb, ...(port === undefined ? {} : { port }),
          onLeftover: (pid) => emit({ level: 'warn', source: 'memcached', message: `stopped memcached pid ${pid}, left running in ${workDir} by an earlier run` }),
        });
        port = run.port;
        return run;
      },
      restart: this.#options.restart,
      immediate: MEMCACHED_IMMEDIATE_RESTARTS,
      restartNote: 'on the same port (empty: cached items are lost)',
      emit,
      ...(this.#options.clock === undefined ? {} : { clock: this.#options.clock }),
    });
    const run = await supervised.start();
    this.#server = supervised;
    this.#url = `${run.host}:${run.port}`;
    this.#source = 'spawned';
    step(`memcached: memcached on ${this.#url} (pid ${run.pid ?? '?'}, ${memoryMb} MB)`);
  }

  url(): string | undefined {
    return this.#url;
  }

  env(): Record<string, string> {
    return this.#url === undefined ? {} : { [MEMCACHED_URL_VARIABLE]: this.#url };
  }

  async health(): Promise<boolean> {
    if (this.#url === undefined) return false;
    const [host, port] = splitHostPort(this.#url);
    return answersVersion(host, port);
  }

  status(): ProcessStatus[] {
    const supervised = this.#server;
    const run = supervised?.run;
    if (supervised !== undefined && run !== undefined) {
      const lastExit = supervised.lastExit;
      return [{
        role: 'memcached', id: 'memcached', pid: run.isRunning() ? run.pid ?? null : null, address: `${run.host}:${run.port}`, buildId: null,
        state: supervised.state, detail: `memcached${lastExit === undefined ? '' : `, last exit: ${lastExit}`}`, restarts: supervised.restarts,
      }];
    }
    if (this.#url !== undefined && this.#source === 'external') {
      return [{ role: 'memcached', id: 'memcached', pid: null, address: this.#url, buildId: null, state: 'external', detail: MEMCACHED_URL_VARIABLE }];
    }
    return [];
  }

  processes(): ProcessStatus[] {
    return this.status();
  }

  async stop(): Promise<void> {
    await this.#server?.stop();
  }

  kill(): void {
    this.#server?.kill();
  }
}

/** The `memcached` executable on the PATH, if any. */
export function findMemcached(path = process.env.PATH ?? ''): string | undefined {
  return findExecutable('memcached', path);
}

function splitHostPort(hostPort: string): [string, number] {
  const colon = hostPort.lastIndexOf(':');
  return colon < 0 ? [hostPort, 11211] : [hostPort.slice(0, colon).replace(/^\[|\]$/g, ''), Number(hostPort.slice(colon + 1))];
}

interface StartOptions {
  binary: string;
  workDir: string;
  memoryMb: number;
  port?: number;
  onLeftover: (pid: number) => void;
}

async function startMemcached(options: StartOptions): Promise<MemcachedRun> {
  mkdirSync(options.workDir, { recursive: true });
  // A leftover holds no data worth keeping, but would hold the port instances know.
  for (const pid of (await processesUsing(options.workDir)).filter((p) => commandOf(p) === 'memcached')) {
    signal(pid, 'SIGKILL');
    options.onLeftover(pid);
  }
  const portTaken = (err: unknown): boolean => err instanceof MemcachedStartError && /Address already in use|failed to listen/i.test(err.message);
  return onFreePort('127.0.0.1', options.port, PORT_ATTEMPTS, portTaken, (port) => startOnce(options, '127.0.0.1', port));
}

async function startOnce(options: StartOptions, host: string, port: number): Promise<MemcachedRun> {
  const logFile = join(options.workDir, 'memcached.log');
  // -U 0: no UDP (an amplification vector, and unused); memcached refuses to run as root without -u.
  const args = ['-l', host, '-p', String(port), '-U', '0', '-m', String(options.memoryMb)];
  if (process.getuid?.() === 0) args.push('-u', 'root');
  return spawnServer({
    name: 'memcached', binary: options.binary, args, cwd: options.workDir, logFile, host, port,
    startTimeoutMs: MEMCACHED_START_TIMEOUT_MS,
    stopTimeoutMs: MEMCACHED_STOP_TIMEOUT_MS,
    answeringPid: statsPid,
    check: 'answer',
    error: (message, errorOptions) => new MemcachedStartError(message, errorOptions),
  });
}

/** One text-protocol command on a fresh connection; resolves with the reply up to `until`, or undefined. */
function ask(host: string, port: number, command: string, until: RegExp): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let reply = '';
    const done = (answer: string | undefined): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => done(undefined), ANSWER_TIMEOUT_MS);
    socket.once('connect', () => socket.write(command));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (until.test(reply)) done(reply);
    });
    socket.once('error', () => done(undefined));
    socket.once('close', () => done(undefined));
  });
}

async function answersVersion(host: string, port: number): Promise<boolean> {
  return (await ask(host, port, 'version\r\n', /\r\n/))?.startsWith('VERSION') ?? false;
}

async function statsPid(host: string, port: number): Promise<number | undefined> {
  const reply = await ask(host, port, 'stats\r\n', /END\r\n|ERROR/);
  const match = reply === undefined ? null : /STAT pid (\d+)/.exec(reply);
  return match === null ? undefined : Number(match[1]);
}
