import { BalancerConfigError } from '../errors.js';
import { DEFAULT_LIMITS } from '../options.js';

/** Bounds on one message head; beyond them the parsers answer 431 instead of buffering more. */
export interface HeadLimits {
  /**
   * Bytes from the first byte given to the parser to the end of the empty line,
   * including empty lines skipped before a request line.
   * @defaultValue 16384 ({@link DEFAULT_MAX_HEAD_BYTES})
   */
  readonly maxHeadBytes: number;
  /**
   * Header field lines in one head.
   * @defaultValue 100 ({@link DEFAULT_MAX_HEADER_COUNT})
   */
  readonly maxHeaderCount: number;
}

/**
 * Default {@link HeadLimits.maxHeadBytes}: 16 KiB, the order of nginx's and Node's
 * limits. The balancer's `limits` in options.ts hold the number.
 */
export const DEFAULT_MAX_HEAD_BYTES: number = DEFAULT_LIMITS.maxHeadBytes;
/** Default {@link HeadLimits.maxHeaderCount} (from the balancer's `limits`). */
export const DEFAULT_MAX_HEADER_COUNT: number = DEFAULT_LIMITS.maxHeaderCount;

/** The limits used when none are given. */
export const DEFAULT_HEAD_LIMITS: HeadLimits = Object.freeze({
  maxHeadBytes: DEFAULT_MAX_HEAD_BYTES,
  maxHeaderCount: DEFAULT_MAX_HEADER_COUNT,
});

function positiveInteger(name: string, value: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new BalancerConfigError(`${name} is ${String(value)}; use a whole number from 1 to ${max}`);
  }
  return value;
}

/**
 * Complete and validate head limits once, at construction of whatever parses heads,
 * so the parsers themselves never check them.
 * @throws BalancerConfigError when a limit is not a whole number in range.
 */
export function resolveHeadLimits(options: Partial<HeadLimits> = {}): HeadLimits {
  return Object.freeze({
    maxHeadBytes: positiveInteger('maxHeadBytes', options.maxHeadBytes ?? DEFAULT_MAX_HEAD_BYTES, 1 << 24),
    maxHeaderCount: positiveInteger('maxHeaderCount', options.maxHeaderCount ?? DEFAULT_MAX_HEADER_COUNT, 10_000),
  });
}
