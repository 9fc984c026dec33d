import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { DEFAULT_HEALTH_PATH } from '../internal/wire.js';
import { onShutdownSignal } from './signals.js';

/** `scaleout demo`: a balancer with cookie affinity and health checks in front of three demo servers. */
export function registerDemoCommand(program: Command): void {
  program.command('demo')
    .description('run a balancer in front of three demo servers and print the URL to open')
    .option('--listen <host:port>', 'balancer address', '127.0.0.1:8080')
    .option('--admin <host:port>', 'admin API address', '127.0.0.1:8081')
    .action(async (flags: { listen: string; admin: string }) => {
      const children: ChildProcess[] = [];
      const stopChildren = (): void => {
        for (const child of children) child.kill('SIGTERM');
      };
      process.once('exit', stopChildren);
      const servers = [];
      for (const id of ['a', 'b', 'c']) {
        const child = fork(fileURLToPath(new URL('./demo-server.js', import.meta.url)), [], {
          env: { ...process.env, DEMO_SERVER_ID: id, PORT: '0' },
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        });
        children.push(child);
        const port = await new Promise<number>((resolve, reject) => {
          child.once('message', (msg) => resolve((msg as { port: number }).port));
          child.once('exit', (code) => reject(new Error(`demo server ${id} exited with code ${code}`)));
        });
        servers.push({ id, address: `127.0.0.1:${port}` });
      }
      const token = randomBytes(16).toString('hex');
      const { startAdminApi, startBalancer } = await import('../balancer/index.js');
      const balancer = await startBalancer({
        listen: flags.listen,
        pools: { default: { servers, affinity: { type: 'cookie' }, health: { path: DEFAULT_HEALTH_PATH, intervalMs: 1000 }, strategy: 'least-load' } },
      }, { log: (e) => process.stderr.write(`${'message' in e ? e.message : `${e.pool}/${e.server}: ${e.state} (${e.reason})`}\n`) });
      const admin = await startAdminApi(balancer, { address: flags.admin, token });
      process.stdout.write([
        'scaleout demo: a balancer in front of three demo servers (a, b, c)',
        `  open     http://${balancer.addresses[0]}/`,
        `  admin    curl -H 'Authorization: Bearer ${token}' http://${admin.address}/servers`,
        `  metrics  curl -H 'Authorization: Bearer ${token}' http://${admin.address}/metrics`,
        '  stop     Ctrl-C',
        '',
      ].join('\n'));
      await new Promise<void>((resolve) => onShutdownSignal(async () => {
        await admin.close();
        await balancer.close();
        stopChildren();
        resolve();
      }));
    });
}
