import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ProcessGroup, Started } from './process-group.js';
import { freePort, httpGet, httpStatus, waitForPort } from './net.js';

/** Size of the body every backend response carries. @defaultValue 200 */
export const DEFAULT_BODY_BYTES = 200;

/** The load the backends report in `scaleout-load`, read by least-load strategies. @defaultValue 0.3 */
export const DEFAULT_REPORTED_LOAD = 0.3;

/** The response header naming the backend that answered, for the routing checks. */
export const SERVED_BY_HEADER = 'x-bench-server';

/** The name of the i-th backend (a, b, ...), also its affinity cookie value. */
export function serverName(i: number): string {
  return String.fromCharCode(97 + i);
}

/** A running pair of backends. */
export interface Backends {
  /** `name -> port` on 127.0.0.1, in a stable order (a, b). */
  servers: { name: string; port: number }[];
  /** Port of nginx's stub_status, for {@link acceptedConnections}. */
  statusPort: number;
  process: Started;
}

/**
 * nginx serving a fixed body on two ports from one worker. nginx answers a
 * `return` in a few microseconds, so the backends are never the bottleneck the
 * proxies are measured against; `keepalive_requests` is lifted so proxies keep
 * their upstream connections for the whole run.
 */
export function backendConfig(workDir: string, ports: number[], statusPort: number, bodyBytes = DEFAULT_BODY_BYTES, load = DEFAULT_REPORTED_LOAD): string {
  const body = 'x'.repeat(Math.max(0, bodyBytes - 1)) + '\\n';
  const servers = ports.map((port, i) => `
    server {
      listen 127.0.0.1:${port} backlog=4096;
      location = /healthz {
        default_type application/json;
        add_header scaleout-load ${load};
        add_header ${SERVED_BY_HEADER} ${serverName(i)};
        return 200 '{"status":"ok","load":${load}}';
      }
      location / {
        add_header scaleout-load ${load};
        add_header ${SERVED_BY_HEADER} ${serverName(i)};
        return 200 "${body}";
      }
    }`).join('\n');
  return `worker_processes 1;
pid ${join(workDir, 'backends.pid')};
error_log ${join(workDir, 'backends.error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  default_type text/plain;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  ${tempPaths(join(workDir, 'backends-tmp'))}
${servers}
    server {
      listen 127.0.0.1:${statusPort};
      location / { stub_status; }
    }
}
`;
}

/** nginx's temp paths, inside the work folder so nothing needs /var/lib/nginx. */
export function tempPaths(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((kind) => `${kind}_temp_path ${join(dir, kind)};`).join('\n  ');
}

/** Starts the backends (pinned to `cpu` when given) and waits until both answer `/healthz`. */
export async function startBackends(group: ProcessGroup, workDir: string, cpu?: number): Promise<Backends> {
  const ports = [await freePort(), await freePort()];
  const statusPort = await freePort();
  const config = join(workDir, 'backends.conf');
  writeFileSync(config, backendConfig(workDir, ports, statusPort));
  const started = group.start({
    name: 'backends',
    command: 'nginx',
    args: ['-c', config, '-g', 'daemon off;'],
    ...(cpu === undefined ? {} : { cpu }),
    logFile: join(workDir, 'backends.log'),
  });
  for (const port of ports) {
    await waitForPort('127.0.0.1', port, undefined, started.alive);
    const status = await httpStatus('127.0.0.1', port, '/healthz');
    if (status !== 200) throw new Error(`backend on port ${port} answered /healthz with ${status}; see ${join(workDir, 'backends.error.log')}`);
  }
  return { servers: ports.map((port, i) => ({ name: serverName(i), port })), statusPort, process: started };
}

/**
 * Connections the backends have accepted so far (nginx stub_status "accepts",
 * which counts its own status requests too). The difference over a measured
 * run shows whether a proxy reuses its upstream connections: with keep-alive
 * working it stays near zero however many requests pass.
 */
export async function acceptedConnections(backends: Backends): Promise<number> {
  const text = (await httpGet('127.0.0.1', backends.statusPort, '/')).body;
  // "Active connections: 3 \nserver accepts handled requests\n 12 12 345 \n..."
  const match = /accepts handled requests\s+(\d+)\s+(\d+)\s+(\d+)/.exec(text);
  if (match?.[1] === undefined) throw new Error(`unexpected stub_status answer from the backends: ${text.slice(0, 200)}`);
  return Number(match[1]);
}
