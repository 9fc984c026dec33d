import type { Clock } from '../internal/clock.js';
import { systemClock } from '../internal/clock.js';
import type { ExitInfo } from './app-process.js';
import { describeExit } from './app-process.js';
import type { SupervisorEvent } from './events.js';
import { RestartTimer } from './restart-timer.js';
import type { ProcessState } from './status.js';

/** One run of a supervised process: what {@link SupervisedProcessOptions.start} resolves with. */
export interface ProcessRun {
  readonly pid: number | undefined;
  /** Resolves once the process is gone. */
  readonly exited: Promise<ExitInfo>;
  /** Graceful stop; resolves once it is gone. */
  stop(): Promise<void>;
  /** SIGKILL now. */
  kill(): void;
  /** Why it crashed, in the process's own words (a stack), when it said so before exiting. */
  crashReport?(): string | undefined;
}

export interface SupervisedProcessOptions<R extends ProcessRun> {
  /** How it is named in events: `redis-server`, `the balancer`. */
  name: string;
  /** The `source` of its events, its id in `scaleout status`. @defaultValue name */
  source?: string;
  /** Starts one run; resolves once it serves. */
  start: () => Promise<R>;
  /** Restart backoff (`app.restart`). */
  restart: { initialMs: number; maxMs: number };
  /** The first crashes of a series restart at once. @defaultValue 0 */
  immediate?: number;
  /** What a restart keeps, for the event: `on the same port (append-only file kept)`; a function is asked at each crash. */
  restartNote?: string | (() => string);
  /**
   * false: exits are restarted only once {@link SupervisedProcess.supervise} was called
   * (an app instance: once it is in service); an exit before that is only recorded.
   * @defaultValue true
   */
  superviseAtStart?: boolean;
  emit: (event: SupervisorEvent) => void;
  /**
   * Asked at each exit of a supervised run: true holds the restart, and the owner
   * starts the next run with {@link SupervisedProcess.restartNow} when it is time (a
   * PostgreSQL primary waits for a replica's promotion, then comes back rebuilt).
   * @defaultValue never held
   */
  holdRestart?: (run: R, exit: ExitInfo) => boolean;
  /** A supervised run exited without being asked to; called before its restart is scheduled. */
  onCrash?: (run: R, how: string) => void;
  /** A run replaced a crashed one. */
  onRestarted?: (run: R) => void;
  /** @defaultValue systemClock */
  clock?: Clock;
}

/**
 * A process the supervisor keeps running: a run that exits without being asked to is
 * logged (with its crash report) and started again after a backoff; the first crashes
 * of a series may restart at once. The one implementation of restarts: app
 * instances, the balancer and spawned engines each hold one and add only what is
 * theirs (an instance: its pool membership, through the hooks).
 *
 *     start ─► running ─exit─► restarting ─delay─► starting ─► running ...
 *                  └─stop()─► stopped                     └─fails─► restarting
 */
export class SupervisedProcess<R extends ProcessRun> {
  readonly #options: SupervisedProcessOptions<R>;
  readonly #restartTimer: RestartTimer;
  #run: R | undefined;
  #state: ProcessState = 'stopped';
  #restarting: Promise<void> | undefined;
  #stopped = false;
  #restarts = 0;
  #lastExit: string | undefined;
  #supervising: boolean;
  /** The current run's exit, once it exited. */
  #runExit: ExitInfo | undefined;

  constructor(options: SupervisedProcessOptions<R>) {
    this.#options = options;
    this.#supervising = options.superviseAtStart ?? true;
    this.#restartTimer = new RestartTimer({ ...options.restart, immediate: options.immediate ?? 0, clock: options.clock ?? systemClock });
  }

  /** The first run; a failure here is the caller's (nothing is retried). */
  async start(): Promise<R> {
    this.#state = 'starting';
    const run = await this.#options.start();
    this.#adopt(run);
    return run;
  }

  /** The current run (the last one while in backoff). */
  get run(): R | undefined {
    return this.#run;
  }

  get state(): ProcessState {
    return this.#state;
  }

  /** Restarts after crashes so far. */
  get restarts(): number {
    return this.#restarts;
  }

  /** How the last unrequested exit went, e.g. `killed by SIGKILL`. */
  get lastExit(): string | undefined {
    return this.#lastExit;
  }

  /** From now on exits are restarted; a run that already exited is restarted now. */
  supervise(): void {
    if (this.#supervising) return;
    this.#supervising = true;
    const run = this.#run;
    if (run !== undefined && this.#runExit !== undefined && !this.#stopped) this.#crashed(run, this.#runExit);
  }

  #adopt(run: R): void {
    this.#run = run;
    this.#runExit = undefined;
    this.#state = 'running';
    this.#restartTimer.markHealthy();
    void run.exited.then((exit) => this.#onExit(run, exit));
  }

  #onExit(run: R, exit: ExitInfo): void {
    if (run !== this.#run || this.#stopped) return;
    this.#runExit = exit;
    this.#lastExit = describeExit(exit);
    if (!this.#supervising || this.#options.holdRestart?.(run, exit) === true) {
      this.#state = 'stopped';
      return;
    }
    this.#crashed(run, exit);
  }

  #crashed(run: R, exit: ExitInfo): void {
    const how = describeExit(exit);
    this.#options.onCrash?.(run, how);
    this.#scheduleRestart({ kind: 'process-exited', exit: how, crashReport: run.crashReport?.() ?? null });
  }

  #scheduleRestart(what: { kind: 'process-exited'; exit: string; crashReport: string | null } | { kind: 'process-start-failed'; reason: string }): void {
    const delayMs = this.#restartTimer.schedule(() => this.#restart());
    this.#state = 'restarting';
    const { name, source = name, restartNote } = this.#options;
    const note = typeof restartNote === 'function' ? restartNote() : restartNote ?? null;
    this.#options.emit({ ...what, source, name, restartInMs: delayMs, note, crashesInARow: this.#restartTimer.crashesInARow });
  }

  #restart(): void {
    if (this.#stopped) return;
    this.#state = 'starting';
    this.#restarting = this.#options.start().then((run) => {
      if (this.#stopped) {
        run.kill();
        return;
      }
      this.#restarts++;
      this.#adopt(run);
      const { name, source = name } = this.#options;
      this.#options.emit({ kind: 'process-restarted', source, name, pid: run.pid ?? null });
      this.#options.onRestarted?.(run);
    }, (err: unknown) => {
      if (this.#stopped) return;
      this.#scheduleRestart({ kind: 'process-start-failed', reason: String((err as Error)?.message ?? err).split('\n')[0] ?? '' });
    }).finally(() => {
      this.#restarting = undefined;
    });
  }

  /**
   * A new run now, through `start`, in place of the current one (whose exit is no
   * longer watched) and of a pending restart; after a restart in progress ended. When
   * it fails, the next attempt is scheduled with backoff, as after a crash, and the
   * error is thrown to the caller.
   */
  async restartNow(): Promise<R> {
    while (this.#restarting !== undefined) await this.#restarting;
    if (this.#stopped) throw new Error(`${this.#options.name} is stopped`);
    this.#restartTimer.cancel();
    this.#run = undefined;
    this.#state = 'starting';
    const attempt = this.#options.start().then((run) => {
      if (this.#stopped) {
        run.kill();
        throw new Error(`${this.#options.name} was stopped meanwhile`);
      }
      this.#adopt(run);
      return run;
    }, (err: unknown) => {
      if (!this.#stopped) this.#scheduleRestart({ kind: 'process-start-failed', reason: String((err as Error)?.message ?? err).split('\n')[0] ?? '' });
      throw err;
    });
    this.#restarting = attempt.then(() => undefined, () => undefined).finally(() => {
      this.#restarting = undefined;
    });
    return attempt;
  }

  /** No more restarts; resolves once a restart in progress ended. The run keeps running. */
  async stopRestarts(): Promise<void> {
    this.#stopped = true;
    this.#restartTimer.cancel();
    await this.#restarting;
  }

  /** No more restarts; a graceful stop of the current run (after a restart in progress ends). */
  async stop(): Promise<void> {
    await this.stopRestarts();
    await this.#run?.stop();
    this.#state = 'stopped';
  }

  /** No more restarts; SIGKILL now. */
  kill(): void {
    this.#stopped = true;
    this.#restartTimer.cancel();
    this.#run?.kill();
    this.#state = 'stopped';
  }
}
