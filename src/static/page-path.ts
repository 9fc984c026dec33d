/**
 * Page paths (URL paths) and the files of a generation that hold them. One function
 * serves the publisher and the server, so a page is found where it was written:
 *
 *     /                  → index.html
 *     /products/42       → products/42/index.html      (no extension: a page)
 *     /feed.xml          → feed.xml                     (an extension: that file)
 *
 * Anything that could leave the generation's folder or reach a file the server must not
 * show is refused, after percent-decoding: `.` and `..` segments, any segment starting
 * with a dot (the tier's own files: `.manifest.json`, `.publish.lock`), backslashes,
 * NUL and other control characters, empty segments (`//`), and overlong paths.
 */

/** Longest page path accepted, in bytes of its decoded form. @defaultValue 1024 */
export const MAX_PAGE_PATH_BYTES = 1024;
/** Most segments in a page path. @defaultValue 32 */
export const MAX_PAGE_PATH_SEGMENTS = 32;

/** The file of `urlPath` inside a generation, or a reason it has none. */
export type PageFile = { ok: true; file: string } | { ok: false; reason: string };

/**
 * The file of a URL path (no query: cut it off first). `encoded`: the path is as it
 * came on the wire and is percent-decoded here (once: `%252e` stays `%2e`, a name).
 */
export function pageFile(urlPath: string, encoded = false): PageFile {
  let path = urlPath;
  if (encoded) {
    try {
      path = decodeURIComponent(urlPath);
    } catch {
      return { ok: false, reason: 'bad percent-encoding' };
    }
  }
  if (!path.startsWith('/')) return { ok: false, reason: 'not an absolute path' };
  if (Buffer.byteLength(path) > MAX_PAGE_PATH_BYTES) return { ok: false, reason: `longer than ${MAX_PAGE_PATH_BYTES} bytes` };
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(path)) return { ok: false, reason: 'a control character or backslash' };
  if (path === '/') return { ok: true, file: 'index.html' };
  // A trailing slash names the same page: /products/ is /products.
  const segments = path.slice(1).replace(/\/$/, '').split('/');
  if (segments.length > MAX_PAGE_PATH_SEGMENTS) return { ok: false, reason: `more than ${MAX_PAGE_PATH_SEGMENTS} segments` };
  for (const segment of segments) {
    if (segment === '') return { ok: false, reason: 'an empty segment' };
    if (segment.startsWith('.')) return { ok: false, reason: `the segment "${segment}" starts with a dot` };
  }
  const last = segments[segments.length - 1]!;
  return { ok: true, file: last.includes('.') ? segments.join('/') : `${segments.join('/')}/index.html` };
}
