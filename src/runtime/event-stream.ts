import type http from 'node:http';
import type { EventsSince } from './event-ring.js';
import type { RuntimeEvent } from './events.js';

/** A comment line this often keeps an idle SSE connection (and proxies on the way) open. @defaultValue 15000 */
export const EVENTS_HEARTBEAT_MS = 15_000;
/** A client that lets this much pile up unread is cut off; it resumes by `Last-Event-ID`. @defaultValue 1048576 */
export const EVENTS_MAX_BUFFERED_BYTES = 1024 * 1024;
/** How long an SSE client waits before it reconnects (the `retry:` field). @defaultValue 1000 */
export const EVENTS_RETRY_MS = 1_000;

/** What the control API reads events from: the supervisor's ring. */
export interface EventFeed {
  since(afterId: number): EventsSince;
  subscribe(listener: (event: RuntimeEvent) => void): () => void;
}

/** One event as an SSE message: its id, then its JSON. */
export function sseMessage(event: RuntimeEvent): string {
  return `id: ${event.id}\ndata: ${JSON.stringify(event)}\n\n`;
}

/** The id a reader resumes after, or what is wrong with it. */
export function parseEventId(value: string | undefined | null): number | Error | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (!/^\d{1,15}$/.test(value.trim())) return new Error(`an event id is a whole number of at least 0, not ${JSON.stringify(value.slice(0, 40))}`);
  return Number(value.trim());
}

/**
 * `GET /events` as Server-Sent Events: what the ring holds after `afterId` (everything
 * when undefined; a `gap` first if some of it is gone), then every new event as it
 * happens. Subscribing before reading the backlog and skipping ids already sent
 * means no event falls between the two.
 */
export function streamEvents(feed: EventFeed, afterId: number | undefined, res: http.ServerResponse): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  let sentId = afterId ?? 0;
  const pending: RuntimeEvent[] = [];
  let live = false;
  const send = (event: RuntimeEvent): void => {
    if (res.destroyed) return;
    if (event.kind !== 'gap' && event.id <= sentId) return;
    sentId = Math.max(sentId, event.id);
    res.write(sseMessage(event));
    if (res.writableLength > EVENTS_MAX_BUFFERED_BYTES) res.destroy();
  };
  const unsubscribe = feed.subscribe((event) => {
    if (live) send(event);
    else pending.push(event);
  });
  const heartbeat = setInterval(() => {
    if (!res.destroyed) res.write(': keep-alive\n\n');
  }, EVENTS_HEARTBEAT_MS);
  heartbeat.unref();
  const end = (): void => {
    clearInterval(heartbeat);
    unsubscribe();
  };
  // The response's close, not the request's: a request without a body closes as soon as it is read.
  res.once('close', end);
  res.write(`retry: ${EVENTS_RETRY_MS}\n\n`);
  for (const event of feed.since(afterId ?? 0).events) send(event);
  live = true;
  for (const event of pending) send(event);
}
