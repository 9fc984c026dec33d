import { describe, expect, it } from 'vitest';
import { DnsConfigError } from './errors.js';
import { DEFAULT_TTL_SEC, parseDnsOptions } from './options.js';

const valid = { zone: 'Shop.Test.', balancers: ['127.0.0.2:8080', '[::1]:8080'] };

describe('parseDnsOptions', () => {
  it('fills the defaults and normalises the zone', () => {
    const options = parseDnsOptions(valid);
    expect(options.zone).toBe('shop.test');
    expect(options.ttlSec).toBe(DEFAULT_TTL_SEC);
    expect(options.listen).toBe('127.0.0.1:5353');
    expect(options.health.path).toBe('/healthz');
  });

  it.each([
    [{ ...valid, ttlSec: 6 }, 'ttlSec'],
    [{ ...valid, balancers: [] }, 'balancers'],
    [{ ...valid, balancers: ['shop.example:80'] }, 'balancers.0'],
    [{ ...valid, balancers: ['::1:80'] }, 'balancers.0'],
    [{ ...valid, zone: 'bad zone' }, 'zone'],
    [{ ...valid, listen: '127.0.0.1' }, 'listen'],
    [{ ...valid, health: { intervalMs: 100, timeoutMs: 500 } }, 'health.timeoutMs'],
    [{ ...valid, recursion: true }, 'recursion'],
  ])('refuses %j, naming %s', (input, field) => {
    let error: unknown;
    try {
      parseDnsOptions(input);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(DnsConfigError);
    expect((error as DnsConfigError).code).toBe('SCALEOUT_DNS_CONFIG');
    expect((error as Error).message).toContain(field);
  });
});
