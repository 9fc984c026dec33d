/**
 * Host and path-prefix rules that send a request to a named pool.
 *
 * Rules are tried most specific first, so their order in the config does not matter:
 * an exact host beats a wildcard host (`*.example.com`) beats any host, and a longer
 * path prefix beats a shorter one. A prefix matches on segment boundaries: `/api`
 * matches `/api`, `/api/x` and `/api?q`, not `/apix`.
 */
export interface RouteRule {
  /** Host without port, `*.example.com`, or omitted for any host. Case-insensitive. */
  host?: string;
  /** Path prefix starting with `/`. @defaultValue `/` */
  pathPrefix?: string;
  /** Name of the pool that serves matching requests. */
  pool: string;
}

interface CompiledRule {
  rule: RouteRule;
  hostExact: string | undefined;
  hostSuffix: string | undefined;
  prefix: string;
  rank: number;
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
  match(host: string | undefined, target: string): string | undefined {
    if (this.#only !== undefined) return this.#only;
    const bareHost = host === undefined ? '' : stripPort(host).toLowerCase();
    for (const r of this.#rules) {
      if (r.hostExact !== undefined && r.hostExact !== bareHost) continue;
      if (r.hostSuffix !== undefined && !(bareHost.endsWith(r.hostSuffix) && bareHost.length > r.hostSuffix.length)) continue;
      if (r.prefix !== '/' && !prefixMatches(target, r.prefix)) continue;
      return r.rule.pool;
    }
    return undefined;
  }
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
