import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { waitFor } from './wait-for.js';

const PGBOUNCER = '/usr/sbin/pgbouncer';

/** uid and gid of a system user, from /etc/passwd. */
function userIds(name: string): { uid: number; gid: number } | undefined {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  if (line === undefined) return undefined;
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

/**
 * A PgBouncer of the test's own on a free port, in transaction pooling mode in front of
 * the local PostgreSQL's `test` database: each transaction of a client may run on
 * another server connection, so named prepared statements do not follow the client.
 */
export class PgBouncer {
  readonly port: number;
  readonly #dir: string;
  readonly #child: ChildProcess;

  private constructor(port: number, dir: string, child: ChildProcess) {
    this.port = port;
    this.#dir = dir;
    this.#child = child;
  }

  /** `postgres://postgres@127.0.0.1:<port>/test` */
  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/test`;
  }

  static async start(serverPoolSize = 3): Promise<PgBouncer> {
    if (!existsSync(PGBOUNCER)) {
      throw new Error(`${PGBOUNCER} is missing: run \`npm test\` once as root (it installs Debian's pgbouncer) or \`apt-get install -y pgbouncer\``);
    }
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'scaleout-pgbouncer-'));
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'users.txt'), '"postgres" ""\n');
    writeFileSync(join(dir, 'pgbouncer.ini'), [
      '[databases]',
      'test = host=127.0.0.1 port=5432 dbname=test user=postgres',
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir, 'users.txt')}`,
      'pool_mode = transaction',
      `default_pool_size = ${serverPoolSize}`,
      'max_client_conn = 200',
      'ignore_startup_parameters = extra_float_digits',
      '',
    ].join('\n'));
    // PgBouncer refuses to run as root: as root, it runs as the PostgreSQL user.
    const root = process.getuid?.() === 0;
    const ids = root ? userIds('postgres') : undefined;
    if (root && ids === undefined) throw new Error('PgBouncer refuses to run as root, and there is no postgres user to run it as');
    const child = spawn(PGBOUNCER, [join(dir, 'pgbouncer.ini')], { stdio: 'ignore', ...(ids ?? {}) });
    const bouncer = new PgBouncer(port, dir, child);
    try {
      await waitFor(`pgbouncer on port ${port}`, async () => child.exitCode === null && await accepts(port));
    } catch (err) {
      await bouncer.stop();
      throw err;
    }
    return bouncer;
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      const exited = new Promise((resolve) => this.#child.once('exit', resolve));
      this.#child.kill('SIGTERM');
      await exited;
    }
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
