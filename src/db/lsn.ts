/**
 * PostgreSQL WAL positions (LSNs). PostgreSQL prints them as two hex halves,
 * `16/B374D848`; they are 64-bit byte offsets into the WAL stream, so they are kept
 * as bigint: a number would silently lose precision past 2^53 bytes of WAL.
 */
export type Lsn = bigint;

const LSN_TEXT = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

/** Parses PostgreSQL's `X/Y` text form; undefined for null or anything malformed. */
export function parseLsn(text: string | null | undefined): Lsn | undefined {
  if (typeof text !== 'string') return undefined;
  const match = LSN_TEXT.exec(text);
  if (!match) return undefined;
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

/** Formats an LSN the way PostgreSQL prints it (`16/B374D848`). */
export function formatLsn(lsn: Lsn): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/**
 * The timeline a WAL segment file name belongs to: its first 8 hex digits
 * (`pg_walfile_name(pg_current_wal_lsn())` on a primary).
 */
export function timelineOfWalFile(name: string | null | undefined): number | undefined {
  if (typeof name !== 'string' || !/^[0-9A-Fa-f]{24}$/.test(name)) return undefined;
  const timeline = Number.parseInt(name.slice(0, 8), 16);
  return timeline > 0 ? timeline : undefined;
}
