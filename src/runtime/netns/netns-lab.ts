import { spawn } from 'node:child_process';
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { NetnsError } from './errors.js';
import { runSystemCommand, runSystemCommandSync } from './system-command.js';

/** Every namespace a lab creates starts with this, then the creating pid: leftovers of a dead process can be found. */
export const NETNS_PREFIX = 'so-';
/** The hosts' private network. Each lab's bridge lives in a namespace of its own, so labs never see each other. */
export const LAB_SUBNET = '10.200.0';
/** Most hosts on one lab (addresses .2 to .201 of the /24; the rest is left for floating addresses). */
export const MAX_LAB_HOSTS = 200;
/** The interface of every host, on the lab's bridge. */
export const HOST_INTERFACE = 'eth0';

const HOST_NAME = /^[a-z][a-z0-9]{0,11}$/;

/**
 * One machine of a lab: a network namespace with loopback up and one interface
 * (`eth0`, address `10.200.0.<n>/24`) on the lab's bridge. Processes run in it
 * through `ip netns exec`: they see only its interfaces.
 */
export interface NetnsHost {
  /** Its name in the lab: `lb1`. */
  readonly name: string;
  /** The namespace: `so-<pid>-<id>-lb1`. */
  readonly netns: string;
  /** Its address on the lab network, without the prefix length. */
  readonly address: string;
  readonly interface: typeof HOST_INTERFACE;
  /** Runs a command inside to completion; resolves with its stdout. */
  exec(file: string, args: readonly string[], options?: { input?: string; timeoutMs?: number }): Promise<string>;
  /** Starts a process inside (its pid is the command's own: `ip netns exec` execs it). */
  spawn(file: string, args: readonly string[], options?: SpawnOptions): ChildProcess;
  /** The IPv4 addresses of its interface now (`ip -4 addr`): shows whether it holds a floating address. */
  addresses(): Promise<string[]>;
}

/**
 * A throwaway network of namespace hosts on one machine, for tests and chaos:
 *
 *     ┌ so-<pid>-<id>-sw ───────────────┐
 *     │            br0                  │   a bridge in a namespace of its own
 *     └──h1────────h2────────h3─────────┘
 *        │veth     │veth     │veth
 *     ┌──eth0──┐ ┌──eth0──┐ ┌──eth0──┐
 *     │ lb1 .2 │ │ lb2 .3 │ │ client │      10.200.0.0/24
 *     └────────┘ └────────┘ └────────┘
 *
 * Nothing is created in the machine's own namespace, so labs of concurrent runs (and
 * their addresses) never meet. {@link destroy} kills every process left inside and
 * deletes the namespaces (which deletes their interfaces, nft tables and qdiscs); it
 * also runs when the process exits, and {@link reapLeftovers} removes the labs of a
 * process that died without cleaning up. Needs root.
 */
export class NetnsLab {
  readonly id: string;
  readonly #switch: string;
  readonly #hosts: NetnsHost[] = [];
  /** Processes started through a host: killed on destroy even if not yet inside their namespace. */
  readonly #children = new Set<ChildProcess>();
  #destroyed = false;

  private constructor(id: string) {
    this.id = id;
    this.#switch = `${id}-sw`;
  }

  /** A lab with its bridge and no hosts yet. */
  static async create(): Promise<NetnsLab> {
    await NetnsLab.reapLeftovers();
    const lab = new NetnsLab(`${NETNS_PREFIX}${process.pid}-${randomBytes(3).toString('hex')}`);
    LIVE.add(lab);
    try {
      await lab.#ip(['netns', 'add', lab.#switch]);
      await lab.#in(lab.#switch, ['link', 'set', 'lo', 'up']);
      await lab.#in(lab.#switch, ['link', 'add', 'br0', 'type', 'bridge']);
      await lab.#in(lab.#switch, ['link', 'set', 'br0', 'up']);
    } catch (err) {
      await lab.destroy();
      throw err;
    }
    return lab;
  }

  get hosts(): readonly NetnsHost[] {
    return this.#hosts;
  }

  /** The address `10.200.0.<n>` of the lab network, for a floating address: n from 202 to 254. */
  static spareAddress(n: number): string {
    if (!Number.isInteger(n) || n < MAX_LAB_HOSTS + 2 || n > 254) throw new NetnsError(`a spare lab address is 10.200.0.202 to .254, not .${n}`);
    return `${LAB_SUBNET}.${n}`;
  }

  /** Adds a host (`lb1`, `client`) on the bridge. */
  async addHost(name: string): Promise<NetnsHost> {
    if (this.#destroyed) throw new NetnsError(`lab ${this.id} is destroyed`);
    if (!HOST_NAME.test(name)) throw new NetnsError(`host name "${name}": use 1 to 12 lowercase letters and digits, starting with a letter`);
    if (this.#hosts.some((h) => h.name === name)) throw new NetnsError(`lab ${this.id} already has a host "${name}"`);
    if (this.#hosts.length >= MAX_LAB_HOSTS) throw new NetnsError(`a lab has at most ${MAX_LAB_HOSTS} hosts`);
    const index = this.#hosts.length + 1;
    const netns = `${this.id}-${name}`;
    const address = `${LAB_SUBNET}.${index + 1}`;
    await this.#ip(['netns', 'add', netns]);
    const host = makeHost(name, netns, address, this.#children);
    this.#hosts.push(host);
    // Both ends are created straight in their namespaces: no name is ever taken in the machine's own.
    await this.#ip(['link', 'add', HOST_INTERFACE, 'netns', netns, 'type', 'veth', 'peer', 'name', `h${index}`, 'netns', this.#switch]);
    await this.#in(this.#switch, ['link', 'set', `h${index}`, 'master', 'br0', 'up']);
    await this.#in(netns, ['link', 'set', 'lo', 'up']);
    await this.#in(netns, ['addr', 'add', `${address}/24`, 'dev', HOST_INTERFACE]);
    await this.#in(netns, ['link', 'set', HOST_INTERFACE, 'up']);
    return host;
  }

  /** Kills what runs inside and deletes every namespace of the lab. Idempotent; never throws. */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#killChildren();
    for (const netns of this.#namespaces()) await removeNamespace(netns);
    LIVE.delete(this);
  }

  /** The synchronous {@link destroy}, for the process's `exit` handler. */
  destroySync(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#killChildren();
    for (const netns of this.#namespaces()) {
      killInside(runSystemCommandSync('ip', ['netns', 'pids', netns]) ?? '');
      runSystemCommandSync('ip', ['netns', 'del', netns]);
    }
    LIVE.delete(this);
  }

  /**
   * Deletes the namespaces of labs whose creating process is gone (a test killed
   * before its cleanup ran); resolves with their names.
   */
  static async reapLeftovers(): Promise<string[]> {
    const listed = await runSystemCommand('ip', ['netns', 'list']).catch(() => '');
    const reaped: string[] = [];
    for (const line of listed.split('\n')) {
      const netns = line.split(' ')[0] ?? '';
      const pid = new RegExp(`^${NETNS_PREFIX}(\\d+)-[0-9a-f]{6}-`).exec(netns)?.[1];
      if (pid === undefined || isAlive(Number(pid))) continue;
      await removeNamespace(netns);
      reaped.push(netns);
    }
    return reaped;
  }

  #killChildren(): void {
    for (const child of this.#children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    this.#children.clear();
  }

  #namespaces(): string[] {
    return [...this.#hosts.map((h) => h.netns), this.#switch];
  }

  #ip(args: string[]): Promise<string> {
    return runSystemCommand('ip', args);
  }

  #in(netns: string, args: string[]): Promise<string> {
    return runSystemCommand('ip', ['-n', netns, ...args]);
  }
}

const LIVE = new Set<NetnsLab>();
let exitHook = false;
function hookExit(): void {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const lab of [...LIVE]) lab.destroySync();
  });
}
hookExit();

/**
 * A host of a lab this process did not create (`scaleout chaos --netns`), by its
 * namespace name; its address is read from its interface.
 */
export async function namespaceHost(netns: string): Promise<NetnsHost> {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(netns)) throw new NetnsError(`"${netns}" is no network namespace name`);
  const listed = await runSystemCommand('ip', ['netns', 'list']);
  if (!listed.split('\n').some((line) => line.split(' ')[0] === netns)) throw new NetnsError(`no network namespace "${netns}"; \`ip netns list\` shows them`);
  const host = makeHost(netns, netns, '');
  const [address] = await host.addresses().catch(() => []);
  if (address === undefined) throw new NetnsError(`network namespace "${netns}" has no IPv4 address on ${HOST_INTERFACE}: it is no lab host`);
  return { ...host, address };
}

function makeHost(name: string, netns: string, address: string, children?: Set<ChildProcess>): NetnsHost {
  return {
    name,
    netns,
    address,
    interface: HOST_INTERFACE,
    exec: (file, args, options) => runSystemCommand('ip', ['netns', 'exec', netns, file, ...args], options),
    spawn: (file, args, options = {}) => {
      const child = spawn('ip', ['netns', 'exec', netns, file, ...args], options);
      if (children !== undefined) {
        children.add(child);
        child.once('exit', () => children.delete(child));
      }
      return child;
    },
    addresses: async () => {
      const out = await runSystemCommand('ip', ['-n', netns, '-4', '-o', 'addr', 'show', 'dev', HOST_INTERFACE]);
      return [...out.matchAll(/inet (\d+\.\d+\.\d+\.\d+)\//g)].map((m) => m[1]!);
    },
  };
}

async function removeNamespace(netns: string): Promise<void> {
  // A namespace with processes in it outlives its name: kill them first.
  const pids = await runSystemCommand('ip', ['netns', 'pids', netns]).catch(() => '');
  killInside(pids);
  await runSystemCommand('ip', ['netns', 'del', netns]).catch(() => undefined);
}

function killInside(pids: string): void {
  for (const pid of pids.split('\n').map(Number).filter((p) => Number.isInteger(p) && p > 0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
