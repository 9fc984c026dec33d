import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const fixture = fileURLToPath(new URL('../balancer/fixtures/fastify-instance.ts', import.meta.url));

/** A real Fastify app process with the scaleout plugin (test/balancer/fixtures/fastify-instance.ts). */
export interface FastifyInstance {
  id: string;
  address: string;
  process: ChildProcess;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export async function startFastifyInstance(id: string, env: Record<string, string> = {}): Promise<FastifyInstance> {
  const child = fork(fixture, [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, INSTANCE_ID: id, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`fastify instance ${id} did not listen within 30 s`)), 30_000);
    child.on('message', (message) => {
      if (typeof message === 'object' && message !== null && 'port' in message) {
        clearTimeout(timer);
        resolve((message as { port: number }).port);
      }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`fastify instance ${id} exited with ${code} before listening`)); });
  });
  return {
    id,
    address: `127.0.0.1:${port}`,
    process: child,
    kill: async (signal = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
