import { ScaleoutError } from '../internal/errors.js';

/** Invalid options passed to `app.register(scaleout, options)`. */
export class ScaleoutPluginOptionsError extends ScaleoutError {
  constructor(message: string) {
    super('SCALEOUT_FASTIFY_INVALID_OPTIONS', message);
  }
}
