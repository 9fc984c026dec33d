/**
 * The balancer as a child process of the supervisor, admin token in
 * `SCALEOUT_ADMIN_TOKEN` (not on the command line, where `ps` shows it):
 *
 *     child ── { type: 'loaded' } ──────────────────────────► supervisor
 *           ◄─ { type: 'start', configFile } + client socket ─   (now, or later: a spare)
 *           ── { type: 'ready', listeners, admin } ─────────►
 *              or { type: 'failed', code, message }
 *              or { type: 'crash', stack } before an exit on an uncaught error
 *           ── { type: 'event', event } ─────────────────────►   (any time: server states, warnings)
 *
 * The client socket is the one the supervisor bound and keeps (see
 * `listen-socket.ts`). Asking for it only once loaded means no message arrives
 * before there is a listener for it. Without an IPC channel,
 * `node balancer-child.js <config.json>` binds the config's address itself and prints
 * the messages. It stops gracefully on SIGTERM, and also when the IPC pipe closes, so
 * it never outlives the supervisor.
 */
import { readFileSync } from 'node:fs';
import { formatBalancerEvent, startBalancer } from '../balancer/index.js';
import type { BalancerEvent, BalancerOptionsInput } from '../balancer/index.js';
import { isScaleoutError } from '../internal/errors.js';
import type { BalancerStartMessage } from './balancer-process.js';

/** Messages from the balancer child to the supervisor. */
export type BalancerChildMessage =
  | { type: 'loaded' }
  | { type: 'ready'; listeners: string[]; admin: string }
  | { type: 'failed'; code: string; message: string }
  | { type: 'crash'; stack: string }
  | { type: 'event'; event: BalancerEvent };

/** An uncaught error is reported, then the process exits with this code. @defaultValue 70 */
export const CRASH_EXIT_CODE = 70;
/** How long the crash report may take to reach the supervisor before the exit. @defaultValue 1000 */
const CRASH_REPORT_TIMEOUT_MS = 1_000;

function receiveStart(): Promise<{ file: string; handle: object | undefined }> {
  return new Promise((resolve) => {
    const onMessage = (message: unknown, handle: unknown): void => {
      const start = message as Partial<BalancerStartMessage> | null;
      if (start?.type !== 'start' || typeof start.configFile !== 'string') return;
      process.off('message', onMessage);
      resolve({ file: start.configFile, handle: handle === undefined || handle === null ? undefined : handle as object });
    };
    process.on('message', onMessage);
  });
}

async function run(): Promise<void> {
  // The supervisor died while this was starting (or idle as a spare): nobody would ever stop it.
  const orphaned = (): never => process.exit(1);
  process.once('disconnect', orphaned);
  let file = process.argv[2];
  let handle: object | undefined;
  if (process.send !== undefined) {
    const start = receiveStart();
    send({ type: 'loaded' });
    ({ file, handle } = await start);
  }
  const token = process.env.SCALEOUT_ADMIN_TOKEN;
  if (file === undefined || token === undefined) throw new Error('usage: balancer-child <config.json> with SCALEOUT_ADMIN_TOKEN set');
  // With `workers`, this process is their primary: it hands the socket on and serves the admin API.
  const { admin: adminAddress, ...options } = JSON.parse(readFileSync(file, 'utf8')) as BalancerOptionsInput & { admin: string; workers?: number | 'auto' };
  const balancer = await startBalancer({ ...options, admin: { address: adminAddress, token } }, {
    ...(handle === undefined ? {} : { listenHandles: [handle] }),
    log: (event) => {
      process.stderr.write(`${new Date(event.at).toISOString()} ${formatBalancerEvent(event)}\n`);
      // To the supervisor's event stream too; without IPC the log line is enough.
      if (process.send !== undefined && process.connected) send({ type: 'event', event });
    },
  });
  if (handle !== undefined && balancer.addresses[0] !== options.listen) {
    // Never serve on another address than the one asked for (an unbound socket listens anywhere).
    await balancer.close();
    throw new Error(`the socket from the supervisor listens on ${balancer.addresses[0] ?? '?'}, not ${String(options.listen)}`);
  }
  // Until here a signal ends the process the default way: there is nothing to drain yet.
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void balancer.close().finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.off('disconnect', orphaned);
  process.on('disconnect', stop);
  send({ type: 'ready', listeners: balancer.addresses, admin: balancer.adminAddress! });
}

function send(message: BalancerChildMessage, then?: () => void): void {
  if (process.send === undefined) {
    process.stdout.write(`${JSON.stringify(message)}\n`);
    then?.();
    return;
  }
  process.send(message, undefined, {}, () => then?.());
}

// The stack goes to the log file and to the supervisor, which prints it: a crash
// loop must be visible where the operator looks, not only in .scaleout/logs.
process.on('uncaughtException', (err) => {
  const stack = err instanceof Error ? err.stack ?? `${err.name}: ${err.message}` : String(err);
  process.stderr.write(`${new Date().toISOString()} uncaught error, exiting: ${stack}\n`);
  setTimeout(() => process.exit(CRASH_EXIT_CODE), CRASH_REPORT_TIMEOUT_MS).unref();
  try {
    send({ type: 'crash', stack }, () => process.exit(CRASH_EXIT_CODE));
  } catch {
    process.exit(CRASH_EXIT_CODE);
  }
});

run().catch((err: unknown) => {
  const code = isScaleoutError(err) ? err.code : 'SCALEOUT_RUNTIME_BALANCER_START';
  send({ type: 'failed', code, message: (err as Error)?.message ?? String(err) }, () => process.exit(1));
});
