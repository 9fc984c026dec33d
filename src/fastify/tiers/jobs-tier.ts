import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { JobEvent, Queue } from '../../jobs/index.js';
import { ScaleoutPluginOptionsError } from '../errors.js';
import type { Tier } from './tier.js';

/** Between two keep-alive comments of an idle event stream (proxies close silent connections). @defaultValue 15000 */
export const DEFAULT_SSE_KEEP_ALIVE_MS = 15_000;
/** How long a poll waits for a first new event before it answers with none. @defaultValue 100 */
export const DEFAULT_POLL_WAIT_MS = 100;
/** The longest wait a poll may ask for (`?waitMs=`). @defaultValue 25000 */
export const MAX_POLL_WAIT_MS = 25_000;

/** The `jobs` option: the app's queues, by name. */
export interface ScaleoutJobsOptions {
  queues: Record<string, Queue<never> | Queue>;
  /** @defaultValue {@link DEFAULT_SSE_KEEP_ALIVE_MS} */
  keepAliveMs?: number;
}

/** What a poll answers: the events after `after`, the id to send next time, and whether the job is over. */
export interface JobEventsPage {
  events: JobEvent[];
  lastId: string | null;
  done: boolean;
}

/**
 * `app.jobs` and `request.jobs`: the queues, and the two ways to tell a user how a job
 * goes. Both resume after an event id, so a client reconnecting to any instance
 * misses nothing (events live in the queue's tracker, not in the instance).
 */
export interface AppJobs {
  /** The queue registered under `name`; throws when there is none. */
  queue<T = unknown>(name: string): Queue<T>;
  /**
   * Answers with Server-Sent Events of one job: those after the request's
   * `Last-Event-ID` (or `?lastEventId=`), then new ones as they happen, with a comment
   * line every `keepAliveMs`; ends after the job's last event or when the client leaves.
   */
  stream(request: FastifyRequest, reply: FastifyReply, queue: string, jobId: string): Promise<void>;
  /** Polling for clients without SSE: the events after `after` (waiting up to `waitMs` for the first). */
  poll(queue: string, jobId: string, options?: { after?: string; waitMs?: number }): Promise<JobEventsPage>;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The async tier: register the plugin with `jobs`. */
    readonly jobs: AppJobs;
  }
  interface FastifyRequest {
    /** The async tier (the same as `app.jobs`): register the plugin with `jobs`. */
    readonly jobs: AppJobs;
  }
}

interface ResolvedJobs {
  queues: Map<string, Queue>;
  keepAliveMs: number;
}

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

function isQueue(value: unknown): value is Queue {
  const q = value as Partial<Queue> | null;
  return typeof q === 'object' && q !== null && typeof q.add === 'function' && typeof q.events === 'function';
}

function headerValue(value: string | string[] | undefined): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? undefined : first;
}

/** The SSE frame of one event; the id goes to `id:`, which a browser sends back as `Last-Event-ID`. */
export function sseFrame(event: JobEvent): string {
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify({ jobId: event.jobId, type: event.type, data: event.data ?? null, atMs: event.atMs })}\n\n`;
}

function jobsOf(options: ResolvedJobs): AppJobs {
  const queue = <T>(name: string): Queue<T> => {
    const q = options.queues.get(name);
    if (q === undefined) throw new ScaleoutPluginOptionsError(`no queue "${name}" in the plugin's jobs.queues; registered: ${[...options.queues.keys()].join(', ')}`);
    return q as unknown as Queue<T>;
  };
  return {
    queue,
    async stream(request, reply, queueName, jobId) {
      const q = queue(queueName);
      const after = headerValue(request.headers['last-event-id']) ?? headerValue((request.query as Record<string, string | undefined> | undefined)?.lastEventId);
      const abort = new AbortController();
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        'x-accel-buffering': 'no',
        connection: 'keep-alive',
      });
      raw.flushHeaders();
      raw.on('close', () => abort.abort());
      // Tells the client to come back quickly after a lost connection.
      raw.write('retry: 1000\n\n');
      const keepAlive = setInterval(() => raw.write(': keep-alive\n\n'), options.keepAliveMs);
      try {
        for await (const event of q.events(jobId, { ...(after !== undefined ? { after } : {}), signal: abort.signal })) {
          raw.write(sseFrame(event));
        }
      } catch (err) {
        if (!abort.signal.aborted) request.log.warn({ err, jobId }, 'job event stream failed');
      } finally {
        clearInterval(keepAlive);
        if (!raw.writableEnded) raw.end();
      }
    },
    async poll(queueName, jobId, pollOptions = {}) {
      const q = queue(queueName);
      const waitMs = Math.min(Math.max(0, pollOptions.waitMs ?? DEFAULT_POLL_WAIT_MS), MAX_POLL_WAIT_MS);
      const abort = new AbortController();
      let timer = setTimeout(() => abort.abort(), waitMs);
      const events: JobEvent[] = [];
      let done = false;
      try {
        for await (const event of q.events(jobId, { ...(pollOptions.after !== undefined && pollOptions.after !== '' ? { after: pollOptions.after } : {}), signal: abort.signal })) {
          events.push(event);
          if (TERMINAL.has(event.type)) {
            done = true;
            break;
          }
          // Stored events come at once; after the first, only a short wait for more.
          clearTimeout(timer);
          timer = setTimeout(() => abort.abort(), 20);
        }
      } catch (err) {
        if (!abort.signal.aborted) throw err;
      } finally {
        clearTimeout(timer);
      }
      return { events, lastId: events.at(-1)?.id ?? pollOptions.after ?? null, done };
    },
  };
}

/** The `jobs` option: `app.jobs` and `request.jobs`. */
export const jobsTier: Tier<ResolvedJobs> = {
  option: 'jobs',

  validate(value) {
    const options = value as Partial<ScaleoutJobsOptions> | null;
    if (typeof options !== 'object' || options === null || typeof options.queues !== 'object' || options.queues === null) {
      throw new ScaleoutPluginOptionsError('jobs must be { queues: { name: Queue } } with the Queues of scaleout/jobs');
    }
    const queues = new Map<string, Queue>();
    for (const [name, q] of Object.entries(options.queues)) {
      if (!isQueue(q)) throw new ScaleoutPluginOptionsError(`jobs.queues.${name} must be a Queue of scaleout/jobs`);
      queues.set(name, q);
    }
    const keepAliveMs = options.keepAliveMs ?? DEFAULT_SSE_KEEP_ALIVE_MS;
    if (!Number.isInteger(keepAliveMs) || keepAliveMs < 10) {
      throw new ScaleoutPluginOptionsError(`jobs.keepAliveMs must be a whole number of milliseconds of at least 10, not ${String(keepAliveMs)}`);
    }
    return { queues, keepAliveMs };
  },

  async install(app: FastifyInstance, options: ResolvedJobs) {
    const jobs = jobsOf(options);
    app.decorate('jobs', jobs);
    app.decorateRequest('jobs', {
      getter(): AppJobs {
        return jobs;
      },
    });
  },
};
