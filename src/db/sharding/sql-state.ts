/**
 * The SQLSTATE of a PostgreSQL error, also when a wrapper (a replica router, a retry
 * helper) put the driver's error in `cause`.
 */
export function sqlState(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && typeof e === 'object' && e !== null; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code.length === 5) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** foreign_key_violation */
export const FOREIGN_KEY_VIOLATION = '23503';
