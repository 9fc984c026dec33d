import { ScaleoutError } from '../internal/errors.js';
import { defineErrorCatalogue } from '../internal/error-catalogue.js';

/** Invalid options given to a static tier or a static server. */
export class StaticOptionsError extends ScaleoutError {
  constructor(message: string) {
    super('SCALEOUT_STATIC_INVALID_OPTIONS', message);
  }
}

/** A page path that cannot name a file of the static tier (`..`, a hidden segment, a NUL, too long). */
export class StaticPagePathError extends ScaleoutError {
  constructor(path: string, reason: string) {
    super('SCALEOUT_STATIC_BAD_PAGE_PATH',
      `the page path ${JSON.stringify(path.slice(0, 200))} cannot be published (${reason}); ` +
      'use an absolute URL path of plain segments, e.g. "/products/42"');
  }
}

/**
 * Another publisher held the static tier's lock for longer than the lock timeout.
 * Retriable: the other publish usually ends in a moment.
 */
export class StaticPublishBusyError extends ScaleoutError {
  constructor(dir: string, waitedMs: number) {
    super('SCALEOUT_STATIC_PUBLISH_BUSY',
      `another process is publishing to the static tier in ${dir} and did not finish within ${waitedMs} ms; ` +
      'retry, or remove the lock file .publish.lock there if no publisher is running',
      { retriable: true });
  }
}

/** Every code of the static tier: what it means and what to do (docs/errors.md is made from this). */
export const STATIC_ERRORS = defineErrorCatalogue('static', [
  { code: 'SCALEOUT_STATIC_INVALID_OPTIONS', errorClass: StaticOptionsError,
    meaning: 'Invalid options given to a static tier, a pre-renderer or a static server; the message names the option.',
    action: 'Fix the named option.' },
  { code: 'SCALEOUT_STATIC_BAD_PAGE_PATH', errorClass: StaticPagePathError,
    meaning: 'A page to publish or purge has a path that cannot name a file of the static tier (`..`, a segment starting with a dot, a NUL or backslash, too long).',
    action: 'Publish pages under plain absolute URL paths such as `/products/42`.' },
  { code: 'SCALEOUT_STATIC_PUBLISH_BUSY', errorClass: StaticPublishBusyError,
    meaning: 'Another process held the static tier\'s publish lock for longer than the lock timeout.',
    action: 'Retry; if no publisher runs, remove `.publish.lock` in the static tier\'s folder (a lock older than its stale time is taken over by itself).' },
]);
