/**
 * `scaleout bench`: a load through the balancer of a running `scaleout up` (autocannon),
 * measured from the client and from the balancer's own counters, reported as a
 * terminal table and a self-contained HTML page.
 */
export { adminSnapshotReader, ADMIN_READ_TIMEOUT_MS } from './admin-source.js';
export type { BenchReport, BenchSecond, BenchServer } from './bench-report.js';
export { BENCH_ERRORS, BenchBusyError, BenchOptionsError, BenchRunError, BenchTargetError } from './errors.js';
export {
  BALANCER_SAMPLE_MS, BENCH_TIMEOUT_S, BENCH_TOOLS, DEFAULT_BENCH_CONNECTIONS, DEFAULT_BENCH_DURATION_S, MAX_BENCH_CONNECTIONS, MAX_BENCH_DURATION_S,
  MAX_BENCH_RPS, PROGRESS_INTERVAL_MS, startBench, validateBenchOptions,
} from './load-run.js';
export type { BenchOptions, BenchProgress, BenchRun, BenchTarget, BenchTool } from './load-run.js';
export { findWrk, parseWrkOutput } from './wrk-driver.js';
export type { WrkResult } from './wrk-driver.js';
export { formatProgress, progressPrinter } from './progress-bar.js';
export { benchReportHtml } from './report-html.js';
export { formatBenchTable } from './report-table.js';
export { DEFAULT_BENCH_PRODUCTS, DEFAULT_BENCH_USERS, SCENARIOS, scenarioRequests } from './scenarios.js';
export type { ScenarioName, ScenarioOptions } from './scenarios.js';
export { lineChart } from './svg-chart.js';
