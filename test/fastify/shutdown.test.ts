import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait-for.js';

const fixture = fileURLToPath(new URL('./fixtures/shutdown-app.ts', import.meta.url));

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ port, host: '127.0.0.1', path, agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => { body += chunk.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('connect', () => { socket.destroy(); resolve(false); });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

describe('graceful shutdown on SIGTERM (a real child process)', () => {
  let child: ChildProcess | undefined;
  afterEach(() => { if (child?.exitCode === null) child.kill('SIGKILL'); });

  it('reports draining, stops accepting, finishes the in-flight request, and exits 0', async () => {
    child = fork(fixture, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const messages: unknown[] = [];
    child.on('message', (m) => messages.push(m));
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    const { port } = await waitFor('the child to listen', () => messages.find((m): m is { port: number } =>
      typeof m === 'object' && m !== null && 'port' in m), { timeoutMs: 30_000 });

    expect((await get(port, '/healthz')).status).toBe(200);
    const slow = get(port, '/slow');
    await waitFor('the slow request to start', () => messages.includes('slow-started'));

    child.kill('SIGTERM');
    const draining = await waitFor('/healthz to report draining', async () => {
      const res = await get(port, '/healthz');
      return res.status === 503 ? res : undefined;
    });
    expect(JSON.parse(draining.body)).toMatchObject({ status: 'draining', instance: 'child' });
    await waitFor('the port to stop accepting', () => refused(port));

    child.send('release');
    expect(await slow).toEqual({ status: 200, body: '{"done":true}' });
    expect(await exited).toBe(0);
  }, 60_000);
});
