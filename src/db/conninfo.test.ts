import { describe, expect, it } from 'vitest';
import { formatConninfo, parseConninfo } from './conninfo.js';

describe('conninfo', () => {
  it('parses key=value pairs with quoting and escapes', () => {
    const info = parseConninfo("host=127.0.0.1 port = 5433 user=postgres application_name='pg 1' password='it\\'s' sslmode=disable");
    expect(Object.fromEntries(info)).toEqual({
      host: '127.0.0.1', port: '5433', user: 'postgres', application_name: 'pg 1', password: "it's", sslmode: 'disable',
    });
  });

  it('parses URIs', () => {
    const info = parseConninfo('postgresql://rep%40user:s%3Acret@db.internal:6543/app?application_name=r1&sslmode=require');
    expect(Object.fromEntries(info)).toEqual({
      host: 'db.internal', port: '6543', user: 'rep@user', password: 's:cret', dbname: 'app', application_name: 'r1', sslmode: 'require',
    });
  });

  it('round-trips through format', () => {
    const info = parseConninfo("host=h port=1 application_name='a b' password='x\\\\y\\'z'");
    expect(Object.fromEntries(parseConninfo(formatConninfo(info)))).toEqual(Object.fromEntries(info));
  });

  it('reads garbage without throwing', () => {
    for (const text of ['', '=', 'host', "host='unterminated", 'postgresql://[bad', '  ', 'a=b =c']) {
      expect(() => parseConninfo(text)).not.toThrow();
    }
    expect(parseConninfo('').size).toBe(0);
  });
});
