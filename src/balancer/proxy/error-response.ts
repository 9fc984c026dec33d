import { STATUS_CODES } from 'node:http';
import type { BalancerResponseError } from '../errors.js';

/**
 * Responses the balancer itself sends. JSON, because clients of scaled-out apps are
 * mostly programs, with the error code a client can branch on and a hint for people.
 * They always close the connection: after a framing error the byte stream cannot be
 * trusted, and after a pool failure a fresh connection may land on a fresh balancer.
 *
 * `subject` names the pool or server in front of the catalogue's message.
 */
export function errorResponse(error: BalancerResponseError, requestId: string | undefined, subject?: string, extraHeaders = ''): Buffer {
  const message = subject === undefined ? error.message : `${subject}: ${error.message}`;
  const body = JSON.stringify({ error: { code: error.code, message } });
  const idLine = requestId === undefined ? '' : `x-request-id: ${requestId}\r\n`;
  return Buffer.from(
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? 'Error'}\r\n` +
    'content-type: application/json\r\n' +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    idLine + extraHeaders +
    'connection: close\r\n\r\n' + body,
    'latin1',
  );
}
