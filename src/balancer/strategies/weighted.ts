import { ServerList } from './server-list.js';
import type { PickContext, Strategy, StrategyServer } from './strategy.js';

/**
 * Smooth weighted round-robin (nginx's algorithm). Each server keeps a running score;
 * on every pick each eligible server's score grows by its weight, the highest score
 * wins and pays back the total weight:
 *
 *     weights a=5 b=1 c=1        pick  scores before -> winner -> after
 *                                 1    5  1  1      a    -2  1  1
 *                                 2    3  2  2      a    -4  2  2
 *                                 3    1  3  3      b     1 -4  3
 *                                 4    6 -3  4      a    -1 -3  4
 *                                 5    4 -2  5      c     4 -2 -2
 *                                 6    9 -1 -1      a     2 -1 -1
 *                                 7    7  0  0      a     0  0  0   (a a b a c a a)
 *
 * Unlike a plain weighted rotation (a a a a a b c) the heavy server's turns are spread
 * out, so no server receives a burst. Ties go to the earlier server in the list.
 *
 * Weights are read at pick time, so slow start (a weight growing between picks) takes
 * effect immediately. Scores survive `update()` for servers that stay, so a membership
 * or weight change does not restart the sequence for everyone. The excluded server
 * neither gains nor pays, as if absent for that pick.
 */
export class WeightedStrategy<S extends StrategyServer = StrategyServer> implements Strategy<S> {
  readonly name = 'weighted' as const;
  #list = new ServerList<S>();
  #score = new Float64Array(0);

  update(servers: readonly S[]): void {
    const before = this.#list.items;
    const oldScore = this.#score;
    const kept = new Map<string, number>();
    for (let i = 0; i < before.length; i++) kept.set(before[i]!.id, oldScore[i]!);
    this.#list.update(servers);
    const items = this.#list.items;
    const score = new Float64Array(items.length);
    for (let i = 0; i < items.length; i++) score[i] = kept.get(items[i]!.id) ?? 0;
    this.#score = score;
  }

  pick(ctx: PickContext): S | undefined {
    const items = this.#list.items;
    const score = this.#score;
    const skip = this.#list.indexOf(ctx.exclude);
    let total = 0;
    let best = -1;
    for (let i = 0; i < items.length; i++) {
      if (i === skip) continue;
      const w = items[i]!.weight;
      // A non-positive or NaN weight would poison the running score for good; such a
      // server takes no turns instead.
      const s = (score[i] = score[i]! + (w > 0 ? w : 0));
      total += w > 0 ? w : 0;
      if (best < 0 || s > score[best]!) best = i;
    }
    if (best < 0) return undefined;
    score[best] = score[best]! - total;
    return items[best];
  }
}
