import { describe, expect, it } from 'vitest';
import { waitFor } from '../../test/support/wait-for.js';
import type { ExitInfo } from './app-process.js';
import { eventMessage } from './event-text.js';
import type { SupervisorEvent } from './events.js';
import { SupervisedProcess } from './supervised-process.js';
import type { ProcessRun, SupervisedProcessOptions } from './supervised-process.js';

/** A run that exits when told to. */
class FakeRun implements ProcessRun {
  static nextPid = 1000;
  readonly pid = FakeRun.nextPid++;
  readonly exited: Promise<ExitInfo>;
  #exit: (info: ExitInfo) => void = () => {};
  report: string | undefined;
  stopped = false;

  constructor() {
    this.exited = new Promise((resolve) => (this.#exit = resolve));
  }

  crash(report?: string): void {
    this.report = report;
    this.#exit({ code: 70, signal: null });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.#exit({ code: 0, signal: null });
  }

  kill(): void {
    this.#exit({ code: null, signal: 'SIGKILL' });
  }

  crashReport(): string | undefined {
    return this.report;
  }
}

function supervised(immediate: number, more: Partial<SupervisedProcessOptions<FakeRun>> = {}): { process: SupervisedProcess<FakeRun>; runs: FakeRun[]; events: SupervisorEvent[] } {
  const runs: FakeRun[] = [];
  const events: SupervisorEvent[] = [];
  const process = new SupervisedProcess<FakeRun>({
    ...more,
    name: 'the thing',
    start: async () => {
      const run = new FakeRun();
      runs.push(run);
      return run;
    },
    restart: { initialMs: 200, maxMs: 1000 },
    immediate,
    restartNote: 'on the same port',
    emit: (event) => events.push(event),
  });
  return { process, runs, events };
}

describe('SupervisedProcess', () => {
  it('restarts the first crashes at once, then backs off, and says why each run ended', async () => {
    const { process, runs, events } = supervised(2);
    await process.start();
    for (let crash = 1; crash <= 2; crash++) {
      runs.at(-1)!.crash(crash === 1 ? 'Error: boom\n    at somewhere' : undefined);
      await waitFor(`restart ${crash}`, () => runs.length === crash + 1 && process.state === 'running');
    }
    expect(process.restarts).toBe(2);
    expect(events.filter((e) => 'kind' in e && e.kind === 'process-exited')).toEqual([
      { kind: 'process-exited', source: 'the thing', name: 'the thing', exit: 'exited with code 70', crashReport: 'Error: boom\n    at somewhere', restartInMs: 0, note: 'on the same port', crashesInARow: 1 },
      expect.objectContaining({ kind: 'process-exited', crashReport: null, crashesInARow: 2 }),
    ]);
    expect(events.filter((e) => 'kind' in e && e.kind === 'process-exited').map(eventMessage)).toEqual([
      'the thing exited with code 70 after an uncaught error:\nError: boom\n    at somewhere\n; restarting it now on the same port (crash 1 in a row)',
      'the thing exited with code 70; restarting it now on the same port (crash 2 in a row)',
    ]);
    runs.at(-1)!.crash();
    expect(process.state).toBe('running');
    await waitFor('the backoff', () => process.state === 'restarting');
    expect(eventMessage(events.at(-1)!)).toContain('restarting it in 200 ms');
    await waitFor('the third restart', () => runs.length === 4 && process.state === 'running', { timeoutMs: 5_000 });
    expect(process.lastExit).toBe('exited with code 70');
    await process.stop();
    expect(runs.at(-1)!.stopped).toBe(true);
    expect(process.state).toBe('stopped');
  });

  it('stops restarting once stopped, even in the middle of a backoff', async () => {
    const { process, runs } = supervised(0);
    await process.start();
    runs[0]!.crash();
    await waitFor('the backoff', () => process.state === 'restarting');
    await process.stop();
    // Past the 200 ms the restart was due after: nothing may start.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(runs).toHaveLength(1);
    expect(process.state).toBe('stopped');
  });

  it('restarts a run that exited before it was supervised once supervise() is called, telling onCrash first', async () => {
    const crashes: string[] = [];
    const { process, runs } = supervised(1, { superviseAtStart: false, onCrash: (_run, how) => crashes.push(how) });
    await process.start();
    runs[0]!.crash();
    await waitFor('the exit to be seen', () => process.lastExit !== undefined);
    expect(process.state).toBe('stopped');
    expect(runs).toHaveLength(1);
    expect(crashes).toEqual([]);
    process.supervise();
    expect(crashes).toEqual(['exited with code 70']);
    await waitFor('the restart', () => runs.length === 2 && process.state === 'running');
    runs[1]!.crash();
    await waitFor('the second restart', () => runs.length === 3, { timeoutMs: 5_000 });
    expect(crashes).toHaveLength(2);
    await process.stop();
  });

  it('stopRestarts() leaves the run running', async () => {
    const { process, runs } = supervised(0);
    await process.start();
    await process.stopRestarts();
    expect(runs[0]!.stopped).toBe(false);
    runs[0]!.crash();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(runs).toHaveLength(1);
    await process.stop();
    expect(runs[0]!.stopped).toBe(true);
  });

  it('holds the restart of an exit its owner asks to hold, until restartNow()', async () => {
    let hold = true;
    const { process, runs, events } = supervised(1, { holdRestart: () => hold });
    await process.start();
    runs[0]!.crash();
    await waitFor('the exit to be seen', () => process.lastExit !== undefined);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(process.state).toBe('stopped');
    expect(runs).toHaveLength(1);
    expect(events.filter((e) => 'kind' in e && e.kind === 'process-exited')).toEqual([]);
    hold = false;
    const run = await process.restartNow();
    expect(run).toBe(runs[1]);
    expect(process.state).toBe('running');
    // The replacement is supervised as any run: its crash is restarted.
    runs[1]!.crash();
    await waitFor('the restart', () => runs.length === 3 && process.state === 'running');
    await process.stop();
  });

  it('restartNow() replaces a running run without restarting the old one, and retries with backoff when the start fails', async () => {
    let fail = false;
    const runs: FakeRun[] = [];
    const events: SupervisorEvent[] = [];
    const process = new SupervisedProcess<FakeRun>({
      name: 'the thing',
      start: async () => {
        if (fail) throw new Error('no disk');
        const run = new FakeRun();
        runs.push(run);
        return run;
      },
      restart: { initialMs: 100, maxMs: 1000 },
      emit: (event) => events.push(event),
    });
    await process.start();
    await process.restartNow();
    runs[0]!.crash();
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(runs).toHaveLength(2);
    fail = true;
    await expect(process.restartNow()).rejects.toThrow('no disk');
    expect(process.state).toBe('restarting');
    expect(events.at(-1)).toMatchObject({ kind: 'process-start-failed', reason: 'no disk', restartInMs: 100 });
    fail = false;
    await waitFor('the retry', () => runs.length === 3 && process.state === 'running');
    await process.stop();
  });
});
