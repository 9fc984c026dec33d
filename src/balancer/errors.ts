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
  constructor(pool: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_BALANCER_NO_HEALTHY_SERVER', 503,
      `pool "${pool}" has no healthy server; check the servers' health endpoints or add a server`,
      { ...options, retriable: true });
  }
}

/** 504: the server did not answer within the configured timeout. */
export class UpstreamTimeoutError extends BalancerError {
  constructor(server: string, timeoutMs: number, options: { cause?: unknown } = {}) {
    super('SCALEOUT_BALANCER_UPSTREAM_TIMEOUT', 504,
      `server "${server}" did not answer within ${timeoutMs} ms; raise timeouts.serverMs or look at the server`,
      { ...options, retriable: true });
  }
}

/** 502: the server sent something that is not a valid HTTP/1.1 response, or closed early. */
export class BadUpstreamResponseError extends BalancerError {
  constructor(server: string, detail: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_BALANCER_BAD_UPSTREAM_RESPONSE', 502,
      `server "${server}" sent a bad response (${detail}); look at the server's logs`, options);
  }
}

/** Invalid balancer options or config file. */
export class BalancerConfigError extends ScaleoutError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_BALANCER_CONFIG', message, options);
  }
}

/** An admin API call named a pool or server that does not exist, or asked something impossible. */
export class AdminRequestError extends BalancerError {
  constructor(status: number, message: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_BALANCER_ADMIN_REQUEST', status, message, options);
  }
}

/** 400: an admin request body or parameter failed validation; the message names the field, the value and what is allowed. */
export class AdminInvalidInputError extends BalancerError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_BALANCER_ADMIN_INVALID_INPUT', 400, message, options);
  }
}

/** 413: an admin request body over the limit. */
export class AdminBodyTooLargeError extends BalancerError {
  constructor(maxBytes: number) {
    super('SCALEOUT_BALANCER_ADMIN_BODY_TOO_LARGE', 413, `the request body is over ${maxBytes} bytes; admin calls take small JSON documents`);
  }
}

/** 415: an admin request body that is not JSON. */
export class AdminUnsupportedMediaTypeError extends BalancerError {
  constructor(given: string) {
    super('SCALEOUT_BALANCER_ADMIN_UNSUPPORTED_MEDIA_TYPE', 415,
      `content-type "${given.slice(0, 80)}" is not JSON; send content-type: application/json`);
  }
}
