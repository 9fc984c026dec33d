import type { ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsLab } from '../../src/runtime/netns/netns-lab.js';
import type { NetnsHost } from '../../src/runtime/netns/netns-lab.js';
import type { RuntimeStatus } from '../../src/runtime/index.js';
import { cleanEnv, copyApp, REPO_DIR, removeApp } from '../runtime/support/runtime-harness.js';
import { waitFor } from '../support/wait-for.js';

const CLI = join(REPO_DIR, 'test/runtime/support/scaleout-cli.ts');
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const VIP = NetnsLab.spareAddress(251);

// `scaleout up` with `balancer.vip`, on a namespace host (its control API is on that
// host's loopback, so the test asks through `ip netns exec`).
describe('scaleout up with a floating address', () => {
  let lab: NetnsLab;
  let host: NetnsHost;
  let client: NetnsHost;
  let dir: string;
  let up: ChildProcess;
  let output = '';
  let exited: Promise<number | null>;

  beforeAll(async () => {
    lab = await NetnsLab.create();
    host = await lab.addHost('lb1');
    const peer = await lab.addHost('lb2');
    client = await lab.addHost('client');
    dir = await copyApp('hello', {
      balancer: { listen: '0.0.0.0:8080', vip: { address: `${VIP}/24`, interface: 'eth0', routerId: 52, priority: 150, peers: [peer.address], source: host.address } },
    });
    up = host.spawn(process.execPath, ['--import', TSX, CLI, 'up', dir], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    up.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    up.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    exited = new Promise((resolve) => up.once('exit', (code) => resolve(code)));
    await waitFor('the floating address on lb1', async () => (await host.addresses()).includes(VIP), { timeoutMs: 90_000, intervalMs: 100 })
      .catch((err: unknown) => {
        throw new Error(`${(err as Error).message}; scaleout up said:\n${output}`);
      });
  }, 120_000);

  afterAll(async () => {
    up?.kill('SIGKILL');
    await lab?.destroy();
    if (dir !== undefined) await removeApp(dir);
  });

  it('starts keepalived last, shows it in the status, serves on the floating address, restarts a killed keepalived, and gives the address up first when stopped', async () => {
    expect(output).toMatch(/keepalived for 10\.200\.0\.251\/24 on eth0 \(priority 150\)/);
    expect(output).toMatch(/keepalived: holds 10\.200\.0\.251\/24/);
    const status = JSON.parse(await host.exec(process.execPath, ['--import', TSX, CLI, 'status', '--json', dir], { timeoutMs: 30_000 })) as RuntimeStatus;
    const keepalived = status.processes.find((p) => p.role === 'keepalived');
    expect(keepalived).toMatchObject({ id: 'keepalived', state: 'running', address: `${VIP}/24` });
    expect(keepalived?.detail).toMatch(/VRRP master, priority 150, balancer healthy/);
    expect(await client.exec('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', `http://${VIP}:8080/`])).toBe('200');

    // keepalived is supervised: killed, it is restarted and takes the address again
    // (its VRRP child gave it up on the way out; with no peer alive it becomes master).
    process.kill(keepalived!.pid!, 'SIGKILL');
    await waitFor('keepalived restarted', () => /keepalived killed by SIGKILL[\s\S]*keepalived restarted \(pid \d+\)/.test(output), { timeoutMs: 15_000, intervalMs: 50 });
    await waitFor('the address back on lb1', async () => (await host.addresses()).includes(VIP), { timeoutMs: 10_000, intervalMs: 50 });

    up.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(await host.addresses()).not.toContain(VIP);
    // The address went first, then the instances were drained.
    const gaveUp = output.indexOf(`keepalived: stopped, does not hold ${VIP}/24`);
    expect(gaveUp).toBeGreaterThan(-1);
    expect(gaveUp).toBeLessThan(output.indexOf('draining and stopping 2 instance(s)'));
  }, 60_000);
});
