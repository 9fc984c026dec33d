/**
 * `scaleout/dns`: an authoritative DNS server for the app's name that answers with the
 * balancers that pass their health checks, rotated per answer, with a short TTL.
 */
export { DnsServer, formatDnsEvent, startDnsServer } from './server.js';
export type { DnsEvent, DnsServerDeps } from './server.js';
export { DNS_ERRORS, DnsConfigError, DnsListenError } from './errors.js';
export {
  DEFAULT_HEALTH, DEFAULT_MAX_TCP_CONNECTIONS, DEFAULT_TCP_IDLE_MS, DEFAULT_TTL_SEC, DEFAULT_UDP_PAYLOAD_BYTES, MAX_TTL_SEC,
  parseDnsOptions,
} from './options.js';
export type { DnsHealthOptions, DnsOptions, DnsOptionsInput } from './options.js';
export { RCODE, ZoneResponder } from './responder.js';
export type { ResponderOptions, Transport, ZoneState } from './responder.js';
export type { BalancerHealthEvent } from './health.js';
