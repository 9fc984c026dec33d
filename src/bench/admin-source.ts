import type { BalancerSnapshot } from '../balancer/index.js';
import { BenchTargetError } from './errors.js';

/** A read of the balancer's admin API takes at most this long. @defaultValue 5000 */
export const ADMIN_READ_TIMEOUT_MS = 5000;

/** Reads `GET /servers` of a balancer's admin API (`adminUrl` as `scaleout status` prints it). */
export function adminSnapshotReader(adminUrl: string, token: string): () => Promise<BalancerSnapshot> {
  const url = new URL('/servers', adminUrl.includes('://') ? adminUrl : `http://${adminUrl}`);
  return async () => {
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(ADMIN_READ_TIMEOUT_MS) });
    if (!res.ok) {
      await res.body?.cancel();
      throw new BenchTargetError(`the balancer's admin API answered ${res.status} on ${url.href}`);
    }
    return await res.json() as BalancerSnapshot;
  };
}
