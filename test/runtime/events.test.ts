import { spawn } from 'node:child_process';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient, readSupervisorFile } from '../../src/runtime/index.js';
import type { RuntimeEvent, RuntimeStatus } from '../../src/runtime/index.js';
import { SseParser } from '../../src/runtime/sse-parser.js';
import { cleanEnv, copyApp, REPO_DIR, removeApp, runBuiltCli, UpProcess } from './support/runtime-harness.js';
import { waitFor } from '../support/wait-for.js';

/** An open `GET /events` stream of the supervisor of `dir`, resuming after `lastEventId` when given. */
interface EventStream {
  readonly events: RuntimeEvent[];
  readonly ids: string[];
  close(): void;
}

function openEvents(dir: string, lastEventId?: number): Promise<EventStream> {
  const file = readSupervisorFile(dir)!;
  const colon = file.control.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const req = http.get({
      host: file.control.slice(0, colon),
      port: Number(file.control.slice(colon + 1)),
      path: '/events',
      agent: false,
      headers: { authorization: `Bearer ${file.token}`, ...(lastEventId === undefined ? {} : { 'last-event-id': String(lastEventId) }) },
    }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`GET /events answered ${res.statusCode}`));
        return;
      }
      const stream: EventStream = { events: [], ids: [], close: () => req.destroy() };
      const parser = new SseParser();
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        for (const m of parser.push(chunk)) {
          stream.events.push(JSON.parse(m.data) as RuntimeEvent);
          stream.ids.push(m.id ?? '');
        }
      });
      res.on('error', () => {});
      resolve(stream);
    });
    req.on('error', reject);
  });
}

const find = (events: RuntimeEvent[], kind: string, source: string, afterId = 0): RuntimeEvent | undefined =>
  events.find((e) => e.kind === kind && e.source === source && e.id > afterId);

// One `scaleout up` without engines, two instances, quick restarts.
describe('scaleout up events', () => {
  let dir: string;
  let up: UpProcess;
  let status: RuntimeStatus;
  let stream: EventStream;
  let crash: { exited: RuntimeEvent; restarted: RuntimeEvent };

  const pidOf = async (id: string): Promise<number> => (await up.status()).processes.find((p) => p.id === id)!.pid!;

  beforeAll(async () => {
    dir = await copyApp('hello', { app: { instances: 2, restart: { initialMs: 200, maxMs: 1000 } } });
    up = UpProcess.start(dir, cleanEnv());
    status = await up.waitRunning();
    stream = await openEvents(dir);
  }, 120_000);

  afterAll(async () => {
    stream?.close();
    await up?.stop('SIGKILL');
    await removeApp(dir);
  });

  it('streams the startup as typed events, the balancer\'s own among them', async () => {
    for (const id of ['app-1', 'app-2']) {
      const ready = await waitFor(`${id} ready`, () => find(stream.events, 'instance-ready', id));
      expect(ready).toMatchObject({ pool: 'app', buildId: status.buildId, pid: expect.any(Number) });
      // Forwarded from the balancer child over IPC (which may arrive after the admin API's answer).
      const added = await waitFor(`the balancer adding ${id}`, () => find(stream.events, 'server-state', id));
      expect(added).toMatchObject({ pool: 'app', server: id, state: 'added' });
    }
    const ids = stream.events.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
    expect(stream.ids).toEqual(ids.map(String));
    const now = Date.now();
    for (const e of stream.events) expect(e.at).toBeGreaterThan(now - 120_000);
  });

  it('a killed instance shows up as instance-exited then instance-restarted, with the balancer taking it out', async () => {
    const before = stream.events.at(-1)!.id;
    process.kill(await pidOf('app-1'), 'SIGKILL');
    const restarted = await waitFor('app-1 restarted', () => find(stream.events, 'instance-restarted', 'app-1', before), { timeoutMs: 30_000 });
    const exited = find(stream.events, 'instance-exited', 'app-1', before)!;
    expect(exited).toMatchObject({ pool: 'app', exit: 'killed by SIGKILL', restartInMs: expect.any(Number) });
    expect(restarted).toMatchObject({ pool: 'app', restarts: 1, pid: await pidOf('app-1') });
    expect(restarted.id).toBeGreaterThan(exited.id);
    await waitFor('the balancer removing app-1', () => stream.events.find((e) => e.kind === 'server-state' && e.source === 'app-1' && e.state === 'removed' && e.id > before));
    crash = { exited, restarted };
  });

  it('scaleout logs --json prints the same events, one JSON object per line; without --json, one line each', async () => {
    const json = await runBuiltCli(['logs', dir, '--json']);
    expect(json.code, json.stderr).toBe(0);
    const printed = json.stdout.trim().split('\n').map((line) => JSON.parse(line) as RuntimeEvent);
    expect(printed).toContainEqual(crash.exited);
    expect(printed).toContainEqual(crash.restarted);
    const text = await runBuiltCli(['logs', dir]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/Z ! app-1\s+app-1 killed by SIGKILL; left pool app, restarting in \d+ ms\n/);
    expect(text.stdout).toMatch(/Z ✓ app-1\s+app-1 restarted \(pid \d+, 127\.0\.0\.1:\d+\) and rejoined pool app\n/);
  });

  it('a stream resumed with Last-Event-ID loses nothing that happened while it was away; logs --follow prints it live', async () => {
    const follow = spawn(process.execPath, ['bin/scaleout.js', 'logs', dir, '--follow', '--json'], { cwd: REPO_DIR, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let followed = '';
    follow.stdout.on('data', (c: Buffer) => (followed += c.toString()));
    const followExit = new Promise<number | null>((resolve) => follow.once('close', (code) => resolve(code)));
    try {
      await waitFor('logs --follow to print the backlog', () => followed.includes('"instance-restarted"'), { timeoutMs: 20_000 });
      const lastSeen = stream.events.at(-1)!.id;
      stream.close();
      process.kill(await pidOf('app-2'), 'SIGKILL');
      const client = ControlClient.connect(dir);
      const missed = await waitFor('app-2 restarted', async () => {
        const { events } = await client.events(lastSeen);
        return find(events, 'instance-restarted', 'app-2') === undefined ? undefined : events;
      }, { timeoutMs: 30_000, intervalMs: 200 });
      stream = await openEvents(dir, lastSeen);
      await waitFor('the missed events', () => stream.events.length >= missed.length);
      expect(stream.events.slice(0, missed.length)).toEqual(missed);
      // Contiguous: every id after the one it had seen, none twice, no gap.
      expect(stream.events.map((e) => e.id)).toEqual(stream.events.map((_, i) => lastSeen + 1 + i));
      expect(stream.events.some((e) => e.kind === 'gap')).toBe(false);
      expect(find(stream.events, 'instance-exited', 'app-2')).toMatchObject({ exit: 'killed by SIGKILL' });
      // The follower got them as they happened.
      const restartedId = find(missed, 'instance-restarted', 'app-2')!.id;
      await waitFor('logs --follow to print app-2\'s restart', () => followed.includes(`"id":${restartedId},`), { timeoutMs: 10_000 });
    } finally {
      follow.kill('SIGINT');
    }
    expect(await followExit).toBe(0);
  });
});
