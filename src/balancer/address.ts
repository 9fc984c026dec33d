import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';

/** The highest TCP port. */
export const MAX_PORT = 65_535;

/** What an address may look like, quoted in every rejection so the fix is obvious. */
export const ADDRESS_HELP = 'host:port with host an IPv4 address, a bracketed IPv6 address ([::1]) or a DNS name, e.g. 127.0.0.1:8080';

const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/**
 * Why `text` is not a usable `host:port`, or undefined when it is. A server address is
 * dialled on the hot path, so anything `net.connect` would throw on (port 99999, an
 * unbracketed IPv6 address, a host with spaces) must be refused here, once, not when the
 * first request is routed to it.
 */
export function addressProblem(text: string, minPort: 0 | 1): string | undefined {
  const colon = text.lastIndexOf(':');
  if (colon < 0) return `missing ":port"; expected ${ADDRESS_HELP}`;
  const host = text.slice(0, colon);
  const portText = text.slice(colon + 1);
  if (!/^\d{1,5}$/.test(portText) || Number(portText) < minPort || Number(portText) > MAX_PORT) {
    return `port must be a whole number from ${minPort} to ${MAX_PORT}`;
  }
  if (host.startsWith('[') || host.endsWith(']')) {
    if (!host.startsWith('[') || !host.endsWith(']') || !isIPv6(host.slice(1, -1))) return `"${host}" is not a valid bracketed IPv6 address; expected ${ADDRESS_HELP}`;
    return undefined;
  }
  if (host.includes(':')) return `an IPv6 host needs brackets, e.g. [::1]:8080`;
  if (/^[\d.]+$/.test(host)) return isIPv4(host) ? undefined : `"${host}" is not a valid IPv4 address (four numbers 0-255); expected ${ADDRESS_HELP}`;
  const labels = host.split('.');
  if (host.length === 0 || host.length > 253 || !labels.every((label) => LABEL.test(label))) {
    return `"${host}" is not a valid host name (dot-separated labels of 1-63 letters, digits and inner hyphens); expected ${ADDRESS_HELP}`;
  }
  return undefined;
}

function addressSchema(minPort: 0 | 1): z.ZodType<string> {
  return z.string({ error: `expected a string: ${ADDRESS_HELP}` }).max(300, 'an address has at most 300 characters').superRefine((text, ctx) => {
    const problem = addressProblem(text, minPort);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  });
}

/** Where the balancer connects: port 1-65535. */
export const serverAddressSchema = addressSchema(1);
/** Where the balancer (or its admin API) listens: port 0 asks the OS for a free one. */
export const listenAddressSchema = addressSchema(0);

/** Host (without brackets) and port of an address the schemas above accepted. */
export function splitAddress(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  let host = address.slice(0, colon);
  if (host.startsWith('[')) host = host.slice(1, -1);
  return { host, port: Number(address.slice(colon + 1)) };
}

/** The address as `host:port`, with brackets around an IPv6 host. */
export function joinAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
