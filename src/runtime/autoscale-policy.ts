/**
 * Samples in a row above the target before instances are added: one busy second (a
 * garbage collection, a burst) does not start a process. @defaultValue 2
 */
export const SCALE_OUT_AFTER_SAMPLES = 2;
/** Samples in a row comfortably under the target before one is removed: removing is the slower side. @defaultValue 3 */
export const SCALE_IN_AFTER_SAMPLES = 3;
/**
 * An instance is removed only when the others would then run below this share of the
 * target: with the load spread over one process less, they must stay under the target,
 * with room to spare, or the next sample would add it back (flapping). @defaultValue 0.8
 */
export const SCALE_IN_HEADROOM = 0.8;

export interface AutoscaleBounds {
  min: number;
  max: number;
  /** The metric's target (percent of a core per process, the pool's p99 in ms, jobs waiting per worker). */
  target: number;
  cooldownMs: number;
}

/** What the policy remembers between samples. */
export interface PolicyMemory {
  above: number;
  below: number;
  /** When the count last changed (epoch ms); undefined: never. */
  lastChangeAt: number | undefined;
}

export type Decision =
  | { action: 'scale-out' | 'scale-in'; to: number; reason: string }
  | { action: 'hold-at-max' | 'cooldown'; to: number; reason: string }
  | { action: 'steady'; to: number; reason: string };

export function freshMemory(): PolicyMemory {
  return { above: 0, below: 0, lastChangeAt: undefined };
}

const round = (n: number): string => (Number.isFinite(n) ? String(Math.round(n * 10) / 10) : '∞');

/**
 * One sample's decision. `value` is the metric per process now (the mean CPU of the
 * instances, the jobs waiting per worker). Scale-out is proportional, as Kubernetes'
 * HPA: `ceil(count × value / target)` processes, at least one more, at most `max`, so
 * a sharp rise is met in one step. Scale-in removes one at a time, only when the
 * remaining processes would stay under {@link SCALE_IN_HEADROOM} of the target. No
 * change within `cooldownMs` of the last one: the effect of a change shows before the
 * next. `memory` is updated in place.
 */
export function decide(bounds: AutoscaleBounds, memory: PolicyMemory, count: number, value: number, nowMs: number): Decision {
  const { min, max, target, cooldownMs } = bounds;
  if (count < min) return change(memory, nowMs, { action: 'scale-out', to: min, reason: `${count} running, below min ${min}` });
  if (count > max) return change(memory, nowMs, { action: 'scale-in', to: max, reason: `${count} running, above max ${max}` });
  const cooling = memory.lastChangeAt !== undefined && nowMs - memory.lastChangeAt < cooldownMs;
  const waitMs = memory.lastChangeAt === undefined ? 0 : cooldownMs - (nowMs - memory.lastChangeAt);
  // With no process, any waiting work is infinitely much per process.
  const perProcess = count === 0 ? (value > 0 ? Number.POSITIVE_INFINITY : 0) : value;
  if (perProcess > target) {
    memory.above++;
    memory.below = 0;
    if (memory.above < SCALE_OUT_AFTER_SAMPLES) return { action: 'steady', to: count, reason: `${round(perProcess)} above target ${target}, sample ${memory.above} of ${SCALE_OUT_AFTER_SAMPLES}` };
    if (count >= max) return { action: 'hold-at-max', to: count, reason: `${round(perProcess)} above target ${target}, but ${count} is max` };
    const wanted = count === 0 ? 1 : Math.ceil((count * perProcess) / target);
    const to = Math.min(max, Math.max(count + 1, wanted));
    if (cooling) return { action: 'cooldown', to: count, reason: `${round(perProcess)} above target ${target}; would go to ${to}, cooling down ${Math.ceil(waitMs)} ms more` };
    return change(memory, nowMs, { action: 'scale-out', to, reason: `${round(perProcess)} above target ${target} for ${memory.above} samples` });
  }
  // What each would carry with one process less.
  const projected = count <= 1 ? (value > 0 ? Number.POSITIVE_INFINITY : 0) : (value * count) / (count - 1);
  if (count > min && projected < target * SCALE_IN_HEADROOM) {
    memory.below++;
    memory.above = 0;
    const reason = `${round(perProcess)} per process; with ${count - 1} it would be ${round(projected)}, under ${SCALE_IN_HEADROOM * 100}% of target ${target}`;
    if (memory.below < SCALE_IN_AFTER_SAMPLES) return { action: 'steady', to: count, reason: `${reason}, sample ${memory.below} of ${SCALE_IN_AFTER_SAMPLES}` };
    if (cooling) return { action: 'cooldown', to: count, reason: `${reason}; cooling down ${Math.ceil(waitMs)} ms more` };
    return change(memory, nowMs, { action: 'scale-in', to: count - 1, reason: `${reason}, for ${memory.below} samples` });
  }
  memory.above = 0;
  memory.below = 0;
  return { action: 'steady', to: count, reason: `${round(perProcess)} per process, target ${target}` };
}

function change(memory: PolicyMemory, nowMs: number, decision: Decision): Decision {
  memory.above = 0;
  memory.below = 0;
  memory.lastChangeAt = nowMs;
  return decision;
}
