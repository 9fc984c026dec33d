import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Clock } from '../../internal/clock.js';
import type { ShardBackend } from './backend.js';
import {
  applyChanges, changeBacklog, checksumBuckets, clearFence, copyBuckets, deleteBucketRows, setFence, type TablePair,
} from './bucket-copy.js';
import { readPendingBuckets, setBucketState, switchBuckets, type DirectoryMap } from './directory.js';
import { ReshardBusyError, ReshardTimeoutError, ReshardVerifyError, ShardConfigError, ShardTableError, ShardUnknownError } from './errors.js';
import { planRebalance } from './rebalance-plan.js';
import { orderTables, readTableInfo, type ShardedTable } from './shard-schema.js';
import { waitForOpenTransactions } from './wait-for-transactions.js';

/** @defaultValue 16 */
export const DEFAULT_BATCH_BUCKETS = 16;
/** @defaultValue 1000 */
export const DEFAULT_COPY_BATCH_ROWS = 1000;
/** @defaultValue 100 */
export const DEFAULT_CATCH_UP_THRESHOLD = 100;
/** @defaultValue 50 */
export const DEFAULT_MAX_CATCH_UP_ROUNDS = 50;
/** @defaultValue 30000 */
export const DEFAULT_WAIT_TIMEOUT_MS = 30_000;
/**
 * How long the fence stays up waiting for transactions that were open when it went
 * up, before it is lifted and tried again. Kept well below the routers' moved-retry
 * timeout (10 s by default), so fenced writes wait instead of failing.
 * @defaultValue 2000
 */
export const DEFAULT_FENCE_WAIT_MS = 2000;
/** @defaultValue 3 */
export const DEFAULT_FENCE_ATTEMPTS = 3;
/**
 * Two router poll periods: a router that has not yet seen the switch still reads the
 * old copy (frozen at the switch) rather than an emptied bucket.
 * @defaultValue 2000
 */
export const DEFAULT_CLEANUP_GRACE_MS = 2000;

/** What to move and how. */
export interface ReshardOptions {
  /** Where the buckets go. Required unless `recoverOnly`. */
  targetShard?: string;
  /** Buckets to move. @defaultValue the target's fair share, taken from the fullest shards */
  bucketsToMove?: readonly number[];
  /** Only finish or undo moves a crashed reshard left behind. @defaultValue false */
  recoverOnly?: boolean;
  /** Buckets moved together (one fence, one switch). @defaultValue 16 */
  batchBuckets?: number;
  /** Rows per copy, replay and delete batch. @defaultValue 1000 */
  copyBatchRows?: number;
  /** Captured changes still waiting below which the fence goes up. @defaultValue 100 */
  catchUpThreshold?: number;
  /** Catch-up rounds before fencing anyway (the final catch-up drains the rest). @defaultValue 50 */
  maxCatchUpRounds?: number;
  /** How long to wait (unfenced) for transactions open on the source before a move gives up. @defaultValue 30000 */
  waitTimeoutMs?: number;
  /** How long one fence attempt waits for open transactions. @defaultValue 2000 */
  fenceWaitMs?: number;
  /** Fence attempts before the move is aborted. @defaultValue 3 */
  fenceAttempts?: number;
  /** Delay between a switch and deleting the source's copy. @defaultValue 2000 */
  cleanupGraceMs?: number;
}

export type ReshardStep =
  | 'recover' | 'plan' | 'capture' | 'copy' | 'catch-up' | 'fence' | 'verify' | 'switch' | 'cleanup' | 'abort' | 'done';

/** One step of a reshard, for logs and the CLI. */
export interface ReshardEvent {
  step: ReshardStep;
  buckets: readonly number[];
  source?: string;
  target?: string;
  table?: string;
  /** Rows copied (copy) or deleted (cleanup, abort). */
  rows?: number;
  /** Captured changes still to replay (catch-up). */
  backlog?: number;
  /** One line a terminal can print. */
  message: string;
}

/**
 * Receives every step; a returned promise is awaited before the move goes on. The
 * `fence` and `verify` events arrive while writes to the batch are fenced: keep the
 * callback quick there, its time adds to how long those writes wait. A throw aborts
 * the batch (before the switch) and the reshard.
 */
export type ReshardProgress = (event: ReshardEvent) => void | Promise<void>;

export interface ReshardResult {
  moved: { bucket: number; from: string; to: string }[];
  /** Buckets whose interrupted move was finished or undone first. */
  recovered: number[];
}

/** What a reshard needs from the router that runs it. */
export interface ReshardContext {
  directory: ShardBackend;
  shards: ReadonlyMap<string, ShardBackend>;
  tables: Readonly<Record<string, ShardedTable>>;
  buckets: number;
  current(): DirectoryMap;
  refresh(): Promise<void>;
  clock: Clock;
}

interface Settings {
  batchBuckets: number;
  copyBatchRows: number;
  catchUpThreshold: number;
  maxCatchUpRounds: number;
  waitTimeoutMs: number;
  fenceWaitMs: number;
  fenceAttempts: number;
  cleanupGraceMs: number;
}

function settings(options: ReshardOptions): Settings {
  const pick = (name: keyof Settings, fallback: number, min: number): number => {
    const v = options[name];
    if (v === undefined) return fallback;
    if (!Number.isInteger(v) || v < min) throw new ShardConfigError(`${name} is ${String(v)}; it must be an integer >= ${min}`);
    return v;
  };
  return {
    batchBuckets: pick('batchBuckets', DEFAULT_BATCH_BUCKETS, 1),
    copyBatchRows: pick('copyBatchRows', DEFAULT_COPY_BATCH_ROWS, 1),
    catchUpThreshold: pick('catchUpThreshold', DEFAULT_CATCH_UP_THRESHOLD, 0),
    maxCatchUpRounds: pick('maxCatchUpRounds', DEFAULT_MAX_CATCH_UP_ROUNDS, 0),
    waitTimeoutMs: pick('waitTimeoutMs', DEFAULT_WAIT_TIMEOUT_MS, 0),
    fenceWaitMs: pick('fenceWaitMs', DEFAULT_FENCE_WAIT_MS, 0),
    fenceAttempts: pick('fenceAttempts', DEFAULT_FENCE_ATTEMPTS, 1),
    cleanupGraceMs: pick('cleanupGraceMs', DEFAULT_CLEANUP_GRACE_MS, 0),
  };
}

const chunk = <T>(items: readonly T[], size: number): T[][] =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));

/**
 * Moves buckets between shards while the application keeps reading and writing.
 * Per batch of buckets with one source: capture changes, copy, catch up, fence,
 * final catch-up, verify, switch the directory, and (after a grace period) delete
 * the source's copy. A failure before the switch aborts the batch and leaves the
 * buckets on their source; see `docs/sharding.md` for the protocol and its guarantees.
 * Only one reshard runs per directory (an advisory lock held for the whole run).
 */
export async function reshard(ctx: ReshardContext, options: ReshardOptions,
  progress: ReshardProgress = () => undefined): Promise<ReshardResult> {
  const s = settings(options);
  const shard = (name: string): ShardBackend => {
    const b = ctx.shards.get(name);
    if (b === undefined) throw new ShardUnknownError(name, [...ctx.shards.keys()]);
    return b;
  };
  const target = options.targetShard;
  if (options.recoverOnly !== true) {
    if (target === undefined) throw new ShardConfigError('targetShard is required: name the shard the buckets move to');
    shard(target);
  }
  const wanted = options.bucketsToMove === undefined ? undefined : [...new Set(options.bucketsToMove)];
  for (const b of wanted ?? []) {
    if (!Number.isInteger(b) || b < 0 || b >= ctx.buckets) {
      throw new ShardConfigError(`bucket ${String(b)} does not exist; buckets run from 0 to ${ctx.buckets - 1}`);
    }
  }
  const lockName = `scaleout-reshard-${randomUUID()}`;
  return ctx.directory.transaction(async (lock) => {
    const got = await lock.query(
      `SELECT pg_try_advisory_xact_lock(hashtext('scaleout.reshard')) AS ok, set_config('application_name', $1, true)`,
      [lockName]);
    if (got.rows[0]?.ok !== true) throw new ReshardBusyError();
    const run = new ReshardRun(ctx, s, progress, shard, lockName);
    const recovered = await run.recover();
    if (options.recoverOnly === true || target === undefined) return { moved: [], recovered };
    await ctx.refresh();
    const moved = await run.moveAll(target, wanted);
    return { moved, recovered };
  });
}

class ReshardRun {
  readonly #ctx: ReshardContext;
  readonly #s: Settings;
  readonly #progress: ReshardProgress;
  readonly #shard: (name: string) => ShardBackend;
  readonly #lockName: string;
  readonly #cleanups: { source: string; target: string; buckets: number[]; dueMs: number }[] = [];

  constructor(ctx: ReshardContext, s: Settings, progress: ReshardProgress,
    shard: (name: string) => ShardBackend, lockName: string) {
    this.#ctx = ctx;
    this.#s = s;
    this.#progress = progress;
    this.#shard = shard;
    this.#lockName = lockName;
  }

  async recover(): Promise<number[]> {
    const pending = await readPendingBuckets(this.#ctx.directory);
    const groups = new Map<string, { state: string; shard: string; peer: string; buckets: number[] }>();
    for (const p of pending) {
      const kind = p.state === 'cleanup' ? 'cleanup' : 'abort';
      const key = `${kind}\0${p.shard}\0${p.peer}`;
      const g = groups.get(key) ?? { state: kind, shard: p.shard, peer: p.peer, buckets: [] };
      g.buckets.push(p.bucket);
      groups.set(key, g);
    }
    for (const g of groups.values()) {
      await this.#emit({ step: 'recover', buckets: g.buckets, source: g.shard, target: g.peer,
        message: `recover: ${g.state === 'cleanup' ? 'finishing' : 'undoing'} an interrupted move of buckets ${g.buckets.join(',')}` });
      // After a switch the directory names the new home and the peer is the old one.
      if (g.state === 'cleanup') {
        await setFence(this.#shard(g.peer), g.buckets, 'moved');
        await this.#cleanup(g.peer, g.shard, g.buckets);
      } else {
        await this.#abort(g.shard, g.peer, g.buckets, 'interrupted by a crash or a lost connection');
      }
    }
    return pending.map((p) => p.bucket);
  }

  async moveAll(target: string, wanted: number[] | undefined): Promise<ReshardResult['moved']> {
    const map = this.#ctx.current();
    const owned = new Map(map.shardNames.map((n) => [n, map.ownedBy(n)] as const));
    const buckets = wanted ?? planRebalance(owned, target);
    const bySource = new Map<string, number[]>();
    for (const b of buckets) {
      const source = map.shardOf(b);
      if (source === target) continue;
      const list = bySource.get(source);
      if (list === undefined) bySource.set(source, [b]);
      else list.push(b);
    }
    await this.#emit({ step: 'plan', buckets, target,
      message: `plan: ${[...bySource.values()].reduce((n, l) => n + l.length, 0)} buckets to move to ${target}` });
    const moved: ReshardResult['moved'] = [];
    try {
      for (const [source, list] of bySource) {
        for (const batch of chunk(list.sort((a, b) => a - b), this.#s.batchBuckets)) {
          await this.#moveBatch(source, target, batch);
          for (const bucket of batch) moved.push({ bucket, from: source, to: target });
          await this.#runCleanups(false);
        }
      }
    } catch (err) {
      // Batches that did switch still get their old copies deleted; if that fails too,
      // the directory rows stay in 'cleanup' for the next run's recovery.
      await this.#runCleanups(true).catch(() => undefined);
      throw err;
    }
    await this.#runCleanups(true);
    await this.#emit({ step: 'done', buckets: moved.map((m) => m.bucket), target,
      message: `done: ${moved.length} buckets moved to ${target}` });
    return moved;
  }

  async #emit(event: ReshardEvent): Promise<void> {
    await this.#progress(event);
  }

  /** The declared tables on both sides, parents first. */
  async #tablePairs(source: string, target: string): Promise<TablePair[]> {
    const pairs: TablePair[] = [];
    for (const table of await orderTables(this.#shard(source), Object.keys(this.#ctx.tables))) {
      const [src, dst] = await Promise.all([readTableInfo(this.#shard(source), table), readTableInfo(this.#shard(target), table)]);
      if (src === undefined) throw new ShardTableError(table, source, 'does not exist');
      if (dst === undefined) throw new ShardTableError(table, target, 'does not exist');
      if (src.primaryKey.join(',') !== dst.primaryKey.join(',')) {
        throw new ShardTableError(table, target, `has primary key (${dst.primaryKey.join(', ')}), the source (${src.primaryKey.join(', ')})`);
      }
      const missing = src.columns.filter((c) => !dst.columns.includes(c));
      if (missing.length > 0) throw new ShardTableError(table, target, `lacks column(s) ${missing.join(', ')} that the source has`);
      pairs.push({ table, source: src, target: dst });
    }
    return pairs;
  }

  /** Deletes the copy of `buckets` on one shard, children first. */
  async #deleteRows(shard: string, buckets: number[]): Promise<number> {
    const backend = this.#shard(shard);
    let rows = 0;
    for (const table of (await orderTables(backend, Object.keys(this.#ctx.tables))).reverse()) {
      rows += await deleteBucketRows(backend, table, buckets, this.#s.copyBatchRows);
    }
    return rows;
  }

  async #moveBatch(source: string, target: string, buckets: number[]): Promise<void> {
    const src = this.#shard(source);
    const dst = this.#shard(target);
    const dir = this.#ctx.directory;
    const at = { buckets, source, target };
    const label = `buckets ${buckets.join(',')} (${source} -> ${target})`;
    const pairs = await this.#tablePairs(source, target);
    let switched = false;
    try {
      await setBucketState(dir, buckets, 'copying', target);
      await clearFence(src, buckets);
      await setFence(src, buckets, 'capturing');
      await waitForOpenTransactions(src, source, this.#ctx.clock, this.#s.waitTimeoutMs, this.#lockName);
      await this.#emit({ step: 'capture', ...at, message: `capture: recording changes of ${label}` });

      for (const pair of pairs) {
        const rows = await copyBuckets(src, dst, pair, buckets, this.#s.copyBatchRows);
        await this.#emit({ step: 'copy', ...at, table: pair.table, rows, message: `copy: ${rows} rows of ${pair.table}, ${label}` });
      }

      for (let round = 0; round < this.#s.maxCatchUpRounds; round++) {
        await applyChanges(src, dst, pairs, buckets, this.#s.copyBatchRows);
        const backlog = await changeBacklog(src, buckets);
        await this.#emit({ step: 'catch-up', ...at, backlog, message: `catch-up: ${backlog} changes left, ${label}` });
        if (backlog <= this.#s.catchUpThreshold) break;
      }

      await this.#fence(src, source, buckets, target, pairs, label);
      while (await applyChanges(src, dst, pairs, buckets, this.#s.copyBatchRows) > 0) { /* drain */ }

      await this.#emit({ step: 'verify', ...at, message: `verify: comparing source and target, ${label}` });
      for (const pair of pairs) {
        const extra = pair.target.columns.filter((c) => !pair.source.columns.includes(c));
        const [a, b] = await Promise.all([
          checksumBuckets(src, pair.table, buckets, []),
          checksumBuckets(dst, pair.table, buckets, extra),
        ]);
        if (a.rows !== b.rows || a.checksum !== b.checksum) throw new ReshardVerifyError(buckets, pair.table, a, b);
      }

      await clearFence(dst, buckets);
      await switchBuckets(dir, buckets, source, target);
      switched = true;
      await setFence(src, buckets, 'moved');
      await this.#ctx.refresh();
      await this.#emit({ step: 'switch', ...at, message: `switch: ${label} now served by ${target}` });
      this.#cleanups.push({ source, target, buckets, dueMs: this.#ctx.clock.now() + this.#s.cleanupGraceMs });
    } catch (err) {
      // After the switch the target is the owner: finishing (cleanup) is the only way on,
      // and the directory row says so for the next run's recovery.
      if (!switched) {
        await this.#abort(source, target, buckets, err instanceof Error ? err.message : String(err)).catch(() => undefined);
      }
      throw err;
    }
  }

  /**
   * Raises the fence and waits out the transactions that might not have seen it. A
   * long transaction would keep the buckets unwritable, so after `fenceWaitMs` the
   * fence is lifted (changes are still captured), the move waits for those
   * transactions with writes flowing, catches up, and tries again.
   */
  async #fence(src: ShardBackend, source: string, buckets: number[], target: string,
    pairs: TablePair[], label: string): Promise<void> {
    const at = { buckets, source, target };
    for (let attempt = 1; ; attempt++) {
      await setBucketState(this.#ctx.directory, buckets, 'fenced', target);
      await setFence(src, buckets, 'fenced');
      try {
        await waitForOpenTransactions(src, source, this.#ctx.clock, this.#s.fenceWaitMs, this.#lockName);
        await this.#emit({ step: 'fence', ...at, message: `fence: writes to ${label} now wait for the switch` });
        return;
      } catch (err) {
        if (!(err instanceof ReshardTimeoutError) || attempt >= this.#s.fenceAttempts) throw err;
      }
      await setFence(src, buckets, 'capturing');
      await setBucketState(this.#ctx.directory, buckets, 'copying', target);
      await this.#emit({ step: 'fence', ...at,
        message: `fence: lifted again after ${this.#s.fenceWaitMs} ms, transactions are still open; waiting for them, ${label}` });
      await waitForOpenTransactions(src, source, this.#ctx.clock, this.#s.waitTimeoutMs, this.#lockName);
      await applyChanges(src, this.#shard(target), pairs, buckets, this.#s.copyBatchRows);
    }
  }

  /** Undoes a move that did not switch: writes go back to the source, the target's copy goes away. */
  async #abort(source: string, target: string, buckets: number[], reason: string): Promise<void> {
    const src = this.#shard(source);
    const dst = this.#shard(target);
    await clearFence(src, buckets);
    const rows = await this.#deleteRows(target, buckets);
    // A tombstone where the buckets do not live: a badly stale router's write fails and retries.
    await setFence(dst, buckets, 'moved');
    await setBucketState(this.#ctx.directory, buckets, 'active', null);
    await this.#emit({ step: 'abort', buckets, source, target, rows,
      message: `abort: buckets ${buckets.join(',')} stay on ${source} (${reason}); ${rows} copied rows removed from ${target}` });
  }

  async #cleanup(source: string, target: string, buckets: number[]): Promise<void> {
    const src = this.#shard(source);
    const rows = await this.#deleteRows(source, buckets);
    await src.query('DELETE FROM scaleout_reshard_changes WHERE bucket = ANY($1::int[])', [buckets]);
    await setBucketState(this.#ctx.directory, buckets, 'active', null);
    await this.#emit({ step: 'cleanup', buckets, source, target, rows,
      message: `cleanup: ${rows} rows of buckets ${buckets.join(',')} deleted from ${source}` });
  }

  async #runCleanups(all: boolean): Promise<void> {
    while (this.#cleanups.length > 0) {
      const next = this.#cleanups[0]!;
      const waitMs = next.dueMs - this.#ctx.clock.now();
      if (waitMs > 0) {
        if (!all) return;
        await delay(waitMs);
      }
      this.#cleanups.shift();
      await this.#cleanup(next.source, next.target, next.buckets);
    }
  }
}
