import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { trackChild } from '../child-registry.js';
import { findExecutable } from '../engines/find-executable.js';
import type { ExitInfo } from '../app-process.js';
import type { SupervisorEvent } from '../events.js';
import type { ProcessStatus } from '../status.js';
import { SupervisedProcess } from '../supervised-process.js';
import type { ProcessRun } from '../supervised-process.js';
import { VipConfigError, KeepalivedStartError } from './errors.js';
import { checkScript, checkVipOptions, keepalivedConfig, VRRP_INSTANCE } from './keepalived-config.js';
import type { VipOptions } from './keepalived-config.js';

/** How often the guard checks the local balancer. @defaultValue 100 */
export const DEFAULT_VIP_CHECK_INTERVAL_MS = 100;
/** Failed checks in a row before the guard gives the address up; passed checks before it takes part again. @defaultValue 2 */
export const VIP_CHECK_FALL = 2;
/** keepalived that says nothing about its VRRP instance in this time failed to start. @defaultValue 10000 */
export const KEEPALIVED_START_TIMEOUT_MS = 10_000;

/** What keepalived says its VRRP instance is; `unknown` before it said anything. */
export type VipState = 'master' | 'backup' | 'fault' | 'stopped' | 'unknown';

export interface FloatingAddressOptions {
  vip: VipOptions;
  /** The local balancer's health check: an HTTP GET through it. */
  check: { host: string; port: number; path: string };
  /** A folder only root may write: keepalived's config, pid files, track file and check script. */
  dir: string;
  /** @defaultValue {@link DEFAULT_VIP_CHECK_INTERVAL_MS} */
  checkIntervalMs?: number;
  restart: { initialMs: number; maxMs: number };
  emit: (event: SupervisorEvent) => void;
  /** @defaultValue the `keepalived` on the PATH or in /usr/sbin */
  binary?: string;
}

interface KeepalivedRun extends ProcessRun {
  readonly lines: string[];
}

/**
 * One machine's part of a balancer pair's floating address: keepalived (VRRP) under
 * supervision, plus a guard that checks the local balancer every 100 ms and tells
 * keepalived through its track file. While the balancer fails its check, keepalived
 * is in FAULT: it holds no address and advertises priority 0, so the peer takes the
 * address over at once.
 *
 *     guard ──GET /healthz every 100 ms──► local balancer
 *       │ 2 fails: "1" / 2 passes: "0"
 *       ▼
 *     track file ──inotify──► keepalived ◄──VRRPv3 adverts (unicast)──► peer's keepalived
 */
export class FloatingAddress {
  readonly #options: FloatingAddressOptions;
  readonly #process: SupervisedProcess<KeepalivedRun>;
  readonly #files: { config: string; trackFile: string; checkScript: string; pid: string; vrrpPid: string };
  #state: VipState = 'unknown';
  #healthy: boolean | undefined;
  #guard: Promise<void> | undefined;
  #stopped = false;

  constructor(options: FloatingAddressOptions) {
    const problem = checkVipOptions(options.vip);
    if (problem !== undefined) throw new VipConfigError(problem);
    if (!/^[A-Za-z0-9.-]{1,253}$/.test(options.check.host) || !/^\/[A-Za-z0-9._~/-]*$/.test(options.check.path) || !Number.isInteger(options.check.port)) {
      throw new VipConfigError(`the balancer check ${options.check.host}:${options.check.port}${options.check.path} must be host:port and a plain path such as /healthz`);
    }
    this.#options = options;
    const { dir } = options;
    this.#files = {
      config: join(dir, 'keepalived.conf'),
      trackFile: join(dir, 'balancer-health'),
      checkScript: join(dir, 'check-balancer.sh'),
      pid: join(dir, 'keepalived.pid'),
      vrrpPid: join(dir, 'vrrp.pid'),
    };
    this.#process = new SupervisedProcess<KeepalivedRun>({
      name: 'keepalived',
      source: 'keepalived',
      start: () => this.#startKeepalived(),
      restart: options.restart,
      immediate: 2,
      restartNote: 'with the same config (it starts as backup)',
      emit: options.emit,
    });
  }

  /** What keepalived last said: whether this machine holds the address. */
  get state(): VipState {
    return this.#state;
  }

  /** Writes keepalived's files, starts it and the guard; resolves once keepalived reported its first state. */
  async start(): Promise<void> {
    mkdirSync(this.#options.dir, { recursive: true, mode: 0o700 });
    chmodSync(this.#options.dir, 0o700);
    const { check } = this.#options;
    writeFileSync(this.#files.checkScript, checkScript(check.host, check.port, check.path), { mode: 0o700 });
    writeFileSync(this.#files.config, keepalivedConfig(this.#options.vip, this.#files), { mode: 0o600 });
    // Not healthy until the guard saw the balancer answer.
    writeFileSync(this.#files.trackFile, '1\n', { mode: 0o600 });
    this.#guard = this.#runGuard();
    try {
      await this.#process.start();
    } catch (err) {
      this.#stopped = true;
      await this.#guard;
      throw err;
    }
  }

  async #startKeepalived(): Promise<KeepalivedRun> {
    const binary = this.#options.binary ?? findExecutable('keepalived', `${process.env.PATH ?? ''}:/usr/sbin:/sbin`);
    if (binary === undefined) throw new KeepalivedStartError('no keepalived on the PATH; install it (Debian: apt-get install keepalived)');
    const args = ['--dont-fork', '--log-console', '--vrrp', '--use-file', this.#files.config, '--pid', this.#files.pid, '--vrrp_pid', this.#files.vrrpPid];
    this.#state = 'unknown';
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    trackChild(child);
    const lines: string[] = [];
    let firstState: (() => void) | undefined;
    const reported = new Promise<void>((resolve) => {
      firstState = resolve;
    });
    const onLine = (line: string): void => {
      lines.push(line);
      if (lines.length > 50) lines.shift();
      const entered = new RegExp(`\\(${VRRP_INSTANCE}\\) Entering (MASTER|BACKUP|FAULT) STATE`).exec(line);
      if (entered === null) return;
      const state = entered[1]!.toLowerCase() as VipState;
      if (state === this.#state) return;
      this.#state = state;
      firstState?.();
      this.#options.emit({ kind: 'vip-state', source: 'keepalived', address: this.#options.vip.address, state, pid: child.pid ?? null });
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', onLine);
    const exited = new Promise<ExitInfo>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', () => resolve({ code: null, signal: null }));
    });
    void exited.then(() => {
      if (this.#stopped) this.#state = 'stopped';
    });
    const outcome = await Promise.race([reported.then(() => 'ok' as const), exited.then(() => 'exited' as const), delay(KEEPALIVED_START_TIMEOUT_MS).then(() => 'timeout' as const)]);
    if (outcome !== 'ok') {
      child.kill('SIGKILL');
      await exited;
      throw new KeepalivedStartError(`keepalived ${outcome === 'exited' ? 'exited during startup' : `reported no state within ${KEEPALIVED_START_TIMEOUT_MS} ms`}; it said:\n${lines.slice(-10).join('\n')}`);
    }
    return {
      pid: child.pid,
      exited,
      lines,
      // SIGTERM: keepalived removes the address and advertises priority 0 on its way out.
      stop: async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        const done = await Promise.race([exited.then(() => true), delay(5_000).then(() => false)]);
        if (!done) child.kill('SIGKILL');
        await exited;
      },
      kill: () => child.kill('SIGKILL'),
      crashReport: () => lines.slice(-5).join('\n') || undefined,
    };
  }

  async #runGuard(): Promise<void> {
    const interval = this.#options.checkIntervalMs ?? DEFAULT_VIP_CHECK_INTERVAL_MS;
    let passes = 0;
    let fails = 0;
    while (!this.#stopped) {
      const started = performance.now();
      const ok = await probe(this.#options.check, Math.max(interval * 3, 300));
      if (ok) {
        passes++;
        fails = 0;
      } else {
        fails++;
        passes = 0;
      }
      const verdict = this.#healthy !== true && passes >= VIP_CHECK_FALL ? true : this.#healthy !== false && fails >= VIP_CHECK_FALL ? false : undefined;
      if (verdict !== undefined && !this.#stopped) {
        this.#healthy = verdict;
        writeFileSync(this.#files.trackFile, verdict ? '0\n' : '1\n');
        const { host, port, path } = this.#options.check;
        this.#options.emit({
          source: 'keepalived', level: verdict ? 'info' : 'warn',
          message: verdict
            ? `the balancer answers http://${host}:${port}${path}: this machine may hold ${this.#options.vip.address}`
            : `the balancer fails http://${host}:${port}${path}: giving ${this.#options.vip.address} up to a peer`,
        });
      }
      await delay(Math.max(0, interval - (performance.now() - started)));
    }
  }

  /** Its line in `scaleout status`. */
  processes(): ProcessStatus[] {
    const run = this.#process.run;
    return [{
      role: 'keepalived',
      id: 'keepalived',
      pid: run?.pid ?? null,
      address: this.#options.vip.address,
      buildId: null,
      state: this.#process.state,
      detail: `VRRP ${this.#state}, priority ${this.#options.vip.priority}, balancer ${this.#healthy === true ? 'healthy' : this.#healthy === false ? 'failing' : 'not checked yet'}`,
      restarts: this.#process.restarts,
    }];
  }

  /** Stops the guard and keepalived (which gives the address up to a peer at once). */
  async stop(): Promise<void> {
    this.#stopped = true;
    const pid = this.#process.run?.pid ?? null;
    await this.#process.stop();
    await this.#guard;
    this.#state = 'stopped';
    this.#options.emit({ kind: 'vip-state', source: 'keepalived', address: this.#options.vip.address, state: 'stopped', pid });
  }

  /** SIGKILL keepalived now (its VRRP child still removes the address as it exits). */
  kill(): void {
    this.#stopped = true;
    this.#process.kill();
  }
}

function probe(check: { host: string; port: number; path: string }, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: check.host, port: check.port, path: check.path, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve(status >= 200 && status < 400);
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', () => resolve(false));
  });
}
