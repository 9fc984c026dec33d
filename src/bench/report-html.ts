import type { BenchReport } from './bench-report.js';
import { esc, lineChart } from './svg-chart.js';

/**
 * The report as one self-contained HTML page: the totals, then latency over time,
 * throughput, and requests per instance, as SVG drawn here (no script, no CDN).
 */
export function benchReportHtml(report: BenchReport): string {
  const t = report.totals;
  const timeline = report.timeline;
  const latency = lineChart({
    title: report.timelineSource === 'client' ? 'Latency over time (client side, per second)' : 'Latency over time (the balancer\'s p50/p99 over its last 10 s, read each second)', yUnit: 'ms',
    series: [
      { name: 'p50', values: timeline.map((s) => (s.responses === 0 ? null : s.p50Ms)) },
      { name: 'p99', values: timeline.map((s) => (s.responses === 0 ? null : s.p99Ms)) },
    ],
  });
  const throughput = lineChart({
    title: report.timelineSource === 'client' ? 'Throughput (responses per second)' : 'Throughput (exchanges per second, balancer counters)', yUnit: 'req/s',
    series: [{ name: 'responses', values: timeline.map((s) => s.responses) }, { name: 'errors', values: timeline.map((s) => s.errors) }],
  });
  const perInstance = lineChart({
    title: 'Requests per instance per second (balancer counters)', yUnit: 'req/s',
    series: report.servers.map((s) => ({ name: s.id, values: s.perSecond })),
  });
  const rows = report.servers.map((s) => `<tr><td>${esc(s.pool)}</td><td>${esc(s.id)}</td><td>${s.requests}</td><td>${s.p50Ms}</td><td>${s.p99Ms}</td></tr>`).join('');
  const agree = report.balancer.exchanges === t.responses;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>scaleout bench: ${esc(report.scenario)} ${esc(report.startedAt)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:900px}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f4f4f4}
td:first-child,td:nth-child(2){text-align:left}
svg{display:block;margin:12px 0;background:#fff;border:1px solid #eee}
svg .title{font-size:13px;font-weight:600}svg .tick,svg .legend,svg .unit{font-size:11px;fill:#555}svg .grid{stroke:#eee}
.ok{color:#1a7f37}.warn{color:#b35900}
</style></head><body>
<h1>scaleout bench</h1>
<p>Scenario <b>${esc(report.scenario)}</b>, ${report.rps === null ? 'as fast as possible' : `${report.rps} req/s asked`}, ${report.connections} connections, ${report.elapsedS} s with ${esc(report.tool)} against <code>${esc(report.appUrl)}</code>, started ${esc(report.startedAt)}.</p>
<table id="totals"><tr><th>responses</th><th>req/s</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>max ms</th><th>2xx</th><th>3xx</th><th>4xx</th><th>5xx</th><th>errors</th><th>timeouts</th></tr>
<tr><td>${t.responses}</td><td>${t.throughputRps}</td><td>${report.latency.p50Ms}</td><td>${report.latency.p90Ms}</td><td>${report.latency.p99Ms}</td><td>${report.latency.maxMs}</td><td>${t.byClass['2xx']}</td><td>${t.byClass['3xx']}</td><td>${t.byClass['4xx']}</td><td>${t.byClass['5xx']}</td><td>${t.errors}</td><td>${t.timeouts}</td></tr></table>
<p class="${agree ? 'ok' : 'warn'}">The balancer counted ${report.balancer.exchanges} exchanges (${report.balancer.requests} requests to servers) for ${t.responses} responses${agree ? ': they agree.' : '; the difference was in flight at the end or came from other clients.'}</p>
${latency}
${throughput}
${perInstance}
<h2>Per instance</h2>
<table id="servers"><tr><th>pool</th><th>server</th><th>requests</th><th>p50 ms</th><th>p99 ms</th></tr>${rows}</table>
<p>p50/p99 per instance are the balancer's, over its last 10 s as the run ended.</p>
</body></html>
`;
}
