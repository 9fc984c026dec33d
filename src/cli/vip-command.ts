import { resolve } from 'node:path';
import type { Command } from 'commander';
import { stampEvent } from '../runtime/events.js';
import type { SupervisorEvent } from '../runtime/index.js';
import { UsageError } from './cli-error.js';
import { onShutdownSignal } from './signals.js';
import { printEvent } from './up-command.js';

interface VipFlags {
  address: string;
  interface: string;
  routerId: string;
  priority: string;
  peer: string[];
  source?: string;
  advertIntervalMs?: string;
  preempt?: boolean;
  check: string;
  dir: string;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/**
 * `scaleout vip`: this machine's part of a balancer pair's floating address, next to a
 * balancer started on its own (`scaleout balancer`). `scaleout up` does the same from
 * `balancer.vip` in its config.
 */
export function registerVipCommand(program: Command): void {
  program.command('vip')
    .description('hold a floating service address for the local balancer with keepalived (VRRP); run one on each machine of the pair')
    .requiredOption('--address <ip/prefix>', 'the floating address, e.g. 10.0.0.100/24')
    .requiredOption('--interface <name>', 'the interface it goes on, e.g. eth0')
    .requiredOption('--router-id <1-255>', 'VRRP virtual router id, the same on every machine of the pair')
    .requiredOption('--priority <1-254>', 'this machine\'s priority; give each machine a different one')
    .option('--peer <ip>', 'another machine of the pair (repeat for more)', collect, [])
    .option('--source <ip>', 'this machine\'s address the adverts come from')
    .option('--advert-interval-ms <ms>', 'VRRPv3 advert interval, a multiple of 10 (default 100)')
    .option('--preempt', 'a machine with a higher priority takes the address back when it returns (default: it does not)')
    .requiredOption('--check <url>', 'the local balancer\'s health URL, e.g. http://127.0.0.1:8080/healthz')
    .option('--dir <folder>', 'private folder for keepalived\'s config and pid files', '.scaleout/vip')
    .action(async (flags: VipFlags) => {
      const check = parseCheck(flags.check);
      const { FloatingAddress } = await import('../runtime/vip/floating-address.js');
      const floating = new FloatingAddress({
        vip: {
          address: flags.address,
          interface: flags.interface,
          routerId: parseWhole('--router-id', flags.routerId),
          priority: parseWhole('--priority', flags.priority),
          peers: flags.peer,
          source: flags.source,
          advertIntervalMs: flags.advertIntervalMs === undefined ? undefined : parseWhole('--advert-interval-ms', flags.advertIntervalMs),
          preempt: flags.preempt === true,
        },
        check,
        dir: resolve(flags.dir),
        restart: { initialMs: 100, maxMs: 5_000 },
        emit: (event: SupervisorEvent) => printEvent(stampEvent(event, 0, Date.now())),
      });
      await floating.start();
      await new Promise<void>((resolvePromise) => {
        onShutdownSignal(async () => {
          await floating.stop();
          resolvePromise();
        });
      });
    });
}

function parseCheck(url: string): { host: string; port: number; path: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--check "${url}" is no URL; use e.g. http://127.0.0.1:8080/healthz`);
  }
  if (parsed.protocol !== 'http:' || parsed.port === '') throw new UsageError(`--check "${url}" must be http://host:port/path`);
  return { host: parsed.hostname, port: Number(parsed.port), path: parsed.pathname };
}

function parseWhole(flag: string, value: string): number {
  if (!/^\d{1,6}$/.test(value)) throw new UsageError(`${flag} must be a whole number, not "${value}"`);
  return Number(value);
}
