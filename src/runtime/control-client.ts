import http from 'node:http';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { ChaosRequest } from './chaos/chaos-request.js';
import type { ChaosFault } from './chaos/chaos.js';
import type { DeployStrategy } from './config.js';
import type { ControlStreamLine, DbRequest } from './control-api.js';
import { ControlRequestError, SupervisorNotRunningError } from './errors.js';
import type { EventsSince } from './event-ring.js';
import type { RuntimeEvent } from './events.js';
import { SseParser } from './sse-parser.js';
import { isAlive, readSupervisorFile } from './supervisor-file.js';
import type { SupervisorFile } from './supervisor-file.js';
import type { RuntimeStatus } from './status.js';

/** A status request that takes longer fails. @defaultValue 10000 */
export const STATUS_TIMEOUT_MS = 10_000;

/**
 * Talks to the supervisor of an app folder through its control API (address and
 * token from `.scaleout/supervisor.json`). Used by `scaleout status`, `build`,
 * `deploy`, `scale`, `db` and `reshard`.
 */
export class ControlClient {
  readonly file: SupervisorFile;

  private constructor(file: SupervisorFile) {
    this.file = file;
  }

  /** Fails with a {@link SupervisorNotRunningError} when no live supervisor owns `dir`. */
  static connect(dir: string): ControlClient {
    const appDir = resolve(dir);
    const file = readSupervisorFile(appDir);
    if (file === undefined) throw new SupervisorNotRunningError(appDir, 'no .scaleout/supervisor.json');
    if (!isAlive(file.pid)) throw new SupervisorNotRunningError(appDir, `its pid ${file.pid} is gone`);
    return new ControlClient(file);
  }

  /** The client when a supervisor runs for `dir`, else undefined. */
  static tryConnect(dir: string): ControlClient | undefined {
    try {
      return ControlClient.connect(dir);
    } catch (err) {
      if (err instanceof SupervisorNotRunningError) return undefined;
      throw err;
    }
  }

  async status(): Promise<RuntimeStatus> {
    return await this.#json('GET', '/status') as RuntimeStatus;
  }

  /** The events the supervisor still holds after `afterId` (0: all of them), a `gap` first if some are gone. */
  async events(afterId = 0): Promise<EventsSince> {
    return await this.#json('GET', `/events?since=${afterId}`) as EventsSince;
  }

  /**
   * Streams events (`GET /events`, Server-Sent Events): those held after `afterId`
   * (all when undefined), then each new one, until the connection ends or `signal`
   * aborts. Resolves with the id of the last event received; reconnecting is the
   * caller's (see `followEvents`).
   */
  async streamEvents(options: { afterId?: number | undefined; signal?: AbortSignal; onEvent: (event: RuntimeEvent) => void; onOpen?: () => void }): Promise<number | undefined> {
    const headers: Record<string, string> = options.afterId === undefined ? {} : { 'last-event-id': String(options.afterId) };
    const res = await this.#request('GET', '/events', undefined, undefined, headers, options.signal);
    if ((res.statusCode ?? 0) !== 200) {
      const text = await readAll(res);
      throw remoteError(res.statusCode ?? 0, parseJson(text), text);
    }
    options.onOpen?.();
    let lastId = options.afterId;
    const parser = new SseParser();
    res.setEncoding('utf8');
    try {
      for await (const chunk of res) {
        for (const message of parser.push(chunk as string)) {
          const event = parseJson(message.data) as RuntimeEvent | undefined;
          if (event === undefined || typeof event.kind !== 'string') continue;
          if (message.id !== undefined && /^\d+$/.test(message.id)) lastId = Number(message.id);
          options.onEvent(event);
        }
      }
    } catch (err) {
      // An abort or a dropped connection ends the stream; what arrived is kept.
      if (options.signal?.aborted !== true && (err as NodeJS.ErrnoException).code !== 'ECONNRESET') throw err;
    }
    return lastId;
  }

  build(onEvent?: (event: RuntimeEvent) => void): Promise<unknown> {
    return this.#operation('/build', {}, onEvent);
  }

  deploy(strategy: DeployStrategy | undefined, onEvent?: (event: RuntimeEvent) => void): Promise<unknown> {
    return this.#operation('/deploy', strategy === undefined ? {} : { strategy }, onEvent);
  }

  scale(role: string, count: number, onEvent?: (event: RuntimeEvent) => void): Promise<unknown> {
    return this.#operation('/scale', { role, count }, onEvent);
  }

  /** Runs a data-tier operation (`scaleout db`, `scaleout reshard`) in the supervisor. */
  db(request: DbRequest, onEvent?: (event: RuntimeEvent) => void): Promise<unknown> {
    const { action, ...body } = request;
    return this.#operation(action === 'reshard' ? '/reshard' : `/db/${action}`, body, onEvent);
  }

  /** Injects one fault (`scaleout chaos kill|stop|slow|partition`); resolves with it. */
  chaos(request: ChaosRequest, onEvent?: (event: RuntimeEvent) => void): Promise<ChaosFault> {
    return this.#operation('/chaos', request, onEvent) as Promise<ChaosFault>;
  }

  /** Undoes every fault in force; resolves with them. */
  chaosHeal(onEvent?: (event: RuntimeEvent) => void): Promise<ChaosFault[]> {
    return this.#operation('/chaos/heal', {}, onEvent) as Promise<ChaosFault[]>;
  }

  /** The faults in force. */
  async chaosFaults(): Promise<ChaosFault[]> {
    return (await this.#json('GET', '/chaos') as { faults: ChaosFault[] }).faults;
  }

  #request(method: string, path: string, body: unknown, timeoutMs: number | undefined, extraHeaders: Record<string, string> = {}, signal?: AbortSignal): Promise<http.IncomingMessage> {
    const colon = this.file.control.lastIndexOf(':');
    return new Promise((resolvePromise, reject) => {
      const req = http.request({
        host: this.file.control.slice(0, colon),
        port: Number(this.file.control.slice(colon + 1)),
        method,
        path,
        agent: false,
        headers: { authorization: `Bearer ${this.file.token}`, 'content-type': 'application/json', ...extraHeaders },
        ...(timeoutMs === undefined ? {} : { timeout: timeoutMs }),
        ...(signal === undefined ? {} : { signal }),
      }, resolvePromise);
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', (err) => reject(new SupervisorNotRunningError(this.file.dir, `its control API on ${this.file.control} does not answer: ${err.message}`)));
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  async #json(method: string, path: string): Promise<unknown> {
    const res = await this.#request(method, path, undefined, STATUS_TIMEOUT_MS);
    const text = await readAll(res);
    const parsed = parseJson(text);
    if ((res.statusCode ?? 0) >= 400) throw remoteError(res.statusCode ?? 0, parsed, text);
    return parsed;
  }

  async #operation(path: string, body: unknown, onEvent?: (event: RuntimeEvent) => void): Promise<unknown> {
    const res = await this.#request('POST', path, body, undefined);
    if ((res.statusCode ?? 0) !== 200) {
      const text = await readAll(res);
      throw remoteError(res.statusCode ?? 0, parseJson(text), text);
    }
    let outcome: ControlStreamLine | undefined;
    for await (const line of createInterface({ input: res, crlfDelay: Infinity })) {
      if (line.trim() === '') continue;
      const parsed = parseJson(line) as ControlStreamLine | undefined;
      if (parsed === undefined) continue;
      if ('event' in parsed) onEvent?.(parsed.event);
      else outcome = parsed;
    }
    if (outcome === undefined) {
      throw new ControlRequestError(0, 'the supervisor closed the connection before the operation ended; it may have stopped: check `scaleout status`');
    }
    if ('error' in outcome) throw new ControlRequestError(200, outcome.error.message, outcome.error.code);
    return (outcome as { result: unknown }).result;
  }
}

function readAll(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolvePromise(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function remoteError(status: number, parsed: unknown, text: string): ControlRequestError {
  const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
  return new ControlRequestError(status, error?.message ?? `the control API answered ${status}: ${text.slice(0, 200)}`, error?.code);
}
