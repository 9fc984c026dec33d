import type { BalancerSnapshot, PoolOptionsInput, RouteOptions, ServerSnapshot } from '../balancer/index.js';
import { BalancerAdminError } from './errors.js';

/** An admin request that takes longer fails. @defaultValue 10000 */
export const DEFAULT_ADMIN_TIMEOUT_MS = 10_000;

/**
 * What the supervisor asks of "the balancer": one balancer's admin API, or every
 * replica's at once (`BalancerAdminGroup` in balancer-group.ts).
 */
export type BalancerAdmin = Pick<BalancerAdminClient, 'snapshot' | 'serverState' | 'addServer' | 'removeServer' | 'drain' | 'addPool' | 'removePool' | 'setRoutes'>;

/** The supervisor's side of the balancer's admin API (bearer token, JSON). */
export class BalancerAdminClient {
  readonly #base: string;
  readonly #auth: string;
  readonly #timeoutMs: number;

  constructor(address: string, token: string, timeoutMs = DEFAULT_ADMIN_TIMEOUT_MS) {
    this.#base = `http://${address}`;
    this.#auth = `Bearer ${token}`;
    this.#timeoutMs = timeoutMs;
  }

  snapshot(): Promise<BalancerSnapshot> {
    return this.#call('GET', '/servers') as Promise<BalancerSnapshot>;
  }

  /** The server's state in the pool, or undefined when it is not there. */
  async serverState(pool: string, id: string): Promise<ServerSnapshot | undefined> {
    const snapshot = await this.snapshot();
    return snapshot.pools[pool]?.servers.find((s) => s.id === id);
  }

  async addServer(pool: string, server: { id: string; address: string; weight?: number }): Promise<void> {
    await this.#call('POST', `/pools/${encodeURIComponent(pool)}/servers`, server);
  }

  /** Removes a server; one that is not there (any more) is fine. */
  async removeServer(pool: string, id: string): Promise<void> {
    await this.#call('DELETE', `/pools/${encodeURIComponent(pool)}/servers/${encodeURIComponent(id)}`, undefined, [404]);
  }

  async drain(pool: string, id: string): Promise<void> {
    await this.#call('POST', `/pools/${encodeURIComponent(pool)}/servers/${encodeURIComponent(id)}/drain`, undefined, [404]);
  }

  async addPool(name: string, options: PoolOptionsInput): Promise<void> {
    await this.#call('POST', '/pools', { name, ...options });
  }

  async removePool(name: string): Promise<void> {
    await this.#call('DELETE', `/pools/${encodeURIComponent(name)}`, undefined, [404]);
  }

  /** Replaces every route at once. */
  async setRoutes(routes: RouteOptions[]): Promise<void> {
    await this.#call('PUT', '/routes', routes);
  }

  async #call(method: string, path: string, body?: unknown, okStatuses: number[] = []): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(`${this.#base}${path}`, {
        method,
        headers: { authorization: this.#auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      throw new BalancerAdminError(0, `${method} ${path} failed: ${(err as Error).message}; is the balancer running?`, { cause: err });
    }
    const text = await res.text();
    if (!res.ok && !okStatuses.includes(res.status)) {
      let message = text;
      try {
        message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text;
      } catch {
        // Not JSON: show it as is.
      }
      throw new BalancerAdminError(res.status, `${method} ${path}: ${message}`);
    }
    return text === '' ? undefined : JSON.parse(text) as unknown;
  }
}
