import { join } from 'node:path';
import type { Mode } from './modes.js';
import { STICKY_COOKIE } from './modes.js';
import { tempPaths } from './backends.js';

/** An upstream server: a name (used as the affinity cookie value) and a port on 127.0.0.1. */
export interface ServerAddress {
  name: string;
  port: number;
}

/** Interval of the active health checks on every proxy that has them. @defaultValue 2000 */
export const DEFAULT_HEALTH_INTERVAL_MS = 2_000;

/** Idle upstream connections nginx keeps per worker. @defaultValue 64 */
export const DEFAULT_NGINX_UPSTREAM_KEEPALIVE = 64;

/**
 * HAProxy with one thread, keep-alive on both sides with connection reuse to
 * the servers, active health checks, and the header work the scaleout balancer
 * does (adds the forwarding headers and a request id, strips `scaleout-load`),
 * so every proxy does the same work per request.
 * cookie: `insert indirect nocache` sets the cookie once and strips it on the
 * way to the server, which is the verify-and-route path. least-load: `leastconn`
 * is the nearest equivalent (HAProxy does not read a load header).
 */
export function haproxyConfig(port: number, servers: ServerAddress[], mode: Mode): string {
  const balance = mode === 'least-load' ? 'leastconn' : 'roundrobin';
  const cookie = mode === 'cookie' ? '\n  cookie SRV insert indirect nocache' : '';
  const serverLines = servers.map((s) =>
    `  server ${s.name} 127.0.0.1:${s.port} check inter ${DEFAULT_HEALTH_INTERVAL_MS}ms${mode === 'cookie' ? ` cookie ${s.name}` : ''}`).join('\n');
  return `global
  nbthread 1
  maxconn 4096

defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 30s
  option http-keep-alive
  http-reuse always

frontend fe
  bind 127.0.0.1:${port}
  option forwardfor
  unique-id-format %{+X}o%ci%cp%fp%Ts%rt
  http-request set-header X-Forwarded-Proto http
  http-request set-header X-Forwarded-Host %[req.hdr(host)]
  http-request set-header X-Request-Id %[unique-id] unless { req.hdr(x-request-id) -m found }
  http-response del-header scaleout-load
  default_backend app

backend app
  balance ${balance}${cookie}
  option httpchk GET /healthz
${serverLines}
`;
}

/**
 * nginx with one worker, keep-alive to the servers, and the forwarding
 * headers. Open-source nginx has no sticky cookie and no active health
 * checks: cookie mode is `hash $cookie_scaleout_srv consistent` (routing on a
 * cookie the client already has), least-load is `least_conn`.
 */
export function nginxProxyConfig(workDir: string, port: number, servers: ServerAddress[], mode: Mode): string {
  const strategy = mode === 'least-load' ? '    least_conn;\n' : mode === 'cookie' ? `    hash $cookie_${STICKY_COOKIE} consistent;\n` : '';
  const serverLines = servers.map((s) => `    server 127.0.0.1:${s.port};`).join('\n');
  return `worker_processes 1;
pid ${join(workDir, 'nginx-proxy.pid')};
error_log ${join(workDir, 'nginx-proxy.error.log')} warn;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  ${tempPaths(join(workDir, 'nginx-proxy-tmp'))}
  upstream app {
${strategy}${serverLines}
    keepalive ${DEFAULT_NGINX_UPSTREAM_KEEPALIVE};
    keepalive_requests 1000000;
  }
  map $http_x_request_id $scaleout_request_id {
    default $http_x_request_id;
    '' $request_id;
  }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Request-Id $scaleout_request_id;
      proxy_hide_header scaleout-load;
    }
  }
}
`;
}
