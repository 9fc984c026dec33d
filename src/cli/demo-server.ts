import http from 'node:http';
import { DEFAULT_AFFINITY_COOKIE_NAME, DEFAULT_HEALTH_PATH, INSTANCE_HEADER, LOAD_HEADER } from '../internal/wire.js';

/**
 * A tiny app server for the balancer demo: answers which server it is, reports its
 * load like a scaleout app does, and has a health endpoint. Run as its own process
 * so the demo can show a server dying.
 */
const id = process.env.DEMO_SERVER_ID ?? 'demo';
const port = Number(process.env.PORT ?? 0);
let served = 0;
let down = false;

const server = http.createServer((req, res) => {
  const load = Math.min(1, performance.eventLoopUtilization().utilization).toFixed(2);
  if (req.url === DEFAULT_HEALTH_PATH) {
    res.writeHead(down ? 503 : 200, { 'content-type': 'application/json', [LOAD_HEADER]: load });
    res.end(JSON.stringify({ status: down ? 'down' : 'ok', instance: id, load: Number(load) }));
    return;
  }
  if (req.url === '/toggle-health' && req.method === 'POST') {
    down = !down;
    res.writeHead(303, { location: '/' });
    res.end();
    return;
  }
  served++;
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', [LOAD_HEADER]: load, [INSTANCE_HEADER]: id });
  res.end(`<!doctype html><title>scaleout demo</title>
<h1>Served by ${id}</h1>
<p>This server has answered ${served} requests. Reload: with cookie affinity you stay on ${id};
the balancer's signed <code>${DEFAULT_AFFINITY_COOKIE_NAME}</code> cookie names this server without revealing it.</p>
<p>Request id <code>${String(req.headers['x-request-id'])}</code>, forwarded for <code>${String(req.headers['x-forwarded-for'])}</code>.</p>
<form method="post" action="/toggle-health"><button>Make ${id} fail its health checks (${down ? 'now failing' : 'now healthy'})</button></form>`);
});
server.listen(port, '127.0.0.1', () => {
  process.send?.({ port: (server.address() as { port: number }).port });
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
