import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

/** How many functions {@link topSelfTime} lists. @defaultValue 25 */
export const DEFAULT_TOP_FUNCTIONS = 25;

/** One function's share of the samples. */
export interface SelfTime {
  functionName: string;
  /** `file:line` (relative to the repository when inside it), or empty for V8's pseudo-nodes. */
  location: string;
  selfMs: number;
  /** Share of the non-idle time, 0..1. */
  share: number;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  /** Microseconds on the monotonic clock (CLOCK_MONOTONIC on Linux, as process.hrtime). */
  startTime?: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** A span of the monotonic clock, in microseconds, e.g. from `process.hrtime.bigint() / 1000n`. */
export interface TimeWindowUs {
  startUs: number;
  endUs: number;
}

/**
 * The functions that spent the most self time in a V8 .cpuprofile (what
 * `node --cpu-prof` writes). Sample i lasts until sample i+1, so it is charged
 * timeDeltas[i+1]; profiles without timing fall back to hitCount at the
 * sampling interval. `(idle)` is left out: the profile spans start-up and
 * waiting, and only busy time says where the proxy spends CPU. With
 * `windows`, only samples taken inside them count (the measured runs, not
 * start-up and module loading).
 */
export function topSelfTime(profile: CpuProfile, repoRoot: string, limit = DEFAULT_TOP_FUNCTIONS, windows: TimeWindowUs[] = []): SelfTime[] {
  const byNode = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  if (samples.length > 0 && deltas.length === samples.length) {
    let at = profile.startTime ?? 0;
    for (let i = 0; i < samples.length; i++) {
      at += deltas[i] ?? 0;
      if (windows.length > 0 && !windows.some((w) => at >= w.startUs && at <= w.endUs)) continue;
      const id = samples[i] as number;
      const us = deltas[i + 1] ?? 0;
      byNode.set(id, (byNode.get(id) ?? 0) + us);
    }
  } else {
    for (const node of profile.nodes) byNode.set(node.id, (node.hitCount ?? 0) * 1000);
  }
  // Inlined or re-entered functions appear as several nodes: add them up per function.
  const byFunction = new Map<string, SelfTime>();
  let busyUs = 0;
  for (const node of profile.nodes) {
    const us = byNode.get(node.id) ?? 0;
    if (us === 0) continue;
    const frame = node.callFrame;
    const name = frame.functionName === '' ? '(anonymous)' : frame.functionName;
    if (name === '(idle)') continue;
    busyUs += us;
    const location = frame.url === '' ? '' : `${shorten(frame.url, repoRoot)}:${frame.lineNumber + 1}`;
    const key = `${name}\u0000${location}`;
    const entry = byFunction.get(key);
    if (entry) entry.selfMs += us / 1000;
    else byFunction.set(key, { functionName: name, location, selfMs: us / 1000, share: 0 });
  }
  const list = [...byFunction.values()].sort((a, b) => b.selfMs - a.selfMs).slice(0, limit);
  for (const entry of list) entry.share = busyUs > 0 ? (entry.selfMs * 1000) / busyUs : 0;
  return list;
}

function shorten(url: string, repoRoot: string): string {
  const path = url.startsWith('file://') ? decodeURIComponent(url.slice('file://'.length)) : url;
  return path.startsWith(repoRoot) ? relative(repoRoot, path) : path;
}

/** Reads a .cpuprofile and formats its top functions as lines for the terminal. */
export function formatTopSelfTime(file: string, repoRoot: string, windows: TimeWindowUs[] = [], limit = DEFAULT_TOP_FUNCTIONS): string[] {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  let rows = topSelfTime(profile, repoRoot, limit, windows);
  const lines: string[] = [];
  if (rows.length === 0 && windows.length > 0) {
    // The clocks did not line up (another platform): the whole profile is better than nothing.
    rows = topSelfTime(profile, repoRoot, limit);
    lines.push('  (no samples inside the measured run; showing the whole process life, start-up included)');
  }
  lines.push('  self ms   share  function  (location)');
  for (const row of rows) {
    lines.push(`${row.selfMs.toFixed(1).padStart(8)}  ${(row.share * 100).toFixed(1).padStart(5)}%  ${row.functionName}${row.location === '' ? '' : `  (${row.location})`}`);
  }
  return lines;
}
