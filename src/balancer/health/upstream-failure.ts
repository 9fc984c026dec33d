import type { FailureKind } from './outlier-ejector.js';

/** What the proxy knows when an upstream connection closed before any response byte. */
export interface EarlyCloseFacts {
  /** The TCP connection was established. */
  connected: boolean;
  /** The connection had served a whole exchange before this request. */
  reused: boolean;
  /** The socket failed (reset, refused, timed out), rather than closing cleanly. */
  failed: boolean;
  /** The whole request, body included, had been written. */
  requestSent: boolean;
}

/**
 * Whether an upstream connection that closed before any response byte counts against
 * the server, and as what. Only what is the server's fault counts:
 *
 *  - refused or timed out while connecting: yes (`connect`);
 *  - closed or reset after the whole request was sent: yes (`connect`, a gateway failure);
 *  - closed while the request body was still being sent: no. A server that stops
 *    reading an upload (too large, refused) and closes did answer, even when its answer
 *    is lost in the reset;
 *  - a reused keep-alive connection closed cleanly: no. The server closed an idle
 *    connection just as the request went out, a race rather than a failure.
 */
export function earlyCloseFailure(facts: EarlyCloseFacts): Extract<FailureKind, 'connect'> | undefined {
  if (!facts.connected) return 'connect';
  if (!facts.requestSent) return undefined;
  if (facts.reused && !facts.failed) return undefined;
  return 'connect';
}
