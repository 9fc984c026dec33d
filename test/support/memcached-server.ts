import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { freePort } from './free-port.js';
import { waitFor } from './wait-for.js';

const MEMCACHED = '/usr/bin/memcached';

function answersVersion(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.setTimeout(500, () => { socket.destroy(); resolve(false); });
    socket.on('error', () => resolve(false));
    socket.on('connect', () => socket.write('version\r\n'));
    socket.on('data', (chunk) => {
      data += chunk.toString();
      if (data.includes('\r\n')) { socket.destroy(); resolve(data.startsWith('VERSION')); }
    });
  });
}

/** A memcached of the test's own on a free port (TCP only), that tests can kill and restart. */
export class MemcachedServer {
  readonly port: number;
  #child: ChildProcess | undefined;

  private constructor(port: number) {
    this.port = port;
  }

  static async start(): Promise<MemcachedServer> {
    const server = new MemcachedServer(await freePort());
    await server.restart();
    return server;
  }

  get servers(): string {
    return `127.0.0.1:${this.port}`;
  }

  async restart(): Promise<void> {
    if (this.#child !== undefined) return;
    if (!existsSync(MEMCACHED)) {
      throw new Error(`${MEMCACHED} is missing: run \`npm test\` once as root (it installs Debian's memcached) or \`apt-get install -y memcached\``);
    }
    // -U 0: no UDP; -u root: memcached refuses to run as root otherwise.
    const child = spawn(MEMCACHED, ['-p', String(this.port), '-l', '127.0.0.1', '-U', '0', '-u', 'root', '-m', '64'], { stdio: 'ignore' });
    this.#child = child;
    child.once('exit', () => { if (this.#child === child) this.#child = undefined; });
    await waitFor(`memcached on port ${this.port}`, () => answersVersion(this.port));
  }

  /** SIGSTOP / SIGCONT: the engine keeps its connections open and stops answering, like a hung host. */
  pause(): void {
    this.#child?.kill('SIGSTOP');
  }

  resume(): void {
    this.#child?.kill('SIGCONT');
  }

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
