import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';

/** A TypeScript module run in a child process, answering `{ id, ... }` requests with `{ id, result | error }`. */
export class IpcChild {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #next = 1;
  readonly ready: Promise<unknown>;
  readonly exited: Promise<number | null>;
  /** Messages the child sent on its own (`id` -1). */
  readonly notes: unknown[] = [];

  constructor(file: string, args: string[]) {
    this.#child = fork(file, args, { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.exited = new Promise((resolve) => this.#child.once('exit', (code) => resolve(code)));
    this.#child.on('message', (m: { id: number; result?: unknown; error?: string }) => {
      if (m.id === -1) { this.notes.push(m); return; }
      const p = this.#pending.get(m.id);
      this.#pending.delete(m.id);
      if (m.error !== undefined) p?.reject(new Error(m.error));
      else p?.resolve(m.result);
    });
    this.ready = new Promise((resolve, reject) => {
      this.#pending.set(0, { resolve, reject });
      void this.exited.then((code) => reject(new Error(`child exited with ${code} before it was ready`)));
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  call(op: string, extra: object = {}): Promise<unknown> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#child.send({ id, op, ...extra });
    });
  }

  kill(signal: NodeJS.Signals): void {
    this.#child.kill(signal);
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    await Promise.race([this.call('close').catch(() => undefined), this.exited]);
    this.#child.kill();
    await this.exited;
  }
}
