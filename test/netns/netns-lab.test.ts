import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsLab } from '../../src/runtime/netns/netns-lab.js';
import type { NetnsHost } from '../../src/runtime/netns/netns-lab.js';
import { applyHostFault, healHost } from '../../src/runtime/netns/host-faults.js';
import { runSystemCommand } from '../../src/runtime/netns/system-command.js';
import { runCli } from '../runtime/support/runtime-harness.js';

// A one-line HTTP server for inside a namespace (the test process itself stays in the machine's namespace).
const SERVER = "require('node:http').createServer((q, s) => s.end(process.env.NAME)).listen(8080, '0.0.0.0', () => console.log('listening'))";

async function get(from: NetnsHost, url: string, timeoutSec = 2): Promise<string> {
  return from.exec('curl', ['-sS', '--max-time', String(timeoutSec), url]);
}

describe('network namespace hosts', () => {
  let lab: NetnsLab;
  let a: NetnsHost;
  let b: NetnsHost;

  beforeAll(async () => {
    lab = await NetnsLab.create();
    a = await lab.addHost('a');
    b = await lab.addHost('b');
    const server = b.spawn(process.execPath, ['-e', SERVER], { env: { ...process.env, NAME: 'host-b' }, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => server.stdout!.once('data', () => resolve()));
  }, 30_000);

  afterAll(async () => {
    await lab?.destroy();
  });

  it('connects hosts on a private /24 and keeps them apart from the machine', async () => {
    expect(a.address).toBe('10.200.0.2');
    expect(b.address).toBe('10.200.0.3');
    expect(await get(a, `http://${b.address}:8080/`)).toBe('host-b');
    // Loopback is a host's own: b's server is not on a's 127.0.0.1.
    await expect(get(a, 'http://127.0.0.1:8080/', 1)).rejects.toThrow(/curl/);
    expect(await b.addresses()).toEqual(['10.200.0.3']);
    // The machine's namespace has none of the lab's addresses.
    expect(await runSystemCommand('ip', ['-4', '-o', 'addr'])).not.toContain('10.200.0.');
  });

  it('partitions a host with nft and heals it', async () => {
    await applyHostFault(b, { kind: 'partition' });
    await expect(get(a, `http://${b.address}:8080/`, 1)).rejects.toThrow(/timed out|Timeout/i);
    expect(await healHost(b)).toEqual(['nft table inet scaleout_chaos']);
    expect(await get(a, `http://${b.address}:8080/`)).toBe('host-b');
    expect(await b.exec('nft', ['list', 'tables'])).not.toContain('scaleout_chaos');
  });

  it('drops a share of packets (loss) until healed', async () => {
    await applyHostFault(b, { kind: 'loss', percent: 100 });
    await expect(get(a, `http://${b.address}:8080/`, 1)).rejects.toThrow(/timed out|Timeout/i);
    await healHost(b);
    expect(await get(a, `http://${b.address}:8080/`)).toBe('host-b');
  });

  it('delays with tc netem where the kernel has it, and says so where it does not', async () => {
    try {
      await applyHostFault(b, { kind: 'delay', ms: 200 });
    } catch (err) {
      expect((err as { code?: string }).code).toBe('SCALEOUT_RUNTIME_CHAOS_UNSUPPORTED');
      return;
    }
    const started = performance.now();
    expect(await get(a, `http://${b.address}:8080/`)).toBe('host-b');
    expect(performance.now() - started).toBeGreaterThan(200);
    expect(await healHost(b)).toEqual(['tc netem qdisc on eth0']);
  });

  it('takes the same faults from the command line (scaleout chaos --netns)', async () => {
    const cut = await runCli(['chaos', 'loss', '100', '--netns', b.netns]);
    expect(cut.code, cut.stderr).toBe(0);
    await expect(get(a, `http://${b.address}:8080/`, 1)).rejects.toThrow(/timed out|Timeout/i);
    const healed = await runCli(['chaos', 'heal', '--netns', b.netns]);
    expect(healed.stdout).toContain('removed nft table inet scaleout_chaos');
    expect(await get(a, `http://${b.address}:8080/`)).toBe('host-b');
    const missing = await runCli(['chaos', 'partition', '--netns', `${lab.id}-nosuch`]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no network namespace .*\[SCALEOUT_RUNTIME_NETNS\]/);
    // Three runs of the CLI from the sources: seconds each on a busy machine.
  }, 90_000);

  it('deletes every namespace and what runs inside when destroyed', async () => {
    const other = await NetnsLab.create();
    const host = await other.addHost('x');
    // Killed even if it has not entered its namespace yet: the lab holds what it spawned.
    const sleeper = host.spawn('sleep', ['60'], { stdio: 'ignore' });
    const gone = new Promise((resolve) => sleeper.once('exit', resolve));
    await other.destroy();
    await gone;
    const listed = await runSystemCommand('ip', ['netns', 'list']);
    expect(listed).not.toContain(other.id);
  });

  it('rejects host names that would not fit an interface or a namespace', async () => {
    await expect(lab.addHost('Bad name')).rejects.toMatchObject({ code: 'SCALEOUT_RUNTIME_NETNS' });
    await expect(lab.addHost('a')).rejects.toMatchObject({ code: 'SCALEOUT_RUNTIME_NETNS' });
  });
});
