/**
 * Host and path-prefix rules that send a request to a named pool.
 *
 * Rules are tried most specific first, so their order in the config does not matter:
 * an exact host beats a wildcard host (`*.example.com`) beats any host, and a longer
 * path prefix beats a shorter one. A prefix matches on segment boundaries: `/api`
 * matches `/api`, `/api/x` and `/api?q`, not `/apix`.
 *
 * A `fallthrough` rule is nginx's `try_files $uri @app` as a route: it matches GET and
 * HEAD only, and when its pool answers 404 the balancer sends the same request on to
 * the next rule that matches (a static tier in front of the app: a page that was not
 * pre-rendered is answered by the app). Other methods skip the rule altogether.
 */
export interface RouteRule {
  /** Host without port, `*.example.com`, or omitted for any host. Case-insensitive. */
  host?: string;
  /** Path prefix starting with `/`. @defaultValue `/` */
  pathPrefix?: string;
  /** Name of the pool that serves matching requests. */
  pool: string;
  /** GET and HEAD only; a 404 from the pool goes on to the next matching rule. @defaultValue false */
  fallthrough?: boolean;
}

interface CompiledRule {
  rule: RouteRule;
  hostExact: string | undefined;
  hostSuffix: string | undefined;
  prefix: string;
  rank: number;
  fallthrough: boolean;
}

export class RouteTable {
  readonly #rules: CompiledRule[];
  /** The pool when the table is one catch-all rule: the common case costs no string work. */
  readonly #only: string | undefined;

  constructor(rules: readonly RouteRule[]) {
    this.#rules = rules.map(compile).sort((a, b) => b.rank - a.rank);
    const first = this.#rules[0];
    this.#only = this.#rules.length === 1 && first!.rank === 1 && first!.prefix === '/' ? first!.rule.pool : undefined;
  }

  get rules(): RouteRule[] {
    return this.#rules.map((r) => ({ ...r.rule }));
  }

  /** The pool for a request, or undefined when no rule matches. */
  match(host: string | undefined, target: string, method = 'GET'): string | undefined {
    if (this.#only !== undefined) return this.#only;
    const bareHost = host === undefined ? '' : stripPort(host).toLowerCase();
    const read = method === 'GET' || method === 'HEAD';
    for (const r of this.#rules) {
      if (r.fallthrough && !read) continue;
      if (!matches(r, bareHost, target)) continue;
      return r.rule.pool;
    }
    return undefined;
  }

  /**
   * Where a GET or HEAD goes after its pool answered 404: the next matching rule's
   * pool when the first matching rule falls through, else undefined (the 404 stands).
   */
  fallthrough(host: string | undefined, target: string): string | undefined {
    if (this.#only !== undefined) return undefined;
    const bareHost = host === undefined ? '' : stripPort(host).toLowerCase();
    let passed = false;
    for (const r of this.#rules) {
      if (!matches(r, bareHost, target)) continue;
      if (passed) return r.rule.pool;
      if (!r.fallthrough) return undefined;
      passed = true;
    }
    return undefined;
  }
}

function matches(r: CompiledRule, bareHost: string, target: string): boolean {
  if (r.hostExact !== undefined && r.hostExact !== bareHost) return false;
  if (r.hostSuffix !== undefined && !(bareHost.endsWith(r.hostSuffix) && bareHost.length > r.hostSuffix.length)) return false;
  return r.prefix === '/' || prefixMatches(target, r.prefix);
}

function compile(rule: RouteRule): CompiledRule {
  const host = rule.host?.toLowerCase();
  const prefix = rule.pathPrefix === undefined || rule.pathPrefix === '' ? '/' : rule.pathPrefix.replace(/\/+$/, '') || '/';
  const hostRank = host === undefined ? 0 : host.startsWith('*.') ? 1 : 2;
  return {
    rule,
    hostExact: host !== undefined && !host.startsWith('*.') ? host : undefined,
    hostSuffix: host?.startsWith('*.') ? host.slice(1) : undefined,
    prefix,
    // Host specificity dominates; among equal hosts, longer prefixes first.
    rank: hostRank * 1_000_000 + prefix.length,
    fallthrough: rule.fallthrough === true,
  };
}

function stripPort(host: string): string {
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    return close < 0 ? host : host.slice(0, close + 1);
  }
  const colon = host.indexOf(':');
  return colon < 0 ? host : host.slice(0, colon);
}

function prefixMatches(target: string, prefix: string): boolean {
  if (!target.startsWith(prefix)) return false;
  if (target.length === prefix.length) return true;
  const next = target.charCodeAt(prefix.length);
  return next === 47 /* / */ || next === 63 /* ? */ || next === 35 /* # */;
}
