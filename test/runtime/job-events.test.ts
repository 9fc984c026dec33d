import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SseParser } from '../../src/runtime/sse-parser.js';
import { cleanEnv, copyApp, EXTERNAL_ENGINES, REPO_DIR, removeApp, UpProcess } from './support/runtime-harness.js';
import { request } from '../support/http-client.js';
import { waitFor } from '../support/wait-for.js';

interface Stream { instance: string; status: number; frames: Array<{ id: string; data: unknown; type: string }>; closed: Promise<void>; destroy(): void }

/** A minimal EventSource: the frames received so far, through the balancer. */
function openStream(url: string, lastEventId?: string): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: lastEventId === undefined ? {} : { 'last-event-id': lastEventId } }, (res) => {
      const parser = new SseParser();
      let ended: () => void = () => {};
      const stream: Stream = {
        instance: String(res.headers['x-scaleout-instance'] ?? ''), status: res.statusCode ?? 0, frames: [],
        closed: new Promise((r) => (ended = r)), destroy: () => req.destroy(),
      };
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        for (const m of parser.push(chunk)) {
          const body = JSON.parse(m.data) as { data: unknown };
          stream.frames.push({ id: m.id!, data: body.data, type: typeof body.data === 'number' ? 'progress' : 'other' });
        }
      });
      res.on('close', () => ended());
      res.on('error', () => ended());
      resolve(stream);
    });
    req.on('error', reject);
  });
}

describe('job events through the balancer of scaleout up', () => {
  const prefix = `je-${process.pid}-${randomBytes(4).toString('hex')}`;
  const redis = new Redis(EXTERNAL_ENGINES.REDIS_URL);
  let dir: string;
  let up: UpProcess;

  beforeAll(async () => {
    dir = await copyApp('workers', {
      app: { instances: 2, env: { SCALEOUT_JOBS_MODULE: join(REPO_DIR, 'src/jobs/index.ts'), JOBS_PREFIX: prefix } },
      workers: { exports: { instances: 1 } },
    });
    up = UpProcess.start(dir, cleanEnv({ REDIS_URL: EXTERNAL_ENGINES.REDIS_URL }));
    await up.waitRunning();
  });

  afterAll(async () => {
    await up?.stop('SIGKILL');
    await removeApp(dir);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('streams a job\'s events through another instance than the one that enqueued, and resumes by Last-Event-ID after it is killed', async () => {
    const status = await up.status();
    const appUrl = status.appUrl!;
    const added = await request('POST', new URL('/enqueue?n=1&steps=8&ms=400', appUrl).href);
    expect(added.status, added.text).toBe(200);
    const { ids: [jobId], instance: enqueuer } = JSON.parse(added.text) as { ids: string[]; instance: string };

    // Round-robin: a few tries land the stream on the other instance.
    let first: Stream | undefined;
    for (let i = 0; i < 10 && first === undefined; i++) {
      const s = await openStream(new URL(`/jobs/${jobId}/events`, appUrl).href);
      if (s.status === 200 && s.instance !== enqueuer) first = s;
      else s.destroy();
    }
    expect(first, 'a stream on the other instance').toBeDefined();
    await waitFor('progress 2 through the other instance', () => first!.frames.some((f) => f.data === 2), { timeoutMs: 20_000 });

    const holder = status.processes.find((p) => p.id === first!.instance)!;
    process.kill(holder.pid!, 'SIGKILL');
    await first!.closed;
    const lastSeen = first!.frames.at(-1)!.id;

    let resumed: Stream | undefined;
    await waitFor('a resumed stream', async () => {
      const s = await openStream(new URL(`/jobs/${jobId}/events`, appUrl).href, lastSeen).catch(() => undefined);
      if (s?.status === 200) resumed = s;
      else s?.destroy();
      return resumed;
    }, { timeoutMs: 20_000, intervalMs: 200 });
    await resumed!.closed;

    const all = [...first!.frames, ...resumed!.frames];
    expect(new Set(all.map((f) => f.id)).size).toBe(all.length);
    expect(all.filter((f) => f.type === 'progress').map((f) => f.data)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    // The stream ends after the job's last event (completed).
    expect(resumed!.frames.at(-1)!.type).toBe('other');
  });
});
