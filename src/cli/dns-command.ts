import type { Command } from 'commander';
import { DEFAULT_HEALTH, DEFAULT_TTL_SEC, MAX_TTL_SEC } from '../dns/defaults.js';
import type { DnsOptionsInput } from '../dns/index.js';
import { UsageError } from './cli-error.js';
import { onShutdownSignal } from './signals.js';

interface DnsFlags {
  zone?: string;
  listen?: string;
  balancer: string[];
  healthPath?: string;
  tcpCheck?: boolean;
  healthIntervalMs?: string;
  healthTimeoutMs?: string;
  rise?: string;
  fall?: string;
  ttl?: string;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** `scaleout dns`: a standalone authoritative DNS server for the app's name. */
export function registerDnsCommand(program: Command): void {
  program.command('dns')
    .description('answer DNS queries for the app\'s name with the balancers that pass their health checks')
    .option('--zone <name>', 'the name served, e.g. shop.test (names under it get NXDOMAIN, others REFUSED)')
    .option('--listen <host:port>', 'UDP and TCP address to answer on (default 127.0.0.1:5353; 53 needs root)')
    .option('--balancer <ip:port>', 'a balancer: an A/AAAA record when healthy (repeat for more)', collect, [])
    .option('--health-path <path>', 'HTTP GET this path on each balancer; 2xx/3xx is healthy (default /healthz)')
    .option('--tcp-check', 'check balancers with a TCP connect instead of an HTTP GET')
    .option('--health-interval-ms <ms>', `time between checks of one balancer (default ${DEFAULT_HEALTH.intervalMs})`)
    .option('--health-timeout-ms <ms>', `a check slower than this fails (default ${DEFAULT_HEALTH.timeoutMs})`)
    .option('--rise <n>', `passed checks that bring a balancer back (default ${DEFAULT_HEALTH.rise})`)
    .option('--fall <n>', `failed checks that take a balancer out (default ${DEFAULT_HEALTH.fall})`)
    .option('--ttl <seconds>', `TTL of the answers, at most ${MAX_TTL_SEC} (default ${DEFAULT_TTL_SEC})`)
    .addHelpText('after', `
When every balancer fails its checks, the answer holds all of them: a checker that cannot
reach anything is more likely broken than every balancer at once. See docs/dns.md.

Example:
  scaleout dns --zone shop.test --listen 127.0.0.1:5353 \\
    --balancer 127.0.0.2:8080 --balancer 127.0.0.3:8080 --health-path /healthz
  dig @127.0.0.1 -p 5353 shop.test A`)
    .action(async (flags: DnsFlags) => {
      const { formatDnsEvent, startDnsServer } = await import('../dns/index.js');
      const server = await startDnsServer(dnsOptionsFromFlags(flags), {
        log: (event) => process.stderr.write(`${formatDnsEvent(event)}\n`),
      });
      process.stdout.write(`scaleout dns answering for ${flags.zone} on ${server.address} (UDP and TCP)\n`);
      await new Promise<void>((resolve) => {
        onShutdownSignal(async () => {
          await server.close();
          resolve();
        });
      });
    });
}

/** Turn flags into DNS server options; the library validates them. */
export function dnsOptionsFromFlags(flags: DnsFlags): DnsOptionsInput {
  if (flags.zone === undefined) throw new UsageError('give --zone <name>, the name to answer for, e.g. --zone shop.test');
  if (flags.balancer.length === 0) throw new UsageError('give at least one --balancer <ip:port>');
  if (flags.tcpCheck === true && flags.healthPath !== undefined) throw new UsageError('give --health-path or --tcp-check, not both');
  const health: NonNullable<DnsOptionsInput['health']> = {};
  if (flags.tcpCheck === true) health.path = null;
  if (flags.healthPath !== undefined) health.path = flags.healthPath;
  if (flags.healthIntervalMs !== undefined) health.intervalMs = whole('--health-interval-ms', flags.healthIntervalMs);
  if (flags.healthTimeoutMs !== undefined) health.timeoutMs = whole('--health-timeout-ms', flags.healthTimeoutMs);
  if (flags.rise !== undefined) health.rise = whole('--rise', flags.rise);
  if (flags.fall !== undefined) health.fall = whole('--fall', flags.fall);
  return {
    zone: flags.zone,
    balancers: flags.balancer,
    health,
    ...(flags.listen === undefined ? {} : { listen: flags.listen }),
    ...(flags.ttl === undefined ? {} : { ttlSec: whole('--ttl', flags.ttl) }),
  };
}

function whole(flag: string, value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new UsageError(`${flag} must be a whole number, not "${value}"`);
  return n;
}
