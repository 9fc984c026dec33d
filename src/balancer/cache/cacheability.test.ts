import { describe, expect, it } from 'vitest';
import { parseRequestHead, parseResponseHead } from '../http/index.js';
import type { RequestHead, ResponseHead } from '../http/index.js';
import { MAX_CACHE_KEY_LENGTH, cacheKey, deltaSeconds, directives, etagMatches, keyTarget, storeRules } from './cacheability.js';

function request(text: string): RequestHead {
  const head = parseRequestHead(Buffer.from(text, 'latin1'), 0, text.length);
  if (head.kind !== 'request') throw new Error(`not a request: ${JSON.stringify(head)}`);
  return head;
}

function response(fields: string[], status = '200 OK', body = 'hello'): { buf: Buffer; head: ResponseHead } {
  const text = `HTTP/1.1 ${status}\r\n${fields.map((f) => `${f}\r\n`).join('')}\r\n${body}`;
  const buf = Buffer.from(text, 'latin1');
  const head = parseResponseHead(buf, 0, buf.length, 'GET');
  if (head.kind !== 'response') throw new Error(`not a response: ${JSON.stringify(head)}`);
  return { buf, head };
}

const MAX_AGE_MS = 60_000;
const rulesOf = (fields: string[], status?: string, method = 'GET'): ReturnType<typeof storeRules> => {
  const { buf, head } = response(fields, status);
  return storeRules(buf, head, method, MAX_AGE_MS);
};

describe('cache key', () => {
  it('is method-independent: scheme, lowercase host without its default port, target with query', () => {
    const get = cacheKey(request('GET /products/1?x=2 HTTP/1.1\r\nHost: Shop.Example:80\r\n\r\n'), false);
    const head = cacheKey(request('HEAD /products/1?x=2 HTTP/1.1\r\nHost: shop.example\r\n\r\n'), false);
    expect(get).toBe('h shop.example /products/1?x=2');
    expect(head).toBe(get);
    expect(keyTarget(get!)).toBe('/products/1?x=2');
    expect(cacheKey(request('GET /products/1?x=2 HTTP/1.1\r\nHost: shop.example:8080\r\n\r\n'), false)).toBe('h shop.example:8080 /products/1?x=2');
    // The same path over TLS is another answer (absolute links may differ).
    expect(cacheKey(request('GET /p HTTP/1.1\r\nHost: shop.example:443\r\n\r\n'), true)).toBe('s shop.example /p');
    // An absolute-form target: the authority is the host.
    expect(cacheKey(request('GET http://Shop.Example/p HTTP/1.1\r\nHost: other\r\n\r\n'), false)).toBe('h shop.example /p');
  });

  it('is refused to requests a shared cache must not answer', () => {
    expect(cacheKey(request('POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx'), false)).toBeUndefined();
    expect(cacheKey(request('GET /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc'), false)).toBeUndefined();
    expect(cacheKey(request('GET /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'), false)).toBeUndefined();
    expect(cacheKey(request('GET /p HTTP/1.1\r\nHost: a\r\nAuthorization: Basic eDp5\r\n\r\n'), false)).toBeUndefined();
    expect(cacheKey(request('GET /p HTTP/1.0\r\n\r\n'), false)).toBeUndefined();
    expect(cacheKey(request('OPTIONS /p HTTP/1.1\r\nHost: a\r\n\r\n'), false)).toBeUndefined();
    const long = `/${'a'.repeat(MAX_CACHE_KEY_LENGTH)}`;
    expect(cacheKey(request(`GET ${long} HTTP/1.1\r\nHost: a\r\n\r\n`), false)).toBeUndefined();
    // A cookie does not make the request personal: the answer says so itself (Set-Cookie, private, Vary: Cookie).
    expect(cacheKey(request('GET /p HTTP/1.1\r\nHost: a\r\nCookie: sid=1\r\n\r\n'), false)).toBe('h a /p');
  });
});

describe('store rules', () => {
  it('keep a 200 with Surrogate-Control max-age, bounded by maxAgeMs, and consume the header', () => {
    const { buf, head } = response(['Content-Length: 5', 'Cache-Control: public, max-age=0, must-revalidate', 'Surrogate-Control: max-age=1', 'ETag: "abc"']);
    const rules = storeRules(buf, head, 'GET', MAX_AGE_MS);
    expect(rules).toMatchObject({ refused: undefined, lifetimeMs: 1000, etag: '"abc"' });
    expect(head.drop[2]).not.toBe(0); // not forwarded
    expect(head.drop[1]).toBe(0);
    expect(rulesOf(['Content-Length: 5', 'Surrogate-Control: max-age=3600']).lifetimeMs).toBe(MAX_AGE_MS);
  });

  it('take s-maxage, then max-age, when there is no Surrogate-Control; Surrogate-Control wins', () => {
    expect(rulesOf(['Content-Length: 5', 'Cache-Control: max-age=5, s-maxage=2']).lifetimeMs).toBe(2000);
    expect(rulesOf(['Content-Length: 5', 'Cache-Control: max-age=5']).lifetimeMs).toBe(5000);
    expect(rulesOf(['Content-Length: 5', 'Cache-Control: s-maxage=9', 'Surrogate-Control: max-age=1']).lifetimeMs).toBe(1000);
    // A directive targeted at another surrogate is not ours.
    expect(rulesOf(['Content-Length: 5', 'Surrogate-Control: max-age=30;cdn']).refused).toBe('no freshness lifetime');
  });

  it('count the Age the answer already has', () => {
    const rules = rulesOf(['Content-Length: 5', 'Cache-Control: s-maxage=10', 'Age: 4']);
    expect(rules).toMatchObject({ refused: undefined, lifetimeMs: 6000, initialAgeSec: 4, ageFields: [2] });
    expect(rulesOf(['Content-Length: 5', 'Cache-Control: s-maxage=10', 'Age: 10']).refused).toBe('not fresh');
  });

  it.each([
    [['Content-Length: 5'], '200 OK', 'no freshness lifetime'],
    [['Content-Length: 5', 'Cache-Control: public, max-age=0, must-revalidate'], '200 OK', 'not fresh'],
    [['Content-Length: 5', 'Surrogate-Control: max-age=1', 'Set-Cookie: sid=1'], '200 OK', 'Set-Cookie'],
    [['Content-Length: 5', 'Surrogate-Control: max-age=1', 'Cache-Control: private'], '200 OK', 'private'],
    [['Content-Length: 5', 'Surrogate-Control: max-age=1', 'Cache-Control: no-store'], '200 OK', 'no-store'],
    [['Content-Length: 5', 'Surrogate-Control: no-store'], '200 OK', 'no-store'],
    [['Content-Length: 5', 'Surrogate-Control: max-age=1', 'Cache-Control: no-cache'], '200 OK', 'no-cache'],
    [['Content-Length: 5', 'Surrogate-Control: max-age=1', 'Vary: Accept, *'], '200 OK', 'Vary: *'],
    [['Content-Length: 5', 'Surrogate-Control: max-age=1'], '404 Not Found', 'status 404'],
    [['Content-Length: 5', 'Surrogate-Control: max-age=1'], '206 Partial Content', 'status 206'],
    [['Transfer-Encoding: chunked', 'Surrogate-Control: max-age=1'], '200 OK', 'no Content-Length'],
    [['Surrogate-Control: max-age=1'], '200 OK', 'no Content-Length'],
  ])('refuse %j (%s): %s', (fields, status, reason) => {
    expect(rulesOf(fields, status).refused).toBe(reason);
  });

  it('refuse an answer to a HEAD (no body to keep)', () => {
    expect(rulesOf(['Content-Length: 5', 'Surrogate-Control: max-age=1'], '200 OK', 'HEAD').refused).toBe('not a GET');
  });

  it('keep the request fields an answer varies on, and what a 304 leaves out', () => {
    const rules = rulesOf(['Content-Type: text/html', 'Content-Length: 5', 'Surrogate-Control: max-age=1', 'Vary: Accept', 'vary: accept-encoding, Accept']);
    expect(rules.vary).toEqual(['accept', 'accept-encoding']);
    expect(rules.entityFields).toEqual([0, 1]);
  });
});

describe('directives and validators', () => {
  it('read Cache-Control directives, quoted values and the smaller of duplicates', () => {
    expect([...directives('Public, MAX-AGE="5", no-cache="set-cookie", max-age=3')]).toEqual([['public', ''], ['max-age', '3'], ['no-cache', 'set-cookie']]);
    expect(deltaSeconds('12')).toBe(12);
    expect(deltaSeconds('-1')).toBeUndefined();
    expect(deltaSeconds('1.5')).toBeUndefined();
    expect(deltaSeconds('99999999999999')).toBe(2_147_483_648);
  });

  it('match If-None-Match weakly, in lists and with *', () => {
    expect(etagMatches('"a"', '"a"')).toBe(true);
    expect(etagMatches('W/"a"', '"a"')).toBe(true);
    expect(etagMatches('"b", W/"a"', '"a"')).toBe(true);
    expect(etagMatches('*', '"a"')).toBe(true);
    expect(etagMatches('"b"', '"a"')).toBe(false);
    expect(etagMatches('"ab"', '"a"')).toBe(false);
  });
});
