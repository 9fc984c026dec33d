/**
 * Finds where a chunked body ends (RFC 9112 7.1) without decoding or copying it: the
 * proxy forwards the framing bytes unchanged and only needs the boundary.
 *
 * Incremental: bytes may arrive split at any position. Data bytes are skipped by
 * arithmetic, so a large chunk costs the same as a small one.
 *
 *            hex            ";"                       CR LF (size > 0)
 *   SIZE_START ──> SIZE ──────────> EXT ... ──> SIZE_LF ─────────────> DATA ─(size bytes)─> DATA_CR ─> DATA_LF ─┐
 *      ^            │ CR                ^             │ (size = 0)                                               │
 *      │            └───────────────────┘             v                                                          │
 *      │                                        TRAILER_START ──name──> TRAILER_NAME ─:─> TRAILER_VALUE ─CRLF─┐  │
 *      │                                          │  ^───────────────────────────────────────────────────────┘  │
 *      │                                          │ CR                                                           │
 *      │                                          v                         (a forbidden name: FAILED)           │
 *      │                                       FINAL_LF ──LF──> DONE                                             │
 *      └─────────────────────────────────────────────────────────────────────────────────────────────────────────┘
 */
import { BalancerConfigError } from '../errors.js';
import { DEFAULT_LIMITS } from '../options.js';
import { BACKSLASH, COLON, CR, DQUOTE, EQUALS, FIELD_VALUE, HEX_VALUE, HTAB, LF, LOWER, QDTEXT, SEMICOLON, SP, TCHAR }
  from './chars.js';

/**
 * Fields a trailer may not carry (RFC 9110 6.5.1): framing, routing, request modifiers,
 * authentication, response control and content processing. A recipient that merged
 * them into the head could be told a different length, host or credentials than the
 * balancer checked, so a body whose trailer holds one is refused as bad framing.
 */
export const FORBIDDEN_TRAILER_FIELDS: ReadonlySet<string> = new Set([
  'content-length', 'transfer-encoding', 'host', 'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer',
  'upgrade', 'content-type', 'content-encoding', 'content-range', 'cache-control', 'expect', 'max-forwards',
  'pragma', 'range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since', 'if-range',
  'authorization', 'proxy-authorization', 'www-authenticate', 'proxy-authenticate', 'cookie', 'set-cookie', 'age',
  'expires', 'date', 'location', 'retry-after', 'vary', 'warning', 'x-forwarded-for', 'x-forwarded-host',
  'x-forwarded-proto',
]);

/** Default {@link ChunkedScannerOptions.maxLineBytes} (the balancer's `limits.maxChunkLineBytes`). */
export const DEFAULT_MAX_CHUNK_LINE_BYTES: number = DEFAULT_LIMITS.maxChunkLineBytes;
/** Default {@link ChunkedScannerOptions.maxTrailerBytes} (the balancer's `limits.maxTrailerBytes`). */
export const DEFAULT_MAX_TRAILER_BYTES: number = DEFAULT_LIMITS.maxTrailerBytes;
/** Most hex digits in a chunk size (leading zeros included). */
export const MAX_CHUNK_SIZE_DIGITS = 16;

/** Bounds on the framing bytes a sender may make the balancer scan. */
export interface ChunkedScannerOptions {
  /**
   * Bytes in one chunk-size line before its CRLF: the size and its extensions. Bounds
   * extension floods (the issue behind Node's CVE-2024-22019).
   * @defaultValue 4096 ({@link DEFAULT_MAX_CHUNK_LINE_BYTES})
   */
  maxLineBytes?: number;
  /**
   * Bytes of all trailer fields together, their CRLFs included.
   * @defaultValue 16384 ({@link DEFAULT_MAX_TRAILER_BYTES})
   */
  maxTrailerBytes?: number;
}

/** {@link ChunkedScannerOptions} resolved: what {@link ChunkedScanner} takes. */
export interface ChunkedScannerLimits {
  readonly maxLineBytes: number;
  readonly maxTrailerBytes: number;
}

/** The limits used when none are given. */
export const DEFAULT_CHUNKED_SCANNER_LIMITS: ChunkedScannerLimits = Object.freeze({
  maxLineBytes: DEFAULT_MAX_CHUNK_LINE_BYTES,
  maxTrailerBytes: DEFAULT_MAX_TRAILER_BYTES,
});

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new BalancerConfigError(`${name} is ${String(value)}; use a whole number >= 1`);
  return value;
}

/**
 * Complete and validate scanner limits once, where whatever scans bodies is set up
 * (the balancer resolves them from its options), so scanners never check them.
 * @throws BalancerConfigError when a limit is not a whole number >= 1.
 */
export function resolveChunkedScannerOptions(options: ChunkedScannerOptions = {}): ChunkedScannerLimits {
  return Object.freeze({
    maxLineBytes: positiveInteger('maxLineBytes', options.maxLineBytes ?? DEFAULT_MAX_CHUNK_LINE_BYTES),
    maxTrailerBytes: positiveInteger('maxTrailerBytes', options.maxTrailerBytes ?? DEFAULT_MAX_TRAILER_BYTES),
  });
}

/** Receives the chunk data in buf[start, end) (a view: copy what must outlive the call). */
export type ChunkDataSink = (buf: Buffer, start: number, end: number) => void;

/** {@link ChunkedScanner.scan}: more bytes are needed. */
export const CHUNKED_NEED_MORE = -1;
/** {@link ChunkedScanner.scan}: the framing is invalid; see {@link ChunkedScanner.error}. */
export const CHUNKED_ERROR = -2;

const SIZE_START = 0;
const SIZE = 1;
const SIZE_LF = 2;
const EXT_NAME_START = 3;
const EXT_NAME = 4;
const EXT_AFTER_NAME = 5;
const EXT_VALUE_START = 6;
const EXT_TOKEN = 7;
const EXT_QUOTED = 8;
const EXT_QUOTED_ESCAPE = 9;
const EXT_AFTER_QUOTED = 10;
const EXT_AFTER_VALUE = 11;
const DATA = 12;
const DATA_CR = 13;
const DATA_LF = 14;
const TRAILER_START = 15;
const TRAILER_NAME = 16;
const TRAILER_VALUE = 17;
const TRAILER_LF = 18;
const FINAL_LF = 19;
const DONE = 20;
const FAILED = 21;

/**
 * Incremental scanner for one chunked body; `reset()` it for the next message.
 *
 * Chunk extensions follow RFC 9112 7.1.1 (`;name[=token|quoted-string]`, with BWS
 * around `;` and `=`), except that no whitespace may sit between the chunk size and the
 * first `;`: llhttp refuses it too, and it has been used to smuggle requests.
 *
 * @example
 * const scanner = new ChunkedScanner();
 * const bodyEnd = scanner.scan(buf, head.headEnd, buf.length);
 * if (bodyEnd === CHUNKED_ERROR) reject(scanner.error);
 */
export class ChunkedScanner {
  readonly #maxLineBytes: number;
  readonly #maxTrailerBytes: number;
  #state = SIZE_START;
  #size = 0;
  #digits = 0;
  #remaining = 0;
  /** Bytes of the current size line, or of the trailers so far. */
  #lineBytes = 0;
  /** The trailer field name being read, lowercased (trailers are rare and bounded). */
  #trailerName = '';
  #error: string | undefined;

  /** `limits` come resolved ({@link resolveChunkedScannerOptions}): a scanner fills in nothing. */
  constructor(limits: ChunkedScannerLimits = DEFAULT_CHUNKED_SCANNER_LIMITS) {
    this.#maxLineBytes = limits.maxLineBytes;
    this.#maxTrailerBytes = limits.maxTrailerBytes;
  }

  /** Why the last scan returned CHUNKED_ERROR; undefined otherwise. */
  get error(): string | undefined {
    return this.#error;
  }

  /** Whether the body's end has been found. */
  get done(): boolean {
    return this.#state === DONE;
  }

  /** Forgets everything, ready for the next chunked body. */
  reset(): void {
    this.#state = SIZE_START;
    this.#size = 0;
    this.#digits = 0;
    this.#remaining = 0;
    this.#lineBytes = 0;
    this.#error = undefined;
  }

  /**
   * Consumes buf[start, end).
   *
   * @param data when given, receives the chunk data (without framing) as it is scanned,
   *   to decode the body for a recipient that cannot read chunked (HTTP/1.0)
   * @returns the index just after the body's last byte (the CRLF after the last chunk
   *   and trailers) when it lies within the range; CHUNKED_NEED_MORE (-1) when every byte
   *   was consumed and the body goes on; CHUNKED_ERROR (-2) on a framing error, and on
   *   every call after it until `reset()`.
   */
  scan(buf: Buffer, start: number, end: number, data?: ChunkDataSink): number {
    let state = this.#state;
    if (state === FAILED) return CHUNKED_ERROR;
    if (state === DONE) return this.#fail('bytes scanned after the end of the body; call reset() first');
    let i = start;
    // Where the current size line or the trailers began within this call; bytes of
    // them seen in earlier calls are in #lineBytes.
    let lineStart = i;
    while (i < end) {
      if (state === DATA) {
        const available = end - i;
        if (available < this.#remaining) {
          if (data !== undefined && available > 0) data(buf, i, end);
          this.#remaining -= available;
          i = end;
          break;
        }
        if (data !== undefined) data(buf, i, i + this.#remaining);
        i += this.#remaining;
        this.#remaining = 0;
        state = DATA_CR;
        continue;
      }
      const b = buf[i]!;
      switch (state) {
        case SIZE_START:
          if (HEX_VALUE[b] === 0xff) return this.#fail('chunk size is not a hex number');
          this.#size = HEX_VALUE[b]!;
          this.#digits = 1;
          this.#lineBytes = 0;
          lineStart = i;
          state = SIZE;
          break;
        case SIZE: {
          const d = HEX_VALUE[b]!;
          if (d !== 0xff) {
            if (++this.#digits > MAX_CHUNK_SIZE_DIGITS) return this.#fail('chunk size has too many digits');
            this.#size = this.#size * 16 + d;
            if (this.#size > Number.MAX_SAFE_INTEGER) return this.#fail('chunk size too large');
          } else if (b === SEMICOLON) {
            state = EXT_NAME_START;
          } else if (b === CR) {
            state = SIZE_LF;
          } else {
            return this.#fail(b === SP || b === HTAB ? 'whitespace after chunk size' : 'invalid byte in chunk size');
          }
          break;
        }
        case EXT_NAME_START:
          if (TCHAR[b] === 1) state = EXT_NAME;
          else if (b !== SP && b !== HTAB) return this.#fail('invalid chunk extension');
          break;
        case EXT_NAME:
          if (TCHAR[b] === 1) break;
          if (b === EQUALS) state = EXT_VALUE_START;
          else if (b === SEMICOLON) state = EXT_NAME_START;
          else if (b === CR) state = SIZE_LF;
          else if (b === SP || b === HTAB) state = EXT_AFTER_NAME;
          else return this.#fail('invalid chunk extension');
          break;
        case EXT_AFTER_NAME:
          if (b === EQUALS) state = EXT_VALUE_START;
          else if (b === SEMICOLON) state = EXT_NAME_START;
          else if (b !== SP && b !== HTAB) return this.#fail('invalid chunk extension');
          break;
        case EXT_VALUE_START:
          if (TCHAR[b] === 1) state = EXT_TOKEN;
          else if (b === DQUOTE) state = EXT_QUOTED;
          else if (b !== SP && b !== HTAB) return this.#fail('invalid chunk extension value');
          break;
        case EXT_TOKEN:
          if (TCHAR[b] === 1) break;
          if (b === SEMICOLON) state = EXT_NAME_START;
          else if (b === CR) state = SIZE_LF;
          else if (b === SP || b === HTAB) state = EXT_AFTER_VALUE;
          else return this.#fail('invalid chunk extension value');
          break;
        case EXT_QUOTED:
          if (QDTEXT[b] === 1) break;
          if (b === DQUOTE) state = EXT_AFTER_QUOTED;
          else if (b === BACKSLASH) state = EXT_QUOTED_ESCAPE;
          else return this.#fail('invalid byte in quoted chunk extension');
          break;
        case EXT_QUOTED_ESCAPE:
          if (FIELD_VALUE[b] !== 1) return this.#fail('invalid byte in quoted chunk extension');
          state = EXT_QUOTED;
          break;
        case EXT_AFTER_QUOTED:
          if (b === SEMICOLON) state = EXT_NAME_START;
          else if (b === CR) state = SIZE_LF;
          else if (b === SP || b === HTAB) state = EXT_AFTER_VALUE;
          else return this.#fail('invalid chunk extension');
          break;
        case EXT_AFTER_VALUE:
          if (b === SEMICOLON) state = EXT_NAME_START;
          else if (b !== SP && b !== HTAB) return this.#fail('invalid chunk extension');
          break;
        case SIZE_LF:
          if (b !== LF) return this.#fail('bare CR in chunk size line');
          if (this.#size === 0) {
            state = TRAILER_START;
            this.#lineBytes = 0;
            lineStart = i + 1;
          } else {
            this.#remaining = this.#size;
            state = DATA;
          }
          break;
        case DATA_CR:
          if (b !== CR) return this.#fail('chunk data not followed by CRLF');
          state = DATA_LF;
          break;
        case DATA_LF:
          if (b !== LF) return this.#fail('chunk data not followed by CRLF');
          state = SIZE_START;
          break;
        case TRAILER_START:
          if (TCHAR[b] === 1) {
            state = TRAILER_NAME;
            this.#trailerName = String.fromCharCode(LOWER[b]!);
          }
          else if (b === CR) state = FINAL_LF;
          else if (b === SP || b === HTAB) return this.#fail('obsolete line folding in trailer');
          else return this.#fail(b === LF ? 'bare LF in trailer' : 'invalid byte in trailer name');
          break;
        case TRAILER_NAME:
          if (TCHAR[b] === 1) {
            this.#trailerName += String.fromCharCode(LOWER[b]!);
            break;
          }
          if (b === COLON) {
            if (FORBIDDEN_TRAILER_FIELDS.has(this.#trailerName)) return this.#fail(`${this.#trailerName} is not allowed in a trailer`);
            state = TRAILER_VALUE;
          }
          else if (b === SP || b === HTAB) return this.#fail('whitespace before colon in trailer');
          else return this.#fail('invalid byte in trailer name');
          break;
        case TRAILER_VALUE:
          if (FIELD_VALUE[b] === 1) break;
          if (b === CR) state = TRAILER_LF;
          else return this.#fail(b === LF ? 'bare LF in trailer' : 'invalid byte in trailer value');
          break;
        case TRAILER_LF:
          if (b !== LF) return this.#fail('bare CR in trailer');
          state = TRAILER_START;
          break;
        case FINAL_LF:
          if (b !== LF) return this.#fail('bare CR after trailers');
          this.#state = DONE;
          return i + 1;
      }
      i++;
      if (state >= TRAILER_START) {
        if (this.#lineBytes + (i - lineStart) > this.#maxTrailerBytes) return this.#fail('trailers too large');
      } else if (state >= SIZE && state < DATA) {
        if (this.#lineBytes + (i - lineStart) > this.#maxLineBytes) return this.#fail('chunk size line too long');
      }
    }
    if (state >= TRAILER_START || (state >= SIZE && state < DATA)) this.#lineBytes += i - lineStart;
    this.#state = state;
    return CHUNKED_NEED_MORE;
  }

  #fail(reason: string): number {
    this.#state = FAILED;
    this.#error = reason;
    return CHUNKED_ERROR;
  }
}
