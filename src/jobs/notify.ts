import type { JobEvent } from './job.js';
import type { Queue } from './queue.js';

/** The headers of a Server-Sent Events response (no buffering by proxies on the way). */
export const SSE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
};

/**
 * One job event as an SSE frame. The event id goes to `id:`, so a browser's
 * EventSource sends it back as `Last-Event-ID` when it reconnects.
 */
export function formatSseEvent(event: JobEvent): string {
  // JSON has no raw newlines, so the data is one `data:` line.
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify({ jobId: event.jobId, data: event.data ?? null, atMs: event.atMs })}\n\n`;
}

/**
 * The SSE frames of one job's events, resuming after `lastEventId` (the request's
 * `Last-Event-ID` header); ends after the job's last event or when `signal` aborts.
 *
 * @example
 * ```ts
 * app.get('/jobs/:id/events', async (request, reply) => {
 *   reply.raw.writeHead(200, SSE_HEADERS);
 *   const abort = new AbortController();
 *   request.raw.on('close', () => abort.abort());
 *   for await (const frame of jobEventStream(queue, request.params.id, {
 *     lastEventId: request.headers['last-event-id'], signal: abort.signal,
 *   })) reply.raw.write(frame);
 *   reply.raw.end();
 * });
 * ```
 */
export async function* jobEventStream(
  queue: Queue<never> | Queue, jobId: string, options: { lastEventId?: string | string[]; signal?: AbortSignal } = {},
): AsyncIterable<string> {
  const last = Array.isArray(options.lastEventId) ? options.lastEventId[0] : options.lastEventId;
  for await (const event of (queue as Queue).events(jobId, {
    ...(last !== undefined && last !== '' ? { after: last } : {}),
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
  })) {
    yield formatSseEvent(event);
  }
}
