import { ScaleoutError } from '../internal/errors.js';

/** Invalid options passed to `app.register(scaleout, options)`. */
export class ScaleoutPluginOptionsError extends ScaleoutError {
  constructor(message: string) {
    super('SCALEOUT_FASTIFY_INVALID_OPTIONS', message);
  }
}

/**
 * 403: a browser sent a state-changing request on behalf of another site (cross-site
 * request forgery). `statusCode` is what Fastify's error handling answers with.
 */
export class CrossOriginRequestError extends ScaleoutError {
  readonly statusCode = 403;
  constructor(method: string, seen: string, own: string) {
    super('SCALEOUT_FASTIFY_CROSS_ORIGIN',
      `${method} refused: the request comes from another site (${seen}; this site is ${own}); ` +
      'send it from a page of this site, or add that origin to crossOrigin.allowedOrigins');
  }
}
