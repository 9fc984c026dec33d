import { SessionStoreError, SessionStoreUnavailableError } from '../errors.js';

// SQLSTATEs that mean "cannot serve right now": connection exceptions (08), the server
// shutting down or starting (57P0x), out of connections or resources (53), a
// cancelled statement (57014, statement_timeout), deadlock and serialization (40).
const TRANSIENT_SQLSTATE = /^(08|53|57P0|57014|40)/;
const NETWORK_CODE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/**
 * Sort a pg error into "the store is away, try again" and "the store said no".
 * Errors without a SQLSTATE come from the client (refused connection, timeouts,
 * a connection that died mid-query), so they count as unavailable.
 */
export function classifyPgError(err: unknown): SessionStoreUnavailableError | SessionStoreError {
  if (err instanceof SessionStoreUnavailableError || err instanceof SessionStoreError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !NETWORK_CODE.has(code)) {
    return TRANSIENT_SQLSTATE.test(code)
      ? new SessionStoreUnavailableError('postgres', { cause: err })
      : new SessionStoreError('postgres', { cause: err });
  }
  return new SessionStoreUnavailableError('postgres', { cause: err });
}
