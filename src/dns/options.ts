import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { describeIssues } from '../internal/zod-issues.js';
import { DnsConfigError } from './errors.js';
import { DEFAULT_HEALTH, DEFAULT_MAX_TCP_CONNECTIONS, DEFAULT_TCP_IDLE_MS, DEFAULT_TTL_SEC, DEFAULT_UDP_PAYLOAD_BYTES, MAX_TTL_SEC } from './defaults.js';

export { DEFAULT_HEALTH, DEFAULT_MAX_TCP_CONNECTIONS, DEFAULT_TCP_IDLE_MS, DEFAULT_TTL_SEC, DEFAULT_UDP_PAYLOAD_BYTES, MAX_TTL_SEC };

const HOST_HELP = 'an IPv4 address or a bracketed IPv6 address with a port, e.g. 127.0.0.2:8080 or [::1]:8080';
const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?$/;

/** `ip:port` split; undefined when it is not an IP literal with a port. */
export function splitHostPort(text: string, minPort: 0 | 1): { host: string; port: number } | undefined {
  const colon = text.lastIndexOf(':');
  if (colon < 0) return undefined;
  let host = text.slice(0, colon);
  const portText = text.slice(colon + 1);
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port < minPort || port > 65_535) return undefined;
  if (host.startsWith('[') && host.endsWith(']')) {
    host = host.slice(1, -1);
    return isIPv6(host) ? { host, port } : undefined;
  }
  return isIPv4(host) ? { host, port } : undefined;
}

function hostPort(minPort: 0 | 1): z.ZodType<string> {
  return z.string().max(100).refine((text) => splitHostPort(text, minPort) !== undefined, { message: `expected ${HOST_HELP}` });
}

const zoneSchema = z.string().max(253).transform((text) => text.replace(/\.$/, '').toLowerCase())
  .refine((zone) => zone.length > 0 && zone.split('.').every((label) => LABEL.test(label)),
    { message: 'expected a domain name of dot-separated labels (letters, digits, hyphens), e.g. shop.test' });

const healthSchema = z.object({
  /** HTTP GET of this path on each balancer, healthy on 2xx/3xx; `null` checks with a TCP connect only. */
  path: z.string().startsWith('/').max(1_000).nullable().default('/healthz'),
  intervalMs: z.number().int().min(50).max(600_000).default(DEFAULT_HEALTH.intervalMs),
  timeoutMs: z.number().int().min(10).max(600_000).default(DEFAULT_HEALTH.timeoutMs),
  /** Consecutive passes that bring a down balancer back. */
  rise: z.number().int().min(1).max(100).default(DEFAULT_HEALTH.rise),
  /** Consecutive failures that take a balancer out of answers. */
  fall: z.number().int().min(1).max(100).default(DEFAULT_HEALTH.fall),
}).strict();

export const dnsOptionsSchema = z.object({
  /** The name served, and the zone we are authoritative for (its subnames get NXDOMAIN). */
  zone: zoneSchema,
  /** Where to answer, UDP and TCP on the same address; port 0 asks the OS for a free one (the same for both). */
  listen: hostPort(0).default('127.0.0.1:5353'),
  /** The balancers: the A/AAAA records of the zone's name, and where they are health-checked. */
  balancers: z.array(hostPort(1)).min(1, 'give at least one balancer').max(64),
  ttlSec: z.number().int().min(0).max(MAX_TTL_SEC, `a TTL of at most ${MAX_TTL_SEC} s, so a dead balancer leaves resolvers' caches fast`).default(DEFAULT_TTL_SEC),
  health: healthSchema.default(() => healthSchema.parse({})),
  udpPayloadBytes: z.number().int().min(512).max(4096).default(DEFAULT_UDP_PAYLOAD_BYTES),
  tcpIdleMs: z.number().int().min(100).max(600_000).default(DEFAULT_TCP_IDLE_MS),
  maxTcpConnections: z.number().int().min(1).max(100_000).default(DEFAULT_MAX_TCP_CONNECTIONS),
}).strict().superRefine((options, ctx) => {
  if (options.health.timeoutMs > options.health.intervalMs) {
    ctx.addIssue({ code: 'custom', path: ['health', 'timeoutMs'], message: 'must not exceed health.intervalMs' });
  }
});

export type DnsOptionsInput = z.input<typeof dnsOptionsSchema>;
export type DnsOptions = z.output<typeof dnsOptionsSchema>;
export type DnsHealthOptions = DnsOptions['health'];

/** Validates the options once; a DnsConfigError names what to fix. */
export function parseDnsOptions(input: unknown): DnsOptions {
  const result = dnsOptionsSchema.safeParse(input);
  if (result.success) return result.data;
  throw new DnsConfigError(describeIssues(result.error.issues, input));
}
