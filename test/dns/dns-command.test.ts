import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { dig } from '../support/dig.js';
import { waitFor } from '../support/wait-for.js';

// Runs the built CLI (`npm run build` first), as an operator would.
const bin = new URL('../../bin/scaleout.js', import.meta.url).pathname;
const run = promisify(execFile);
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

async function healthyBalancer(ip: string): Promise<string> {
  const server: Server = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, ip, resolve));
  cleanups.push(() => new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return `${ip}:${(server.address() as AddressInfo).port}`;
}

async function fails(args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    await run(process.execPath, [bin, 'dns', ...args]);
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
  throw new Error('expected the command to fail');
}

describe('scaleout dns (the command)', () => {
  it('explains its flags and the all-down rule in --help', async () => {
    const { stdout } = await run(process.execPath, [bin, 'dns', '--help']);
    expect(stdout).toContain('--zone <name>');
    expect(stdout).toContain('--balancer <ip:port>');
    expect(stdout).toContain('--health-path <path>');
    expect(stdout).toMatch(/every balancer fails its checks, the answer holds all of them/);
  });

  it('answers dig with the balancers it was given, and stops on SIGTERM', async () => {
    const a = await healthyBalancer('127.0.0.2');
    const b = await healthyBalancer('127.0.0.3');
    const child = spawn(process.execPath, [bin, 'dns', '--zone', 'shop.test', '--listen', '127.0.0.1:0', '--balancer', a, '--balancer', b,
      '--health-path', '/healthz', '--health-interval-ms', '200', '--health-timeout-ms', '200'], { stdio: ['ignore', 'pipe', 'pipe'] });
    cleanups.push(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited(child);
    });
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => { out += chunk.toString(); });
    const port = Number(await waitFor('the listening line', () => /on 127\.0\.0\.1:(\d+)/.exec(out)?.[1]));
    const answer = await dig(port, 'shop.test', 'A');
    expect(answer.answers.map((r) => r.data).sort()).toEqual(['127.0.0.2', '127.0.0.3']);
    child.kill('SIGTERM');
    expect(await exited(child)).toBe(0);
  });

  it('refuses a missing zone as a usage error, and a TTL over 5 s as a config error', async () => {
    const noZone = await fails(['--balancer', '127.0.0.2:8080']);
    expect(noZone.code).toBe(2);
    expect(noZone.stderr).toContain('--zone');
    const longTtl = await fails(['--zone', 'shop.test', '--balancer', '127.0.0.2:8080', '--ttl', '30']);
    expect(longTtl.code).toBe(1);
    expect(longTtl.stderr).toContain('SCALEOUT_DNS_CONFIG');
    expect(longTtl.stderr).toContain('ttlSec');
  });
});
