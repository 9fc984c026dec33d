import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { link, mkdir, open, readdir, readFile, readlink, rename, rm, stat, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Clock } from '../internal/clock.js';
import { systemClock } from '../internal/clock.js';
import { contentTypeOf } from './content-type.js';
import { StaticOptionsError, StaticPagePathError, StaticPublishBusyError } from './errors.js';
import { pageFile } from './page-path.js';

/*
 * A static tier on disk: immutable generations and one pointer.
 *
 *     <dir>/
 *       current ──symlink──► g-000lq2x8k1-5f3a     the generation served now
 *       g-000lq2x8k1-5f3a/
 *         .manifest.json                          every page: file, type, ETag, time, headers
 *         products/1/index.html ...
 *       g-000lq2x4a0-91cc/                        the one before (kept for in-flight reads)
 *       .publish.lock                             held by a publisher while it writes
 *
 * A publish writes a new generation beside the served one (unchanged pages are hard
 * links to the previous generation's files, so a one-page change costs one write),
 * then renames a fresh symlink over `current`: rename(2) is atomic, so a reader sees
 * the old generation or the new one, never a mix, never a missing pointer. Old
 * generations are deleted only after `gcGraceMs` past their replacement, so a reader
 * that resolved the old pointer still finds its files.
 */

/** The pointer's name in the tier's folder. */
export const CURRENT_POINTER = 'current';
/** Each generation's list of pages. */
export const MANIFEST_FILE = '.manifest.json';
const LOCK_FILE = '.publish.lock';
const GENERATION_PREFIX = 'g-';

/** Generations kept besides the current one, however old. @defaultValue 2 */
export const DEFAULT_KEEP_GENERATIONS = 2;
/** A replaced generation stays at least this long (in-flight reads). @defaultValue 60000 */
export const DEFAULT_GC_GRACE_MS = 60_000;
/** How long a publish waits for another one's lock. @defaultValue 15000 */
export const DEFAULT_LOCK_TIMEOUT_MS = 15_000;
/** A lock older than this is a dead publisher's and is taken over. @defaultValue 60000 */
export const DEFAULT_LOCK_STALE_MS = 60_000;

/** One page of a generation, as its manifest lists it. */
export interface PageEntry {
  /** The URL path: `/products/1`. */
  path: string;
  /** Its file in the generation: `products/1/index.html`. */
  file: string;
  contentType: string;
  /** Strong validator: a hash of the body, quoted. Unchanged body, unchanged ETag. */
  etag: string;
  /** When the body last changed (Unix ms): the Last-Modified of the page. */
  modifiedAt: number;
  size: number;
  /** Extra response headers for this page (a Content-Security-Policy, a Cache-Control). */
  headers?: Record<string, string>;
}

export interface Manifest {
  version: 1;
  generation: string;
  publishedAt: number;
  /** By file. */
  pages: Record<string, PageEntry>;
}

/** A page to publish. */
export interface PublishPage {
  path: string;
  body: string | Uint8Array;
  /** @defaultValue by the file's extension (a page without one: text/html) */
  contentType?: string;
  headers?: Record<string, string>;
}

export interface PublishChanges {
  /** Pages written (or kept, when the body is the same as the current one's). */
  put?: readonly PublishPage[];
  /** Pages taken out (a purge): requests for them reach the app again. */
  remove?: readonly string[];
  /** True: the new generation holds exactly `put` (a full bake); others are dropped. */
  replace?: boolean;
}

export interface PublishResult {
  /** The generation served now (the previous one when nothing changed). */
  generation: string | undefined;
  previous: string | undefined;
  /** False when no page changed: no new generation was made. */
  published: boolean;
  pages: number;
  written: string[];
  removed: string[];
  unchanged: number;
}

export interface StaticTierOptions {
  /** The tier's folder (created when missing). */
  dir: string;
  /** @defaultValue {@link DEFAULT_KEEP_GENERATIONS} */
  keepGenerations?: number;
  /** @defaultValue {@link DEFAULT_GC_GRACE_MS} */
  gcGraceMs?: number;
  /** @defaultValue {@link DEFAULT_LOCK_TIMEOUT_MS} */
  lockTimeoutMs?: number;
  /** @defaultValue {@link DEFAULT_LOCK_STALE_MS} */
  lockStaleMs?: number;
  clock?: Clock;
}

/** The ETag of a body: 128 bits of its SHA-256, base64url, quoted. */
export function etagOf(body: Uint8Array): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
}

let sequence = 0;
/** Sortable by time: a zero-padded base-36 millisecond clock, then a counter and randomness. */
function generationId(nowMs: number): string {
  sequence = (sequence + 1) % 1296;
  return `${GENERATION_PREFIX}${nowMs.toString(36).padStart(10, '0')}${sequence.toString(36).padStart(2, '0')}-${randomBytes(3).toString('hex')}`;
}

function generationTime(id: string): number {
  return parseInt(id.slice(GENERATION_PREFIX.length, GENERATION_PREFIX.length + 10), 36);
}

/** The generation `current` names, or undefined before the first publish. */
export async function readCurrentGeneration(dir: string): Promise<string | undefined> {
  try {
    return await readlink(join(dir, CURRENT_POINTER));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** A generation's manifest. */
export async function readManifest(dir: string, generation: string): Promise<Manifest> {
  return JSON.parse(await readFile(join(dir, generation, MANIFEST_FILE), 'utf8')) as Manifest;
}

function checkPositive(name: string, value: number | undefined, min: number): void {
  if (value !== undefined && (!Number.isInteger(value) || value < min)) {
    throw new StaticOptionsError(`${name} must be a whole number of at least ${min}, not ${String(value)}`);
  }
}

/**
 * Publishes pages to a static tier: atomic (readers see whole generations only),
 * serialised between processes by a lock file, and garbage-collected. See the diagram
 * at the top of this file.
 *
 * @example
 * ```ts
 * const tier = new StaticTier({ dir: process.env.STATIC_DIR! });
 * await tier.publish({ put: [{ path: '/products/1', body: html }] });
 * await tier.publish({ remove: ['/products/1'] });   // purge: the app answers it again
 * ```
 */
export class StaticTier {
  readonly dir: string;
  readonly #keep: number;
  readonly #graceMs: number;
  readonly #lockTimeoutMs: number;
  readonly #lockStaleMs: number;
  readonly #clock: Clock;

  constructor(options: StaticTierOptions) {
    if (typeof options.dir !== 'string' || options.dir === '') throw new StaticOptionsError('dir: give the static tier\'s folder');
    checkPositive('keepGenerations', options.keepGenerations, 0);
    checkPositive('gcGraceMs', options.gcGraceMs, 0);
    checkPositive('lockTimeoutMs', options.lockTimeoutMs, 1);
    checkPositive('lockStaleMs', options.lockStaleMs, 1);
    this.dir = options.dir;
    this.#keep = options.keepGenerations ?? DEFAULT_KEEP_GENERATIONS;
    this.#graceMs = options.gcGraceMs ?? DEFAULT_GC_GRACE_MS;
    this.#lockTimeoutMs = options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
    this.#lockStaleMs = options.lockStaleMs ?? DEFAULT_LOCK_STALE_MS;
    this.#clock = options.clock ?? systemClock;
  }

  /** The generation served now and its pages, or undefined before the first publish. */
  async current(): Promise<Manifest | undefined> {
    const generation = await readCurrentGeneration(this.dir);
    return generation === undefined ? undefined : readManifest(this.dir, generation);
  }

  /** Takes pages out: requests for them go to the app again (through the balancer's fallthrough). */
  purge(paths: readonly string[]): Promise<PublishResult> {
    return this.publish({ remove: paths });
  }

  /**
   * Makes a new generation from the current one and `changes`, then switches the
   * pointer to it. Nothing changed (same bodies, nothing removed): no new generation.
   */
  async publish(changes: PublishChanges): Promise<PublishResult> {
    const puts = new Map<string, { page: PublishPage; file: string; body: Uint8Array }>();
    for (const page of changes.put ?? []) {
      const file = this.#fileOf(page.path);
      puts.set(file, { page, file, body: typeof page.body === 'string' ? Buffer.from(page.body) : page.body });
    }
    const removals = new Set((changes.remove ?? []).map((path) => this.#fileOf(path)));
    await mkdir(this.dir, { recursive: true });
    const release = await this.#lock();
    try {
      const previous = await readCurrentGeneration(this.dir);
      const before = previous === undefined ? undefined : await readManifest(this.dir, previous);
      const now = this.#clock.now();
      const pages: Record<string, PageEntry> = {};
      const written: string[] = [];
      const removed: string[] = [];
      const linked: PageEntry[] = [];
      let unchanged = 0;
      for (const [file, entry] of Object.entries(before?.pages ?? {})) {
        if (removals.has(file) || (changes.replace === true && !puts.has(file))) {
          if (!puts.has(file)) removed.push(entry.path);
          continue;
        }
        if (!puts.has(file)) {
          pages[file] = entry;
          linked.push(entry);
        }
      }
      const fresh: Array<{ entry: PageEntry; body: Uint8Array }> = [];
      for (const { page, file, body } of puts.values()) {
        if (removals.has(file)) continue;
        const old = before?.pages[file];
        const etag = etagOf(body);
        const contentType = page.contentType ?? contentTypeOf(file);
        const sameHeaders = JSON.stringify(old?.headers ?? {}) === JSON.stringify(page.headers ?? {});
        if (old !== undefined && old.etag === etag && old.contentType === contentType && sameHeaders) {
          // Same bytes: the same file, ETag and Last-Modified, so clients' 304s go on.
          pages[file] = old;
          linked.push(old);
          unchanged++;
          continue;
        }
        const entry: PageEntry = { path: page.path, file, contentType, etag, modifiedAt: now, size: body.length, ...(page.headers === undefined ? {} : { headers: { ...page.headers } }) };
        pages[file] = entry;
        fresh.push({ entry, body });
        written.push(page.path);
      }
      if (previous !== undefined && written.length === 0 && removed.length === 0) {
        return { generation: previous, previous, published: false, pages: Object.keys(pages).length, written, removed, unchanged };
      }
      const generation = generationId(now);
      const target = join(this.dir, generation);
      await mkdir(target);
      try {
        const made = new Set<string>();
        const parent = async (file: string): Promise<void> => {
          const d = dirname(file);
          if (d === '.' || made.has(d)) return;
          await mkdir(join(target, d), { recursive: true });
          made.add(d);
        };
        for (const entry of linked) {
          await parent(entry.file);
          await link(join(this.dir, previous!, entry.file), join(target, entry.file));
        }
        for (const { entry, body } of fresh) {
          await parent(entry.file);
          const path = join(target, entry.file);
          await writeFile(path, body, { flag: 'wx' });
          const seconds = entry.modifiedAt / 1000;
          await utimes(path, seconds, seconds);
        }
        const manifest: Manifest = { version: 1, generation, publishedAt: now, pages };
        await writeFile(join(target, MANIFEST_FILE), JSON.stringify(manifest));
        // The switch: a new symlink renamed over the old one.
        const pointer = join(this.dir, `.${CURRENT_POINTER}-${generation}`);
        await symlink(generation, pointer);
        await rename(pointer, join(this.dir, CURRENT_POINTER));
      } catch (err) {
        await rm(target, { recursive: true, force: true });
        throw err;
      }
      await this.#collect(generation);
      return { generation, previous, published: true, pages: Object.keys(pages).length, written, removed, unchanged };
    } finally {
      await release();
    }
  }

  /** Deletes generations past the grace time and beyond the kept ones (also done by every publish). */
  async gc(): Promise<string[]> {
    const release = await this.#lock();
    try {
      const current = await readCurrentGeneration(this.dir);
      return current === undefined ? [] : await this.#collect(current);
    } finally {
      await release();
    }
  }

  async #collect(current: string): Promise<string[]> {
    const names = (await readdir(this.dir)).filter((n) => n.startsWith(GENERATION_PREFIX)).sort();
    const now = this.#clock.now();
    const removed: string[] = [];
    const older = names.filter((n) => n < current);
    // Newest first: the first `keep` stay whatever their age.
    older.reverse();
    for (const [index, name] of older.entries()) {
      if (index < this.#keep) continue;
      // Replaced when the next generation was published.
      const next = names[names.indexOf(name) + 1];
      const replacedAt = next === undefined ? now : generationTime(next);
      if (now - replacedAt < this.#graceMs) continue;
      await rm(join(this.dir, name), { recursive: true, force: true });
      removed.push(name);
    }
    // A publisher that died between mkdir and the switch left a newer, unnamed generation.
    for (const name of names.filter((n) => n > current)) {
      if (now - generationTime(name) > this.#lockStaleMs) await rm(join(this.dir, name), { recursive: true, force: true });
    }
    return removed;
  }

  #fileOf(path: string): string {
    const found = pageFile(path);
    if (!found.ok) throw new StaticPagePathError(path, found.reason);
    return found.file;
  }

  /** The publish lock: a file created exclusively; a stale one (dead publisher) is taken over. */
  async #lock(): Promise<() => Promise<void>> {
    const path = join(this.dir, LOCK_FILE);
    const deadline = this.#clock.now() + this.#lockTimeoutMs;
    const token = `${process.pid} ${randomBytes(6).toString('hex')}`;
    for (;;) {
      try {
        const handle = await open(path, fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_WRONLY, 0o644);
        await handle.writeFile(token);
        await handle.close();
        return async () => {
          // Only our own lock: a slow publisher whose lock was taken over must not free another's.
          const held = await readFile(path, 'utf8').catch(() => '');
          if (held === token) await unlink(path).catch(() => undefined);
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      if (await this.#staleLock(path)) {
        await unlink(path).catch(() => undefined);
        continue;
      }
      if (this.#clock.now() > deadline) throw new StaticPublishBusyError(this.dir, this.#lockTimeoutMs);
      await delay(10 + Math.floor(Math.random() * 20));
    }
  }

  async #staleLock(path: string): Promise<boolean> {
    try {
      const [info, text] = await Promise.all([stat(path), readFile(path, 'utf8')]);
      const pid = Number(text.split(' ')[0]);
      if (Number.isInteger(pid) && pid > 0 && !alive(pid)) return true;
      return Date.now() - info.mtimeMs > this.#lockStaleMs;
    } catch {
      return false; // gone already, or being written: look again
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
