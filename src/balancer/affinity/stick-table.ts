import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Clock } from '../../internal/clock.js';
import { BalancerConfigError } from '../errors.js';
import { DEFAULT_STICK_TABLE, type ResolvedStickTableOptions } from '../options.js';
import { StickTableSaveError } from './errors.js';

/** @defaultValue 1_800_000 (30 min) */
export const DEFAULT_STICK_IDLE_TIMEOUT_MS = DEFAULT_STICK_TABLE.idleTimeoutMs;
/** @defaultValue 100_000 */
export const DEFAULT_STICK_MAX_ENTRIES = DEFAULT_STICK_TABLE.maxEntries;
/** @defaultValue 256 */
export const DEFAULT_STICK_MAX_KEY_LENGTH = DEFAULT_STICK_TABLE.maxKeyLength;
/** Version written by `save`; `load` accepts only this one. */
export const STICK_TABLE_FILE_VERSION = 1;

/** Bound on the entries one eviction moves to the tail, so a `set` never walks the table. */
const MAX_SECOND_CHANCES = 32;
/** Entries serialised per slice in `save`, between which the event loop runs. */
const SAVE_SLICE_ENTRIES = 5_000;

/** What a caller may set; {@link resolveStickTableOptions} fills the rest. */
export interface StickTableOptions {
  /**
   * An entry not used for this long is forgotten; every hit restarts the wait.
   * @defaultValue DEFAULT_STICK_IDLE_TIMEOUT_MS (30 min)
   */
  idleTimeoutMs?: number;
  /**
   * Size bound; a new key beyond it replaces the least recently used one.
   * @defaultValue DEFAULT_STICK_MAX_ENTRIES (100 000)
   */
  maxEntries?: number;
  /**
   * Keys longer than this (in UTF-16 units) are not stored, so clients cannot fill
   * memory with huge keys; hash long keys (e.g. session cookies) before calling `set`.
   * @defaultValue DEFAULT_STICK_MAX_KEY_LENGTH (256)
   */
  maxKeyLength?: number;
  /** Default time source when `nowMs` is not passed. @defaultValue systemClock */
  clock?: Clock;
}

/** One live entry, as `entries()` yields it and `save` writes it. */
export interface StickEntry {
  key: string;
  serverId: string;
  /** Epoch ms after which the entry is gone unless used again before. */
  expiresAtMs: number;
}

/** The result of `StickTable.load`: a table, and why it is empty when the file was bad. */
export interface StickTableLoadResult {
  table: StickTable;
  /** Set when the file existed but could not be used (corrupt, truncated, wrong version). */
  warning: string | undefined;
}

interface Slot {
  serverId: string;
  expiresAtMs: number;
  /** `expiresAtMs` when the slot took its place in the Map's order (see class doc). */
  placedExpiresAtMs: number;
}

/**
 * The balancer's stick table: key (client IP, or a value from a cookie or header) to
 * server id, with idle expiry and a size bound.
 *
 * LRU by "second chance": the Map's insertion order is the eviction order, but a hit
 * only updates `expiresAtMs` (a field write) instead of moving the entry (delete + set,
 * two hash operations, on every request). At eviction time, an entry at the head that
 * was used since it took its place is moved to the tail and the next one is tried.
 * Each entry moves at most once per pass of the head, and one eviction moves at most
 * 32 entries (then takes the next one regardless), so a `set` is O(1) and the order is
 * close to LRU: when the table is full of entries all used since they took their place,
 * one of the 33 oldest placed goes.
 *
 *     head (evict here)                                       tail (new keys)
 *       [k1 used since placed] [k2 idle] [k3] ... [kn]
 *        └── second chance: moved to the tail ───────────────────►
 *
 * Expired entries are dropped when met (`get`, eviction) or by `sweep`, so `size` may
 * count a few that are already expired.
 */
export class StickTable {
  readonly #idleMs: number;
  readonly #maxEntries: number;
  readonly #maxKeyLength: number;
  readonly #clock: Clock;
  readonly #slots = new Map<string, Slot>();
  #dirty = false;
  /**
   * Kept across evictions: a fresh Map iterator would start at the first slot of the
   * hash table and step over every deleted slot before it, O(deletions) per eviction.
   * Everything before the cursor has been deleted, so it always points at the head.
   */
  #cursor: MapIterator<[string, Slot]> | undefined;

  constructor(options: ResolvedStickTableOptions) {
    this.#idleMs = options.idleTimeoutMs;
    this.#maxEntries = options.maxEntries;
    this.#maxKeyLength = options.maxKeyLength;
    this.#clock = options.clock;
  }

  /** Entries held, including expired ones not yet dropped. */
  get size(): number {
    return this.#slots.size;
  }

  /** The server for `key`, refreshing its idle expiry; undefined when unknown or expired. */
  get(key: string, nowMs: number = this.#clock.now()): string | undefined {
    const slot = this.#slots.get(key);
    if (slot === undefined) return undefined;
    if (slot.expiresAtMs <= nowMs) {
      this.#slots.delete(key);
      this.#dirty = true;
      return undefined;
    }
    slot.expiresAtMs = nowMs + this.#idleMs;
    this.#dirty = true;
    return slot.serverId;
  }

  /** The entry for `key` without refreshing it (what an operator looks up); undefined when unknown or expired. */
  peek(key: string, nowMs: number = this.#clock.now()): { serverId: string; expiresAtMs: number } | undefined {
    const slot = this.#slots.get(key);
    return slot === undefined || slot.expiresAtMs <= nowMs ? undefined : { serverId: slot.serverId, expiresAtMs: slot.expiresAtMs };
  }

  /**
   * Sticks `key` to `serverId`. Returns false (and stores nothing) for an empty key or
   * one longer than `maxKeyLength`.
   */
  set(key: string, serverId: string, nowMs: number = this.#clock.now()): boolean {
    if (key.length === 0 || key.length > this.#maxKeyLength) return false;
    const expiresAtMs = nowMs + this.#idleMs;
    const slot = this.#slots.get(key);
    this.#dirty = true;
    if (slot !== undefined) {
      slot.serverId = serverId;
      slot.expiresAtMs = expiresAtMs;
      return true;
    }
    if (this.#slots.size >= this.#maxEntries) this.#evictOne(nowMs);
    this.#slots.set(key, { serverId, expiresAtMs, placedExpiresAtMs: expiresAtMs });
    return true;
  }

  /**
   * An entry learnt from a peer balancer (see `stick-peers.ts`): it replaces the local
   * one only when it expires later, i.e. when the peer saw the client more recently, so
   * two balancers that exchange their tables converge whatever the order of updates.
   * The expiry is clamped to `idleTimeoutMs` from now. Returns false when nothing
   * changed (an invalid key, an expired entry, or a local entry used more recently).
   */
  merge(key: string, serverId: string, expiresAtMs: number, nowMs: number = this.#clock.now()): boolean {
    if (key.length === 0 || key.length > this.#maxKeyLength || !(expiresAtMs > nowMs)) return false;
    const expires = Math.min(expiresAtMs, nowMs + this.#idleMs);
    const slot = this.#slots.get(key);
    if (slot !== undefined) {
      if (slot.expiresAtMs > nowMs && slot.expiresAtMs >= expires) return false;
      slot.serverId = serverId;
      slot.expiresAtMs = expires;
      this.#dirty = true;
      return true;
    }
    if (this.#slots.size >= this.#maxEntries) this.#evictOne(nowMs);
    this.#slots.set(key, { serverId, expiresAtMs: expires, placedExpiresAtMs: expires });
    this.#dirty = true;
    return true;
  }

  /** Forgets `key`; true when it was there. */
  delete(key: string): boolean {
    const had = this.#slots.delete(key);
    if (had) this.#dirty = true;
    return had;
  }

  /**
   * Drops every entry pointing to `serverId` (a removed server). A full scan: server
   * removal is rare, and an index per server would cost memory and work on every `set`.
   * @returns the number of entries dropped
   */
  deleteServer(serverId: string): number {
    let dropped = 0;
    for (const [key, slot] of this.#slots) {
      if (slot.serverId === serverId) {
        this.#slots.delete(key);
        dropped++;
      }
    }
    if (dropped > 0) this.#dirty = true;
    return dropped;
  }

  /** Drops expired entries (a full scan); returns how many. */
  sweep(nowMs: number = this.#clock.now()): number {
    let dropped = 0;
    for (const [key, slot] of this.#slots) {
      if (slot.expiresAtMs <= nowMs) {
        this.#slots.delete(key);
        dropped++;
      }
    }
    if (dropped > 0) this.#dirty = true;
    return dropped;
  }

  /** Live entries, oldest placement first. */
  *entries(nowMs: number = this.#clock.now()): IterableIterator<StickEntry> {
    for (const [key, slot] of this.#slots) {
      if (slot.expiresAtMs > nowMs) yield { key, serverId: slot.serverId, expiresAtMs: slot.expiresAtMs };
    }
  }

  /**
   * Writes the live entries to `path` atomically: a temporary file in the same folder,
   * fsynced, then renamed over `path`, then the folder fsynced, so a crash leaves the
   * old file or the new one, never a mix. Serialises in slices so a big table does not
   * stall the event loop.
   *
   * File format (JSON): `{ "version": 1, "savedAtMs", "entries": [[key, serverId, expiresAtMs], ...] }`,
   * entries in eviction order.
   *
   * @throws StickTableSaveError when the file cannot be written
   */
  async save(path: string, nowMs: number = this.#clock.now()): Promise<void> {
    const rows: [string, string, number][] = [];
    for (const [key, slot] of this.#slots) {
      if (slot.expiresAtMs > nowMs) rows.push([key, slot.serverId, slot.expiresAtMs]);
    }
    this.#dirty = false;
    const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      const file = await open(tmp, 'wx', 0o600);
      try {
        await file.write(`{"version":${STICK_TABLE_FILE_VERSION},"savedAtMs":${nowMs},"entries":[`);
        for (let i = 0; i < rows.length; i += SAVE_SLICE_ENTRIES) {
          const slice = JSON.stringify(rows.slice(i, i + SAVE_SLICE_ENTRIES)).slice(1, -1);
          await file.write(i === 0 ? slice : `,${slice}`);
        }
        await file.write(']}\n');
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(tmp, path);
    } catch (err) {
      this.#dirty = true;
      await rm(tmp, { force: true }).catch(() => undefined);
      throw new StickTableSaveError(path, { cause: err });
    }
    await syncDirectory(dirname(path));
  }

  /**
   * Saves to `path` every `intervalMs` when something changed since the last save (a
   * hit counts: it moves an expiry). The timer does not keep the process alive. Failures go to `onError` (default: a process
   * warning) and are retried at the next tick.
   *
   * @returns stop: cancels the timer and resolves when a save in progress has finished
   */
  startAutosave(path: string, intervalMs: number, onError?: (err: StickTableSaveError) => void): () => Promise<void> {
    positive('autosave intervalMs', intervalMs, 'a duration in milliseconds');
    let running: Promise<void> | undefined;
    const report = onError ?? ((err: StickTableSaveError) => process.emitWarning(err.toLine()));
    const timer = setInterval(() => {
      if (running !== undefined || !this.#dirty) return;
      running = this.save(path)
        .catch((err: unknown) => report(err instanceof StickTableSaveError ? err : new StickTableSaveError(path, { cause: err })))
        .finally(() => { running = undefined; });
    }, intervalMs);
    timer.unref();
    return async () => {
      clearInterval(timer);
      await running;
    };
  }

  /**
   * A table with the unexpired entries saved in `path`. A missing file gives an empty
   * table; an unreadable, corrupt, truncated or other-version file gives an empty table
   * and a warning instead of an error, so a bad file never keeps a balancer from
   * starting. Entries are clamped to the current `idleTimeoutMs` and `maxEntries`.
   *
   * Synchronous: it runs once, while a balancer starts and before it serves, and lets
   * a pool restore its table in its constructor.
   */
  static load(path: string, options: ResolvedStickTableOptions, nowMs?: number): StickTableLoadResult {
    const table = new StickTable(options);
    const now = nowMs ?? table.#clock.now();
    const empty = (why: string): StickTableLoadResult =>
      ({ table, warning: `stick table file ${path} ${why}; starting with an empty stick table` });
    let text: string;
    try {
      // A corrupt size must not make us read gigabytes: bound it by what a full table needs.
      const maxBytes = 4096 + table.#maxEntries * (table.#maxKeyLength * 6 + 512);
      const { size } = statSync(path);
      if (size > maxBytes) return empty(`is ${size} bytes, more than a table of maxEntries can take (${maxBytes})`);
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { table, warning: undefined };
      return empty(`cannot be read (${(err as Error).message})`);
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      return empty('is corrupt or truncated (not valid JSON)');
    }
    if (typeof doc !== 'object' || doc === null) return empty('is not a stick table');
    const { version, entries } = doc as { version?: unknown; entries?: unknown };
    if (version !== STICK_TABLE_FILE_VERSION) {
      return empty(`has version ${JSON.stringify(version) ?? 'none'}, this balancer reads version ${STICK_TABLE_FILE_VERSION}`);
    }
    if (!Array.isArray(entries)) return empty('has no entries list');
    let invalid = 0;
    // The file is in eviction order; when it holds more than fits, keep the newest (the tail).
    const start = Math.max(0, entries.length - table.#maxEntries);
    for (let i = start; i < entries.length; i++) {
      const row: unknown = entries[i];
      if (!Array.isArray(row) || row.length !== 3) { invalid++; continue; }
      const [key, serverId, expiresAtMs] = row as unknown[];
      if (typeof key !== 'string' || typeof serverId !== 'string' || typeof expiresAtMs !== 'number' ||
          !Number.isFinite(expiresAtMs) || key.length === 0 || key.length > table.#maxKeyLength) {
        invalid++;
        continue;
      }
      if (expiresAtMs <= now) continue;
      const clamped = Math.min(expiresAtMs, now + table.#idleMs);
      table.#slots.set(key, { serverId, expiresAtMs: clamped, placedExpiresAtMs: clamped });
    }
    return {
      table,
      warning: invalid > 0 ? `stick table file ${path} has ${invalid} invalid entries; they were skipped` : undefined,
    };
  }

  #evictOne(nowMs: number): void {
    for (let chances = 0; ; chances++) {
      let head = this.#cursor?.next();
      if (head === undefined || head.done === true) {
        this.#cursor = this.#slots.entries();
        head = this.#cursor.next();
        if (head.done === true) return;
      }
      const [key, slot] = head.value;
      this.#slots.delete(key);
      if (slot.expiresAtMs <= nowMs || slot.expiresAtMs === slot.placedExpiresAtMs || chances >= MAX_SECOND_CHANCES) return;
      slot.placedExpiresAtMs = slot.expiresAtMs;
      this.#slots.set(key, slot);
    }
  }
}

async function syncDirectory(dir: string): Promise<void> {
  // Makes the rename durable. Best effort: some platforms and filesystems refuse to
  // open or fsync a directory, and the data file itself is already synced.
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // see above
  }
}

function positive(name: string, value: number, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new BalancerConfigError(`stick table ${name} is ${String(value)}; use ${what}, greater than 0`);
  }
  return value;
}
