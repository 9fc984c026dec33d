import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import { ControlClient, readSupervisorFile } from '../../../src/runtime/index.js';
import { appServiceKey, DEFAULT_SERVICE_BASE_DIR } from '../../../src/runtime/engines/service-dir.js';
import type { RuntimeStatus } from '../../../src/runtime/index.js';

export const REPO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const CLI_ENTRY = join(REPO_DIR, 'test/runtime/support/scaleout-cli.ts');
const BUILT_BIN = join(REPO_DIR, 'bin/scaleout.js');
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const FIXTURES = join(REPO_DIR, 'test/fixtures/apps');

/** Engines the machine runs; tests that need engines point the runtime at them. */
export const EXTERNAL_ENGINES = {
  REDIS_URL: 'redis://127.0.0.1:6379',
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test',
};

/** The environment without engine URLs, so nothing leaks in from the shell. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['REDIS_URL', 'DATABASE_URL', 'DATABASE_REPLICA_URLS', 'NODE_OPTIONS', 'CACHE_REDIS_URL', 'MEMCACHED_URL']) delete env[name];
  return { ...env, ...extra };
}

/** Copies a fixture app to a fresh temp folder and merges `config` into its scaleout.config.json. */
export async function copyApp(name: string, config: Record<string, unknown> = {}): Promise<string> {
  const dir = join(tmpdir(), `scaleout-rt-${name}-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(dir, { recursive: true });
  await cp(join(FIXTURES, name), dir, { recursive: true });
  const file = join(dir, 'scaleout.config.json');
  const base = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  await writeFile(file, JSON.stringify(merge(base, config), null, 2));
  return dir;
}

function merge(base: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    const current = out[key];
    out[key] = value !== null && typeof value === 'object' && !Array.isArray(value) && current !== null && typeof current === 'object' && !Array.isArray(current)
      ? merge(current as Record<string, unknown>, value as Record<string, unknown>)
      : value;
  }
  return out;
}

/** Changes the fixture's VERSION line: a new build. */
export async function bumpVersion(dir: string, version: string): Promise<void> {
  const file = join(dir, 'server.mjs');
  const text = await readFile(file, 'utf8');
  await writeFile(file, text.replace(/const VERSION = '[^']*';/, `const VERSION = '${version}';`));
}

export async function removeApp(dir: string): Promise<void> {
  // After a SIGKILL of the supervisor, its reaper may still be stopping PostgreSQL, which
  // writes into its data folder until it exits: retry a folder that filled up meanwhile.
  const retry = { recursive: true, force: true, maxRetries: 20, retryDelay: 100 };
  await rm(dir, retry);
  // As root with the app in a folder the server's user cannot enter, the embedded data lives there.
  await rm(join(DEFAULT_SERVICE_BASE_DIR, appServiceKey(dir)), retry);
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `scaleout <args>` from the sources to completion. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = cleanEnv(), timeoutMs = 120_000): Promise<CliResult> {
  const child = spawnCli(args, env);
  return collect(child, timeoutMs);
}

/** Runs the built command a user runs (`bin/scaleout.js`, which loads dist/) to completion. */
export function runBuiltCli(args: string[], env: NodeJS.ProcessEnv = cleanEnv(), timeoutMs = 120_000): Promise<CliResult> {
  return collect(spawnCli(args, env, true), timeoutMs);
}

function spawnCli(args: string[], env: NodeJS.ProcessEnv, built = false): ChildProcess {
  const entry = built ? [BUILT_BIN] : ['--import', TSX_LOADER, CLI_ENTRY];
  return spawn(process.execPath, [...entry, ...args], { cwd: REPO_DIR, env, stdio: ['ignore', 'pipe', 'pipe'] });
}

function collect(child: ChildProcess, timeoutMs: number): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolvePromise) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** A `scaleout up` process under test. */
export class UpProcess {
  readonly dir: string;
  readonly child: ChildProcess;
  readonly done: Promise<CliResult>;

  /** Everything written to stderr so far. */
  stderr = '';
  #exited = false;

  private constructor(dir: string, child: ChildProcess) {
    this.dir = dir;
    this.child = child;
    this.done = collect(child, 900_000);
    void this.done.then(() => (this.#exited = true));
    child.stderr?.on('data', (c: Buffer) => (this.stderr += c.toString()));
  }

  /** `scaleout up` from the sources (through tsx). */
  static start(dir: string, env: NodeJS.ProcessEnv = cleanEnv()): UpProcess {
    return new UpProcess(dir, spawnCli(['up', dir], env));
  }

  /** `scaleout up` as a user runs it: bin/scaleout.js over dist/. */
  static startBuilt(dir: string, env: NodeJS.ProcessEnv = cleanEnv()): UpProcess {
    return new UpProcess(dir, spawnCli(['up', dir], env, true));
  }

  get exited(): boolean {
    return this.#exited;
  }

  /** Resolves with the status once the supervisor runs; rejects if `up` exits first. */
  async waitRunning(timeoutMs = 90_000): Promise<RuntimeStatus> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      if (this.#exited) {
        const result = await this.done;
        throw new Error(`scaleout up exited with ${result.code} before running:\n${result.stdout}\n${result.stderr}`);
      }
      const file = readSupervisorFile(this.dir);
      if (file !== undefined && file.appUrl !== null) {
        const status = await this.status().catch(() => undefined);
        if (status?.state === 'running') return status;
      }
      await delay(100);
    }
    throw new Error(`scaleout up did not get to running within ${timeoutMs} ms`);
  }

  /** Rejects (never throws) when no supervisor answers, e.g. while a killed one's file is still there. */
  async status(): Promise<RuntimeStatus> {
    return ControlClient.connect(this.dir).status();
  }

  /** Sends `signal` and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<CliResult> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.done;
  }

  /** Like `stop`, but gives up after `timeoutMs` (undefined: still running). */
  async stopWithin(signal: NodeJS.Signals, timeoutMs: number): Promise<CliResult | undefined> {
    return Promise.race([this.stop(signal), delay(timeoutMs).then(() => undefined)]);
  }
}

/** True while the process runs (a zombie, dead but not yet reaped by its new parent, counts as gone). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export interface LoadResult {
  requests: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  resets: number;
}

/** Steady load through the balancer until `stop()`: a few connections at a capped rate. */
export function startLoad(url: string, options: { connections?: number; overallRate?: number; path?: string; headers?: Record<string, string> } = {}): { stop(): Promise<LoadResult> } {
  let finished: (result: LoadResult) => void = () => {};
  const result = new Promise<LoadResult>((resolvePromise) => (finished = resolvePromise));
  const instance = autocannon({
    url: new URL(options.path ?? '/', url).href,
    headers: options.headers ?? {},
    connections: options.connections ?? 4,
    overallRate: options.overallRate ?? 150,
    duration: 600,
    timeout: 10,
  }, (err, res) => {
    if (err !== null && err !== undefined) throw err;
    finished({ requests: res.requests.total, errors: res.errors, timeouts: res.timeouts, non2xx: res.non2xx, resets: res.resets });
  });
  return {
    stop: () => {
      instance.stop();
      return result;
    },
  };
}
