/**
 * Micro-benchmark of the balancer's request head parser against llhttp, the parser
 * behind node:http, on a typical 400-byte browser request head.
 *
 * llhttp is driven through the same binding node:http uses (`HTTPParser` from
 * node:_http_common), with the same callback node:http installs, so both sides pay for
 * what they hand to JavaScript: llhttp builds strings for every header name and value,
 * the balancer's parser only for the few it needs.
 *
 * Run: npx tsx bench/http-parser.ts [iterations]
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import { ChunkedScanner, CHUNKED_NEED_MORE, parseRequestHead } from '../src/balancer/http/index.js';

const HEAD = Buffer.from([
  'GET /products/42?ref=home&utm_source=newsletter HTTP/1.1',
  'Host: shop.example.com',
  'Connection: keep-alive',
  'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36',
  'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8',
  'Accept-Encoding: gzip, deflate, br',
  'Accept-Language: en-US,en;q=0.9',
  'Cookie: scaleout_srv=s1.Yk3aQ; session=7f3c2a9e',
  'Referer: https://shop.example.com/',
  '', '',
].join('\r\n'), 'latin1');

const iterations = Number(process.argv[2] ?? 1_000_000);

/**
 * Best-of-rounds ns/op for each contender, with rounds interleaved: the machine is
 * shared, so both sides meet the same noise and the minimum is the least disturbed.
 */
function measure(contenders: Array<[string, () => void]>): number[] {
  const roundIterations = Math.max(1, Math.floor(iterations / 10));
  for (const [, run] of contenders) for (let i = 0; i < roundIterations; i++) run();
  const best = contenders.map(() => Infinity);
  for (let round = 0; round < 10; round++) {
    contenders.forEach(([, run], c) => {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < roundIterations; i++) run();
      best[c] = Math.min(best[c]!, Number(process.hrtime.bigint() - t0) / roundIterations);
    });
  }
  contenders.forEach(([name], c) => console.log(`${name.padEnd(34)} ${best[c]!.toFixed(0).padStart(6)} ns/op`));
  return best;
}

let sink = 0;
const ours = (): void => {
  const head = parseRequestHead(HEAD, 0, HEAD.length);
  if (head.kind === 'request') sink += head.headEnd;
};

interface LlhttpParser {
  initialize(type: number, resource: object, maxHeaderSize?: number, lenient?: number): void;
  execute(data: Buffer): number | Error;
  [key: number]: unknown;
}
interface LlhttpParserClass {
  new(): LlhttpParser;
  REQUEST: number;
  kOnHeadersComplete: number;
  kOnMessageComplete: number;
}

function loadLlhttp(): LlhttpParserClass | undefined {
  try {
    const require = createRequire(import.meta.url);
    return (require('_http_common') as { HTTPParser?: LlhttpParserClass }).HTTPParser;
  } catch {
    return undefined;
  }
}

const HTTPParser = loadLlhttp();
if (HTTPParser === undefined) {
  console.log('llhttp binding not reachable in this Node; only scaleout measured');
  measure([['scaleout parseRequestHead', ours]]);
} else {
  const parser = new HTTPParser();
  parser.initialize(HTTPParser.REQUEST, {}, 0, 0);
  parser[HTTPParser.kOnHeadersComplete] = (_major: number, _minor: number, headers: string[], _method: number,
    url: string) => {
    sink += headers.length + url.length;
  };
  parser[HTTPParser.kOnMessageComplete] = () => {
    sink++;
  };
  const theirs = (): void => {
    const r = parser.execute(HEAD);
    if (typeof r !== 'number') throw r;
  };
  const [oursNs, theirsNs] = measure([['scaleout parseRequestHead', ours], ['llhttp (node:http binding)', theirs]]);
  console.log(`llhttp time / scaleout time: ${(theirsNs! / oursNs!).toFixed(2)}x`);
}

// Chunked framing: 1 MiB body of 64 KiB chunks arriving in 16 KiB reads.
const chunk = Buffer.alloc(65_536, 0x61);
const parts: Buffer[] = [];
for (let i = 0; i < 16; i++) parts.push(Buffer.from('10000\r\n'), chunk, Buffer.from('\r\n'));
parts.push(Buffer.from('0\r\n\r\n'));
const body = Buffer.concat(parts);
const scanner = new ChunkedScanner();
const bodyIterations = Math.max(1, Math.floor(iterations / 1000));
const t0 = process.hrtime.bigint();
for (let n = 0; n < bodyIterations; n++) {
  scanner.reset();
  for (let off = 0; off < body.length; off += 16_384) {
    const r = scanner.scan(body, off, Math.min(body.length, off + 16_384));
    if (r !== CHUNKED_NEED_MORE) sink += r;
  }
}
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(`ChunkedScanner                     ${((body.length * bodyIterations) / seconds / 2 ** 30).toFixed(1)} GiB/s`);
console.log(`(${os.cpus()[0]?.model ?? 'unknown cpu'}, Node ${process.version}, ${iterations} iterations, sink ${sink % 10})`);
