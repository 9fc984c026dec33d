import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config-loader.js';

describe('balancer.vip in the runtime config', () => {
  const vip = { address: '10.0.0.100/24', interface: 'eth0', routerId: 51, peers: ['10.0.0.3'] };

  it('takes a floating address with defaults for priority and preempt', () => {
    const config = parseConfig({ app: { entry: 'a.ts' }, balancer: { vip } });
    expect(config.balancer.vip).toEqual({ ...vip, priority: 100, preempt: false });
    expect(parseConfig({ app: { entry: 'a.ts' } }).balancer.vip).toBeUndefined();
  });

  it('names the field and what is allowed when keepalived could not use it', () => {
    expect(() => parseConfig({ app: { entry: 'a.ts' }, balancer: { vip: { ...vip, address: '10.0.0.100' } } })).toThrow(/balancer\.vip.*prefix length/);
    expect(() => parseConfig({ app: { entry: 'a.ts' }, balancer: { vip: { ...vip, peers: [] } } })).toThrow(/balancer\.vip\.peers/);
    expect(() => parseConfig({ app: { entry: 'a.ts' }, balancer: { vip: { ...vip, routerId: 300 } } })).toThrow(/balancer\.vip\.routerId/);
    expect(() => parseConfig({ app: { entry: 'a.ts' }, balancer: { vip: { ...vip, advertIntervalMs: 15 } } })).toThrow(/multiple of 10/);
    expect(() => parseConfig({ app: { entry: 'a.ts' }, balancer: { vip: { ...vip, peers: ['x; reboot'] } } })).toThrow(/no IPv4 address/);
    expect(() => parseConfig({ app: { entry: 'a.ts' }, balancer: { vip: { ...vip, password: 'x' } } })).toThrow(/balancer\.vip.*password/);
  });
});
