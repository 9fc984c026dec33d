import { describe, expect, it } from 'vitest';
import { ManualClock } from '../internal/clock.js';
import { EventRing } from './event-ring.js';
import type { RuntimeEvent } from './events.js';

const notice = (message: string): { level: 'info'; message: string } => ({ level: 'info', message });
const ids = (events: RuntimeEvent[]): number[] => events.map((e) => e.id);

describe('EventRing', () => {
  it('stamps events with monotonic ids, the clock\'s time and a source', () => {
    const clock = new ManualClock(1_000);
    const ring = new EventRing({ capacity: 10, clock });
    const first = ring.push(notice('one'));
    clock.advance(5);
    const second = ring.push({ kind: 'instance-exited', source: 'app-1', pool: 'app', exit: 'killed by SIGKILL', restartInMs: 100 });
    const forwarded = ring.push({ kind: 'server-state', at: 42, source: 'app-1', pool: 'app', server: 'app-1', state: 'down', reason: 'refused' });
    expect(first).toEqual({ id: 1, at: 1_000, source: 'supervisor', kind: 'notice', level: 'info', message: 'one' });
    expect(second).toMatchObject({ id: 2, at: 1_005, source: 'app-1', kind: 'instance-exited' });
    // An event from another process keeps the time it happened there.
    expect(forwarded).toMatchObject({ id: 3, at: 42 });
    expect(ring.lastId).toBe(3);
  });

  it('holds at most `capacity` events, the newest', () => {
    const ring = new EventRing({ capacity: 3 });
    for (let i = 1; i <= 10; i++) ring.push(notice(`n${i}`));
    expect(ids(ring.since(0).events)).toEqual([8, 9, 10]);
    expect(ring.firstId).toBe(8);
    expect(ring.since(0).lastId).toBe(10);
    // Ids keep growing across the wrap.
    expect(ring.push(notice('n11')).id).toBe(11);
    expect(ids(ring.since(0).events)).toEqual([9, 10, 11]);
  });

  it('resumes after an id it still holds without a gap or a duplicate', () => {
    const ring = new EventRing({ capacity: 5 });
    for (let i = 1; i <= 7; i++) ring.push(notice(`n${i}`));
    expect(ids(ring.since(4).events)).toEqual([5, 6, 7]);
    // Exactly the one before the oldest held: nothing was lost.
    expect(ids(ring.since(2).events)).toEqual([3, 4, 5, 6, 7]);
    expect(ring.since(7).events).toEqual([]);
  });

  it('tells a reader resuming after an id that fell off the ring how many events it missed', () => {
    const ring = new EventRing({ capacity: 5 });
    for (let i = 1; i <= 12; i++) ring.push(notice(`n${i}`));
    const { events } = ring.since(3);
    expect(events[0]).toMatchObject({ kind: 'gap', afterId: 3, missed: 4, id: 7 });
    expect(ids(events.slice(1))).toEqual([8, 9, 10, 11, 12]);
    // The gap is not kept: it is news for this reader only.
    expect(ring.since(0).events.every((e) => e.kind !== 'gap')).toBe(true);
  });

  it('tells a reader whose id is beyond the newest that the supervisor restarted, then sends everything', () => {
    const ring = new EventRing({ capacity: 5 });
    ring.push(notice('a'));
    ring.push(notice('b'));
    const { events } = ring.since(900);
    expect(events[0]).toMatchObject({ kind: 'gap', afterId: 900, missed: null, id: 0 });
    expect(ids(events.slice(1))).toEqual([1, 2]);
  });

  it('hands every new event to subscribers until they unsubscribe, even when one of them throws', () => {
    const ring = new EventRing({ capacity: 2 });
    const seen: number[] = [];
    ring.subscribe(() => {
      throw new Error('a broken reader');
    });
    const stop = ring.subscribe((e) => seen.push(e.id));
    ring.push(notice('a'));
    ring.push(notice('b'));
    stop();
    ring.push(notice('c'));
    expect(seen).toEqual([1, 2]);
  });

  it('refuses a capacity below 1', () => {
    expect(() => new EventRing({ capacity: 0 })).toThrow(RangeError);
  });
});
