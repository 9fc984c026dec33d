import { pageFile, StaticPagePathError } from '../../static/index.js';
import type { PublishPage, PublishResult, StaticTier } from '../../static/index.js';
import { JobsOptionsError } from '../errors.js';
import type { JobContext, JobHandler } from '../worker.js';

/** Pages rendered at once. @defaultValue 4 */
export const DEFAULT_PRERENDER_CONCURRENCY = 4;
/** A render that takes longer has failed (and the last good page stays). @defaultValue 30000 */
export const DEFAULT_RENDER_TIMEOUT_MS = 30_000;

/** A rendered page; `null` from `render` means the page no longer exists (it is taken out). */
export type RenderedPage = Omit<PublishPage, 'path'>;

/** What a pre-render run tells its watchers (`onEvent`, and the job's progress events). */
export type PrerenderEvent =
  | { kind: 'prerender-published'; generation: string | undefined; published: boolean; written: string[]; removed: string[]; unchanged: number; failed: string[] }
  /** The render of `path` failed: the static tier keeps the last good page (`kept`), or has none. */
  | { kind: 'prerender-failed'; path: string; error: string; kept: boolean };

/** The outcome of one run. */
export interface PrerenderOutcome {
  publish: PublishResult;
  failed: Array<{ path: string; error: string }>;
}

export interface PrerendererOptions {
  tier: StaticTier;
  /** Renders one page; throws (or times out) when it cannot, returns null when the page is gone. */
  render: (path: string, signal: AbortSignal) => Promise<RenderedPage | null>;
  /** Every page this pre-renderer owns, for a full bake ({@link Prerenderer.renderAll}). */
  list?: () => Promise<string[]>;
  /**
   * The path prefix this pre-renderer owns (`/products/`): a full bake takes out the
   * pages under it that `list` no longer names, and never touches others.
   * @defaultValue '/'
   */
  scope?: string;
  /** @defaultValue {@link DEFAULT_PRERENDER_CONCURRENCY} */
  concurrency?: number;
  /** @defaultValue {@link DEFAULT_RENDER_TIMEOUT_MS} */
  renderTimeoutMs?: number;
  onEvent?: (event: PrerenderEvent) => void;
}

/** One run's own signal and listener. */
export interface RunOptions {
  signal?: AbortSignal;
  onEvent?: (event: PrerenderEvent) => void;
}

/** The payload of a pre-render job: the pages to render, or none for a full bake. */
export interface PrerenderJob {
  paths?: string[];
}

/**
 * Renders pages into a static tier: a full bake (scheduled) or some pages (on change).
 * Every page that rendered is published in one generation; a page whose render failed
 * keeps its last good version (and a `prerender-failed` event says so); a page whose
 * render returned null is taken out, so the app answers it again.
 *
 * @example
 * ```ts
 * const prerenderer = new Prerenderer({ tier, scope: '/products/', list: allProductPaths, render: renderProductPage });
 * new Worker(prerenderQueue, prerenderer.handler());                       // runs the jobs
 * new Scheduler({ schedules: [{ name: 'bake', cron: '*\/5 * * * *', queue: prerenderQueue, data: {} }] }).start();
 * await prerenderQueue.add('render', { paths: ['/products/7'] });           // on change
 * ```
 */
export class Prerenderer {
  readonly #options: PrerendererOptions;
  readonly #concurrency: number;
  readonly #timeoutMs: number;
  readonly #scope: string;

  constructor(options: PrerendererOptions) {
    if (typeof options.render !== 'function') throw new JobsOptionsError('a pre-renderer needs a render(path) function');
    const concurrency = options.concurrency ?? DEFAULT_PRERENDER_CONCURRENCY;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new JobsOptionsError(`concurrency must be a whole number of at least 1, not ${String(concurrency)}`);
    const timeout = options.renderTimeoutMs ?? DEFAULT_RENDER_TIMEOUT_MS;
    if (!Number.isInteger(timeout) || timeout < 1) throw new JobsOptionsError(`renderTimeoutMs must be a whole number of at least 1, not ${String(timeout)}`);
    const scope = options.scope ?? '/';
    if (!scope.startsWith('/')) throw new JobsOptionsError(`scope must be a path prefix starting with "/", not ${JSON.stringify(scope)}`);
    this.#options = options;
    this.#concurrency = concurrency;
    this.#timeoutMs = timeout;
    this.#scope = scope;
  }

  /** Renders and publishes `paths` (an on-change render). `onEvent` hears this run's events too. */
  renderPaths(paths: readonly string[], run: RunOptions = {}): Promise<PrerenderOutcome> {
    return this.#run([...new Set(paths)], [], run);
  }

  /** A full bake: every page `list` names; pages in scope it no longer names are taken out. */
  async renderAll(run: RunOptions = {}): Promise<PrerenderOutcome> {
    if (this.#options.list === undefined) throw new JobsOptionsError('renderAll needs the list() option: the pages to bake');
    const paths = [...new Set(await this.#options.list())];
    const listed = new Set(paths.map((p) => fileOf(p)));
    const current = await this.#options.tier.current();
    const gone = Object.values(current?.pages ?? {})
      .filter((page) => page.path.startsWith(this.#scope) && !listed.has(page.file))
      .map((page) => page.path);
    return this.#run(paths, gone, run);
  }

  /** A job handler: `{ paths }` renders those pages, `{}` is a full bake. Progress events carry the {@link PrerenderEvent}s. */
  handler(): JobHandler<PrerenderJob> {
    return async (ctx: JobContext<PrerenderJob>) => {
      const events: PrerenderEvent[] = [];
      const run = { signal: ctx.signal, onEvent: (event: PrerenderEvent) => events.push(event) };
      const outcome = await (ctx.data.paths === undefined ? this.renderAll(run) : this.renderPaths(ctx.data.paths, run));
      for (const event of events) await ctx.progress(event);
      return { generation: outcome.publish.generation, written: outcome.publish.written.length, removed: outcome.publish.removed.length, unchanged: outcome.publish.unchanged, failed: outcome.failed };
    };
  }

  async #run(paths: string[], gone: string[], { signal, onEvent }: RunOptions): Promise<PrerenderOutcome> {
    const emit = (event: PrerenderEvent): void => {
      this.#options.onEvent?.(event);
      onEvent?.(event);
    };
    for (const path of paths) fileOf(path);
    const put: PublishPage[] = [];
    const remove = [...gone];
    const failed: Array<{ path: string; error: string }> = [];
    let next = 0;
    const work = async (): Promise<void> => {
      while (next < paths.length) {
        signal?.throwIfAborted();
        const path = paths[next++]!;
        try {
          const page = await this.#renderOne(path, signal);
          if (page === null) remove.push(path);
          else put.push({ ...page, path });
        } catch (err) {
          if (signal?.aborted === true) throw err;
          failed.push({ path, error: (err as Error)?.message ?? String(err) });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#concurrency, paths.length) }, work));
    const publish = await this.#options.tier.publish({ put, remove });
    const pages = await this.#options.tier.current();
    const present = new Set(Object.keys(pages?.pages ?? {}));
    for (const f of failed) emit({ kind: 'prerender-failed', path: f.path, error: f.error, kept: present.has(fileOf(f.path)) });
    emit({ kind: 'prerender-published', generation: publish.generation, published: publish.published, written: publish.written, removed: publish.removed, unchanged: publish.unchanged, failed: failed.map((f) => f.path) });
    return { publish, failed };
  }

  async #renderOne(path: string, outer: AbortSignal | undefined): Promise<RenderedPage | null> {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const signal = outer === undefined ? timeout : AbortSignal.any([outer, timeout]);
    return new Promise<RenderedPage | null>((resolve, reject) => {
      const onAbort = (): void => reject(new Error(timeout.aborted ? `no page within ${this.#timeoutMs} ms` : 'aborted'));
      signal.addEventListener('abort', onAbort, { once: true });
      this.#options.render(path, signal).then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }
}

function fileOf(path: string): string {
  const found = pageFile(path);
  if (!found.ok) throw new StaticPagePathError(path, found.reason);
  return found.file;
}
