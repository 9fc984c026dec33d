/** One answer, with the body parsed when it is JSON. */
export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /**
   * The JSON body, or `{}` when the body is not JSON (an HTML page, a balancer error
   * page), so that reading a field gives undefined instead of throwing.
   */
  // Tests read into answers freely; a wrong shape fails the assertion that reads it.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
  /** The `x-scaleout-instance` header: which app instance answered, if any did. */
  instance: string | undefined;
  /** Every Set-Cookie line, in order. */
  setCookie: string[];
  /** `name=value` of the first Set-Cookie: the Cookie header a browser would send next. */
  cookie: string | undefined;
}

export interface RequestOptions {
  json?: unknown;
  form?: Record<string, string>;
  headers?: Record<string, string>;
  /** A Cookie header to send as it is, for tests that carry cookies by hand (wins over a jar). */
  cookie?: string;
  /** Ask for HTML instead of JSON (the `accept` header). */
  html?: boolean;
  /** Abort the request after this long; no limit when unset. */
  timeoutMs?: number;
}

/** How long {@link get} waits for an answer. */
export const DEFAULT_GET_TIMEOUT_MS = 10_000;

/** Keeps the cookies a browser would keep: name=value of the last Set-Cookie per name, dropped when cleared. */
export class CookieJar {
  readonly #cookies = new Map<string, string>();

  update(setCookie: string | string[] | undefined): void {
    for (const line of typeof setCookie === 'string' ? [setCookie] : setCookie ?? []) {
      const [pair = '', ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq < 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a) || /^\s*expires=Thu, 01 Jan 1970/i.test(a));
      if (expired || value === '') this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  get header(): string | undefined {
    return this.#cookies.size === 0 ? undefined : [...this.#cookies].map(([n, v]) => `${n}=${v}`).join('; ');
  }

  clear(): void {
    this.#cookies.clear();
  }
}

/** The request headers a browser with this jar sends for `options` (JSON unless `html`). */
export function requestHeaders(jar: CookieJar | undefined, options: RequestOptions): Record<string, string> {
  const headers: Record<string, string> = { accept: options.html === true ? 'text/html' : 'application/json', ...options.headers };
  const cookie = options.cookie ?? jar?.header;
  if (cookie !== undefined) headers.cookie = cookie;
  if (options.json !== undefined) headers['content-type'] = 'application/json';
  if (options.form !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
  return headers;
}

/** The request body for `options`, if it has one. */
export function requestBody(options: RequestOptions): string | undefined {
  if (options.json !== undefined) return JSON.stringify(options.json);
  if (options.form !== undefined) return new URLSearchParams(options.form).toString();
  return undefined;
}

/** Builds an {@link Answer} from what a server sent, however it was sent. */
export function answerOf(status: number, headers: Answer['headers'], text: string, setCookie: string[] = []): Answer {
  let body: unknown = {};
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: keep `{}`.
  }
  const instance = headers['x-scaleout-instance'];
  return {
    status, headers, text, body,
    instance: Array.isArray(instance) ? instance[0] : instance,
    setCookie,
    cookie: setCookie[0]?.split(';')[0],
  };
}

/**
 * One request over real HTTP. Redirects are not followed: a test sees what the server
 * answered. `jar`, when given, sends its cookies and keeps the ones the answer sets.
 */
export async function request(method: string, url: string, options: RequestOptions = {}, jar?: CookieJar): Promise<Answer> {
  const payload = requestBody(options);
  const res = await fetch(url, {
    method,
    headers: requestHeaders(jar, options),
    redirect: 'manual',
    ...(payload === undefined ? {} : { body: payload }),
    ...(options.timeoutMs === undefined ? {} : { signal: AbortSignal.timeout(options.timeoutMs) }),
  });
  const text = await res.text();
  const setCookie = res.headers.getSetCookie();
  jar?.update(setCookie);
  const headers: Answer['headers'] = {};
  res.headers.forEach((value, name) => { headers[name] = value; });
  return answerOf(res.status, headers, text, setCookie);
}

/** A GET that gives up after {@link DEFAULT_GET_TIMEOUT_MS}. */
export function get(url: string, options: RequestOptions = {}): Promise<Answer> {
  return request('GET', url, { timeoutMs: DEFAULT_GET_TIMEOUT_MS, ...options });
}

/** A browser-like client of one base URL: JSON by default, with a cookie jar. */
export class HttpClient {
  readonly jar: CookieJar;
  readonly #base: string;

  /** Pass another client's jar to be the same browser at another address. */
  constructor(base: string, jar = new CookieJar()) {
    this.#base = base;
    this.jar = jar;
  }

  request(method: string, path: string, options: RequestOptions = {}): Promise<Answer> {
    return request(method, `${this.#base}${path}`, options, this.jar);
  }

  login(username: string, password: string): Promise<Answer> {
    return this.request('POST', '/login', { json: { username, password } });
  }
}
