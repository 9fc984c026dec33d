import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { answersPing } from '../../src/runtime/engines/redis-server.js';
import { freePort } from './free-port.js';
import { waitFor } from './wait-for.js';

/** A throwaway redis-server on its own port, without persistence, that tests can kill and restart. */
export class RedisServer {
  readonly port: number;
  #child: ChildProcess | undefined;

  private constructor(port: number) {
    this.port = port;
  }

  static async start(port?: number): Promise<RedisServer> {
    const server = new RedisServer(port ?? await freePort());
    await server.restart();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async restart(): Promise<void> {
    if (this.#child !== undefined) return;
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    this.#child = child;
    child.once('exit', () => { if (this.#child === child) this.#child = undefined; });
    await waitFor(`redis-server on port ${this.port}`, () => answersPing('127.0.0.1', this.port, 500));
  }

  /** SIGKILL: the engine vanishes the way a crashed host does, without closing connections politely. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    this.#child = undefined;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}
