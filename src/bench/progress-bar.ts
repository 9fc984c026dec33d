import type { BenchProgress } from './load-run.js';

/** Width of the bar in characters. @defaultValue 30 */
export const PROGRESS_BAR_WIDTH = 30;
/** Without a terminal (a pipe, a log file), one plain line this often instead of a bar redrawn in place. @defaultValue 2000 */
export const PROGRESS_LINE_MS = 2000;

/** The progress of a run as one line: `[#######-------]  45%  4.5/10 s  1,234 responses  247 req/s  0 errors`. */
export function formatProgress(p: BenchProgress, width = PROGRESS_BAR_WIDTH): string {
  const ratio = Math.max(0, Math.min(1, p.elapsedS / p.durationS));
  const filled = Math.round(ratio * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.round(ratio * 100)).padStart(3)}%  ${p.elapsedS.toFixed(1)}/${p.durationS} s  ${p.responses.toLocaleString('en')} responses  ${p.currentRps.toLocaleString('en')} req/s  ${p.errors} errors`;
}

/**
 * Draws the progress on a stream: redrawn in place on a terminal, a plain line every
 * {@link PROGRESS_LINE_MS} otherwise (so logs do not fill with carriage returns).
 */
export function progressPrinter(stream: NodeJS.WriteStream): { update(p: BenchProgress): void; end(): void } {
  let lastLineAt = 0;
  let drawn = false;
  return {
    update(p) {
      if (stream.isTTY) {
        stream.write(`\r${formatProgress(p).slice(0, Math.max(20, (stream.columns ?? 100) - 1))}`);
        drawn = true;
      } else if (performance.now() - lastLineAt >= PROGRESS_LINE_MS) {
        lastLineAt = performance.now();
        stream.write(`${formatProgress(p)}\n`);
      }
    },
    end() {
      if (drawn) stream.write('\n');
    },
  };
}
