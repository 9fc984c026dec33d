import { ChaosRequestError } from './errors.js';

/** The faults `scaleout chaos` injects into one process. */
export const CHAOS_FAULTS = ['kill', 'stop', 'slow', 'partition'] as const;
export type ChaosFaultKind = (typeof CHAOS_FAULTS)[number];

/** Largest delay of `slow`. @defaultValue 60000 */
export const MAX_SLOW_MS = 60_000;

/**
 * Roles a target may name besides process ids: the runtime's own roles, plus the
 * words operators use (`instance` for `app`, `primary` and `replica` for PostgreSQL
 * nodes, `worker` for any worker).
 */
export const CHAOS_ROLE_WORDS = ['instance', 'app', 'balancer', 'worker', 'replica', 'primary', 'postgres', 'redis', 'redis-cache', 'memcached', 'dns', 'keepalived'] as const;

/** One fault, as the control API's `POST /chaos` takes it. */
export interface ChaosRequest {
  fault: ChaosFaultKind;
  /** A process id (`app-2`) or a role word (`instance`, `primary`): the first running process of it. */
  target: string;
  /** `slow`: the delay added to everything the process sends, 1 to {@link MAX_SLOW_MS}. */
  ms?: number;
}

const TARGET = /^[A-Za-z0-9][A-Za-z0-9:._-]{0,99}$/;

/** Validates an untrusted body (JSON from the control API); throws a {@link ChaosRequestError} saying what to send. */
export function parseChaosRequest(body: Record<string, unknown>): ChaosRequest {
  const { fault, target, ms, ...rest } = body;
  const extra = Object.keys(rest);
  if (extra.length > 0) throw new ChaosRequestError(`unknown field(s) ${extra.slice(0, 5).map((k) => JSON.stringify(k.slice(0, 40))).join(', ')}; send { fault, target, ms? }`);
  if (typeof fault !== 'string' || !(CHAOS_FAULTS as readonly string[]).includes(fault)) {
    throw new ChaosRequestError(`fault must be one of ${CHAOS_FAULTS.join(', ')}, not ${JSON.stringify(fault)?.slice(0, 60) ?? 'nothing'}`);
  }
  if (typeof target !== 'string' || !TARGET.test(target)) {
    throw new ChaosRequestError(`target must be a process id (e.g. app-1) or a role (${CHAOS_ROLE_WORDS.join(', ')}), not ${JSON.stringify(target)?.slice(0, 60) ?? 'nothing'}`);
  }
  if (fault === 'slow') {
    if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 1 || ms > MAX_SLOW_MS) throw new ChaosRequestError(`slow needs ms, a whole number of milliseconds from 1 to ${MAX_SLOW_MS}`);
    return { fault, target, ms };
  }
  if (ms !== undefined) throw new ChaosRequestError(`only slow takes ms, not ${fault}`);
  return { fault: fault as ChaosFaultKind, target };
}
