/**
 * Content types by file extension, for pages published without one. A short table of
 * what a pre-rendered site holds; anything else is `application/octet-stream`, and the
 * server sends `x-content-type-options: nosniff` so browsers do not guess.
 */
const TYPES: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  htm: 'text/html; charset=utf-8',
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  mjs: 'text/javascript; charset=utf-8',
  json: 'application/json',
  xml: 'application/xml',
  txt: 'text/plain; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  avif: 'image/avif',
  ico: 'image/x-icon',
  woff2: 'font/woff2',
  woff: 'font/woff',
  pdf: 'application/pdf',
  wasm: 'application/wasm',
  webmanifest: 'application/manifest+json',
};

/** @defaultValue 'application/octet-stream' */
export const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

/** The content type of a file of the tier (`products/1/index.html` → text/html). */
export function contentTypeOf(file: string): string {
  const dot = file.lastIndexOf('.');
  if (dot < 0 || dot < file.lastIndexOf('/')) return DEFAULT_CONTENT_TYPE;
  return TYPES[file.slice(dot + 1).toLowerCase()] ?? DEFAULT_CONTENT_TYPE;
}
