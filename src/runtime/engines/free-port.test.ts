import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { FreePortError } from './errors.js';
import { freePort, freePorts } from './free-port.js';

describe('free ports', () => {
  it('hands out distinct ports that can be bound', async () => {
    const ports = await freePorts(5);
    expect(new Set(ports).size).toBe(5);
    const port = await freePort();
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('fails with a clear error on an address this machine does not have', async () => {
    await expect(freePort('192.0.2.1')).rejects.toBeInstanceOf(FreePortError);
  });
});
