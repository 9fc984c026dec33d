import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dig } from '../support/dig.js';
import { freePort } from '../support/free-port.js';
import { waitFor } from '../support/wait-for.js';
import { cleanEnv, copyApp, removeApp, UpProcess } from './support/runtime-harness.js';

// `dns: { name, listen }` in the config: `scaleout up` answers for the app's name with
// the balancer, health-checked through it.
describe('scaleout up with dns', () => {
  let dir: string;
  let up: UpProcess;
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    dir = await copyApp('hello', { dns: { name: 'hello.test', listen: `127.0.0.1:${port}`, ttlSec: 2 } });
    up = UpProcess.start(dir, cleanEnv());
    await up.waitRunning();
  });

  afterAll(async () => {
    await up?.stop('SIGKILL');
    await removeApp(dir);
  });

  it('answers the app\'s name with the balancer\'s address', async () => {
    const answer = await waitFor('an answer', async () => {
      const r = await dig(port, 'hello.test', 'A');
      return r.answers.length > 0 ? r : undefined;
    });
    expect(answer.answers.map((a) => a.data)).toEqual(['127.0.0.1']);
    expect(answer.answers[0]!.ttl).toBe(2);
    expect((await dig(port, 'example.com', 'A')).status).toBe('REFUSED');
  });

  it('stops answering when scaleout up stops', async () => {
    await up.stop('SIGTERM');
    await expect(dig(port, 'hello.test', 'A')).rejects.toThrow();
  });
});
