import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { answersPing } from '../../src/runtime/engines/redis-server.js';
import { freePort } from './free-port.js';
import { waitFor } from './wait-for.js';

export interface RedisServerOptions {
  /** @defaultValue a free port */
  port?: number;
  /**
   * The append-only file on (`appendfsync everysec`) in a temporary folder: a SIGKILL
   * then loses nothing that Redis had answered (it is in the kernel's page cache), and
   * `restart()` loads it back. @defaultValue false (no persistence)
   */
  appendonly?: boolean;
}

/** A throwaway redis-server on its own port, that tests can kill and restart. */
export class RedisServer {
  readonly port: number;
  /** The AOF's folder (appendonly), else undefined. */
  readonly dir: string | undefined;
  #child: ChildProcess | undefined;

  private constructor(port: number, dir: string | undefined) {
    this.port = port;
    this.dir = dir;
  }

  static async start(options: number | RedisServerOptions = {}): Promise<RedisServer> {
    const o = typeof options === 'number' ? { port: options } : options;
    const dir = o.appendonly === true ? await mkdtemp(join(tmpdir(), 'scaleout-aof-')) : undefined;
    const server = new RedisServer(o.port ?? await freePort(), dir);
    await server.restart();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async restart(): Promise<void> {
    if (this.#child !== undefined) return;
    const persistence = this.dir === undefined
      ? ['--appendonly', 'no']
      : ['--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'everysec'];
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', ...persistence], {
      stdio: 'ignore',
    });
    this.#child = child;
    child.once('exit', () => { if (this.#child === child) this.#child = undefined; });
    if (this.dir === undefined) {
      await waitFor(`redis-server on port ${this.port}`, () => answersPing('127.0.0.1', this.port, 500));
      return;
    }
    // Ready once it answers and has loaded its AOF.
    await waitFor(`redis-server on port ${this.port}`, async () => {
      const probe = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        return (await probe.info('persistence')).includes('loading:0');
      } finally {
        probe.disconnect();
      }
    });
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

  /** Kill it and remove its AOF folder, if any. */
  async destroy(): Promise<void> {
    await this.kill();
    if (this.dir !== undefined) await rm(this.dir, { recursive: true, force: true });
  }
}
