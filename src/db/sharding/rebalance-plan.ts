/**
 * Which buckets to move so that `target` ends up with its fair share
 * (`floor(buckets / shards)`), taken one at a time from whichever shard holds the
 * most, highest bucket first. Deterministic: the same directory gives the same plan.
 *
 * @param owned - the buckets each shard owns now, by shard name (every shard, including `target`)
 */
export function planRebalance(owned: ReadonlyMap<string, readonly number[]>, target: string): number[] {
  let total = 0;
  const donors = new Map<string, number[]>();
  for (const [shard, buckets] of owned) {
    total += buckets.length;
    if (shard !== target) donors.set(shard, [...buckets].sort((a, b) => a - b));
  }
  const share = Math.floor(total / Math.max(1, owned.size));
  const need = share - (owned.get(target)?.length ?? 0);
  const moves: number[] = [];
  for (let i = 0; i < need; i++) {
    let donor: number[] | undefined;
    for (const buckets of donors.values()) if (donor === undefined || buckets.length > donor.length) donor = buckets;
    if (donor === undefined || donor.length <= share) break;
    moves.push(donor.pop()!);
  }
  return moves.sort((a, b) => a - b);
}
