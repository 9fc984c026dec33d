import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { BenchTool, ScenarioName } from '../bench/index.js';
import { BenchTargetError } from '../bench/errors.js';
import { BENCH_TOOLS, DEFAULT_BENCH_CONNECTIONS, DEFAULT_BENCH_DURATION_S } from '../bench/load-run.js';
import { DEFAULT_BENCH_PRODUCTS, SCENARIOS } from '../bench/scenarios.js';
import { ControlClient } from '../runtime/control-client.js';
import { STATE_DIR_NAME } from '../runtime/image.js';
import { UsageError } from './cli-error.js';

interface BenchFlags {
  rps?: string;
  duration: string;
  scenario: string;
  connections: string;
  products: string;
  tool: string;
  out?: string;
  json?: boolean;
}

/**
 * `scaleout bench [dir] [--rps N] [--duration S] [--scenario browse|buy|mixed]`: a load
 * through the balancer of the running `scaleout up` of `dir`, a live progress bar on
 * stderr, then a table, and an HTML report written to a file (its path printed).
 */
export function registerBenchCommand(program: Command): void {
  program.command('bench')
    .description('send a load through the balancer of a running `scaleout up` and report latency, throughput and the spread over instances')
    .argument('[dir]', 'the app folder', '.')
    .option('--rps <n>', 'requests per second in all (default: as fast as the connections go)')
    .option('--duration <s>', 'seconds of load', String(DEFAULT_BENCH_DURATION_S))
    .option('--scenario <name>', `what the load does: ${SCENARIOS.join(' | ')}`, 'browse')
    .option('--connections <n>', 'connections kept open', String(DEFAULT_BENCH_CONNECTIONS))
    .option('--products <n>', 'product ids browse picks from (1..n)', String(DEFAULT_BENCH_PRODUCTS))
    .option('--tool <name>', `load generator: ${BENCH_TOOLS.join(' | ')} (wrk: browse only, no --rps, must be on the PATH)`, 'autocannon')
    .option('--out <file>', 'where the HTML report goes (default: .scaleout/bench/<time>.html in the app folder)')
    .option('--json', 'print the report as JSON instead of the table')
    .action(async (dir: string, flags: BenchFlags) => {
      const scenario = flags.scenario as ScenarioName;
      if (!SCENARIOS.includes(scenario)) throw new UsageError(`--scenario must be one of ${SCENARIOS.join(', ')}, not "${flags.scenario}"`);
      const tool = flags.tool as BenchTool;
      if (!BENCH_TOOLS.includes(tool)) throw new UsageError(`--tool must be one of ${BENCH_TOOLS.join(', ')}, not "${flags.tool}"`);
      const appDir = resolve(dir);
      const client = ControlClient.connect(appDir);
      const status = await client.status();
      const token = client.file.adminToken;
      if (status.appUrl === null || status.adminUrl === null || token === null) {
        throw new BenchTargetError(`the supervisor of ${appDir} has no balancer yet (state ${status.state}); wait until \`scaleout status\` shows it running`);
      }
      const { adminSnapshotReader, benchReportHtml, formatBenchTable, progressPrinter, startBench } = await import('../bench/index.js');
      const progress = progressPrinter(process.stderr);
      const run = startBench({ appUrl: status.appUrl, snapshot: adminSnapshotReader(status.adminUrl, token) }, {
        scenario,
        tool,
        rps: flags.rps === undefined ? undefined : whole('--rps', flags.rps),
        durationS: whole('--duration', flags.duration),
        connections: whole('--connections', flags.connections),
        products: whole('--products', flags.products),
      }, (p) => progress.update(p));
      const onSignal = (): void => run.stop();
      process.once('SIGINT', onSignal);
      let report;
      try {
        report = await run.done;
      } finally {
        process.off('SIGINT', onSignal);
        progress.end();
      }
      const out = resolve(flags.out ?? join(appDir, STATE_DIR_NAME, 'bench', `${report.startedAt.replace(/[:.]/g, '-')}-${report.scenario}.html`));
      await mkdir(resolve(out, '..'), { recursive: true });
      await writeFile(out, benchReportHtml(report));
      process.stdout.write(flags.json === true ? `${JSON.stringify({ ...report, reportPath: out })}\n` : `${formatBenchTable(report)}\nreport: ${out}\n`);
    });
}

function whole(flag: string, text: string): number {
  if (!/^\d{1,9}$/.test(text)) throw new UsageError(`${flag} must be a whole number, not "${text}"`);
  return Number(text);
}
