import { describe, expect, it } from 'vitest';
import { RouteTable } from './route-table.js';

describe('RouteTable', () => {
  const table = new RouteTable([
    { pool: 'web' },
    { pathPrefix: '/api', pool: 'api' },
    { pathPrefix: '/api/admin/', pool: 'admin' },
    { host: 'static.example.com', pool: 'static' },
    { host: '*.example.com', pathPrefix: '/api', pool: 'tenant-api' },
  ]);

  it('prefers exact host, then wildcard host, then longest prefix', () => {
    expect(table.match('static.example.com', '/api/x')).toBe('static');
    expect(table.match('a.example.com:8080', '/api/x')).toBe('tenant-api');
    expect(table.match('other.org', '/api/admin/users')).toBe('admin');
    expect(table.match('other.org', '/api?x=1')).toBe('api');
    expect(table.match('other.org', '/')).toBe('web');
    expect(table.match(undefined, '/api')).toBe('api');
  });

  it('matches prefixes on segment boundaries only', () => {
    expect(table.match('x', '/apix')).toBe('web');
    expect(table.match('x', '/api/')).toBe('api');
  });

  it('does not let a wildcard match the bare domain', () => {
    expect(table.match('example.com', '/api')).toBe('api');
  });

  it('answers undefined when nothing matches', () => {
    expect(new RouteTable([{ host: 'a', pool: 'p' }]).match('b', '/')).toBeUndefined();
  });

  describe('fallthrough', () => {
    const site = new RouteTable([
      { pathPrefix: '/products', pool: 'static', fallthrough: true },
      { pool: 'app' },
    ]);

    it('sends reads to the fallthrough pool and other methods past it', () => {
      expect(site.match('x', '/products/1', 'GET')).toBe('static');
      expect(site.match('x', '/products/1', 'HEAD')).toBe('static');
      expect(site.match('x', '/products/1', 'POST')).toBe('app');
      expect(site.match('x', '/cart', 'GET')).toBe('app');
    });

    it('names the next matching pool after a 404 of a fallthrough rule, and nothing after other rules', () => {
      expect(site.fallthrough('x', '/products/1')).toBe('app');
      expect(site.fallthrough('x', '/cart')).toBeUndefined();
      expect(new RouteTable([{ pool: 'app' }]).fallthrough('x', '/')).toBeUndefined();
      expect(new RouteTable([{ pathPrefix: '/p', pool: 's', fallthrough: true }]).fallthrough('x', '/p/1')).toBeUndefined();
    });
  });
});
