import { STATUS_CODES } from 'node:http';

/**
 * Responses the balancer itself sends. JSON, because clients of scaled-out apps are
 * mostly programs, with the error code a client can branch on and a hint for people.
 * They always close the connection: after a framing error the byte stream cannot be
 * trusted, and after a pool failure a fresh connection may land on a fresh balancer.
 */
export function errorResponse(status: number, code: string, message: string, requestId: string | undefined, extraHeaders = ''): Buffer {
  const body = JSON.stringify({ error: { code, message } });
  const idLine = requestId === undefined ? '' : `x-request-id: ${requestId}\r\n`;
  return Buffer.from(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
    'content-type: application/json\r\n' +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    idLine + extraHeaders +
    'connection: close\r\n\r\n' + body,
    'latin1',
  );
}

/** Codes for the errors found while reading a client's request. */
export const CLIENT_ERROR_CODES: Record<number, [code: string, message: string]> = {
  400: ['SCALEOUT_BALANCER_BAD_REQUEST', 'the request is not valid HTTP/1.1; fix the client'],
  408: ['SCALEOUT_BALANCER_REQUEST_TIMEOUT', 'the request was not received in time; send the whole request promptly'],
  413: ['SCALEOUT_BALANCER_PAYLOAD_TOO_LARGE', 'the request body is too large'],
  431: ['SCALEOUT_BALANCER_HEADERS_TOO_LARGE', 'the request head is too large; send fewer or smaller headers (cookies?)'],
  501: ['SCALEOUT_BALANCER_NOT_IMPLEMENTED', 'the request uses a transfer coding the balancer does not support; use chunked or Content-Length'],
  505: ['SCALEOUT_BALANCER_VERSION_NOT_SUPPORTED', 'only HTTP/1.0 and HTTP/1.1 are supported'],
};
