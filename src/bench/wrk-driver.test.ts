import { describe, expect, it } from 'vitest';
import { BenchRunError } from './errors.js';
import { findWrk, parseWrkOutput } from './wrk-driver.js';

const OUTPUT = `Running 5s test @ http://127.0.0.1:8080/
  1 threads and 10 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.23ms  456.00us    1.02s    80.00%
    Req/Sec     8.00k   500.00     9.00k    70.00%
  Latency Distribution
     50%  950.00us
     75%    1.40ms
     90%    1.80ms
     99%    3.20ms
  40000 requests in 5.00s, 10.00MB read
  Socket errors: connect 1, read 2, write 3, timeout 4
  Non-2xx or 3xx responses: 5
Requests/sec:   8000.00
Transfer/sec:      2.00MB
`;

describe('parseWrkOutput', () => {
  it('reads the counts and the latency distribution in their units', () => {
    expect(parseWrkOutput(OUTPUT)).toEqual({
      responses: 40000, errors: 6, timeouts: 4, non2xx3xx: 5,
      latency: { p50Ms: 0.95, p90Ms: 1.8, p99Ms: 3.2, maxMs: 1020, meanMs: 1.23 },
    });
  });

  it('counts missing error lines as none, and refuses output without a request count', () => {
    const clean = OUTPUT.replace(/ {2}Socket errors.*\n/, '').replace(/ {2}Non-2xx.*\n/, '');
    expect(parseWrkOutput(clean)).toMatchObject({ errors: 0, timeouts: 0, non2xx3xx: 0 });
    expect(() => parseWrkOutput('unable to connect')).toThrow(BenchRunError);
  });

  it('finds wrk on a PATH, or nothing', () => {
    expect(findWrk('/nonexistent-dir')).toBeUndefined();
  });
});
