import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/support/wait-for.js';
import { startControlApi } from './control-api.js';
import type { ControlApi, ControlHandlers } from './control-api.js';
import { EventRing } from './event-ring.js';
import { followEvents } from './event-follower.js';
import type { RuntimeEvent } from './events.js';
import { writeSupervisorFile } from './supervisor-file.js';

const TOKEN = 'follower-token-for-tests-0123456789';

describe('followEvents', () => {
  let dir: string;
  let api: ControlApi | undefined;
  const ring = new EventRing({ capacity: 100 });

  /** A control API on a new port, announced in the supervisor file, as a restarted supervisor does. */
  async function serve(): Promise<void> {
    api = await startControlApi({ events: ring } as unknown as ControlHandlers, { token: TOKEN });
    await writeSupervisorFile(dir, {
      pid: process.pid, dir, control: api.address, token: TOKEN, startedAt: new Date().toISOString(), appUrl: null, adminUrl: null, adminToken: null,
    });
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'scaleout-follow-'));
    await mkdir(join(dir, '.scaleout'));
  });
  afterAll(async () => {
    await api?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('reconnects after the control API went away and resumes after the last event it got: nothing lost, nothing twice', async () => {
    await serve();
    ring.push({ level: 'info', message: 'one' });
    ring.push({ level: 'info', message: 'two' });
    const got: RuntimeEvent[] = [];
    const calls: string[] = [];
    const stop = new AbortController();
    const following = followEvents({
      dir,
      signal: stop.signal,
      retryMs: 50,
      onEvent: (e) => got.push(e),
      onDisconnected: () => calls.push('disconnected'),
      onReconnected: () => calls.push('reconnected'),
    });
    await waitFor('the first events', () => got.length === 2);
    await api!.close();
    await waitFor('the disconnection', () => calls.includes('disconnected'));
    // While nobody listens.
    ring.push({ level: 'info', message: 'three' });
    ring.push({ level: 'warn', message: 'four' });
    await serve();
    await waitFor('the events from while it was away', () => got.length >= 4);
    ring.push({ level: 'info', message: 'five' });
    await waitFor('a live event after the reconnection', () => got.length >= 5);
    expect(got.map((e) => e.id)).toEqual([1, 2, 3, 4, 5]);
    expect(got.some((e) => e.kind === 'gap')).toBe(false);
    expect(calls).toEqual(['disconnected', 'reconnected']);
    stop.abort();
    await following;
  });
});
