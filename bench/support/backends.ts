import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ProcessGroup, Started } from './process-group.js';
import { freePort, httpStatus, waitForPort } from './net.js';

/** Size of the body every backend response carries. @defaultValue 200 */
export const DEFAULT_BODY_BYTES = 200;

/** The load the backends report in `scaleout-load`, read by least-load strategies. @defaultValue 0.3 */
export const DEFAULT_REPORTED_LOAD = 0.3;

/** A running pair of backends. */
export interface Backends {
  /** `name -> port` on 127.0.0.1, in a stable order (a, b). */
  servers: { name: string; port: number }[];
  process: Started;
}

/**
 * nginx serving a fixed body on two ports from one worker. nginx answers a
 * `return` in a few microseconds, so the backends are never the bottleneck the
 * proxies are measured against; `keepalive_requests` is lifted so proxies keep
 * their upstream connections for the whole run.
 */
export function backendConfig(workDir: string, ports: number[], bodyBytes = DEFAULT_BODY_BYTES, load = DEFAULT_REPORTED_LOAD): string {
  const body = 'x'.repeat(Math.max(0, bodyBytes - 1)) + '\\n';
  const servers = ports.map((port) => `
    server {
      listen 127.0.0.1:${port} backlog=4096;
      location = /healthz {
        default_type application/json;
        add_header scaleout-load ${load};
        return 200 '{"status":"ok","load":${load}}';
      }
      location / {
        add_header scaleout-load ${load};
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
}
`;
}

/** nginx's temp paths, inside the work folder so nothing needs /var/lib/nginx. */
export function tempPaths(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((kind) => `${kind}_temp_path ${join(dir, kind)};`).join('\n  ');
}

/** Starts the backends pinned to `cpu` and waits until both answer `/healthz`. */
export async function startBackends(group: ProcessGroup, workDir: string, cpu: number): Promise<Backends> {
  const ports = [await freePort(), await freePort()];
  const config = join(workDir, 'backends.conf');
  writeFileSync(config, backendConfig(workDir, ports));
  const started = group.start({
    name: 'backends',
    command: 'nginx',
    args: ['-c', config, '-g', 'daemon off;'],
    cpu,
    logFile: join(workDir, 'backends.log'),
  });
  for (const port of ports) {
    await waitForPort('127.0.0.1', port, undefined, started.alive);
    const status = await httpStatus('127.0.0.1', port, '/healthz');
    if (status !== 200) throw new Error(`backend on port ${port} answered /healthz with ${status}; see ${join(workDir, 'backends.error.log')}`);
  }
  return { servers: ports.map((port, i) => ({ name: String.fromCharCode(97 + i), port })), process: started };
}
