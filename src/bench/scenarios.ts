import type { Request as LoadRequest } from 'autocannon';

/** What the load does, modelled on the reference shop (any app answering these paths works). */
export const SCENARIOS = ['browse', 'buy', 'mixed'] as const;
export type ScenarioName = typeof SCENARIOS[number];

/** Products `browse` picks from: ids 1..N. @defaultValue 12 */
export const DEFAULT_BENCH_PRODUCTS = 12;
/** The shop's seeded users: `buy` logs in as one of them. */
export const DEFAULT_BENCH_USERS: ReadonlyArray<{ username: string; password: string }> = [
  { username: 'alice', password: 'wonderland' },
  { username: 'bob', password: 'builder' },
  { username: 'carol', password: 'cheshire' },
];

export interface ScenarioOptions {
  /** @defaultValue {@link DEFAULT_BENCH_PRODUCTS} */
  products?: number;
  /** @defaultValue {@link DEFAULT_BENCH_USERS} */
  users?: ReadonlyArray<{ username: string; password: string }>;
}

/** The per-connection state a scenario carries from one request to the next (reset when the list starts again). */
interface Context {
  cookie?: string;
}

const JSON_HEADERS = { accept: 'application/json', 'content-type': 'application/json' };

/**
 * The request list one connection cycles through:
 *
 *   browse: the catalogue, then three product pages (random ids)
 *   buy:    log in (a session cookie), add a product to the cart, place the order
 *   mixed:  two browse rounds, then one buy: mostly readers, some buyers
 *
 * A connection starts the list again with a fresh context (no cookie) when it ends.
 */
export function scenarioRequests(name: ScenarioName, options: ScenarioOptions = {}): LoadRequest[] {
  const products = options.products ?? DEFAULT_BENCH_PRODUCTS;
  const users = options.users ?? DEFAULT_BENCH_USERS;
  const productPage = (): LoadRequest => ({
    method: 'GET',
    path: '/products/1',
    setupRequest: (req) => ({ ...req, path: `/products/${1 + Math.floor(Math.random() * products)}` }),
  });
  const browse = (): LoadRequest[] => [{ method: 'GET', path: '/products' }, productPage(), productPage(), productPage()];
  const buy = (): LoadRequest[] => [
    {
      method: 'POST',
      path: '/login',
      headers: JSON_HEADERS,
      setupRequest: (req) => {
        const user = users[Math.floor(Math.random() * users.length)]!;
        return { ...req, body: JSON.stringify({ username: user.username, password: user.password }) };
      },
      onResponse: (_status, _body, context, headers) => keepCookie(context as Context, headers),
    },
    withCookie({ method: 'POST', path: '/cart/items', headers: JSON_HEADERS, body: '' }, (req) => ({ ...req, body: JSON.stringify({ productId: 1 + Math.floor(Math.random() * products), qty: 1 }) })),
    withCookie({ method: 'POST', path: '/orders', headers: JSON_HEADERS, body: '{}' }),
  ];
  if (name === 'browse') return browse();
  if (name === 'buy') return buy();
  return [...browse(), ...browse(), ...buy()];
}

function withCookie(request: LoadRequest, setup: (req: LoadRequest) => LoadRequest = (req) => req): LoadRequest {
  return {
    ...request,
    setupRequest: (req, context) => {
      const next = setup(req);
      const cookie = (context as Context).cookie;
      return cookie === undefined ? next : { ...next, headers: { ...next.headers, cookie } };
    },
    onResponse: (_status, _body, context, headers) => keepCookie(context as Context, headers),
  };
}

/** Keeps the name=value part of every Set-Cookie, as a browser would send them back. */
function keepCookie(context: Context, headers: Record<string, string | string[] | undefined> | undefined): void {
  if (headers === undefined) return;
  const raw = Object.entries(headers).filter(([name]) => name.toLowerCase() === 'set-cookie').flatMap(([, v]) => (Array.isArray(v) ? v : v === undefined ? [] : [v]));
  if (raw.length === 0) return;
  const jar = new Map((context.cookie ?? '').split('; ').filter(Boolean).map((pair) => [pair.split('=')[0]!, pair] as const));
  for (const line of raw) {
    const pair = line.split(';')[0]!.trim();
    const eq = pair.indexOf('=');
    if (eq > 0) jar.set(pair.slice(0, eq), pair);
  }
  context.cookie = [...jar.values()].join('; ');
}
