import { describe, expect, it } from 'vitest';
import { isHealthyStatus, parseHealthBody } from './wire.js';

describe('isHealthyStatus', () => {
  it('counts 2xx and 3xx as healthy and everything else as not', () => {
    for (const status of [200, 204, 299, 301, 302, 304, 399]) expect(isHealthyStatus(status), String(status)).toBe(true);
    for (const status of [0, 100, 101, 199, 400, 404, 429, 500, 503, 599, 200.5, Number.NaN]) expect(isHealthyStatus(status), String(status)).toBe(false);
  });
});

describe('parseHealthBody', () => {
  it('reads the fields of the health body', () => {
    expect(parseHealthBody('{"status":"ok","instance":"app-1","buildId":"b1","load":0.25}'))
      .toEqual({ status: 'ok', instance: 'app-1', buildId: 'b1', load: 0.25 });
  });

  it('reads the cache counts when both are whole numbers, and drops them otherwise', () => {
    expect(parseHealthBody('{"status":"ok","cache":{"hits":9,"misses":1}}')).toEqual({ status: 'ok', cache: { hits: 9, misses: 1 } });
    for (const cache of ['{"hits":9}', '{"hits":-1,"misses":1}', '{"hits":1.5,"misses":1}', '[1,2]', 'null', '"x"']) {
      expect(parseHealthBody(`{"cache":${cache}}`), cache).toEqual({});
    }
  });

  it('drops fields of the wrong type and reads garbage as no fields', () => {
    expect(parseHealthBody('{"status":1,"instance":null,"buildId":["b"],"load":-1}')).toEqual({});
    for (const text of ['', 'ok', '[1]', 'null', '{"load":', '"text"']) expect(parseHealthBody(text), text).toEqual({});
  });
});
