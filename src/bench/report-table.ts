import type { BenchReport } from './bench-report.js';

/** The report for a terminal: totals, latency, then one row per server. */
export function formatBenchTable(report: BenchReport): string {
  const t = report.totals;
  const lines = [
    `scenario ${report.scenario}, ${report.rps === null ? 'as fast as possible' : `${report.rps} req/s asked`}, ${report.connections} connections, ${report.elapsedS} s (${report.tool}) → ${report.appUrl}`,
    '',
  ];
  lines.push(...table([
    ['responses', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', '2xx', '3xx', '4xx', '5xx', 'errors', 'timeouts'],
    [t.responses, t.throughputRps, report.latency.p50Ms, report.latency.p90Ms, report.latency.p99Ms, report.latency.maxMs, t.byClass['2xx'], t.byClass['3xx'], t.byClass['4xx'], t.byClass['5xx'], t.errors, t.timeouts].map(String),
  ]));
  if (report.servers.length > 0) {
    lines.push('');
    lines.push(...table([
      ['pool', 'server', 'requests', 'share', 'p50 ms', 'p99 ms'],
      ...report.servers.map((s) => [s.pool, s.id, String(s.requests), report.balancer.requests === 0 ? '-' : `${Math.round((100 * s.requests) / report.balancer.requests)}%`, String(s.p50Ms), String(s.p99Ms)]),
    ]));
  }
  const agree = report.balancer.exchanges === t.responses;
  lines.push('', `balancer counted ${report.balancer.exchanges} exchanges (${report.balancer.requests} requests to servers) for ${t.responses} responses: ${agree ? 'they agree' : `${report.balancer.exchanges - t.responses} more on the balancer's side (in flight at the end, or from other clients)`}`);
  return `${lines.join('\n')}\n`;
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => (r[col] ?? '').length)));
  return rows.map((row) => row.map((cell, col) => (col < 2 && rows[0]![0] === 'pool' ? cell.padEnd(widths[col]!) : cell.padStart(widths[col]!))).join('  '));
}
