import { defineErrorCatalogue } from '../internal/error-catalogue.js';
import { ScaleoutError } from '../internal/errors.js';

/** Invalid DNS server options; the message names the field, the value and what is allowed. */
export class DnsConfigError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_DNS_CONFIG';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(DnsConfigError.code, message, options);
  }
}

/** The DNS server could not bind its UDP or TCP socket. */
export class DnsListenError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_DNS_LISTEN';
  constructor(address: string, options: { cause?: unknown } = {}) {
    const detail = options.cause instanceof Error ? ` (${options.cause.message})` : '';
    super(DnsListenError.code,
      `cannot listen for DNS on ${address}${detail}; pick a free port (port 53 needs root or CAP_NET_BIND_SERVICE)`, options);
  }
}

/** Every code of the DNS server: what it means and what to do. */
export const DNS_ERRORS = defineErrorCatalogue('dns', [
  { errorClass: DnsConfigError,
    meaning: 'The DNS server options are invalid: a zone that is not a domain name, a balancer that is not an IP literal with a port, a TTL over the limit, or a health check that cannot work. The message names the field, the value and what is allowed.',
    action: 'Fix the named field (or flag of `scaleout dns`). Nothing was started.' },
  { errorClass: DnsListenError,
    meaning: 'The DNS server could not bind its UDP or TCP socket on the listen address: the port is taken, or is below 1024 without the right to bind it.',
    action: 'Pick a free port, or stop what holds it. Port 53 needs root or `CAP_NET_BIND_SERVICE`.' },
]);
