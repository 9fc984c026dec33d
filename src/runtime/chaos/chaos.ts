import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { RuntimeEvent, SupervisorEvent } from '../events.js';
import { writePrivateFile } from '../private-file.js';
import type { ProcessStatus, RuntimeStatus } from '../status.js';
import type { ChaosFaultKind, ChaosRequest } from './chaos-request.js';
import { DelayProxy } from './delay-proxy.js';
import { ChaosRequestError, ChaosUnsupportedError } from './errors.js';
import { addPartitionTable, addSlowTable, CHAOS_TABLE_PREFIX, closeConnections, deleteChaosTable, deleteChaosTableSync } from './loopback-faults.js';

/** The ledger of faults in force, in the state folder: what a later start heals after a SIGKILL. */
export const CHAOS_LEDGER_FILE = 'chaos.json';

/** A fault in force (kill is instant and never in force). */
export interface ChaosFault {
  id: string;
  fault: ChaosFaultKind;
  /** The process id (`app-2`). */
  target: string;
  role: string;
  pid: number | null;
  /** The ports the fault matches (slow, partition). */
  ports: number[];
  /** slow: the delay. */
  ms: number | null;
  /** The nft table it added (slow, partition). */
  table: string | null;
  /** ISO time it began. */
  at: string;
}

export interface ChaosOptions {
  /** The supervisor's state folder (`.scaleout`). */
  stateDir: string;
  status: () => RuntimeStatus;
  /** Keeps the event (the supervisor's ring) and gives it back stamped. */
  emit: (event: SupervisorEvent) => RuntimeEvent;
}

/**
 * Fault injection into the processes of one supervisor (`scaleout chaos`):
 *
 * | fault     | how                                        | undone by                        |
 * | kill      | SIGKILL (supervision restarts it)          | nothing to undo                  |
 * | stop      | SIGSTOP: it hangs, sockets stay open       | SIGCONT                          |
 * | slow <ms> | nft redirect of its port to a delay proxy  | deleting the table, the proxy    |
 * | partition | nft drop of its ports on loopback          | deleting the table               |
 *
 * Faults in force are written to `.scaleout/chaos.json` before they are applied, so
 * `heal`, the supervisor's stop, or (after a SIGKILL of the supervisor) its next
 * start undoes them. Every fault and every heal is an event.
 */
export class Chaos {
  readonly #options: ChaosOptions;
  readonly #ledgerFile: string;
  #faults: ChaosFault[] = [];
  readonly #proxies = new Map<string, DelayProxy>();
  #chain: Promise<unknown> = Promise.resolve();

  constructor(options: ChaosOptions) {
    this.#options = options;
    this.#ledgerFile = join(options.stateDir, CHAOS_LEDGER_FILE);
  }

  /** The faults in force. */
  list(): ChaosFault[] {
    return this.#faults.map((f) => ({ ...f, ports: [...f.ports] }));
  }

  /** One fault now; one change at a time, so the ledger never loses one. */
  inject(request: ChaosRequest, report: (event: RuntimeEvent) => void = () => {}): Promise<ChaosFault> {
    return this.#serial(() => this.#inject(request, report));
  }

  /** Undoes every fault in force; resolves with them. */
  heal(report: (event: RuntimeEvent) => void = () => {}): Promise<ChaosFault[]> {
    return this.#serial(() => this.#heal(report, 'healed'));
  }

  /** At start: undoes the faults an earlier run of this app left in its ledger (it was killed before it could). */
  healLeftovers(): Promise<ChaosFault[]> {
    return this.#serial(async () => {
      // Its processes died with it (the orphan reaper's SIGKILL ends stopped ones too):
      // no SIGCONT to a pid that may belong to someone else by now.
      this.#faults = readLedger(this.#ledgerFile).map((f) => (f.fault === 'stop' ? { ...f, pid: null } : f));
      return this.#heal(() => {}, 'left by an earlier run, healed');
    });
  }

  /** Forced stop: SIGCONT, tables deleted, synchronously, best effort. */
  healSync(): void {
    for (const fault of this.#faults) {
      if (fault.fault === 'stop' && fault.pid !== null) signal(fault.pid, 'SIGCONT');
      if (fault.table !== null) deleteChaosTableSync(fault.table);
    }
    for (const proxy of this.#proxies.values()) void proxy.close();
    this.#proxies.clear();
    this.#faults = [];
    rmSync(this.#ledgerFile, { force: true });
  }

  #serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.#chain.then(op, op);
    this.#chain = next.catch(() => undefined);
    return next;
  }

  async #inject(request: ChaosRequest, report: (event: RuntimeEvent) => void): Promise<ChaosFault> {
    const target = this.#resolve(request.target);
    const pid = target.pid!;
    if (pid === process.pid && (request.fault === 'kill' || request.fault === 'stop')) {
      throw new ChaosRequestError(`${target.id} runs inside the supervisor (pid ${pid}): it cannot be killed or stopped alone; slow or partition its port`);
    }
    const id = randomBytes(4).toString('hex');
    const base: ChaosFault = { id, fault: request.fault, target: target.id, role: target.role, pid, ports: [], ms: null, table: null, at: new Date().toISOString() };
    const announce = (fault: ChaosFault, detail: string): void => {
      report(this.#options.emit({ kind: 'chaos-fault', source: fault.target, fault: fault.fault, role: fault.role, detail }));
    };
    if (request.fault === 'kill') {
      if (!signal(pid, 'SIGKILL')) throw new ChaosRequestError(`${target.id} (pid ${pid}) could not be signalled: it is gone`);
      announce(base, `SIGKILL to pid ${pid}; supervision restarts it`);
      return base;
    }
    if (this.#faults.some((f) => f.target === target.id && f.fault === request.fault && f.pid === pid)) {
      throw new ChaosRequestError(`${target.id} already has a ${request.fault} fault; \`scaleout chaos heal\` first`);
    }
    if (request.fault === 'stop') {
      const fault = { ...base };
      await this.#record([...this.#faults, fault]);
      if (!signal(pid, 'SIGSTOP')) {
        await this.#record(this.#faults.filter((f) => f !== fault));
        throw new ChaosRequestError(`${target.id} (pid ${pid}) could not be signalled: it is gone`);
      }
      announce(fault, `SIGSTOP to pid ${pid}: it hangs with its sockets open until healed (SIGCONT)`);
      return fault;
    }
    const { host, port } = loopbackAddress(target);
    const table = `${CHAOS_TABLE_PREFIX}${id}`;
    const fault: ChaosFault = { ...base, ports: [port], table, ms: request.fault === 'slow' ? request.ms ?? null : null };
    // In the ledger before the table exists: a crash in between leaves a heal with nothing to do, never a table nobody knows.
    await this.#record([...this.#faults, fault]);
    try {
      if (request.fault === 'partition') {
        await addPartitionTable(table, [port]);
        // Drop applies to established connections too; nothing to close.
        announce(fault, `nft table ${table} drops every loopback packet to and from port ${port}`);
      } else {
        const proxy = await DelayProxy.start({ host, port }, fault.ms!);
        this.#proxies.set(id, proxy);
        await addSlowTable(table, port, proxy.port);
        announce(fault, `everything ${target.id} sends on port ${port} arrives ${fault.ms} ms late (nft table ${table} redirects new connections through a delay proxy; open ones were closed)`);
      }
    } catch (err) {
      await this.#undo(fault);
      await this.#record(this.#faults.filter((f) => f !== fault));
      if (err instanceof ChaosRequestError) throw err;
      throw new ChaosUnsupportedError(`${request.fault} of ${target.id} failed: ${(err as Error).message}`, { cause: err });
    }
    return fault;
  }

  async #heal(report: (event: RuntimeEvent) => void, how: string): Promise<ChaosFault[]> {
    const healed = [...this.#faults];
    for (const fault of healed) {
      const undone = await this.#undo(fault);
      report(this.#options.emit({ kind: 'chaos-healed', source: fault.target, fault: fault.fault, role: fault.role, detail: `${how}: ${undone}` }));
    }
    await this.#record([]);
    return healed;
  }

  async #undo(fault: ChaosFault): Promise<string> {
    const done: string[] = [];
    if (fault.fault === 'stop' && fault.pid !== null) done.push(signal(fault.pid, 'SIGCONT') ? `SIGCONT to pid ${fault.pid}` : `pid ${fault.pid} is gone`);
    if (fault.table !== null) done.push(await deleteChaosTable(fault.table) ? `nft table ${fault.table} deleted` : `nft table ${fault.table} was gone`);
    const proxy = this.#proxies.get(fault.id);
    if (proxy !== undefined) {
      this.#proxies.delete(fault.id);
      await proxy.close();
      // Connections made through the proxy are closed with it; clients reconnect straight.
      if (fault.ports[0] !== undefined) await closeConnections(fault.ports[0]);
      done.push('delay proxy closed');
    }
    return done.join(', ') || 'nothing left to undo';
  }

  async #record(faults: ChaosFault[]): Promise<void> {
    this.#faults = faults;
    if (faults.length === 0) rmSync(this.#ledgerFile, { force: true });
    else await writePrivateFile(this.#ledgerFile, `${JSON.stringify(faults, null, 2)}\n`);
  }

  /** The process a target names: an id, or the first running process of a role word. */
  #resolve(target: string): ProcessStatus {
    const processes = this.#options.status().processes;
    const byId = processes.find((p) => p.id === target);
    const candidates = byId !== undefined ? [byId] : processes.filter((p) => matchesRole(p, target));
    if (candidates.length === 0) {
      throw new ChaosRequestError(`no process or role "${target}"; processes: ${processes.map((p) => `${p.id} (${p.role})`).join(', ')}`);
    }
    const chosen = candidates.find((p) => p.pid !== null && p.state === 'running') ?? candidates[0]!;
    if (chosen.role === 'supervisor') throw new ChaosRequestError('the supervisor does not inject faults into itself; stop it with Ctrl-C');
    if (chosen.state === 'external' || chosen.pid === null) {
      throw new ChaosRequestError(`${chosen.id} (${chosen.role}) is ${chosen.state === 'external' ? 'an engine this supervisor uses but does not run' : `not running (${chosen.state})`}: chaos acts only on processes it runs`);
    }
    return chosen;
  }
}

function matchesRole(p: ProcessStatus, word: string): boolean {
  if (word === 'instance') return p.role === 'app';
  if (word === 'worker') return p.role.startsWith('worker:');
  if (word === 'primary' || word === 'replica') return p.role === 'postgres' && (p.detail ?? '').includes(word);
  return p.role === word;
}

/** Where a process listens, when it is on loopback (the only place nft rules here may touch). */
function loopbackAddress(target: ProcessStatus): { host: string; port: number } {
  const address = target.address;
  const colon = address?.lastIndexOf(':') ?? -1;
  const host = address?.slice(0, colon) ?? '';
  const port = Number(address?.slice(colon + 1));
  if (address === null || colon < 0 || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new ChaosRequestError(`${target.id} (${target.role}) listens on no port: slow and partition need one; kill and stop work`);
  }
  if (!host.startsWith('127.')) {
    throw new ChaosRequestError(`${target.id} listens on ${address}: slow and partition act on loopback only (on namespace hosts, use their network faults)`);
  }
  return { host, port };
}

function signal(pid: number, name: NodeJS.Signals): boolean {
  try {
    process.kill(pid, name);
    return true;
  } catch {
    return false;
  }
}

function readLedger(file: string): ChaosFault[] {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (!Array.isArray(parsed)) return [];
    // Only what this code wrote: a table of ours, a numeric pid.
    return parsed.filter((f): f is ChaosFault => typeof f === 'object' && f !== null
      && typeof (f as ChaosFault).id === 'string' && typeof (f as ChaosFault).fault === 'string' && typeof (f as ChaosFault).target === 'string'
      && ((f as ChaosFault).table === null || (typeof (f as ChaosFault).table === 'string' && (f as ChaosFault).table!.startsWith(CHAOS_TABLE_PREFIX)))
      && ((f as ChaosFault).pid === null || Number.isInteger((f as ChaosFault).pid)))
      .map((f) => ({ ...f, ports: Array.isArray(f.ports) ? f.ports : [] }));
  } catch {
    return [];
  }
}
