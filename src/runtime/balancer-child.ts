/**
 * The balancer as a child process of the supervisor:
 * `node balancer-child.js <config.json>`, admin token in `SCALEOUT_ADMIN_TOKEN`
 * (not on the command line, where `ps` shows it).
 *
 * It reports over IPC `{ type: 'ready', listeners, admin }` or
 * `{ type: 'failed', code, message }`, stops gracefully on SIGTERM, and also when the
 * IPC pipe closes, so it never outlives the supervisor.
 */
import { readFileSync } from 'node:fs';
import { startAdminApi, startBalancer } from '../balancer/index.js';
import type { AdminApi, BalancerOptionsInput } from '../balancer/index.js';
import { isScaleoutError } from '../internal/errors.js';

/** Messages from the balancer child to the supervisor. */
export type BalancerChildMessage =
  | { type: 'ready'; listeners: string[]; admin: string }
  | { type: 'failed'; code: string; message: string };

async function run(): Promise<void> {
  const file = process.argv[2];
  const token = process.env.SCALEOUT_ADMIN_TOKEN;
  if (file === undefined || token === undefined) throw new Error('usage: balancer-child <config.json> with SCALEOUT_ADMIN_TOKEN set');
  const { admin: adminAddress, ...options } = JSON.parse(readFileSync(file, 'utf8')) as BalancerOptionsInput & { admin: string };
  // The supervisor died while this was starting: nobody would ever stop it.
  const orphaned = (): never => process.exit(1);
  process.once('disconnect', orphaned);
  const balancer = await startBalancer(options, {
    log: (event) => process.stderr.write(`${new Date().toISOString()} ${'message' in event ? event.message : `${event.pool}/${event.server}: ${event.state} (${event.reason})`}\n`),
  });
  let admin: AdminApi;
  try {
    admin = await startAdminApi(balancer, { address: adminAddress, token });
  } catch (err) {
    await balancer.close();
    throw err;
  }
  // Until here a signal ends the process the default way: there is nothing to drain yet.
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void admin.close().then(() => balancer.close()).finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.off('disconnect', orphaned);
  process.on('disconnect', stop);
  send({ type: 'ready', listeners: balancer.addresses, admin: admin.address });
}

function send(message: BalancerChildMessage, then?: () => void): void {
  if (process.send === undefined) {
    process.stdout.write(`${JSON.stringify(message)}\n`);
    then?.();
    return;
  }
  process.send(message, undefined, {}, () => then?.());
}

run().catch((err: unknown) => {
  const code = isScaleoutError(err) ? err.code : 'SCALEOUT_RUNTIME_BALANCER_START';
  send({ type: 'failed', code, message: (err as Error)?.message ?? String(err) }, () => process.exit(1));
});
