import { defineErrorCatalogue } from '../internal/error-catalogue.js';
import { ScaleoutError } from '../internal/errors.js';

/** Invalid options passed to `app.register(scaleout, options)`. */
export class ScaleoutPluginOptionsError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_FASTIFY_INVALID_OPTIONS';
  constructor(message: string) {
    super(ScaleoutPluginOptionsError.code, message);
  }
}

/**
 * 403: a browser sent a state-changing request on behalf of another site (cross-site
 * request forgery). `statusCode` is what Fastify's error handling answers with.
 */
export class CrossOriginRequestError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_FASTIFY_CROSS_ORIGIN';
  readonly statusCode = 403;
  constructor(method: string, seen: string, own: string) {
    super(CrossOriginRequestError.code,
      `${method} refused: the request comes from another site (${seen}; this site is ${own}); ` +
      'send it from a page of this site, or add that origin to crossOrigin.allowedOrigins');
  }
}

/** Every code of the Fastify plugin: what it means and what to do. */
export const FASTIFY_ERRORS = defineErrorCatalogue('fastify', [
  { errorClass: ScaleoutPluginOptionsError,
    meaning: 'Invalid options passed to `app.register(scaleout, options)`; the message names the option.',
    action: 'Fix the named option. The app does not start with invalid options.' },
  { errorClass: CrossOriginRequestError, status: 403,
    meaning: 'A browser sent a state-changing request (POST, PUT, PATCH, DELETE) on behalf of another site, which is how cross-site request forgery works. Decided from `Sec-Fetch-Site`, else `Origin`.',
    action: 'Send the request from a page of this site, or add the other origin to `crossOrigin.allowedOrigins` if it is yours.' },
]);
