/**
 * The balancer's HTTP/1.1 wire parsing: strict request and response head parsers and
 * the chunked body boundary scanner. Internal to the balancer domain.
 */
export {
  ChunkedScanner, CHUNKED_ERROR, CHUNKED_NEED_MORE, DEFAULT_CHUNKED_SCANNER_LIMITS, DEFAULT_MAX_CHUNK_LINE_BYTES, DEFAULT_MAX_TRAILER_BYTES,
  resolveChunkedScannerOptions,
} from './chunked-scanner.js';
export type { ChunkedScannerLimits, ChunkedScannerOptions } from './chunked-scanner.js';
export { DROP_EXTRACTED, DROP_HOP_BY_HOP, dropField, headerValue, latin1, valueEnd, valueStart } from './head-fields.js';
export { DEFAULT_HEAD_LIMITS, DEFAULT_MAX_HEAD_BYTES, DEFAULT_MAX_HEADER_COUNT, resolveHeadLimits }
  from './head-limits.js';
export type { HeadLimits } from './head-limits.js';
export { INCOMPLETE } from './head-result.js';
export type { HeadError, HeadErrorStatus, HeadIncomplete } from './head-result.js';
export { parseRequestHead } from './request-head.js';
export type { RequestHead } from './request-head.js';
export type { TargetForm } from './request-target.js';
export { parseResponseHead } from './response-head.js';
export type { ResponseHead } from './response-head.js';
