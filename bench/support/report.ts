import type { Mode, ProxyName } from './modes.js';
import { MODES, PROXY_LABELS } from './modes.js';
import type { WrkResult } from './wrk.js';

/** Per CPU-second with cookie affinity, the scaleout balancer should reach this multiple of the Node peer. @defaultValue 2 */
export const TARGET_VS_NODE_PEER = 2;
/** Per CPU-second with cookie affinity, the scaleout balancer should reach this multiple of HAProxy. @defaultValue 0.75 */
export const TARGET_VS_HAPROXY = 0.75;
/** The most cookie affinity may cost the scaleout balancer per CPU-second. @defaultValue 0.1 */
export const TARGET_AFFINITY_COST = 0.1;

/** One proxy in one mode. */
export interface Measurement {
  proxy: ProxyName;
  mode: Mode;
  wrk: WrkResult;
  /** CPU seconds the proxy's process tree used during the measured run; undefined for `direct`. */
  cpuS?: number;
  /** The kernel's part of `cpuS` (system time): socket reads and writes, TCP. */
  systemCpuS?: number;
  /** What the proxy runs for this mode. */
  setup: string;
  /** Connections the backends accepted during the measured run (health checks included). */
  upstreamConnections: number;
  /** Requests per CPU-second of each round, to show how much the rounds disagree. */
  roundsPerCpuS?: number[];
  /** CPU seconds other processes took on the proxy's CPU during the measured run: the noise. */
  othersCpuS?: number;
}

/** Requests completed per CPU-second of the proxy, or undefined without a proxy. */
export function perCpuS(m: Measurement): number | undefined {
  return m.cpuS === undefined || m.cpuS <= 0 ? undefined : m.wrk.requests / m.cpuS;
}

function find(results: Measurement[], proxy: ProxyName, mode: Mode): Measurement | undefined {
  return results.find((r) => r.proxy === proxy && r.mode === mode);
}

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const ms = (n: number): string => (n < 1 ? n.toFixed(3) : n < 10 ? n.toFixed(2) : n.toFixed(1));
const ratio = (n: number | undefined): string => (n === undefined || !Number.isFinite(n) ? 'n/a' : `${n.toFixed(2)}x`);

/** Half the range of the rounds' values, relative to the pooled value: "±7%". */
function spread(values: number[] | undefined, pooled: number | undefined): string {
  if (values === undefined || values.length < 2 || pooled === undefined || pooled <= 0) return '-';
  return `±${(((Math.max(...values) - Math.min(...values)) / 2 / pooled) * 100).toFixed(0)}%`;
}

/** CPU per request split into user and kernel time, e.g. "8.1 + 13.9". */
function userAndKernel(m: Measurement): string {
  if (m.cpuS === undefined || m.systemCpuS === undefined || m.wrk.requests <= 0) return '-';
  const usPerRequest = (s: number): string => ((s * 1e6) / m.wrk.requests).toFixed(1);
  return `${usPerRequest(m.cpuS - m.systemCpuS)} + ${usPerRequest(m.systemCpuS)}`;
}

/** The results table as rows of cells (header first). */
export function tableRows(results: Measurement[]): string[][] {
  const rows = [['mode', 'proxy', 'req/s', 'p50 ms', 'p99 ms', 'proxy CPU %', 'req per CPU-s', 'CPU µs per req: user + kernel', 'rounds spread', 'others on its CPU', 'backend conns', 'errors']];
  for (const mode of MODES) {
    for (const r of results.filter((x) => x.mode === mode)) {
      const per = perCpuS(r);
      const errors = r.wrk.non2xx + r.wrk.socketErrors;
      rows.push([
        mode, PROXY_LABELS[r.proxy], int(r.wrk.requestsPerS), ms(r.wrk.p50Ms), ms(r.wrk.p99Ms),
        r.cpuS === undefined ? '-' : `${((r.cpuS / r.wrk.durationS) * 100).toFixed(0)}%`,
        per === undefined ? '-' : int(per),
        userAndKernel(r),
        spread(r.roundsPerCpuS, per),
        r.othersCpuS === undefined ? '-' : `${((r.othersCpuS / r.wrk.durationS) * 100).toFixed(0)}%`,
        int(r.upstreamConnections),
        errors === 0 ? '0' : `${r.wrk.non2xx} non-2xx, ${r.wrk.socketErrors} socket`,
      ]);
    }
  }
  return rows;
}

/** The comparisons the targets are about, as lines. */
export function ratioLines(results: Measurement[]): string[] {
  const lines: string[] = [];
  for (const mode of MODES) {
    const ours = find(results, 'scaleout', mode);
    if (ours === undefined) continue;
    const ourPer = perCpuS(ours);
    const parts: string[] = [];
    const haproxy = find(results, 'haproxy', mode);
    if (haproxy !== undefined) {
      parts.push(`vs HAProxy: ${ratio(ours.wrk.requestsPerS / haproxy.wrk.requestsPerS)} req/s, ${ratio(ratioOf(ourPer, perCpuS(haproxy)))} per CPU-s`);
    }
    const sameMode = find(results, 'fastify', mode);
    const node = sameMode ?? find(results, 'fastify', 'round-robin');
    if (node !== undefined) {
      const note = sameMode === undefined ? ' (its round-robin: it has no equivalent)' : '';
      parts.push(`vs @fastify/http-proxy${note}: ${ratio(ours.wrk.requestsPerS / node.wrk.requestsPerS)} req/s, ${ratio(ratioOf(ourPer, perCpuS(node)))} per CPU-s`);
    }
    if (parts.length > 0) lines.push(`${mode}: scaleout ${parts.join('; ')}`);
  }
  return lines;
}

function ratioOf(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined || b === 0 ? undefined : a / b;
}

/** Affinity cost and the three targets, each with its verdict. */
export function targetLines(results: Measurement[]): string[] {
  const cookie = find(results, 'scaleout', 'cookie');
  const plain = find(results, 'scaleout', 'round-robin');
  const lines: string[] = [];
  const verdict = (ok: boolean | undefined): string => (ok === undefined ? 'not measured' : ok ? 'met' : 'MISSED');
  const cookiePer = cookie === undefined ? undefined : perCpuS(cookie);
  const plainPer = plain === undefined ? undefined : perCpuS(plain);
  const cost = ratioOf(cookiePer, plainPer);
  const costShare = cost === undefined ? undefined : 1 - cost;
  lines.push(`affinity cost (scaleout cookie vs round-robin, req per CPU-s): ${costShare === undefined ? 'n/a' : `${(costShare * 100).toFixed(1)}%`}` +
    ` — target <= ${TARGET_AFFINITY_COST * 100}%: ${verdict(costShare === undefined ? undefined : costShare <= TARGET_AFFINITY_COST)}`);
  const node = find(results, 'fastify', 'cookie') ?? find(results, 'fastify', 'round-robin');
  const vsNode = ratioOf(cookiePer, node === undefined ? undefined : perCpuS(node));
  lines.push(`cookie + health, per CPU-s vs @fastify/http-proxy (${node?.mode ?? 'n/a'}): ${ratio(vsNode)} — target >= ${TARGET_VS_NODE_PEER}x: ${verdict(vsNode === undefined ? undefined : vsNode >= TARGET_VS_NODE_PEER)}`);
  const haproxy = find(results, 'haproxy', 'cookie');
  const vsHaproxy = ratioOf(cookiePer, haproxy === undefined ? undefined : perCpuS(haproxy));
  lines.push(`cookie + health, per CPU-s vs HAProxy: ${ratio(vsHaproxy)} — target >= ${TARGET_VS_HAPROXY}x: ${verdict(vsHaproxy === undefined ? undefined : vsHaproxy >= TARGET_VS_HAPROXY)}`);
  return lines;
}

/** Aligned plain-text table for the terminal. */
export function formatText(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, i) => (i < 2 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ')).join('\n');
}

/** GitHub-flavoured Markdown table. */
export function formatMarkdown(rows: string[][]): string {
  const [header, ...body] = rows;
  if (header === undefined) return '';
  const align = header.map((_, i) => (i < 2 ? '---' : '---:'));
  return [header, align, ...body].map((r) => `| ${r.join(' | ')} |`).join('\n');
}
