import { randomBytes } from 'node:crypto';
import type { StickTable } from './stick-table.js';

/** Between two looks at every peer: resync one that is behind, else a heartbeat. @defaultValue 1000 */
export const DEFAULT_PEER_SYNC_INTERVAL_MS = 1_000;
/** New assignments wait this long to travel together. @defaultValue 20 */
export const PEER_FLUSH_DELAY_MS = 20;
/** One push to a peer that takes longer fails (the peer is then resynced). @defaultValue 2000 */
export const PEER_REQUEST_TIMEOUT_MS = 2_000;
/** A closing balancer waits this long for pushes under way, then abandons them. @defaultValue 1000 */
export const PEER_CLOSE_WAIT_MS = 1_000;
/** Most updates in one push: a peer refuses more. @defaultValue 1000 */
export const MAX_PEER_UPDATES = 1_000;
/** A push's body stays under this, well inside the admin API's 64 KiB. @defaultValue 49152 */
const MAX_PUSH_BYTES = 48 * 1024;
/**
 * New assignments waiting to be pushed beyond this are dropped and every peer is
 * resynced in full instead, so a slow peer cannot make the sender's memory grow.
 */
const MAX_PENDING = 10_000;
/**
 * Pushes waiting for one peer beyond this mean it does not keep up (it is slow, or hung
 * and every push waits for the timeout): it is marked behind and resynced once it answers,
 * so the queue for it stays short.
 */
const MAX_QUEUED_PUSHES = 4;
const MAX_POOL_NAME = 128;
const MAX_SERVER_ID = 256;
const MAX_BOOT_ID = 64;

/** One stick table entry on the wire: pool, key, server id, milliseconds it has left. */
export type PeerUpdate = [pool: string, key: string, serverId: string, ttlMs: number];

/** What `POST /peers/stick` takes. */
export interface PeerPush {
  /** The sender's boot id. */
  from: string;
  updates: PeerUpdate[];
  /**
   * The sender's admin address, on its first push to this peer after it started: the
   * receiver resyncs it at once instead of at its next heartbeat, so a restarted
   * balancer has its peers' entries within milliseconds.
   */
  hello?: string;
}

/** What `POST /peers/stick` answers: the receiver's boot id tells the sender when it restarted. */
export interface PeerPushAnswer {
  bootId: string;
  applied: number;
  ignored: number;
}

export type PeerState = 'unsynced' | 'syncing' | 'synced';

/** A peer in the balancer's snapshot. */
export interface PeerSnapshot {
  address: string;
  state: PeerState;
  /** Updates it accepted since this balancer started. */
  pushed: number;
  /** Full resyncs sent to it. */
  resyncs: number;
  /** Pushes waiting for it (at most a few: see MAX_QUEUED_PUSHES). */
  queued: number;
  lastError: string | undefined;
}

export interface StickPeersOptions {
  /** Admin addresses (`host:port`) of the other balancers. */
  peers: string[];
  /** The admin token, shared by every balancer of the group. */
  token: string;
  /** This balancer's own admin address, sent with the first push to each peer. */
  self: () => string | undefined;
  syncIntervalMs?: number;
  /** Every pool's stick table, for a full resync. */
  tables: () => Iterable<[pool: string, table: StickTable]>;
  /**
   * A peer in sync is resynced in full this often anyway: hits refresh an entry's expiry
   * only where they happen, and this carries the new expiries to the peers before their
   * copies run out (the balancer passes half the shortest idle timeout of its tables).
   */
  refreshMs: () => number;
  now: () => number;
  /** A peer fell behind or caught up. */
  log: (message: string) => void;
}

interface Peer {
  address: string;
  state: PeerState;
  /** The boot id it answered with last; another one means it restarted and lost what was not saved. */
  bootId: string | undefined;
  /** Pushes to one peer go one after the other, so updates arrive in order. */
  chain: Promise<void>;
  /** Jobs in `chain` not finished yet. */
  queued: number;
  /** It has had our first push since we started (with `hello`). */
  greeted: boolean;
  /** When its last full resync began (epoch ms of `now()`). */
  resyncedAt: number;
  pushed: number;
  resyncs: number;
  lastError: string | undefined;
}

/**
 * Replicates stick table assignments to the other balancers that serve the same
 * clients (HAProxy's `peers`), so a client keeps its server when DNS or a floating
 * address sends it to another balancer.
 *
 *     pool assigns key ─► record() ─► pending ─(20 ms)─► POST /peers/stick to every synced peer
 *     every second:  unsynced peer ─► full resync (every live entry, in 48 KiB pushes) ─► synced
 *                    synced peer   ─► heartbeat (an empty push): another boot id ─► unsynced
 *
 * A push that fails marks the peer unsynced: it gets the whole table once it answers
 * again, so nothing needs to be queued for a peer that is down. Only new assignments
 * travel; hits refresh the expiry locally, and a full resync carries the current
 * expiries. The receiver keeps whichever entry expires later (`StickTable.merge`).
 */
export class StickPeers {
  readonly bootId = randomBytes(8).toString('hex');
  readonly #options: StickPeersOptions;
  readonly #peers: Peer[];
  readonly #auth: string;
  #pending: PeerUpdate[] = [];
  #flushTimer: NodeJS.Timeout | undefined;
  #syncTimer: NodeJS.Timeout | undefined;
  #closed = false;
  /** Aborts the pushes still under way once a closing balancer stops waiting for them. */
  readonly #abort = new AbortController();

  constructor(options: StickPeersOptions) {
    this.#options = options;
    this.#auth = `Bearer ${options.token}`;
    this.#peers = options.peers.map((address) => ({
      address, state: 'unsynced', bootId: undefined, chain: Promise.resolve(), queued: 0, greeted: false, resyncedAt: 0, pushed: 0, resyncs: 0, lastError: undefined,
    }));
  }

  start(): void {
    if (this.#peers.length === 0 || this.#syncTimer !== undefined) return;
    this.#syncTimer = setInterval(() => this.#tick(), this.#options.syncIntervalMs ?? DEFAULT_PEER_SYNC_INTERVAL_MS);
    this.#syncTimer.unref();
    this.#tick();
  }

  /** A pool stuck `key` to `serverId` until `expiresAtMs`. */
  record(pool: string, key: string, serverId: string, expiresAtMs: number): void {
    if (this.#closed || this.#peers.length === 0) return;
    if (this.#pending.length >= MAX_PENDING) {
      this.#pending = [];
      for (const peer of this.#peers) this.#fallBehind(peer, `more than ${MAX_PENDING} updates waited to be sent`);
      return;
    }
    this.#pending.push([pool, key, serverId, expiresAtMs]);
    if (this.#flushTimer === undefined) {
      this.#flushTimer = setTimeout(() => this.#flush(), PEER_FLUSH_DELAY_MS);
      this.#flushTimer.unref();
    }
  }

  /** A peer at `address` said hello: it (re)started and has only its file; resync it now. */
  greeted(address: string): void {
    const peer = this.#peers.find((p) => p.address === address);
    if (peer === undefined || this.#closed || peer.state === 'syncing') return;
    peer.state = 'unsynced';
    peer.bootId = undefined;
    this.#enqueue(peer, () => this.#resync(peer));
  }

  snapshot(): PeerSnapshot[] {
    return this.#peers.map((p) => ({ address: p.address, state: p.state, pushed: p.pushed, resyncs: p.resyncs, queued: p.queued, lastError: p.lastError }));
  }

  /**
   * Stops the timers, sends what is pending, and waits for the pushes under way for at
   * most {@link PEER_CLOSE_WAIT_MS}: a hung peer must not hold up a balancer's shutdown.
   */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#flushTimer);
    clearInterval(this.#syncTimer);
    this.#flush();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(this.#peers.map((p) => p.chain)),
      new Promise((resolve) => { timer = setTimeout(resolve, PEER_CLOSE_WAIT_MS); }),
    ]);
    clearTimeout(timer);
    this.#abort.abort();
  }

  #flush(): void {
    this.#flushTimer = undefined;
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length === 0) return;
    const now = this.#options.now();
    const updates = batch.flatMap(([pool, key, serverId, expiresAt]): PeerUpdate[] => (expiresAt > now ? [[pool, key, serverId, expiresAt - now]] : []));
    for (const peer of this.#peers) {
      // A peer that is behind gets everything with its next resync.
      if (peer.state === 'unsynced') continue;
      if (peer.queued >= MAX_QUEUED_PUSHES) {
        this.#fallBehind(peer, `more than ${MAX_QUEUED_PUSHES} pushes waited for it`);
        continue;
      }
      this.#enqueue(peer, async () => {
        for (const chunk of chunks(updates)) {
          // It fell behind meanwhile: the resync carries these too.
          if (peer.state === 'unsynced') return;
          await this.#push(peer, chunk);
        }
      });
    }
  }

  #tick(): void {
    if (this.#closed) return;
    for (const peer of this.#peers) {
      if (peer.queued > 0) continue;
      if (peer.state === 'unsynced') this.#enqueue(peer, () => this.#resync(peer));
      else if (peer.state === 'synced' && this.#options.now() - peer.resyncedAt >= this.#options.refreshMs()) this.#enqueue(peer, () => this.#resync(peer, true));
      else if (peer.state === 'synced') this.#enqueue(peer, () => this.#push(peer, []));
    }
  }

  async #resync(peer: Peer, refresh = false): Promise<void> {
    const now = this.#options.now();
    peer.resyncedAt = now;
    // A refresh of a peer in sync keeps its boot id: another one means it restarted meanwhile.
    if (!refresh) {
      peer.state = 'syncing';
      // A boot id seen during the resync is the one the peer has once it is complete.
      peer.bootId = undefined;
    }
    let updates: PeerUpdate[] = [];
    let bytes = 0;
    let sent = 0;
    for (const [pool, table] of this.#options.tables()) {
      for (const entry of table.entries(now)) {
        const update: PeerUpdate = [pool, entry.key, entry.serverId, entry.expiresAtMs - now];
        const size = JSON.stringify(update).length + 1;
        if (updates.length >= MAX_PEER_UPDATES || bytes + size > MAX_PUSH_BYTES) {
          await this.#push(peer, updates);
          sent += updates.length;
          updates = [];
          bytes = 0;
        }
        updates.push(update);
        bytes += size;
      }
    }
    await this.#push(peer, updates);
    sent += updates.length;
    if (refresh || peer.state !== 'syncing') return;
    peer.state = 'synced';
    peer.resyncs++;
    // Worth a line when it had fallen behind or needed entries, not at every quiet start.
    if (sent > 0 || peer.lastError !== undefined) this.#options.log(`stick table peer ${peer.address} in sync (${sent} entries sent)`);
    peer.lastError = undefined;
  }

  #enqueue(peer: Peer, job: () => Promise<void>): void {
    peer.queued++;
    peer.chain = peer.chain.then(job).catch((err: unknown) => this.#fallBehind(peer, (err as Error).message)).finally(() => {
      peer.queued--;
    });
  }

  async #push(peer: Peer, updates: PeerUpdate[]): Promise<void> {
    const self = peer.greeted ? undefined : this.#options.self();
    const body: PeerPush = { from: this.bootId, updates, ...(self === undefined ? {} : { hello: self }) };
    const res = await fetch(`http://${peer.address}/peers/stick`, {
      method: 'POST',
      headers: { authorization: this.#auth, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.any([AbortSignal.timeout(PEER_REQUEST_TIMEOUT_MS), this.#abort.signal]),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`POST /peers/stick answered ${res.status}: ${text.slice(0, 200)}`);
    const answer = JSON.parse(text) as Partial<PeerPushAnswer>;
    if (typeof answer.bootId !== 'string') throw new Error('POST /peers/stick answered without a boot id');
    peer.pushed += updates.length;
    if (self !== undefined) peer.greeted = true;
    if (peer.bootId === undefined) peer.bootId = answer.bootId;
    else if (peer.bootId !== answer.bootId) throw new Error('it restarted');
  }

  #fallBehind(peer: Peer, reason: string): void {
    const was = peer.state;
    peer.state = 'unsynced';
    peer.bootId = undefined;
    if (peer.lastError !== reason || was === 'synced') this.#options.log(`stick table peer ${peer.address} behind (${reason}); a full resync follows when it answers`);
    peer.lastError = reason;
  }
}

function* chunks(updates: PeerUpdate[]): Generator<PeerUpdate[]> {
  let chunk: PeerUpdate[] = [];
  let bytes = 0;
  for (const update of updates) {
    const size = JSON.stringify(update).length + 1;
    if (chunk.length > 0 && (chunk.length >= MAX_PEER_UPDATES || bytes + size > MAX_PUSH_BYTES)) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(update);
    bytes += size;
  }
  if (chunk.length > 0) yield chunk;
}

/**
 * Checks a push from a peer: the reason it is refused, or the push. Everything in it
 * is bounded (count, string lengths, finite numbers), so a peer cannot make the
 * receiver allocate much or throw.
 */
export function parsePeerPush(body: unknown): PeerPush | string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'send {"from": "<boot id>", "updates": [[pool, key, serverId, ttlMs], ...]}';
  const { from, updates, hello } = body as { from?: unknown; updates?: unknown; hello?: unknown };
  if (hello !== undefined && (typeof hello !== 'string' || hello.length === 0 || hello.length > MAX_POOL_NAME * 2)) return '"hello" must be the sender\'s admin address (host:port)';
  if (typeof from !== 'string' || from.length === 0 || from.length > MAX_BOOT_ID) return `"from" must be the sender's boot id (a string of 1 to ${MAX_BOOT_ID} characters)`;
  if (!Array.isArray(updates)) return '"updates" must be a list of [pool, key, serverId, ttlMs]';
  if (updates.length > MAX_PEER_UPDATES) return `"updates" has ${updates.length} entries; send at most ${MAX_PEER_UPDATES} per request`;
  for (let i = 0; i < updates.length; i++) {
    const row: unknown = updates[i];
    if (!Array.isArray(row) || row.length !== 4) return `updates[${i}] must be [pool, key, serverId, ttlMs]`;
    const [pool, key, serverId, ttlMs] = row as unknown[];
    if (typeof pool !== 'string' || pool.length === 0 || pool.length > MAX_POOL_NAME) return `updates[${i}][0] must be a pool name (1 to ${MAX_POOL_NAME} characters)`;
    if (typeof key !== 'string') return `updates[${i}][1] must be a string key`;
    if (typeof serverId !== 'string' || serverId.length === 0 || serverId.length > MAX_SERVER_ID) return `updates[${i}][2] must be a server id (1 to ${MAX_SERVER_ID} characters)`;
    if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0) return `updates[${i}][3] must be the milliseconds the entry has left, a number above 0`;
  }
  return { from, updates: updates as PeerUpdate[], ...(hello === undefined ? {} : { hello }) };
}
