import { type Lsn, formatLsn } from './lsn.js';

/**
 * A read-your-writes token: where in the WAL a write ended, and on which timeline.
 *
 * A read that carries a token is served only by a node that has replayed at least up
 * to `lsn` on the same timeline. The timeline tells tokens from before a failover
 * apart: WAL positions after the switch point of a new timeline are different bytes
 * than the same positions on the old one, so an LSN alone would be ambiguous.
 *
 * Serialized form (short and cookie-safe): `t<timeline>.<lsn as lowercase hex>`,
 * e.g. `t1.3000148`.
 */
export class ConsistencyToken {
  /** The primary's timeline when the write committed (1 until the first failover). */
  readonly timeline: number;
  /** The primary's WAL insert position read right after the commit. */
  readonly lsn: Lsn;

  constructor(timeline: number, lsn: Lsn) {
    this.timeline = timeline;
    this.lsn = lsn;
  }

  /**
   * Parses the serialized form strictly. Anything else (garbage, a forged or
   * truncated cookie, another version) gives `undefined`, never an exception.
   */
  static parse(text: unknown): ConsistencyToken | undefined {
    if (typeof text !== 'string' || text.length > MAX_TOKEN_CHARS) return undefined;
    const match = TOKEN_TEXT.exec(text);
    if (!match) return undefined;
    const timeline = Number(match[1]);
    if (!Number.isSafeInteger(timeline) || timeline < 1 || timeline > MAX_TIMELINE) return undefined;
    return new ConsistencyToken(timeline, BigInt(`0x${match[2]}`));
  }

  /** Accepts a token, its serialized form, or nothing; invalid input yields `undefined`. */
  static from(value: ConsistencyToken | string | null | undefined): ConsistencyToken | undefined {
    if (value instanceof ConsistencyToken) return value;
    return ConsistencyToken.parse(value);
  }

  /** Negative when `a` is older than `b`, zero when equal, positive when newer. */
  static compare(a: ConsistencyToken, b: ConsistencyToken): number {
    if (a.timeline !== b.timeline) return a.timeline - b.timeline;
    return a.lsn === b.lsn ? 0 : a.lsn < b.lsn ? -1 : 1;
  }

  /** The newer of two tokens; a session keeps the newest one it has seen. */
  static newest(a: ConsistencyToken | undefined, b: ConsistencyToken | undefined): ConsistencyToken | undefined {
    if (a === undefined) return b;
    if (b === undefined) return a;
    return ConsistencyToken.compare(a, b) >= 0 ? a : b;
  }

  toString(): string {
    return `t${this.timeline}.${this.lsn.toString(16)}`;
  }

  /** Tokens land in JSON sessions; bigint cannot, so JSON gets the string form. */
  toJSON(): string {
    return this.toString();
  }

  /** PostgreSQL's own notation, for logs. */
  describe(): string {
    return `timeline ${this.timeline} at ${formatLsn(this.lsn)}`;
  }
}

const TOKEN_TEXT = /^t([1-9][0-9]{0,9})\.([0-9a-f]{1,16})$/;
const MAX_TOKEN_CHARS = 32;
// Timeline ids are uint32 in PostgreSQL.
const MAX_TIMELINE = 0xffffffff;
