import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startBackend } from '../support/backend.js';
import type { Backend } from '../support/backend.js';
import { waitFor } from '../support/wait-for.js';

// Runs the built CLI (`npm run build` first), as an operator would.
const bin = new URL('../../bin/scaleout.js', import.meta.url).pathname;
const token = 'cli-admin-token-0123456789abcdef';
let backend: Backend;
let dir: string;
const running = new Set<ChildProcess>();

beforeAll(async () => {
  backend = await startBackend('a');
  dir = mkdtempSync(join(tmpdir(), 'scaleout-admin-token-'));
});
afterEach(async () => {
  await Promise.all([...running].map((child) => new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  })));
  running.clear();
});
afterAll(async () => {
  await backend.kill();
  rmSync(dir, { recursive: true, force: true });
});

function tokenFile(name: string, content: string, mode: number): string {
  const file = join(dir, name);
  writeFileSync(file, content);
  chmodSync(file, mode);
  return file;
}

interface Run { child: ChildProcess; stdout: () => string; stderr: () => string; exited: Promise<number | null> }

function start(args: string[], env: Record<string, string> = {}): Run {
  const baseEnv = { ...process.env };
  delete baseEnv.SCALEOUT_ADMIN_TOKEN;
  const child = spawn(process.execPath, [bin, 'balancer', '--listen', '127.0.0.1:0', '--server', `a=${backend.address}`, '--admin', '127.0.0.1:0', ...args], {
    env: { ...baseEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
  child.stderr!.on('data', (c: Buffer) => { err += c.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function adminAddress(run: Run): Promise<string> {
  return waitFor('the admin API to listen', () => {
    if (run.child.exitCode !== null) throw new Error(`exited ${run.child.exitCode}: ${run.stderr()}`);
    return /admin API on http:\/\/(\S+)/.exec(run.stdout())?.[1];
  });
}

async function status(address: string, bearer: string): Promise<number> {
  const res = await request(`http://${address}/servers`, { headers: { authorization: `Bearer ${bearer}` } });
  await res.body.text();
  return res.statusCode;
}

describe('scaleout balancer: the admin token stays off the command line', () => {
  it('reads the token from --admin-token-file (mode 0600), and the token is not in the process arguments', async () => {
    const run = start(['--admin-token-file', tokenFile('ok', `${token}\n`, 0o600)]);
    const address = await adminAddress(run);
    expect(await status(address, token)).toBe(200);
    expect(await status(address, `${token}x`)).toBe(401);
    expect(await status(address, 'wrong-token-0123456789')).toBe(401);
    expect(readFileSync(`/proc/${run.child.pid}/cmdline`, 'utf8')).not.toContain(token);
    expect(run.stderr()).not.toContain('warning');
  });

  it('reads the token from SCALEOUT_ADMIN_TOKEN', async () => {
    const run = start([], { SCALEOUT_ADMIN_TOKEN: token });
    const address = await adminAddress(run);
    expect(await status(address, token)).toBe(200);
    expect(readFileSync(`/proc/${run.child.pid}/cmdline`, 'utf8')).not.toContain(token);
  });

  it('refuses a token file other users may read, with exit code 2 and the chmod to run', async () => {
    const file = tokenFile('world', token, 0o644);
    const run = start(['--admin-token-file', file]);
    expect(await run.exited).toBe(2);
    expect(run.stderr()).toContain('accessible to other users (mode 0644)');
    expect(run.stderr()).toContain(`chmod 600 ${file}`);
    expect(run.stderr()).not.toContain(token);
  });

  it('accepts a group-readable token file but warns', async () => {
    const run = start(['--admin-token-file', tokenFile('group', token, 0o640)]);
    const address = await adminAddress(run);
    expect(await status(address, token)).toBe(200);
    expect(run.stderr()).toMatch(/warning: .*accessible to its group \(mode 0640\)/);
  });

  it('still takes --admin-token, with a warning that says why not to', async () => {
    const run = start(['--admin-token', token]);
    const address = await adminAddress(run);
    expect(await status(address, token)).toBe(200);
    expect(run.stderr()).toMatch(/warning: --admin-token shows the token .*--admin-token-file/);
  });

  it.each([
    ['a missing file', () => ['--admin-token-file', join(dir, 'nope')], /cannot read --admin-token-file/],
    ['an empty file', () => ['--admin-token-file', tokenFile('empty', '\n', 0o600)], /is empty/],
    ['a named pipe', () => { execFileSync('mkfifo', [join(dir, 'fifo')]); return ['--admin-token-file', join(dir, 'fifo')]; }, /is not a regular file/],
    ['a directory', () => ['--admin-token-file', dir], /is not a regular file/],
    ['both flags', () => ['--admin-token-file', tokenFile('both', token, 0o600), '--admin-token', token], /not both/],
    ['no token at all', () => [], /--admin needs a token: --admin-token-file <path> \(mode 0600\) or SCALEOUT_ADMIN_TOKEN/],
  ] as Array<[string, () => string[], RegExp]>)('exits 2 with one clear line for %s', async (_what, args, message) => {
    const run = start(args());
    expect(await run.exited).toBe(2);
    expect(run.stderr().split('\n')[0]).toMatch(/^scaleout: /);
    expect(run.stderr()).toMatch(message);
  });

  it('--help names the file and the variable, and why', async () => {
    const child = spawn(process.execPath, [bin, 'balancer', '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    expect(await new Promise((resolve) => child.once('exit', resolve))).toBe(0);
    expect(out).toContain('--admin-token-file <path>');
    expect(out).toContain('SCALEOUT_ADMIN_TOKEN');
    expect(out.replace(/\s+/g, ' ')).toContain('--admin-token <token> the token itself: avoid, other users see command lines in `ps`');
    expect(out.replace(/\s+/g, ' ')).toContain('keep it out of the command line, which every user of the machine can read with `ps`');
  });
});
