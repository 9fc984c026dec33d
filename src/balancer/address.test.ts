import { describe, expect, it } from 'vitest';
import { addressProblem, joinAddress, splitAddress } from './address.js';

describe('addressProblem', () => {
  it.each([
    '127.0.0.1:1', '10.0.0.5:65535', '[::1]:8080', '[2001:db8::1]:443', 'localhost:80', 'app-1.internal:9000',
    'xn--bcher-kva.example:80', 'a.b.c.d.e:1',
  ])('accepts %s', (address) => {
    expect(addressProblem(address, 1)).toBeUndefined();
  });

  it.each([
    ['127.0.0.1:99999', /port/], ['127.0.0.1:0', /port/], ['127.0.0.1:-1', /port/], ['127.0.0.1:', /port/], ['127.0.0.1:8o', /port/],
    ['a b:80', /host name/], ['256.256.256.256:80', /IPv4/], ['1.2.3:80', /IPv4/], ['[zz]:80', /IPv6/], ['[::1:80', /IPv6/],
    ['::1:80', /brackets/], [':80', /host name/], ['-a.example:80', /host name/], ['a..b:80', /host name/], ['under_score:80', /host name/],
    [`${'a'.repeat(64)}.example:80`, /host name/], ['localhost', /:port/], ['a\u0000b:80', /host name/],
  ])('refuses %s', (address, why) => {
    expect(addressProblem(address, 1)).toMatch(why);
  });

  it('allows port 0 only where the OS picks a port (listeners)', () => {
    expect(addressProblem('127.0.0.1:0', 0)).toBeUndefined();
    expect(addressProblem('127.0.0.1:0', 1)).toMatch(/from 1 to 65535/);
  });

  it('splits and joins with IPv6 brackets', () => {
    expect(splitAddress('[::1]:80')).toEqual({ host: '::1', port: 80 });
    expect(joinAddress('::1', 80)).toBe('[::1]:80');
    expect(joinAddress('example.com', 80)).toBe('example.com:80');
  });
});
