import type { Clock } from '../internal/clock.js';
import { systemClock } from '../internal/clock.js';
import { stampEvent, SUPERVISOR_SOURCE } from './events.js';
import type { RuntimeEvent, SupervisorEvent } from './events.js';

/** Events the supervisor keeps for `GET /events` and `scaleout logs`. @defaultValue 1000 */
export const DEFAULT_EVENT_RING_SIZE = 1000;

export interface EventRingOptions {
  /** @defaultValue {@link DEFAULT_EVENT_RING_SIZE} */
  capacity?: number;
  /** @defaultValue systemClock */
  clock?: Clock;
}

/** What a reader asking for the events after an id gets. */
export interface EventsSince {
  /** A `gap` event first when events after `afterId` are gone, then every later event, oldest first. */
  events: RuntimeEvent[];
  /** The id of the newest event (0 before the first). */
  lastId: number;
}

/**
 * The supervisor's last events, in a fixed-size ring: memory stays bounded however
 * long it runs, and a reader that comes back (an SSE client after a reconnection,
 * `scaleout logs --follow`) resumes after the last id it saw. A reader that was away
 * for longer than the ring holds is told so by a `gap` event instead of silently
 * missing events.
 */
export class EventRing {
  readonly capacity: number;
  readonly #clock: Clock;
  readonly #buffer: Array<RuntimeEvent | undefined>;
  readonly #listeners = new Set<(event: RuntimeEvent) => void>();
  #lastId = 0;

  constructor(options: EventRingOptions = {}) {
    this.capacity = options.capacity ?? DEFAULT_EVENT_RING_SIZE;
    if (!Number.isInteger(this.capacity) || this.capacity < 1) throw new RangeError(`capacity must be a whole number of at least 1, not ${this.capacity}`);
    this.#clock = options.clock ?? systemClock;
    this.#buffer = new Array<RuntimeEvent | undefined>(this.capacity);
  }

  /** The id of the newest event (0 before the first). */
  get lastId(): number {
    return this.#lastId;
  }

  /** The id of the oldest event still held (`lastId + 1` when empty). */
  get firstId(): number {
    return Math.max(1, this.#lastId - this.capacity + 1);
  }

  /** Stamps the event with the next id (and the time, `source`, when missing), keeps it and hands it to every subscriber. */
  push(input: SupervisorEvent): RuntimeEvent {
    const event = stampEvent(input, this.#lastId + 1, this.#clock.now());
    this.#lastId = event.id;
    this.#buffer[(event.id - 1) % this.capacity] = event;
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // A reader's failure is its own; the others and the emitter carry on.
      }
    }
    return event;
  }

  /**
   * Every event after `afterId` (0: everything held). When some of them fell off the
   * ring, or `afterId` is beyond the newest id (the reader saw a supervisor that has
   * since restarted), a `gap` event comes first.
   */
  since(afterId: number): EventsSince {
    const events: RuntimeEvent[] = [];
    let from = Math.max(0, Math.floor(afterId)) + 1;
    if (afterId > this.#lastId) {
      events.push(this.#gap(afterId, null));
      from = this.firstId;
    } else if (from < this.firstId && afterId > 0) {
      events.push(this.#gap(afterId, this.firstId - from));
      from = this.firstId;
    }
    for (let id = Math.max(from, this.firstId); id <= this.#lastId; id++) events.push(this.#buffer[(id - 1) % this.capacity]!);
    return { events, lastId: this.#lastId };
  }

  /** Calls `listener` with every event pushed from now on; returns the unsubscribe function. */
  subscribe(listener: (event: RuntimeEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Not kept: its id is the one before the oldest held, so that a reader resuming after it continues where the ring does. */
  #gap(afterId: number, missed: number | null): RuntimeEvent {
    return { id: this.firstId - 1, at: this.#clock.now(), source: SUPERVISOR_SOURCE, kind: 'gap', afterId, missed };
  }
}
