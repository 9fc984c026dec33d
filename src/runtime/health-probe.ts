import http from 'node:http';
import { isHealthyStatus, parseHealthBody } from '../internal/wire.js';

/** Body bytes read from a health answer. @defaultValue 16384 */
export const HEALTH_MAX_BODY_BYTES = 16 * 1024;

/** One health probe's outcome; the body fields are present when the answer was JSON. */
export interface HealthAnswer {
  ok: boolean;
  /** `HTTP 200`, `HTTP 503`, `connect ECONNREFUSED`, `no answer within 1000 ms`. */
  reason: string;
  status: string | undefined;
  instance: string | undefined;
  buildId: string | undefined;
  load: number | undefined;
}

/**
 * `GET <path>` on a fresh connection to `address`: healthy as the balancer's active
 * checks count it (2xx and 3xx, see `isHealthyStatus`). Never rejects;
 * every failure is an answer with `ok: false` and a reason.
 */
export function probeHealth(address: string, path: string, timeoutMs: number): Promise<HealthAnswer> {
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(colon + 1));
  return new Promise((resolve) => {
    let settled = false;
    const finish = (answer: Omit<HealthAnswer, 'status' | 'instance' | 'buildId' | 'load'> & Partial<HealthAnswer>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve({ status: undefined, instance: undefined, buildId: undefined, load: undefined, ...answer });
    };
    const req = http.request({ host, port, path, method: 'GET', agent: false, headers: { connection: 'close', accept: 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= HEALTH_MAX_BODY_BYTES) chunks.push(chunk);
      });
      res.on('error', () => finish({ ok: false, reason: 'answer cut off' }));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        finish({ ok: isHealthyStatus(status), reason: `HTTP ${status}`, ...parseHealthBody(Buffer.concat(chunks).toString('utf8')) });
      });
    });
    const timer = setTimeout(() => finish({ ok: false, reason: `no answer within ${timeoutMs} ms` }), timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => finish({ ok: false, reason: `connect ${err.code ?? err.message}` }));
    req.end();
  });
}
