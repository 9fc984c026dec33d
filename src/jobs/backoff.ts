/**
 * The pause before retry number `attempt + 1` after `attempt` failed: exponential in the
 * attempt, capped, with part of it random so that jobs that failed together (an engine
 * that was away) do not all come back in the same millisecond.
 */
export function retryDelayMs(
  attempt: number, baseMs: number, maxMs: number, jitter: number, random: () => number = Math.random,
): number {
  const exponential = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  const spread = Math.min(1, Math.max(0, jitter));
  return Math.round(exponential * (1 - spread * random()));
}
