import type { DbNode } from './db-node.js';
import { fenceNode, includeStreamingReplicas, runFailover, unfenceNode } from './failover.js';
import { computeLag, withinLagBounds } from './lag.js';
import { type Lsn, formatLsn } from './lsn.js';
import type { ResolvedOptions } from './options.js';
import { resolveRoles } from './role-resolver.js';
import type { FailoverEvent, NodeStatus, TopologySnapshot } from './topology.js';

/** Callbacks the monitor reports through. */
export interface MonitorEvents {
  failover(event: FailoverEvent): void;
  topology(snapshot: TopologySnapshot): void;
}

/**
 * Checks every node each `checkIntervalMs`, decides roles, lag and read eligibility,
 * fences old primaries and drives failover. The router reads its fields on every
 * query, so they are plain fields, updated once per round.
 */
export class TopologyMonitor {
  readonly nodes: readonly DbNode[];
  /** The node that takes writes. */
  primary: DbNode | undefined;
  /** The primary's timeline. */
  timeline: number | undefined;
  /**
   * The first WAL position this router saw on the current timeline. Every position
   * on a timeline is at or past its switch point, so a token from an older timeline
   * can be re-based here: whatever of it survived the failover is before this point.
   */
  timelineStartLsn: Lsn | undefined;
  /** Replicas that take eventual reads now. */
  readable: DbNode[] = [];
  failoverInProgress = false;

  #options: ResolvedOptions;
  #events: MonitorEvents;
  #highestTimeline = 0;
  #primaryLsn: Lsn | undefined;
  #primarySampledAtMs: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;
  #ready: Promise<void>;
  #markReady!: () => void;
  #isReady = false;
  #signature = '';
  /** The primary was seen out of recovery at least once (so losing it is a failover, not a startup correction). */
  #primaryConfirmed = false;

  constructor(nodes: readonly DbNode[], options: ResolvedOptions, events: MonitorEvents) {
    this.nodes = nodes;
    this.#options = options;
    this.#events = events;
    // The configured primary is only the first guess; the first round corrects it.
    this.primary = nodes[0];
    this.#ready = new Promise((resolve) => { this.#markReady = resolve; });
  }

  get isReady(): boolean {
    return this.#isReady;
  }

  whenReady(): Promise<void> {
    return this.#ready;
  }

  start(): void {
    // The first round runs now, not on an unref'd timer: a process whose only work is
    // `await db.ready()` would otherwise exit (code 13) before the round began.
    this.checkNow().catch(() => {}).finally(() => this.#schedule(this.#options.checkIntervalMs));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running?.catch(() => {});
    this.#setReady();
  }

  /** Runs one round now (tests and the router use it after a suspected change). */
  async checkNow(): Promise<void> {
    if (this.#running) return this.#running;
    this.#running = this.#round().finally(() => { this.#running = undefined; });
    return this.#running;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.checkNow().catch(() => {}).finally(() => this.#schedule(this.#options.checkIntervalMs));
    }, delayMs);
    // Checks alone must not keep a process alive.
    this.#timer.unref();
  }

  /** Drops a replica from reads at once after a query found it broken; the next round re-checks it. */
  suspect(node: DbNode): void {
    if (!node.readable) return;
    node.readable = false;
    this.readable = this.readable.filter((n) => n !== node);
  }

  async #round(): Promise<void> {
    const { clock, checkTimeoutMs } = this.#options;
    const startedAtMs = clock.now();
    const results = await Promise.allSettled(this.nodes.map((n) => n.check(checkTimeoutMs)));
    if (this.#stopped) return;
    this.nodes.forEach((node, i) => {
      const result = results[i];
      node.checkedAtMs = startedAtMs;
      if (result?.status === 'fulfilled') {
        node.healthy = true;
        node.consecutiveFailures = 0;
        node.failingSinceMs = undefined;
        node.lastError = undefined;
        node.observation = result.value;
        if (result.value.inRecovery) node.replayLsn = result.value.replayLsn;
      } else {
        node.healthy = false;
        node.consecutiveFailures++;
        node.failingSinceMs ??= startedAtMs;
        node.lastError = result?.status === 'rejected' ? String((result.reason as Error)?.message ?? result.reason) : 'unknown';
      }
    });
    this.#applyRoles(startedAtMs);
    this.#applyLag(startedAtMs);
    this.#setReady();
    this.#publish();
    await this.#enforceFences();
    await this.#maybeFailover();
  }

  #applyRoles(nowMs: number): void {
    const decision = resolveRoles(this.nodes.map((n) => ({
      name: n.name,
      reachable: n.healthy,
      inRecovery: n.observation?.inRecovery,
      timeline: n.healthy ? n.observation?.timeline : undefined,
      fenced: n.fenced,
    })), this.primary?.name, this.#highestTimeline);
    this.#highestTimeline = decision.highestTimeline;
    for (const node of this.nodes) {
      if (decision.fence.includes(node.name)) {
        node.fenced = true;
        node.fenceApplied = false;
        this.#options.logger.warn({ node: node.name }, 'fenced an old primary: it takes no reads or writes until rebuilt as a replica');
      }
      if (decision.unfence.includes(node.name)) {
        node.fenced = false;
        void unfenceNode(node, this.#options.logger);
        const primary = this.nodes.find((n) => n.name === decision.primary);
        if (primary && this.#options.failover.enabled && this.#options.failover.synchronous) {
          void includeStreamingReplicas(primary, this.#options.logger);
        }
      }
      node.role = decision.roles.get(node.name) ?? 'unknown';
    }
    const next = this.nodes.find((n) => n.name === decision.primary);
    let replaced: DbNode | undefined;
    if (next !== this.primary && next !== undefined) {
      const previous = this.primary;
      const wasConfirmed = this.#primaryConfirmed;
      this.#adoptPrimary(next);
      // Someone else (an external failover manager, another router) moved the primary.
      if (previous !== undefined && wasConfirmed && !this.failoverInProgress) replaced = previous;
    } else if (next === undefined) {
      this.primary = undefined;
    }
    const primary = this.primary;
    if (primary?.healthy && primary.observation && !primary.observation.inRecovery) {
      this.#primaryConfirmed = true;
      const timeline = primary.observation.timeline;
      if (timeline !== this.timeline || this.timelineStartLsn === undefined) {
        this.timeline = timeline;
        this.timelineStartLsn = primary.observation.currentLsn;
      }
      this.#primaryLsn = primary.observation.currentLsn;
      this.#primarySampledAtMs = nowMs;
    }
    if (replaced && next) {
      this.#events.failover({
        from: replaced.name, to: next.name, timeline: this.timeline ?? 0, promotedByThisRouter: false,
        durationMs: Math.max(0, nowMs - (replaced.failingSinceMs ?? nowMs)),
      });
    }
  }

  #adoptPrimary(node: DbNode): void {
    this.primary = node;
    this.#primaryConfirmed = false;
    node.role = 'primary';
    node.readable = false;
    this.timeline = undefined;
    this.timelineStartLsn = undefined;
    this.#primaryLsn = undefined;
    this.#primarySampledAtMs = undefined;
  }

  #applyLag(nowMs: number): void {
    const { maxLagMs, maxLagBytes } = this.#options;
    const readable: DbNode[] = [];
    for (const node of this.nodes) {
      const obs = node.observation;
      if (node.role !== 'replica' || !obs) {
        node.readable = false;
        node.lagBytes = undefined;
        node.lagMs = undefined;
        continue;
      }
      const lag = computeLag({
        primaryLsn: this.#primaryLsn, replayLsn: obs.replayLsn, replayAgeMs: obs.replayAgeMs,
        caughtUpAtMs: node.caughtUpAtMs, nowMs,
      });
      if (lag.caughtUp) node.caughtUpAtMs = this.#primarySampledAtMs ?? nowMs;
      node.lagBytes = lag.lagBytes;
      node.lagMs = lag.lagMs;
      const sameTimeline = obs.timeline === undefined || this.timeline === undefined || obs.timeline === this.timeline;
      node.readable = node.healthy && !node.fenced && sameTimeline && withinLagBounds(lag, maxLagMs, maxLagBytes);
      if (node.readable) readable.push(node);
    }
    this.readable = readable;
  }

  async #enforceFences(): Promise<void> {
    await Promise.all(this.nodes.map(async (node) => {
      if (!node.fenced || node.fenceApplied || !node.healthy || node.observation?.inRecovery !== false) return;
      if (node.observation.readOnly) {
        node.fenceApplied = true;
        return;
      }
      node.fenceApplied = await fenceNode(node, this.#options.logger);
    }));
  }

  async #maybeFailover(): Promise<void> {
    const { failover, logger, clock } = this.#options;
    const old = this.primary;
    if (!failover.enabled || this.failoverInProgress || this.#stopped || !old) return;
    if (old.consecutiveFailures < failover.failAfterChecks) return;
    this.failoverInProgress = true;
    this.#publish();
    try {
      const outcome = await runFailover({ nodes: this.nodes, oldPrimary: old, oldTimeline: this.timeline, options: this.#options, logger });
      if (outcome.kind === 'aborted') {
        logger.warn({ primary: old.name, reason: outcome.reason }, 'failover not done; will retry on the next check');
        return;
      }
      old.fenced = true;
      old.fenceApplied = false;
      old.role = 'fenced';
      this.#adoptPrimary(outcome.node);
      // One fresh round so writes resume with the new timeline known.
      this.failoverInProgress = false;
      await this.#round();
      this.#events.failover({
        from: old.name, to: outcome.node.name, timeline: this.timeline ?? 0,
        promotedByThisRouter: outcome.byThisRouter,
        durationMs: Math.max(0, clock.now() - (old.failingSinceMs ?? clock.now())),
      });
      logger.warn({ from: old.name, to: outcome.node.name, timeline: this.timeline }, 'failover done');
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'failover failed; will retry on the next check');
    } finally {
      this.failoverInProgress = false;
      this.#publish();
    }
  }

  #setReady(): void {
    if (this.#isReady) return;
    this.#isReady = true;
    this.#markReady();
  }

  #publish(): void {
    const snapshot = this.snapshot();
    const signature = JSON.stringify([snapshot.primary, snapshot.timeline, snapshot.failoverInProgress,
      snapshot.nodes.map((n) => [n.role, n.healthy, n.readable, n.fenced])]);
    if (signature === this.#signature) return;
    this.#signature = signature;
    this.#events.topology(snapshot);
  }

  snapshot(): TopologySnapshot {
    return {
      primary: this.primary?.name ?? null,
      timeline: this.timeline ?? null,
      failoverInProgress: this.failoverInProgress,
      nodes: this.nodes.map((n): NodeStatus => {
        const obs = n.observation;
        return {
          name: n.name,
          role: n.role,
          healthy: n.healthy,
          readable: n.readable,
          fenced: n.fenced,
          inRecovery: obs?.inRecovery ?? null,
          timeline: obs?.timeline ?? null,
          currentLsn: obs?.currentLsn === undefined ? null : formatLsn(obs.currentLsn),
          receiveLsn: obs?.receiveLsn === undefined ? null : formatLsn(obs.receiveLsn),
          replayLsn: n.replayLsn === undefined ? null : formatLsn(n.replayLsn),
          lagBytes: n.lagBytes ?? null,
          lagMs: n.lagMs ?? null,
          replayPaused: obs?.replayPaused ?? null,
          outstanding: n.outstanding,
          consecutiveFailures: n.consecutiveFailures,
          lastError: n.lastError ?? null,
          checkedAtMs: n.checkedAtMs ?? null,
        };
      }),
    };
  }
}
