import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { BenchRunError } from './errors.js';

/** What wrk prints at the end of a run, read back into numbers. */
export interface WrkResult {
  responses: number;
  /** Connect, read and write errors (timeouts apart). */
  errors: number;
  timeouts: number;
  /** Responses that were neither 2xx nor 3xx. */
  non2xx3xx: number;
  latency: { p50Ms: number; p90Ms: number; p99Ms: number; maxMs: number; meanMs: number };
}

/** The first `wrk` on the PATH, or undefined. */
export function findWrk(path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    const candidate = join(dir, 'wrk');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function durationMs(text: string | undefined): number {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text ?? '');
  return m === null ? 0 : Math.round(Number(m[1]) * UNIT_MS[m[2]!]! * 1000) / 1000;
}

/** Reads wrk's summary (run with `--latency`). Lines it does not print (no errors) count as 0. */
export function parseWrkOutput(text: string): WrkResult {
  const quantile = (q: string): number => durationMs(new RegExp(`^\\s*${q}%\\s+(\\S+)`, 'm').exec(text)?.[1]);
  const latencyLine = /^\s*Latency\s+(\S+)\s+\S+\s+(\S+)/m.exec(text);
  const requests = /^\s*(\d+) requests in /m.exec(text);
  if (requests === null) throw new BenchRunError(`wrk printed no request count: ${text.slice(0, 300)}`);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return {
    responses: Number(requests[1]),
    errors: socket === null ? 0 : Number(socket[1]) + Number(socket[2]) + Number(socket[3]),
    timeouts: socket === null ? 0 : Number(socket[4]),
    non2xx3xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0),
    latency: {
      p50Ms: quantile('50'), p90Ms: quantile('90'), p99Ms: quantile('99'),
      maxMs: durationMs(latencyLine?.[2]), meanMs: durationMs(latencyLine?.[1]),
    },
  };
}

/** The `browse` scenario for wrk: the catalogue one time in four, product pages otherwise. */
function browseScript(products: number): string {
  return `-- written by scaleout bench
local products = ${products}
request = function()
  if math.random(4) == 1 then return wrk.format("GET", "/products") end
  return wrk.format("GET", "/products/" .. math.random(products))
end
`;
}

/** Runs wrk (one thread) against `url` for `durationS`, `browse` only; resolves with its summary. */
export async function runWrk(wrk: string, url: string, options: { durationS: number; connections: number; products: number; timeoutS: number }, signal: AbortSignal): Promise<WrkResult> {
  const dir = await mkdtemp(join(tmpdir(), 'scaleout-wrk-'));
  try {
    const script = join(dir, 'browse.lua');
    await writeFile(script, browseScript(options.products));
    const args = ['-t1', `-c${options.connections}`, `-d${options.durationS}s`, `--timeout`, `${options.timeoutS}s`, '--latency', '-s', script, url];
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(wrk, args, { stdio: ['ignore', 'pipe', 'pipe'], signal });
      let out = '';
      let err = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      child.on('error', (e) => reject(new BenchRunError(`wrk could not run: ${e.message}`, { cause: e })));
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new BenchRunError(`wrk exited with ${code}: ${(err || out).slice(0, 300)}`))));
    });
    return parseWrkOutput(output);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
