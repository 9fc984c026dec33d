import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { formatBalancerEvent } from '../balancer/events.js';
import { MAX_WORKERS } from '../balancer/workers/limits.js';
import { STRATEGY_NAMES } from '../balancer/strategies/strategy.js';
import type { BalancerOptionsInput, PoolOptionsInput } from '../balancer/index.js';
import { UsageError } from './cli-error.js';
import { readSecretFile } from './secret-file.js';
import { onShutdownSignal } from './signals.js';

interface BalancerFlags {
  listen?: string;
  server: string[];
  strategy?: string;
  affinity?: string;
  affinityKey?: string;
  tableFile?: string;
  hashOn?: string;
  healthPath?: string;
  healthIntervalMs?: string;
  admin?: string;
  adminToken?: string;
  adminTokenFile?: string;
  key: string[];
  config?: string;
  workers?: string;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function registerBalancerCommand(program: Command): void {
  program.command('balancer')
    .description('run a standalone scaleout load balancer')
    .option('--listen <host:port>', 'address to accept clients on (default 127.0.0.1:8080)')
    .option('--server <id=host:port>', 'a server of the default pool (repeat for more)', collect, [])
    .option('--strategy <name>', `how to pick a server: ${STRATEGY_NAMES.join(', ')}`)
    .option('--affinity <kind>', 'keep clients on one server: cookie (signed scaleout_srv cookie) or table (stick table)')
    .option('--affinity-key <key>', 'stick table key: ip, cookie:NAME or header:NAME (default ip)')
    .option('--table-file <path>', 'save the stick table here and load it at start')
    .option('--hash-on <key>', 'hash strategy key: ip, cookie:NAME or header:NAME')
    .option('--health-path <path>', 'active health check path, e.g. /healthz')
    .option('--health-interval-ms <ms>', 'time between health checks (default 2000)')
    .option('--admin <host:port>', 'admin API address (needs --admin-token-file or SCALEOUT_ADMIN_TOKEN)')
    .option('--admin-token-file <path>', 'file holding the admin API bearer token (mode 0600; refused if other users may read it)')
    .option('--admin-token <token>', 'the token itself: avoid, other users see command lines in `ps`; use --admin-token-file or SCALEOUT_ADMIN_TOKEN')
    .option('--key <id:secret>', 'affinity cookie key; the first signs (repeat to rotate; or SCALEOUT_BALANCER_KEYS=id:secret,...)', collect, [])
    .option('--workers <n>', 'processes sharing the listening socket: a number, or auto (one per core); default: one process')
    .option('--config <file.json>', 'balancer config file (routes, several pools); flags override its listen and admin')
    .addHelpText('after', `
The admin token: --admin-token-file <path> or the SCALEOUT_ADMIN_TOKEN environment variable.
Both keep it out of the command line, which every user of the machine can read with \`ps\`;
--admin-token still works but warns.`)
    .action(async (flags: BalancerFlags) => {
      const options = balancerOptionsFromFlags(flags, process.env, (warning) => process.stderr.write(`scaleout: warning: ${warning}\n`));
      const { startBalancer } = await import('../balancer/index.js');
      const balancer = await startBalancer(options, {
        log: (event) => process.stderr.write(`${formatBalancerEvent(event)}\n`),
      });
      const processes = 'workers' in balancer ? ` (${balancer.workers().length} worker processes)` : '';
      process.stdout.write(`scaleout balancer listening on ${balancer.addresses.map((a) => `http://${a}`).join(', ')}${processes}\n`);
      if (balancer.adminAddress !== undefined) process.stdout.write(`admin API on http://${balancer.adminAddress} (Authorization: Bearer <token>)\n`);
      await new Promise<void>((resolve) => {
        onShutdownSignal(async () => {
          process.stderr.write('shutting down: finishing in-flight requests\n');
          await balancer.close();
          resolve();
        });
      });
    });
}

/** Turn flags (and an optional config file) into balancer options; usage errors say what to fix. */
export function balancerOptionsFromFlags(flags: BalancerFlags, env: NodeJS.ProcessEnv, warn: (warning: string) => void = () => {}): BalancerOptionsInput & { workers?: number | 'auto' } {
  let options: Record<string, unknown> = {};
  if (flags.config !== undefined) {
    let text: string;
    try {
      text = readFileSync(flags.config, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read --config ${flags.config}: ${(err as Error).message}`);
    }
    try {
      options = JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      throw new UsageError(`--config ${flags.config} is not valid JSON: ${(err as Error).message}`);
    }
    if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new UsageError(`--config ${flags.config} must hold a JSON object`);
  }
  const pools = (options.pools ?? {}) as Record<string, PoolOptionsInput>;
  if (flags.server.length > 0 || flags.config === undefined) {
    const pool: PoolOptionsInput = { ...(pools.default ?? {}) };
    pool.servers = flags.server.map(parseServerFlag);
    if (pool.servers.length === 0) throw new UsageError('give at least one --server id=host:port (or a --config file with pools)');
    if (flags.strategy !== undefined) pool.strategy = flags.strategy as PoolOptionsInput['strategy'];
    if (flags.hashOn !== undefined) pool.hash = parseKeyFlag('--hash-on', flags.hashOn);
    if (flags.affinity === 'cookie') pool.affinity = { type: 'cookie' };
    else if (flags.affinity === 'table') {
      const key = flags.affinityKey === undefined ? { on: 'ip' as const } : parseKeyFlag('--affinity-key', flags.affinityKey);
      pool.affinity = { type: 'table', key: key as { on: 'ip' }, ...(flags.tableFile === undefined ? {} : { file: flags.tableFile }) };
    } else if (flags.affinity !== undefined) throw new UsageError(`--affinity must be cookie or table, not "${flags.affinity}"`);
    if (flags.healthPath !== undefined) {
      pool.health = { path: flags.healthPath };
      if (flags.healthIntervalMs !== undefined) pool.health.intervalMs = parseMs('--health-interval-ms', flags.healthIntervalMs);
    }
    pools.default = pool;
  }
  options.pools = pools;
  if (flags.listen !== undefined) options.listen = flags.listen;
  options.listen ??= '127.0.0.1:8080';
  if (flags.workers !== undefined) options.workers = parseWorkers(flags.workers);
  const keys = flags.key.length > 0 ? flags.key : (env.SCALEOUT_BALANCER_KEYS?.split(',').filter(Boolean) ?? []);
  if (keys.length > 0) options.keys = keys.map(parseKeyPair);
  const configAdmin = typeof options.admin === 'object' && options.admin !== null ? options.admin as Record<string, unknown> : undefined;
  const adminAddress = flags.admin ?? configAdmin?.address;
  if (adminAddress !== undefined) {
    const configToken = typeof configAdmin?.token === 'string' ? configAdmin.token : undefined;
    options.admin = { ...configAdmin, address: adminAddress, token: adminToken(flags, env, warn, configToken) };
  } else if (flags.adminTokenFile !== undefined || flags.adminToken !== undefined) {
    throw new UsageError('an admin token needs --admin <host:port> to say where the admin API listens');
  }
  return options as BalancerOptionsInput & { workers?: number | 'auto' };
}

function parseWorkers(value: string): number | 'auto' {
  if (value === 'auto') return 'auto';
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_WORKERS) throw new UsageError(`--workers must be a whole number from 1 to ${MAX_WORKERS} or auto, not "${value}"`);
  return n;
}

/**
 * The admin token: from the file, or (discouraged) the command line, else the
 * environment, else the config file. Never both flags.
 */
function adminToken(flags: BalancerFlags, env: NodeJS.ProcessEnv, warn: (warning: string) => void, configToken: string | undefined): string {
  if (flags.adminTokenFile !== undefined && flags.adminToken !== undefined) throw new UsageError('give --admin-token-file or --admin-token, not both');
  if (flags.adminTokenFile !== undefined) {
    const file = readSecretFile('--admin-token-file', flags.adminTokenFile);
    if (file.warning !== undefined) warn(file.warning);
    return file.secret;
  }
  if (flags.adminToken !== undefined) {
    warn('--admin-token shows the token to every user of this machine (`ps`); use --admin-token-file <path> or SCALEOUT_ADMIN_TOKEN');
    return flags.adminToken;
  }
  const token = env.SCALEOUT_ADMIN_TOKEN || configToken;
  if (token === undefined || token === '') throw new UsageError('--admin needs a token: --admin-token-file <path> (mode 0600) or SCALEOUT_ADMIN_TOKEN');
  return token;
}

function parseServerFlag(value: string): { id: string; address: string } {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new UsageError(`--server "${value}" must look like id=host:port, e.g. a=127.0.0.1:9001`);
  return { id: value.slice(0, eq), address: value.slice(eq + 1) };
}

function parseKeyFlag(flag: string, value: string): { on: 'ip' } | { on: 'cookie' | 'header'; name: string } {
  if (value === 'ip') return { on: 'ip' };
  const colon = value.indexOf(':');
  const on = value.slice(0, colon);
  if (colon > 0 && (on === 'cookie' || on === 'header') && colon < value.length - 1) return { on, name: value.slice(colon + 1) };
  throw new UsageError(`${flag} "${value}" must be ip, cookie:NAME or header:NAME`);
}

function parseKeyPair(value: string): { id: string; secret: string } {
  const colon = value.indexOf(':');
  if (colon <= 0) throw new UsageError(`affinity key "${value.slice(0, 8)}…" must look like id:secret`);
  return { id: value.slice(0, colon), secret: value.slice(colon + 1) };
}

function parseMs(flag: string, value: string): number {
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms < 0) throw new UsageError(`${flag} must be a whole number of milliseconds, not "${value}"`);
  return ms;
}
