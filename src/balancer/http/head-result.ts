/**
 * What the head parsers return besides a parsed head: the "need more bytes" marker and
 * errors. Errors are preallocated, frozen singletons, so rejecting garbage allocates
 * nothing and callers may compare them by identity in tests.
 */

/** Returned while the head is not complete yet and the limits still allow more bytes. */
export interface HeadIncomplete {
  readonly kind: 'incomplete';
}

/** The one {@link HeadIncomplete} value; compare with `===` or check `kind`. */
export const INCOMPLETE: HeadIncomplete = Object.freeze({ kind: 'incomplete' });

/**
 * HTTP status for a rejected head. Request heads use 400, 431, 501 and 505 (the status
 * to send to the client); every rejected response head uses 502, the status the balancer
 * sends to its client when a server answers with something it cannot trust.
 */
export type HeadErrorStatus = 400 | 431 | 501 | 502 | 505;

/** A head the parser refuses. `reason` is short and stable, meant for logs and metrics. */
export interface HeadError {
  readonly kind: 'error';
  readonly status: HeadErrorStatus;
  readonly reason: string;
}

/** A frozen {@link HeadError}; use it for a new rejection kind. */
export function headError(status: HeadErrorStatus, reason: string): HeadError {
  return Object.freeze({ kind: 'error', status, reason });
}

const responseErrors = new Map<HeadError, HeadError>();

/** The 502 twin of a request-side error, for rejections shared by both parsers. */
export function asResponseError(err: HeadError): HeadError {
  if (err.status === 502) return err;
  let twin = responseErrors.get(err);
  if (twin === undefined) {
    twin = headError(502, err.reason);
    responseErrors.set(err, twin);
  }
  return twin;
}

// Rejections shared by the request and the response parser.
export const E_BARE_LF = headError(400, 'bare LF in head');
export const E_BARE_CR = headError(400, 'bare CR in head');
export const E_HEAD_TOO_LARGE = headError(431, 'head too large');
export const E_TOO_MANY_FIELDS = headError(431, 'too many header fields');
export const E_OBS_FOLD = headError(400, 'obsolete line folding');
export const E_EMPTY_FIELD_NAME = headError(400, 'empty header name');
export const E_SPACE_BEFORE_COLON = headError(400, 'whitespace before colon in header');
export const E_MISSING_COLON = headError(400, 'header line without colon');
export const E_FIELD_NAME_BYTE = headError(400, 'invalid byte in header name');
export const E_FIELD_VALUE_BYTE = headError(400, 'invalid byte in header value');
export const E_BAD_VERSION = headError(400, 'invalid HTTP version');
export const E_UNSUPPORTED_VERSION = headError(505, 'unsupported HTTP version');
export const E_BAD_CONTENT_LENGTH = headError(400, 'invalid Content-Length');
export const E_DUPLICATE_CONTENT_LENGTH = headError(400, 'duplicate Content-Length');
export const E_CONTENT_LENGTH_AND_TE = headError(400, 'Content-Length with Transfer-Encoding');
export const E_BAD_TRANSFER_ENCODING = headError(400, 'invalid Transfer-Encoding');
export const E_CHUNKED_NOT_LAST = headError(400, 'chunked is not the final transfer coding');
export const E_CHUNKED_TWICE = headError(400, 'chunked applied twice');
export const E_TE_IN_HTTP10 = headError(400, 'Transfer-Encoding in HTTP/1.0');
export const E_BAD_CONNECTION = headError(400, 'invalid Connection');
