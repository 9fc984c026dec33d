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

  it('drops fields of the wrong type and reads garbage as no fields', () => {
    expect(parseHealthBody('{"status":1,"instance":null,"buildId":["b"],"load":-1}')).toEqual({});
    for (const text of ['', 'ok', '[1]', 'null', '{"load":', '"text"']) expect(parseHealthBody(text), text).toEqual({});
  });
});
