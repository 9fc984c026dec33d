/**
 * A balancer worker: a whole balancer in its own process, listening on the socket its
 * primary holds (see `balancer-workers.ts` and `messages.ts`). It serves the pools
 * and routes the primary had when it started it, so a worker that replaces a crashed
 * one knows every admin change; its own admin API listens on a loopback port and is
 * reached only through the primary's. It stops gracefully on SIGTERM, and when the
 * primary goes away (the IPC channel closes), so it never outlives it.
 */
import { Balancer } from '../balancer.js';
import { parseBalancerOptions } from '../options.js';
import { isScaleoutError } from '../../internal/errors.js';
import { BalancerWorkersError } from '../errors.js';
import type { PrimaryMessage, WorkerMessage } from './messages.js';

/** An uncaught error ends the worker with this code; the primary starts another. @defaultValue 70 */
export const WORKER_CRASH_EXIT_CODE = 70;

function send(message: WorkerMessage): void {
  if (process.connected) process.send!(message);
}

async function run(): Promise<void> {
  const orphaned = (): never => process.exit(1);
  process.once('disconnect', orphaned);
  const handles: object[] = [];
  const pending: PrimaryMessage[] = [];
  // Placements that come before the balancer exists wait in `pending`.
  const ready: { balancer?: Balancer } = {};
  const start = new Promise<Extract<PrimaryMessage, { type: 'start' }>>((resolve) => {
    process.on('message', (message: PrimaryMessage, handle: unknown) => {
      if (message?.type === 'listener' && handle !== undefined && handle !== null) handles[message.index] = handle as object;
      else if (message?.type === 'start') resolve(message);
      else if (message?.type === 'stick' || message?.type === 'health' || message?.type === 'load' || message?.type === 'mark-down') {
        if (ready.balancer === undefined) pending.push(message);
        else apply(ready.balancer, message);
      }
    });
  });
  send({ type: 'loaded' });
  const { options: input, live, sticks, probe, down } = await start;
  const options = parseBalancerOptions({ ...input, pools: live.pools, routes: live.routes });
  const balancer = new Balancer(options, {
    listenHandles: handles,
    log: (event) => send({ type: 'event', event }),
    onStick: (pool, key, server) => send({ type: 'stick', pool, key, server }),
    sharedHealth: {
      probe,
      onHealth: (pool, server, healthy, reason, answered) => send({ type: 'health', pool, server, healthy, reason, answered }),
      onLoad: (pool, server, load) => send({ type: 'load', pool, server, load }),
      markDown: (pool, server, reason) => send({ type: 'mark-down', pool, server, reason }),
    },
  });
  // Before the first client: a drained server must not take one from a new worker, nor a server known down.
  balancer.applyDrains(live.drains);
  for (const { pool, server, reason } of down) {
    // The prober takes it down and brings it back after `rise` passed probes (then tells the others).
    if (probe) balancer.markDown(pool, server, reason);
    else balancer.applyHealth(pool, server, false, reason, true);
  }
  for (const [pool, entries] of Object.entries(sticks)) for (const [key, server] of entries) balancer.learnStick(pool, key, server);
  for (const message of pending.splice(0)) apply(balancer, message);
  ready.balancer = balancer;
  try {
    await balancer.listen();
  } catch (err) {
    await balancer.close();
    throw err;
  }
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void balancer.close().finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', () => {});
  process.off('disconnect', orphaned);
  process.on('disconnect', stop);
  send({ type: 'ready', addresses: balancer.addresses, admin: balancer.adminAddress! });
}

function apply(balancer: Balancer, message: PrimaryMessage): void {
  if (message.type === 'stick') balancer.learnStick(message.pool, message.key, message.server);
  else if (message.type === 'health') balancer.applyHealth(message.pool, message.server, message.healthy, message.reason, message.answered);
  else if (message.type === 'load') balancer.applyLoad(message.pool, message.server, message.load);
  else if (message.type === 'mark-down') balancer.markDown(message.pool, message.server, message.reason);
}

process.on('uncaughtException', (err) => {
  process.stderr.write(`${new Date().toISOString()} balancer worker ${process.pid}: uncaught error, exiting: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(WORKER_CRASH_EXIT_CODE);
});

run().catch((err: unknown) => {
  const code = isScaleoutError(err) ? err.code : BalancerWorkersError.code;
  if (process.connected) process.send!({ type: 'failed', code, message: (err as Error)?.message ?? String(err) } satisfies WorkerMessage, () => process.exit(1));
  else process.exit(1);
});
