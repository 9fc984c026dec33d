import { defineErrorCatalogue } from '../internal/error-catalogue.js';
import { ScaleoutError } from '../internal/errors.js';

/** A balancer error that maps to an HTTP status sent to the client. */
export class BalancerError extends ScaleoutError {
  readonly status: number;
  constructor(code: string, status: number, message: string, options: { cause?: unknown; retriable?: boolean } = {}) {
    super(code, message, options);
    this.status = status;
  }
}

/** 503: the pool has no server that may take this request. */
export class NoHealthyServerError extends BalancerError {
  static readonly code: string = 'SCALEOUT_BALANCER_NO_HEALTHY_SERVER';
  constructor(pool: string, options: { cause?: unknown } = {}) {
    super(NoHealthyServerError.code, 503,
      `pool "${pool}" has no healthy server; check the servers' health endpoints or add a server`,
      { ...options, retriable: true });
  }
}

/** 504: the server did not answer within the configured timeout. */
export class UpstreamTimeoutError extends BalancerError {
  static readonly code: string = 'SCALEOUT_BALANCER_UPSTREAM_TIMEOUT';
  constructor(server: string, timeoutMs: number, options: { cause?: unknown } = {}) {
    super(UpstreamTimeoutError.code, 504,
      `server "${server}" did not answer within ${timeoutMs} ms; raise timeouts.serverMs or look at the server`,
      { ...options, retriable: true });
  }
}

/** 502: the server sent something that is not a valid HTTP/1.1 response, or closed early. */
export class BadUpstreamResponseError extends BalancerError {
  static readonly code: string = 'SCALEOUT_BALANCER_BAD_UPSTREAM_RESPONSE';
  constructor(server: string, detail: string, options: { cause?: unknown } = {}) {
    super(BadUpstreamResponseError.code, 502,
      `server "${server}" sent a bad response (${detail}); look at the server's logs`, options);
  }
}

/** Invalid balancer options or config file. */
export class BalancerConfigError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_BALANCER_CONFIG';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(BalancerConfigError.code, message, options);
  }
}

/** An admin API call named a pool or server that does not exist, or asked something impossible. */
export class AdminRequestError extends BalancerError {
  static readonly code: string = 'SCALEOUT_BALANCER_ADMIN_REQUEST';
  constructor(status: number, message: string, options: { cause?: unknown } = {}) {
    super(AdminRequestError.code, status, message, options);
  }
}

/** 400: an admin request body or parameter failed validation; the message names the field, the value and what is allowed. */
export class AdminInvalidInputError extends BalancerError {
  static readonly code: string = 'SCALEOUT_BALANCER_ADMIN_INVALID_INPUT';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(AdminInvalidInputError.code, 400, message, options);
  }
}

/** 413: an admin request body over the limit. */
export class AdminBodyTooLargeError extends BalancerError {
  static readonly code: string = 'SCALEOUT_BALANCER_ADMIN_BODY_TOO_LARGE';
  constructor(maxBytes: number) {
    super(AdminBodyTooLargeError.code, 413, `the request body is over ${maxBytes} bytes; admin calls take small JSON documents`);
  }
}

/**
 * The balancer's workers could not all apply an admin change (503: no worker is
 * running; 500: they answered differently), or a worker could not start.
 */
export class BalancerWorkersError extends BalancerError {
  static readonly code: string = 'SCALEOUT_BALANCER_WORKERS';
  constructor(status: number, message: string, options: { cause?: unknown } = {}) {
    super(BalancerWorkersError.code, status, message, options);
  }
}

/** 415: an admin request body that is not JSON. */
export class AdminUnsupportedMediaTypeError extends BalancerError {
  static readonly code: string = 'SCALEOUT_BALANCER_ADMIN_UNSUPPORTED_MEDIA_TYPE';
  constructor(given: string) {
    super(AdminUnsupportedMediaTypeError.code, 415,
      `content-type "${given.slice(0, 80)}" is not JSON; send content-type: application/json`);
  }
}

/**
 * An answer the balancer gives by itself, on the data plane or the admin API. These
 * are constants rather than error objects: failing a request must not capture a stack
 * trace or build a message per request when a pool is down and every request fails.
 */
export interface BalancerResponseError {
  readonly status: number;
  readonly code: string;
  /** What the client reads; the data plane may put the pool or server in front of it. */
  readonly message: string;
}

function response(status: number, code: string, message: string): BalancerResponseError {
  return Object.freeze({ status, code, message });
}

/** The balancer's own answers to clients, by cause. */
export const BALANCER_RESPONSES = Object.freeze({
  badRequest: response(400, 'SCALEOUT_BALANCER_BAD_REQUEST', 'the request is not valid HTTP/1.1; fix the client'),
  noRoute: response(404, 'SCALEOUT_BALANCER_NO_ROUTE', 'no route matches this host and path; add a route for it'),
  requestTimeout: response(408, 'SCALEOUT_BALANCER_REQUEST_TIMEOUT', 'the request was not received in time; send the whole request promptly'),
  payloadTooLarge: response(413, 'SCALEOUT_BALANCER_PAYLOAD_TOO_LARGE', 'the request body is too large'),
  headersTooLarge: response(431, 'SCALEOUT_BALANCER_HEADERS_TOO_LARGE', 'the request head is too large; send fewer or smaller headers (cookies?)'),
  notImplemented: response(501, 'SCALEOUT_BALANCER_NOT_IMPLEMENTED',
    'the request uses a transfer coding the balancer does not support; use chunked or Content-Length'),
  versionNotSupported: response(505, 'SCALEOUT_BALANCER_VERSION_NOT_SUPPORTED', 'only HTTP/1.0 and HTTP/1.1 are supported'),
  badUpstreamResponse: response(502, BadUpstreamResponseError.code, 'the server failed or sent an invalid response; retry, or look at the server'),
  noHealthyServer: response(503, NoHealthyServerError.code, 'no server of this pool is healthy; retry shortly'),
  upstreamTimeout: response(504, UpstreamTimeoutError.code, 'the server did not answer in time; retry, or look at the server'),
  adminUnauthorized: response(401, 'SCALEOUT_BALANCER_ADMIN_UNAUTHORIZED', 'send Authorization: Bearer <admin token>'),
  adminInternal: response(500, 'SCALEOUT_BALANCER_ADMIN_INTERNAL', 'the admin API failed; look at the balancer log'),
});

/** The answers to requests the balancer could not read, by the status the parser chose. */
export const CLIENT_ERROR_RESPONSES: Readonly<Record<number, BalancerResponseError>> = Object.freeze({
  400: BALANCER_RESPONSES.badRequest,
  408: BALANCER_RESPONSES.requestTimeout,
  413: BALANCER_RESPONSES.payloadTooLarge,
  431: BALANCER_RESPONSES.headersTooLarge,
  501: BALANCER_RESPONSES.notImplemented,
  505: BALANCER_RESPONSES.versionNotSupported,
});

const R = BALANCER_RESPONSES;

/** Every code of the balancer: what it means and what to do. */
export const BALANCER_ERRORS = defineErrorCatalogue('balancer', [
  { code: R.badRequest.code, status: R.badRequest.status,
    meaning: 'The request is not valid HTTP/1.1 or its framing is ambiguous (for example Content-Length with Transfer-Encoding, a bad chunk size, a bare LF). The balancer closes the connection, since the rest of the byte stream cannot be trusted.',
    action: 'Fix the client. A proxy in front of the balancer that rewrites requests is a common cause.' },
  { code: R.noRoute.code, status: R.noRoute.status,
    meaning: 'No route matches the request\'s host and path.',
    action: 'Add a route for that host and path (`routes`, or `PUT /routes` on the admin API), or send the request to the right host.' },
  { code: R.requestTimeout.code, status: R.requestTimeout.status,
    meaning: 'The request head did not arrive within `timeouts.headMs`, or its body stopped arriving for `timeouts.clientBodyMs`.',
    action: 'Send the whole request promptly; raise `timeouts.clientBodyMs` for slow clients that upload large bodies.' },
  { code: R.payloadTooLarge.code, status: R.payloadTooLarge.status,
    meaning: 'A request body over a limit of the balancer. The balancer streams bodies of any size today and does not send this code yet; it is reserved for a body limit.',
    action: 'Send a smaller body.' },
  { code: R.headersTooLarge.code, status: R.headersTooLarge.status,
    meaning: 'The request head is over `limits.maxHeadBytes` (16 KiB) or has more than `limits.maxHeaderCount` (100) fields.',
    action: 'Send fewer or smaller headers; large cookies are the usual cause. Raise the limits only if the client is right.' },
  { code: R.notImplemented.code, status: R.notImplemented.status,
    meaning: 'The request uses a transfer coding other than chunked, or the CONNECT method.',
    action: 'Send the body with `Transfer-Encoding: chunked` or with `Content-Length`.' },
  { code: R.versionNotSupported.code, status: R.versionNotSupported.status,
    meaning: 'The request is neither HTTP/1.0 nor HTTP/1.1.',
    action: 'Speak HTTP/1.1 to the balancer (HTTP/2 is not supported on the listener).' },
  { errorClass: BadUpstreamResponseError, status: R.badUpstreamResponse.status,
    meaning: 'The server could not be connected to, closed the connection before answering, or sent something that is not a valid HTTP/1.1 response. A request that is safe to repeat was already retried once on another server.',
    action: 'Retry. Look at the server\'s logs; a server that fails repeatedly is ejected from the pool for a while.' },
  { errorClass: NoHealthyServerError, status: R.noHealthyServer.status,
    meaning: 'No server of the pool may take the request: all are down, ejected, draining or at their connection limit. The answer carries `Retry-After: 1`.',
    action: 'Retry shortly. Check the servers\' health endpoints (`scaleout status`, the admin API) and add servers if all are full.' },
  { errorClass: UpstreamTimeoutError, status: R.upstreamTimeout.status,
    meaning: 'The server did not answer within `timeouts.serverMs`. The request is not retried, since the server may still be running it.',
    action: 'Retry if the request is idempotent. Look at why the server is slow, or raise `timeouts.serverMs` for slow endpoints.' },
  { errorClass: BalancerConfigError,
    meaning: 'The balancer options or config file are invalid; the message names the field, the value and what is allowed.',
    action: 'Fix the named field. Nothing was started.' },
  { code: R.adminUnauthorized.code, status: R.adminUnauthorized.status,
    meaning: 'An admin API request without the right bearer token.',
    action: 'Send `Authorization: Bearer <token>` with the token from `--admin-token-file` or `SCALEOUT_ADMIN_TOKEN`.' },
  { errorClass: AdminRequestError, status: 400,
    meaning: 'An admin API request the balancer cannot do: a body that is not JSON, a malformed path, an unknown pool or server (404), or a duplicate id or pool (409). The answer\'s status says which.',
    action: 'Fix the request as the message says; `GET /servers` lists the pools and servers that exist.' },
  { errorClass: AdminInvalidInputError, status: 400,
    meaning: 'A field of an admin request failed validation; the message names the field, the value and what is allowed.',
    action: 'Send a value that is allowed. Admin input is checked exactly like the config.' },
  { errorClass: AdminBodyTooLargeError, status: 413,
    meaning: 'An admin request body is over 64 KiB.',
    action: 'Admin calls take small JSON documents; send one change per request.' },
  { errorClass: AdminUnsupportedMediaTypeError, status: 415,
    meaning: 'An admin request body has a content-type other than JSON.',
    action: 'Send `content-type: application/json` (or no content-type).' },
  { errorClass: BalancerWorkersError, status: 503,
    meaning: 'With `workers`, the primary could not do what was asked with its worker processes: no worker runs right now (503, one is being restarted), the workers answered an admin change differently (500), or a worker could not start.',
    action: 'Retry the admin call in a moment; `GET /servers` shows the state every worker agrees on. If workers keep failing to start, read the balancer\'s log for their error.' },
  { code: R.adminInternal.code, status: R.adminInternal.status,
    meaning: 'The admin API failed on an error it did not expect.',
    action: 'Look at the balancer\'s log for the cause; the request may be retried.' },
]);
