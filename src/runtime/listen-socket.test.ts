import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { PortInUseError } from './errors.js';
import { ListenSocket } from './listen-socket.js';

describe('ListenSocket', () => {
  it('binds a free port without accepting: a client is refused until a process listens on it', async () => {
    const socket = ListenSocket.bind('127.0.0.1:0')!;
    try {
      expect(socket.address).toMatch(/^127\.0\.0\.1:[1-9]\d*$/);
      const port = Number(socket.address.split(':')[1]);
      const refused = await new Promise<string>((resolve) => {
        const client = net.connect(port, '127.0.0.1');
        client.once('connect', () => resolve('connected'));
        client.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      });
      expect(refused).toBe('ECONNREFUSED');
    } finally {
      socket.close();
    }
  });

  it('says so when the port is taken, instead of binding another', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
    const { port } = blocker.address() as AddressInfo;
    try {
      expect(() => ListenSocket.bind(`127.0.0.1:${port}`)).toThrow(PortInUseError);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});
