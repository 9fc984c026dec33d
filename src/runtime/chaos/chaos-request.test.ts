import { describe, expect, it } from 'vitest';
import { parseChaosRequest } from './chaos-request.js';

describe('chaos requests', () => {
  it('takes the four faults with a process id or role', () => {
    expect(parseChaosRequest({ fault: 'kill', target: 'app-1' })).toEqual({ fault: 'kill', target: 'app-1' });
    expect(parseChaosRequest({ fault: 'stop', target: 'worker:mailer-1' })).toEqual({ fault: 'stop', target: 'worker:mailer-1' });
    expect(parseChaosRequest({ fault: 'partition', target: 'primary' })).toEqual({ fault: 'partition', target: 'primary' });
    expect(parseChaosRequest({ fault: 'slow', target: 'instance', ms: 250 })).toEqual({ fault: 'slow', target: 'instance', ms: 250 });
  });

  it.each([
    [{ fault: 'explode', target: 'app-1' }, /fault must be one of kill, stop, slow, partition/],
    [{ target: 'app-1' }, /fault must be/],
    [{ fault: 'kill' }, /target must be/],
    [{ fault: 'kill', target: '' }, /target must be/],
    [{ fault: 'kill', target: 'a'.repeat(101) }, /target must be/],
    [{ fault: 'kill', target: 'app-1; rm -rf /' }, /target must be/],
    [{ fault: 'kill', target: ['app-1'] }, /target must be/],
    [{ fault: 'slow', target: 'app-1' }, /slow needs ms/],
    [{ fault: 'slow', target: 'app-1', ms: 0 }, /slow needs ms/],
    [{ fault: 'slow', target: 'app-1', ms: 60_001 }, /slow needs ms/],
    [{ fault: 'slow', target: 'app-1', ms: 1.5 }, /slow needs ms/],
    [{ fault: 'slow', target: 'app-1', ms: '100' }, /slow needs ms/],
    [{ fault: 'kill', target: 'app-1', ms: 100 }, /only slow takes ms/],
    [{ fault: 'kill', target: 'app-1', force: true }, /unknown field/],
  ])('refuses %j with a coded error', (body, message) => {
    expect(() => parseChaosRequest(body as Record<string, unknown>)).toThrow(message);
    try {
      parseChaosRequest(body as Record<string, unknown>);
    } catch (err) {
      expect((err as { code: string }).code).toBe('SCALEOUT_RUNTIME_CHAOS_INVALID');
    }
  });
});
