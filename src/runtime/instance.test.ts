import { describe, expect, it } from 'vitest';
import { systemClock } from '../internal/clock.js';
import { waitFor } from '../../test/support/wait-for.js';
import type { AppProcess, ExitInfo } from './app-process.js';
import type { BalancerAdminClient } from './balancer-admin-client.js';
import { eventMessage } from './event-text.js';
import type { SupervisorEvent } from './events.js';
import { Instance } from './instance.js';

/** What an Instance uses of an AppProcess: healthy at once, exits when told to. */
class FakeProcess {
  static nextPort = 5000;
  readonly pid = FakeProcess.nextPort;
  readonly port = FakeProcess.nextPort;
  readonly address = `127.0.0.1:${FakeProcess.nextPort++}`;
  readonly exited: Promise<ExitInfo>;
  running = true;
  #exit: (info: ExitInfo) => void = () => {};

  /** Whether this one exits at start because another process took its port. */
  readonly losesPort: boolean;

  constructor(losesPort = false) {
    this.exited = new Promise((resolve) => (this.#exit = resolve));
    this.losesPort = losesPort;
  }

  async waitHealthy(): Promise<void> {
    if (!this.losesPort) return;
    this.crash();
    throw new Error(`listen EADDRINUSE: address already in use ${this.address}`);
  }

  lostPortRace(): boolean {
    return this.losesPort;
  }

  crash(): void {
    this.running = false;
    this.#exit({ code: 1, signal: null });
  }

  async stop(): Promise<ExitInfo> {
    this.crash();
    return this.exited;
  }

  kill(): void {
    this.running = false;
    this.#exit({ code: null, signal: 'SIGKILL' });
  }
}

function instance(failSpawns: number[] = [], drain: () => Promise<void> = async () => {}, losePorts: number[] = []): { instance: Instance; procs: FakeProcess[]; pool: Set<string>; events: SupervisorEvent[] } {
  const procs: FakeProcess[] = [];
  const pool = new Set<string>();
  const events: SupervisorEvent[] = [];
  let spawns = 0;
  const admin = {
    addServer: async (_pool: string, server: { address: string }) => void pool.add(server.address),
    removeServer: async () => {
      pool.clear();
    },
    drain,
    serverState: async () => undefined,
  } as unknown as BalancerAdminClient;
  const created = new Instance('app-1', 'build', 'app', {
    admin: () => admin,
    spawn: async () => {
      if (failSpawns.includes(++spawns)) throw new Error('port in use\nmore detail');
      const proc = new FakeProcess(losePorts.includes(spawns));
      procs.push(proc);
      return proc as unknown as AppProcess;
    },
    healthPath: '/healthz',
    healthTimeoutMs: 1000,
    stopGraceMs: 1000,
    drainTimeoutMs: 1000,
    restart: { initialMs: 20, maxMs: 100 },
    clock: systemClock,
    emit: (event) => events.push(event),
  });
  return { instance: created, procs, pool, events };
}

describe('Instance', () => {
  it('leaves the pool when its process dies and rejoins with the restarted one', async () => {
    const { instance: app, procs, pool, events } = instance();
    await app.start();
    expect(app.state).toBe('starting');
    await app.join();
    expect(app.state).toBe('running');
    expect([...pool]).toEqual([procs[0]!.address]);
    procs[0]!.crash();
    await waitFor('the restart', () => procs.length === 2 && app.state === 'running');
    expect([...pool]).toEqual([procs[1]!.address]);
    expect(app.snapshot()).toMatchObject({ restarts: 1, detail: 'last exit: exited with code 1', address: procs[1]!.address });
    expect(events).toEqual([
      { kind: 'instance-exited', source: 'app-1', pool: 'app', exit: 'exited with code 1', restartInMs: 20 },
      { kind: 'instance-restarted', source: 'app-1', pool: 'app', pid: procs[1]!.pid, address: procs[1]!.address, restarts: 1 },
    ]);
    expect(events.map(eventMessage)).toEqual([
      'app-1 exited with code 1; left pool app, restarting in 20 ms',
      `app-1 restarted (pid ${procs[1]!.pid}, ${procs[1]!.address}) and rejoined pool app`,
    ]);
    await app.retire();
    expect(app.state).toBe('stopped');
    expect(pool.size).toBe(0);
  });

  it('reports a failed restart as an exit of the instance and rejoins with the next one', async () => {
    const { instance: app, procs, pool, events } = instance([2]);
    await app.start();
    await app.join();
    procs[0]!.crash();
    await waitFor('the second restart', () => procs.length === 2 && app.state === 'running', { timeoutMs: 5_000 });
    expect([...pool]).toEqual([procs[1]!.address]);
    expect(events).toEqual([
      expect.objectContaining({ kind: 'instance-exited', source: 'app-1', exit: 'exited with code 1' }),
      expect.objectContaining({ kind: 'instance-exited', source: 'app-1', exit: 'did not come back (port in use)' }),
      expect.objectContaining({ kind: 'instance-restarted', source: 'app-1', pool: 'app', restarts: 1 }),
    ]);
    await app.retire();
  });

  it('spawns again on a new port when another process took the picked one, without a restart', async () => {
    const { instance: app, procs, events } = instance([], undefined, [1, 2]);
    await app.start();
    await app.join();
    expect(procs).toHaveLength(3);
    expect(app.snapshot()).toMatchObject({ state: 'running', restarts: 0, address: procs[2]!.address });
    expect(events.map(eventMessage)).toEqual([
      `app-1: port ${procs[0]!.port} was taken before it bound it; starting it on another port`,
      `app-1: port ${procs[1]!.port} was taken before it bound it; starting it on another port`,
    ]);
    await app.retire();
  });

  it('gives up on the port after three spawns that each lost it', async () => {
    const { instance: app, procs } = instance([], undefined, [1, 2, 3]);
    await expect(app.start()).rejects.toThrow('EADDRINUSE');
    expect(procs).toHaveLength(3);
  });

  it('restarts nothing before it joined; a process that died meanwhile is taken out again once it joins', async () => {
    const { instance: app, procs, pool } = instance();
    await app.start();
    procs[0]!.crash();
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(procs).toHaveLength(1);
    await app.join();
    await waitFor('the restart', () => procs.length === 2 && app.state === 'running');
    expect([...pool]).toEqual([procs[1]!.address]);
    await app.retire();
  });

  it('is not restarted once retired', async () => {
    const { instance: app, procs } = instance();
    await app.start();
    await app.join();
    await app.retire();
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(procs).toHaveLength(1);
    expect(procs[0]!.running).toBe(false);
  });

  it('reports a draining instance as stopping, with detail draining, in the process vocabulary', async () => {
    let release: () => void = () => {};
    const drained = new Promise<void>((resolve) => (release = resolve));
    const { instance: app } = instance([], () => drained);
    await app.start();
    await app.join();
    expect(app.snapshot()).toMatchObject({ state: 'running' });
    const retired = app.retire();
    await waitFor('the drain', () => app.snapshot().detail === 'draining' || undefined);
    expect(app.snapshot()).toMatchObject({ state: 'stopping', detail: 'draining' });
    release();
    await retired;
    expect(app.snapshot()).toMatchObject({ state: 'stopped' });
    expect(app.snapshot().detail ?? '').not.toContain('draining');
  });
});
