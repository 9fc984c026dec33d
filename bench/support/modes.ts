/** The balancing modes the benchmark measures, in the order they run. */
export const MODES = ['round-robin', 'cookie', 'least-load'] as const;

/** One balancing mode: plain round-robin, cookie affinity over round-robin, or least-load. */
export type Mode = (typeof MODES)[number];

/** The proxies the benchmark knows, in the order they run within a mode. */
export const PROXY_NAMES = ['direct', 'haproxy', 'nginx', 'fastify', 'scaleout'] as const;

/** One proxy under test; `direct` is no proxy at all (wrk to one backend), the ceiling. */
export type ProxyName = (typeof PROXY_NAMES)[number];

/** The name printed for each proxy. */
export const PROXY_LABELS: Record<ProxyName, string> = {
  direct: 'direct (no proxy)',
  haproxy: 'HAProxy',
  nginx: 'nginx',
  fastify: '@fastify/http-proxy',
  scaleout: 'scaleout balancer',
};

/** The cookie the scaleout balancer and the Node peer set, and nginx hashes on. */
export const STICKY_COOKIE = 'scaleout_srv';

export function isMode(value: string): value is Mode {
  return (MODES as readonly string[]).includes(value);
}

export function isProxyName(value: string): value is ProxyName {
  return (PROXY_NAMES as readonly string[]).includes(value);
}
