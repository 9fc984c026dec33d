import type { FastifyInstance } from 'fastify';
import { EXPORTS_QUEUE } from '../exports/order-export.js';
import type { OrderExports } from '../exports/order-export.js';
import { NotFoundError } from '../errors.js';
import { loggedIn, redirect, wantsJson } from '../http.js';

/** The script of the orders page's progress bar, served as a file so the CSP needs no inline script. */
export const EXPORT_SCRIPT_PATH = '/assets/export-progress.js';

const EXPORT_SCRIPT = `// Follows an order export over Server-Sent Events (EventSource reconnects by itself,
// with Last-Event-ID) and shows the download link when it is done.
const box = document.getElementById('export');
if (box !== null) {
  const id = box.dataset.job;
  const bar = box.querySelector('progress');
  const text = box.querySelector('.status');
  const events = new EventSource('/exports/' + encodeURIComponent(id) + '/events');
  const show = (p) => { if (p && p.total > 0) { bar.max = p.total; bar.value = p.orders; } text.textContent = (p ? p.orders : 0) + ' orders exported'; };
  events.addEventListener('progress', (e) => show(JSON.parse(e.data).data));
  events.addEventListener('completed', (e) => {
    events.close();
    show(JSON.parse(e.data).data);
    const link = document.createElement('a');
    link.href = '/exports/' + encodeURIComponent(id) + '/download';
    link.textContent = 'Download the CSV';
    text.after(' ', link);
  });
  events.addEventListener('failed', () => { events.close(); text.textContent = 'The export failed; try again.'; });
}
`;

const JOB_ID = /^[A-Za-z0-9_:.-]{1,100}$/;

/**
 * `POST /exports` starts a CSV of the user's orders; its progress is streamed over
 * SSE (through any instance, resumable) or polled, and the CSV is served from Redis
 * by any instance. Every route checks that the session's user started the export.
 */
export function exportRoutes(app: FastifyInstance, exports: OrderExports): void {
  async function owned(request: Parameters<typeof loggedIn>[0], id: string): Promise<string> {
    const v = await loggedIn(request);
    if (!JOB_ID.test(id) || !(await exports.owns(v.user.id, id))) throw new NotFoundError(`export ${JSON.stringify(id.slice(0, 40))}`);
    return id;
  }

  app.get(EXPORT_SCRIPT_PATH, (_request, reply) => reply.header('content-type', 'text/javascript; charset=utf-8').header('cache-control', 'public, max-age=300').send(EXPORT_SCRIPT));

  app.post('/exports', async (request, reply) => {
    const v = await loggedIn(request);
    const id = await exports.start(v.user.id);
    if (wantsJson(request)) return reply.code(202).send({ id });
    return redirect(reply, `/orders?export=${encodeURIComponent(id)}`);
  });

  app.get<{ Params: { id: string } }>('/exports/:id/events', async (request, reply) => {
    const id = await owned(request, request.params.id);
    await request.jobs.stream(request, reply, EXPORTS_QUEUE, id);
  });

  app.get<{ Params: { id: string }; Querystring: { after?: string } }>('/exports/:id', async (request) => {
    const id = await owned(request, request.params.id);
    return request.jobs.poll(EXPORTS_QUEUE, id, { after: typeof request.query.after === 'string' ? request.query.after : undefined });
  });

  app.get<{ Params: { id: string } }>('/exports/:id/download', async (request, reply) => {
    const id = await owned(request, request.params.id);
    const csv = await exports.csv(id);
    if (csv === null) throw new NotFoundError(`the CSV of export ${id} (not finished yet, or expired)`);
    return reply.header('content-type', 'text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="orders-${id.slice(0, 12).replace(/[^A-Za-z0-9-]/g, '')}.csv"`)
      .header('cache-control', 'private, no-store')
      .send(csv);
  });
}
