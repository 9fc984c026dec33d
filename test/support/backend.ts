import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../fixtures/backend.mjs', import.meta.url));

/** A real backend server process (see test/fixtures/backend.mjs). */
export interface Backend {
  id: string;
  port: number;
  address: string;
  process: ChildProcess;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export async function startBackend(id: string, env: Record<string, string> = {}, port = 0): Promise<Backend> {
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, ID: id, PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const boundPort = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening (\d+)/.exec(out);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`backend ${id} exited with ${code} before listening`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    id,
    port: boundPort,
    address: `127.0.0.1:${boundPort}`,
    process: child,
    kill: async (signal = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

export async function startBackends(ids: string[], env: Record<string, string> = {}): Promise<Backend[]> {
  return Promise.all(ids.map((id) => startBackend(id, env)));
}
