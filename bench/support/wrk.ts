import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Connections wrk keeps open. @defaultValue 50 */
export const DEFAULT_CONNECTIONS = 50;
/**
 * wrk threads. Two, so that in cookie mode two sticky clients (one per
 * server) load the proxy as evenly as round-robin does; the same in every
 * mode so the load generator costs the same everywhere. @defaultValue 2
 */
export const DEFAULT_THREADS = 2;

/** What one wrk run measured. */
export interface WrkResult {
  /** Responses completed in the run. */
  requests: number;
  durationS: number;
  requestsPerS: number;
  p50Ms: number;
  p99Ms: number;
  /** Responses that were not 2xx/3xx. */
  non2xx: number;
  /** Socket errors: connect + read + write + timeout. */
  socketErrors: number;
}

/** One wrk run. */
export interface WrkRun {
  url: string;
  durationS: number;
  connections?: number;
  threads?: number;
  /**
   * Cookies (`name=value`) to send: wrk thread i sends cookies[i % length] on
   * every request of all its connections. The request stays static (built
   * once), so sending a cookie costs wrk nothing extra.
   */
  cookies?: string[];
  /**
   * Instead of `cookies`: each wrk thread keeps the first Set-Cookie it
   * receives and sends it afterwards. Needs a Lua response() hook, which makes
   * wrk parse every response's headers into Lua and so slows the load
   * generator in this mode only.
   */
  learnCookies?: boolean;
  /** CPU to pin wrk to. */
  cpu?: number;
}

const MARKER = 'WRK_RESULT ';

// done() prints one machine-readable line, so nothing depends on wrk's
// human-readable units ("620.23us", "1.02ms").
const DONE = `
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('${MARKER}{"requests":%d,"durationUs":%d,"p50Us":%.1f,"p99Us":%.1f,"status":%d,"socket":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
`;

// setup() runs once per thread before the threads start; thread:set gives each
// thread's own Lua state its index, and init() (which runs before wrk builds
// the static request) puts that thread's cookie into the headers.
const COOKIES = `
local next_id = 0
function setup(thread)
  thread:set("client_id", next_id)
  next_id = next_id + 1
end

function init(args)
  if #args > 0 then wrk.headers["Cookie"] = args[(client_id % #args) + 1] end
end
${DONE}`;

// wrk's Lua API has no per-connection hook (request() and response() do not say
// which connection they serve), so stickiness is per wrk thread: a thread keeps
// the first Set-Cookie it receives and sends it on every later request. The
// request string is built once per cookie, not per request.
const LEARN = `
local cookie = nil
local req = nil

function request()
  return req or wrk.format()
end

function response(status, headers, body)
  if cookie ~= nil then return end
  local value = headers["Set-Cookie"] or headers["set-cookie"]
  if value == nil then
    for k, v in pairs(headers) do
      if string.lower(k) == "set-cookie" then value = v end
    end
  end
  if value ~= nil then
    cookie = string.match(value, "^[^;]*")
    req = wrk.format(nil, nil, { Cookie = cookie })
  end
end
${DONE}`;

/** Paths of the Lua scripts {@link runWrk} uses. */
export interface WrkScripts {
  plain: string;
  cookies: string;
  learn: string;
}

/** Writes the Lua scripts into `dir`. */
export function writeWrkScripts(dir: string): WrkScripts {
  const scripts = { plain: join(dir, 'wrk-plain.lua'), cookies: join(dir, 'wrk-cookies.lua'), learn: join(dir, 'wrk-learn-cookie.lua') };
  writeFileSync(scripts.plain, DONE);
  writeFileSync(scripts.cookies, COOKIES);
  writeFileSync(scripts.learn, LEARN);
  return scripts;
}

/** Extracts the result line that the Lua `done()` prints. */
export function parseWrkOutput(stdout: string): WrkResult {
  const line = stdout.split('\n').find((l) => l.startsWith(MARKER));
  if (line === undefined) throw new Error(`wrk printed no result line; its output was:\n${stdout}`);
  const raw = JSON.parse(line.slice(MARKER.length)) as Record<string, number>;
  const num = (key: string): number => {
    const value = raw[key];
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error(`wrk result has no number "${key}": ${line}`);
    return value;
  };
  const durationS = num('durationUs') / 1e6;
  const requests = num('requests');
  return {
    requests,
    durationS,
    requestsPerS: durationS > 0 ? requests / durationS : 0,
    p50Ms: num('p50Us') / 1000,
    p99Ms: num('p99Us') / 1000,
    non2xx: num('status'),
    socketErrors: num('socket'),
  };
}

/** Runs wrk once and resolves with what it measured. */
export async function runWrk(run: WrkRun, scripts: WrkScripts): Promise<WrkResult> {
  const wrkArgs = [
    `-t${run.threads ?? DEFAULT_THREADS}`,
    `-c${run.connections ?? DEFAULT_CONNECTIONS}`,
    `-d${Math.max(1, Math.round(run.durationS))}s`,
    '--timeout', '5s',
    '-s', run.learnCookies === true ? scripts.learn : run.cookies !== undefined && run.cookies.length > 0 ? scripts.cookies : scripts.plain,
    run.url,
  ];
  if (run.learnCookies !== true && run.cookies !== undefined && run.cookies.length > 0) wrkArgs.push('--', ...run.cookies);
  const [command, args] = run.cpu === undefined ? ['wrk', wrkArgs] : ['taskset', ['-c', String(run.cpu), 'wrk', ...wrkArgs]];
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(command, args, { encoding: 'utf8', timeout: (run.durationS + 30) * 1000 }, (err, out, errOut) => {
      if (err) reject(new Error(`wrk failed: ${err.message}\n${errOut}`, { cause: err }));
      else resolve(out);
    });
  });
  return parseWrkOutput(stdout);
}
