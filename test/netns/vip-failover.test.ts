import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyHostFault, healHost } from '../../src/runtime/netns/host-faults.js';
import { NetnsLab } from '../../src/runtime/netns/netns-lab.js';
import type { NetnsHost } from '../../src/runtime/netns/netns-lab.js';
import { REPO_DIR } from '../runtime/support/runtime-harness.js';
import { waitFor } from '../support/wait-for.js';

const CLI = join(REPO_DIR, 'test/runtime/support/scaleout-cli.ts');
const BACKEND = join(REPO_DIR, 'test/fixtures/backend.mjs');
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const VIP = NetnsLab.spareAddress(250);

// The client, run inside the client host: a new connection per request; on a
// connection failure it retries once, after the takeover time the pair promises (1 s).
// It prints one JSON line of counts when told to stop (a line on stdin).
const CLIENT = `
const http = require('node:http');
const url = process.argv[1];
const outcome = { ok: 0, retried: 0, failed: [], maxMs: 0 };
let running = true;
process.stdin.on('data', () => { running = false; });
const once = () => new Promise((resolve, reject) => {
  const req = http.get(url, { agent: false, timeout: 3000 }, (res) => {
    res.resume();
    res.once('end', () => res.statusCode === 200 ? resolve() : reject(new Error('status ' + res.statusCode)));
  });
  req.once('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
  req.once('error', reject);
});
(async () => {
  while (running) {
    const started = performance.now();
    try { await once(); outcome.ok++; } catch (first) {
      outcome.retried++;
      await new Promise((r) => setTimeout(r, 1000));
      try { await once(); outcome.ok++; } catch (second) { outcome.failed.push(String(first.code || first.message) + ' then ' + String(second.code || second.message)); }
    }
    outcome.maxMs = Math.max(outcome.maxMs, performance.now() - started);
    await new Promise((r) => setTimeout(r, 5));
  }
  process.stdout.write(JSON.stringify(outcome) + '\\n');
})();
`;

interface BalancerHost {
  host: NetnsHost;
  balancer: ChildProcess;
  vip: ChildProcess;
  vipOutput: string[];
}

function waitForLine(child: ChildProcess, pattern: RegExp, what: string, lines: string[] = []): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop()!;
      lines.push(...parts);
      if (parts.some((line) => pattern.test(line))) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code, signal) => reject(new Error(`${what} exited (${code ?? signal}) before ${pattern}: ${lines.slice(-10).join('\n')}`)));
  });
}

interface AddressChange {
  added: boolean;
  /** Epoch ms, from the kernel's report. */
  at: number;
}

/** Follows the floating address on `host` with `ip -ts monitor address`. */
function monitorAddress(host: NetnsHost): { events: AddressChange[]; ready: Promise<void>; stop(): void } {
  const events: AddressChange[] = [];
  const child = host.spawn('ip', ['-ts', 'monitor', 'address'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let buffered = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      const m = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})\d*\] (Deleted )?\d+: \S+\s+inet (\S+)\//.exec(line);
      if (m !== null && m[3] === VIP) events.push({ added: m[2] === undefined, at: Date.parse(m[1]!) });
    }
  });
  // `ip monitor` prints nothing when it is ready; give it a moment to subscribe.
  const ready = new Promise<void>((resolve) => setTimeout(resolve, 300));
  return { events, ready, stop: () => child.kill('SIGKILL') };
}

describe('a balancer pair behind a floating address (keepalived, namespace hosts)', () => {
  let lab: NetnsLab;
  let dir: string;
  const pair: BalancerHost[] = [];
  let client: NetnsHost;

  async function startBalancer(host: NetnsHost): Promise<ChildProcess> {
    const balancer = host.spawn(process.execPath, ['--import', TSX, CLI, 'balancer', '--listen', '0.0.0.0:8080', '--server', `app-on-${host.name}=127.0.0.1:9000`,
      '--health-path', '/healthz', '--health-interval-ms', '200'], { stdio: ['ignore', 'pipe', 'pipe'] });
    await waitForLine(balancer, /listening on/, `balancer on ${host.name}`);
    return balancer;
  }

  async function startBalancerHost(host: NetnsHost, priority: number, peer: string): Promise<BalancerHost> {
    const backend = host.spawn(process.execPath, [BACKEND], { env: { ...process.env, ID: `app-on-${host.name}`, PORT: '9000' }, stdio: ['ignore', 'pipe', 'inherit'] });
    await waitForLine(backend, /listening 9000/, `backend on ${host.name}`);
    const balancer = await startBalancer(host);
    const vipOutput: string[] = [];
    const vip = host.spawn(process.execPath, ['--import', TSX, CLI, 'vip', '--address', `${VIP}/24`, '--interface', host.interface, '--router-id', '51',
      '--priority', String(priority), '--peer', peer, '--source', host.address, '--check', 'http://127.0.0.1:8080/healthz',
      '--dir', join(dir, host.name)], { stdio: ['ignore', 'pipe', 'pipe'] });
    // Started (keepalived reported a state) and the guard saw the balancer answer.
    await waitForLine(vip, /this machine may hold/, `scaleout vip on ${host.name}`, vipOutput);
    return { host, balancer, vip, vipOutput };
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'scaleout-vip-'));
    lab = await NetnsLab.create();
    const lb1 = await lab.addHost('lb1');
    const lb2 = await lab.addHost('lb2');
    client = await lab.addHost('client');
    pair.push(await startBalancerHost(lb1, 150, lb2.address));
    // lb1 alone first: it takes the address (both start as backup; the first to hear no master takes it).
    await waitFor('lb1 to hold the floating address', async () => (await lb1.addresses()).includes(VIP), { timeoutMs: 10_000, intervalMs: 20 })
      .catch((err: unknown) => {
        throw new Error(`${(err as Error).message}; scaleout vip on lb1 said:\n${pair[0]!.vipOutput.join('\n')}`);
      });
    pair.push(await startBalancerHost(lb2, 100, lb1.address));
  }, 60_000);

  afterAll(async () => {
    // Killing the namespaces' processes and deleting them is the lab's; keepalived gets a SIGTERM first to log its exit.
    for (const { vip } of pair) vip.kill('SIGTERM');
    await lab?.destroy();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('moves the address within a second of SIGKILL of the active balancer, never to both, and a client retrying once sees no error', async () => {
    const [lb1, lb2] = pair as [BalancerHost, BalancerHost];
    expect(await lb2.host.addresses()).not.toContain(VIP);
    const conf = await readFile(join(dir, 'lb1', 'keepalived.conf'), 'utf8');
    expect(conf).toMatch(/advert_int 0\.1/);
    expect(conf).toMatch(/nopreempt/);

    const load = client.spawn(process.execPath, ['-e', CLIENT, `http://${VIP}:8080/`], { stdio: ['pipe', 'pipe', 'inherit'] });
    let loadOutput = '';
    load.stdout!.on('data', (chunk: Buffer) => {
      loadOutput += chunk.toString();
    });

    // Every address change on both hosts, as the kernel reports it (`ip monitor`, with
    // timestamps): the exact moments lb1 gave the address up and lb2 took it.
    const changes = { lb1: monitorAddress(lb1.host), lb2: monitorAddress(lb2.host) };
    await Promise.all([changes.lb1.ready, changes.lb2.ready]);

    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const killedAt = Date.now();
    lb1.balancer.kill('SIGKILL');
    await waitFor('the address on lb2', () => changes.lb2.events.some((e) => e.added), { timeoutMs: 10_000, intervalMs: 10 });
    await waitFor('lb1 without the address', () => changes.lb1.events.some((e) => !e.added), { timeoutMs: 5_000, intervalMs: 10 });
    const releasedAt = changes.lb1.events.find((e) => !e.added)!.at;
    const takenAt = changes.lb2.events.find((e) => e.added)!.at;
    const takeoverMs = takenAt - killedAt;
    // Steady load on the new holder for a while.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    changes.lb1.stop();
    changes.lb2.stop();
    // And now: exactly one holder.
    expect([(await lb1.host.addresses()).includes(VIP), (await lb2.host.addresses()).includes(VIP)]).toEqual([false, true]);
    load.stdin!.end('stop\n');
    await new Promise((resolve) => load.once('exit', resolve));
    const outcome = JSON.parse(loadOutput.trim()) as { ok: number; retried: number; failed: string[]; maxMs: number };
    console.log(`vip takeover ${takeoverMs} ms after SIGKILL of the active balancer (lb1 released it after ${releasedAt - killedAt} ms, lb2 took it ${takenAt - releasedAt} ms later); ` +
      `client ${outcome.ok} ok, ${outcome.retried} retried, failed ${JSON.stringify(outcome.failed)}, longest ${outcome.maxMs.toFixed(0)} ms`);

    // Never two holders: lb2 added it only after lb1 deleted it, and each changed once.
    expect(takenAt).toBeGreaterThanOrEqual(releasedAt);
    expect(changes.lb1.events.map((e) => e.added)).toEqual([false]);
    expect(changes.lb2.events.map((e) => e.added)).toEqual([true]);
    expect(takeoverMs).toBeLessThan(1_000);
    expect(outcome.failed).toEqual([]);
    expect(outcome.ok).toBeGreaterThan(20);
    // keepalived on lb1 said it gave the address up, on lb2 that it took it.
    await waitFor('lb2 to say it holds the address', () => lb2.vipOutput.some((l) => /keepalived: holds 10\.200\.0\.250/.test(l)), { timeoutMs: 5_000 });
    expect(lb1.vipOutput.some((l) => /the balancer fails .* giving 10\.200\.0\.250\/24 up/.test(l))).toBe(true);
  }, 60_000);

  it('keeps the address where it is when the first machine returns (nopreempt); a partition makes two holders until it heals, then the higher priority keeps it', async () => {
    const [lb1, lb2] = pair as [BalancerHost, BalancerHost];
    const holders = async (): Promise<string[]> => [
      ...(await lb1.host.addresses()).includes(VIP) ? ['lb1'] : [],
      ...(await lb2.host.addresses()).includes(VIP) ? ['lb2'] : [],
    ];
    // lb1's balancer is back: its guard passes, keepalived leaves FAULT, but with
    // nopreempt the address stays on lb2 although lb1 has the higher priority.
    const seen = lb1.vipOutput.length;
    lb1.balancer = await startBalancer(lb1.host);
    await waitFor('lb1 to be a backup again', () => lb1.vipOutput.slice(seen).some((l) => /keepalived: backup for/.test(l)), { timeoutMs: 10_000, intervalMs: 20 });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await holders()).toEqual(['lb2']);

    // VRRP cannot tell a silent peer from a dead one: cut lb2 off and lb1 takes the
    // address while lb2 still holds it (split brain; only lb1 is reachable, so clients
    // see one). Healing lets each hear the other; the higher priority (lb1) keeps it.
    await applyHostFault(lb2.host, { kind: 'partition' });
    await waitFor('lb1 to take the address', async () => (await holders()).includes('lb1'), { timeoutMs: 5_000, intervalMs: 20 });
    expect(await holders()).toEqual(['lb1', 'lb2']);
    await healHost(lb2.host);
    const healedAt = performance.now();
    await waitFor('one holder again', async () => (await holders()).length === 1, { timeoutMs: 5_000, intervalMs: 10 });
    console.log(`vip: two holders during the partition; one again ${(performance.now() - healedAt).toFixed(0)} ms after healing`);
    expect(await holders()).toEqual(['lb1']);
    expect(await lb2.host.exec('nft', ['list', 'tables'])).not.toContain('scaleout_chaos');
  }, 60_000);
});
