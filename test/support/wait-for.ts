import { setTimeout as delay } from 'node:timers/promises';
import { inspect } from 'node:util';

export type Falsy = undefined | null | false | 0 | 0n | '';

export interface WaitForOptions {
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
  /** Pause between two calls of `check` (default 20 ms). */
  intervalMs?: number;
}

/**
 * Calls `check` until it returns a truthy value, and returns that value. A throw counts as
 * "not yet". `check` runs at least once, and once more after the deadline has passed; on
 * timeout the error names `what` and what the last call returned or threw, and keeps the
 * last error thrown, if any, as its `cause`.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 20 }: WaitForOptions = {},
): Promise<Exclude<T, Falsy>> {
  const deadline = performance.now() + timeoutMs;
  let last: { value: unknown } | { error: unknown };
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as Exclude<T, Falsy>;
      last = { value };
    } catch (error) {
      last = { error };
      lastError = error;
    }
    if (performance.now() >= deadline) {
      const seen = 'error' in last ? `last error: ${describeError(last.error)}` : `last value: ${inspect(last.value)}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${seen})`, lastError === undefined ? undefined : { cause: lastError });
    }
    await delay(intervalMs);
  }
}

function describeError(error: unknown): string {
  return error instanceof Error ? String(error) : inspect(error);
}
