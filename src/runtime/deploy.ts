import type { PoolOptionsInput, RouteOptions } from '../balancer/index.js';
import type { BalancerAdmin } from './balancer-admin-client.js';
import type { DeployStrategy } from './config.js';
import { DeployFailedError } from './errors.js';
import type { Instance, SupervisorEvent } from './instance.js';

/** What a deploy needs from the supervisor. */
export interface DeployHost {
  /** The build new instances start from. */
  buildId(): string;
  /** The pool the routes send clients to. */
  pool(): string;
  /** Instances wanted in service (`app.instances`, changed by `scale`). */
  desired(): number;
  /** Instances in service now, oldest first (including crashed ones waiting to restart). */
  active(): Instance[];
  /** A new, not yet started instance, known to the supervisor (status, shutdown). */
  createInstance(buildId: string, pool: string): Instance;
  /** A retired instance leaves the supervisor's books. */
  forget(instance: Instance): void;
  admin(): BalancerAdmin;
  /** Pool options for a new pool holding `servers`. */
  poolOptions(servers: Array<{ id: string; address: string }>): PoolOptionsInput;
  /** The balancer's routes when `pool` serves the app (other pools' routes kept). */
  routes(pool: string): RouteOptions[];
  /** New instances now start from `buildId`, in `pool`. */
  switchTo(buildId: string, pool: string): void;
  /** Throws when the supervisor began stopping. */
  assertRunning(): void;
}

export interface DeployResult {
  strategy: DeployStrategy;
  from: string;
  to: string;
  /** False when every instance already ran the build. */
  changed: boolean;
  started: string[];
  stopped: string[];
  durationMs: number;
}

/**
 * Puts `buildId` on every instance without dropping a request.
 *
 * rolling, one instance at a time:
 *
 *     start new ─► healthy ─► join pool ─► drain an old one ─► drained ─► stop it ─► next
 *
 * blue-green, all at once:
 *
 *     start N new ─► all healthy ─► new pool ─► PUT /routes (one atomic swap)
 *                                                   └─► drain and stop the old set, drop its pool
 *
 * A new instance that crashes or stays unhealthy fails the deploy: the new instances
 * stop, old-build instances replace any already stopped, and the old build keeps
 * serving; a {@link DeployFailedError} says what happened.
 */
export async function deploy(host: DeployHost, strategy: DeployStrategy, buildId: string, report: (event: SupervisorEvent) => void): Promise<DeployResult> {
  const began = performance.now();
  const from = host.buildId();
  const active = host.active();
  if (active.length > 0 && active.every((i) => i.buildId === buildId) && from === buildId) {
    report({ level: 'info', message: `build ${buildId} already runs on every instance; nothing to deploy` });
    return { strategy, from, to: buildId, changed: false, started: [], stopped: [], durationMs: 0 };
  }
  report({ level: 'info', message: `deploying build ${buildId} over ${from} (${strategy}, ${host.desired()} instance(s))` });
  const outcome = strategy === 'blue-green'
    ? await blueGreen(host, buildId, active, report)
    : await rolling(host, buildId, active, report);
  return { strategy, from, to: buildId, changed: true, ...outcome, durationMs: Math.round(performance.now() - began) };
}

async function rolling(host: DeployHost, buildId: string, old: Instance[], report: (event: SupervisorEvent) => void): Promise<{ started: string[]; stopped: string[] }> {
  const pool = host.pool();
  const fresh: Instance[] = [];
  const retired: Instance[] = [];
  try {
    for (let i = 0; i < Math.max(old.length, host.desired()); i++) {
      host.assertRunning();
      if (i < host.desired()) {
        const instance = host.createInstance(buildId, pool);
        fresh.push(instance);
        await instance.start();
        host.assertRunning();
        await instance.join();
        report({ kind: 'instance-ready', source: instance.id, pool, address: instance.address ?? null, pid: instance.pid ?? null, buildId });
      }
      const victim = old[i];
      if (victim !== undefined) {
        await victim.retire();
        host.forget(victim);
        retired.push(victim);
        report({ kind: 'instance-stopped', source: victim.id, pool: victim.pool, buildId: victim.buildId });
      }
    }
  } catch (err) {
    await rollBack(host, pool, fresh, retired, report);
    throw failure(buildId, host.buildId(), err);
  }
  host.switchTo(buildId, pool);
  return { started: fresh.map((i) => i.id), stopped: retired.map((i) => i.id) };
}

async function blueGreen(host: DeployHost, buildId: string, old: Instance[], report: (event: SupervisorEvent) => void): Promise<{ started: string[]; stopped: string[] }> {
  const oldPool = host.pool();
  const newPool = poolNameFor(buildId, oldPool);
  const fresh = Array.from({ length: host.desired() }, () => host.createInstance(buildId, newPool));
  let poolCreated = false;
  try {
    const started = await Promise.allSettled(fresh.map((i) => i.start()));
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    host.assertRunning();
    report({ level: 'step', message: `${fresh.length} instance(s) of build ${buildId} healthy: ${fresh.map((i) => i.id).join(', ')}` });
    await host.admin().addPool(newPool, host.poolOptions(fresh.map((i) => ({ id: i.id, address: i.address ?? '' }))));
    poolCreated = true;
    fresh.forEach((i) => i.markJoined(newPool));
    host.assertRunning();
    await host.admin().setRoutes(host.routes(newPool));
  } catch (err) {
    await Promise.all(fresh.map((i) => i.retire()));
    fresh.forEach((i) => host.forget(i));
    if (poolCreated) await host.admin().removePool(newPool).catch(() => undefined);
    report({ level: 'warn', message: `rolled back: the new instances are stopped, build ${host.buildId()} keeps serving` });
    throw failure(buildId, host.buildId(), err);
  }
  host.switchTo(buildId, newPool);
  report({ level: 'step', message: `routes switched to pool ${newPool}: every new request goes to build ${buildId}` });
  await Promise.all(old.map((i) => i.retire()));
  old.forEach((i) => host.forget(i));
  await host.admin().removePool(oldPool).catch((err: unknown) => {
    report({ level: 'warn', message: `could not remove the old pool ${oldPool}: ${(err as Error).message}` });
  });
  report({ level: 'step', message: `old set drained and stopped (${old.map((i) => i.id).join(', ') || 'none'}); pool ${oldPool} removed` });
  return { started: fresh.map((i) => i.id), stopped: old.map((i) => i.id) };
}

/** Each blue-green generation gets its own pool; a name clash (same build again) gets a suffix. */
function poolNameFor(buildId: string, current: string): string {
  const name = `app-${buildId}`;
  return name === current ? `${name}-b` : name;
}

async function rollBack(host: DeployHost, pool: string, fresh: Instance[], retired: Instance[], report: (event: SupervisorEvent) => void): Promise<void> {
  // Capacity first: old-build instances replace the old ones already stopped, then
  // the new ones leave.
  for (const gone of retired) {
    let replacement: Instance | undefined;
    try {
      replacement = host.createInstance(gone.buildId, pool);
      await replacement.start();
      await replacement.join();
      report({ level: 'step', message: `${replacement.id} (build ${gone.buildId}) replaces ${gone.id}` });
    } catch (err) {
      report({ level: 'warn', message: `could not restore an instance of build ${gone.buildId}: ${(err as Error).message.split('\n')[0] ?? ''}` });
      if (replacement !== undefined) {
        await replacement.retire();
        host.forget(replacement);
      }
    }
  }
  await Promise.all(fresh.map((i) => i.retire()));
  fresh.forEach((i) => host.forget(i));
  report({ level: 'warn', message: `rolled back: the new instances are stopped, build ${host.buildId()} keeps serving` });
}

function failure(buildId: string, kept: string, err: unknown): DeployFailedError {
  const reason = ((err as Error)?.message ?? String(err)).split('\n')[0] ?? 'unknown';
  return new DeployFailedError(`deploy of build ${buildId} failed and was rolled back (build ${kept} keeps serving): ${reason}`, { cause: err });
}
