import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../../support/free-port.js';
import { waitFor } from '../../support/wait-for.js';

/**
 * A test-owned redis-server with the append-only file on (`appendfsync everysec`) in a
 * temporary folder, that a test can SIGKILL and start again from its AOF.
 */
export class DurableRedis {
  readonly port: number;
  readonly dir: string;
  #child: ChildProcess | undefined;

  private constructor(port: number, dir: string) {
    this.port = port;
    this.dir = dir;
  }

  static async start(): Promise<DurableRedis> {
    const server = new DurableRedis(await freePort(), await mkdtemp(join(tmpdir(), 'scaleout-aof-')));
    await server.restart();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async restart(): Promise<void> {
    if (this.#child !== undefined) return;
    const child = spawn('redis-server', [
      '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '',
      '--appendonly', 'yes', '--appendfsync', 'everysec',
    ], { stdio: 'ignore' });
    this.#child = child;
    child.once('exit', () => { if (this.#child === child) this.#child = undefined; });
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

  /** SIGKILL: the process dies; what it wrote to the AOF is in the kernel's page cache and survives. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    this.#child = undefined;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  async destroy(): Promise<void> {
    await this.kill();
    await rm(this.dir, { recursive: true, force: true });
  }
}
