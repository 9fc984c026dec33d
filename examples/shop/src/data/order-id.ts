import { randomBytes } from 'node:crypto';

/**
 * Order ids are UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits.
 * They sort by creation time as text and as PostgreSQL `uuid` (compared bytewise), so
 * "newest first" is `ORDER BY id DESC` and an id is itself a paging cursor:
 *
 *     0190f3a2-6c1d-7xxx-yxxx-xxxxxxxxxxxx
 *     └── ms ─────┘ └ver  └variant + random
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
/** The latest millisecond a UUIDv7 can carry. */
const MAX_MS = 2 ** 48 - 1;

/** True for a lower-case UUIDv7 (the only form the shop hands out). */
export function isOrderId(value: string): boolean {
  return UUID.test(value);
}

function format(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A new order id for `nowMs`. */
export function newOrderId(nowMs: number): string {
  const bytes = randomBytes(16);
  bytes.writeUIntBE(Math.min(Math.max(0, Math.floor(nowMs)), MAX_MS), 0, 6);
  bytes[6] = 0x70 | ((bytes[6] ?? 0) & 0x0f);
  bytes[8] = 0x80 | ((bytes[8] ?? 0) & 0x3f);
  return format(bytes.toString('hex'));
}

/** The creation time an order id carries, in Unix milliseconds. */
export function orderIdTimeMs(id: string): number {
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

/**
 * The smallest UUIDv7 of `ms`: every id created before `ms` sorts below it, so a
 * timestamp cursor becomes an id cursor.
 */
export function firstOrderIdAt(ms: number): string {
  const time = Math.min(Math.max(0, Math.floor(ms)), MAX_MS).toString(16).padStart(12, '0');
  return format(`${time}7000${'8000'}${'0'.repeat(12)}`);
}

/**
 * The next id after `id` in sort order, keeping its time, version and variant: the
 * 62 random bits after the variant count up by one. Used when the clock of this
 * instance is behind the one that created a user's latest order.
 */
export function nextOrderId(id: string): string {
  const hex = id.replace(/-/g, '');
  const low = (BigInt(`0x${hex.slice(16)}`) & ((1n << 62n) - 1n)) + 1n;
  if (low >= 1n << 62n) {
    // 2^62 orders of one user in one millisecond cannot happen; the next millisecond is still ordered after.
    return firstOrderIdAt(orderIdTimeMs(id) + 1);
  }
  return format(hex.slice(0, 16) + ((2n << 62n) | low).toString(16).padStart(16, '0'));
}
