import { DEFAULT_OUTLIER, type ResolvedStallDetectorOptions } from '../options.js';

/** @defaultValue 500 */
export const DEFAULT_STALL_MS = DEFAULT_OUTLIER.stallMs;

/** What the detector reads of one server at each look: counters, nothing per request. */
export interface StallSample {
  readonly id: string;
  /**
   * Requests the server has whole that wait for their response head. Not uploads still
   * arriving (the server cannot answer yet), nor responses that stream (a long
   * download, or one paused because its client reads slowly): neither is silence.
   */
  readonly awaiting: number;
  /** Requests sent so far (a counter). */
  readonly requests: number;
  /** Response heads received so far (a counter). */
  readonly answers: number;
}

interface Watch {
  requests: number;
  answers: number;
  /** First look that found requests awaiting an answer and none since the look before; 0: not silent. */
  silentSinceMs: number;
  /** When an answer was last seen; 0: never. */
  lastAnswerMs: number;
  /** This silence was already reported. */
  reported: boolean;
  /** A probe passed since the last answer: only a request sent after it starts a new silence. */
  heard: boolean;
}

/**
 * Finds servers that went silent: requests keep being sent to them and nothing at all
 * comes back. A stopped process (SIGSTOP, a VM paused, a machine swapping) looks like
 * this: the kernel still accepts connections, so nothing fails fast, and each request
 * waits for the response timeout. Failure counting alone notices it only after
 * several such timeouts; this notices it within `stallMs`.
 *
 *     answering ── requests awaiting, no answer at the next look ──► silent
 *         ▲                                                        │ stallMs pass
 *         │ an answer, or nothing awaiting                         ▼
 *         └───────────────────────────────────────────────── reported once
 *
 * After a passed probe (`heard`) the requests already awaiting are known to be slow,
 * not lost: only a request sent after it starts a new silence.
 *
 * The detector never looks at single requests: it samples the server's counters a few
 * times per `stallMs`, so the proxy's hot path only moves counters. Silence is only a
 * suspicion: a long poll, or one slow request on an otherwise idle server, is silent
 * too. The pool confirms it with a probe before taking the server out, or, without
 * active checks, requires that another server is not silent (the whole pool being slow
 * is no reason to take one server out).
 */
export class StallDetector {
  readonly stallMs: number;
  readonly #watches = new Map<string, Watch>();

  constructor(options: ResolvedStallDetectorOptions) {
    this.stallMs = options.stallMs;
  }

  /** How often the pool should call `observe`: a fifth of `stallMs`, between 20 ms and 1 s. */
  get sampleIntervalMs(): number {
    return Math.min(1_000, Math.max(20, Math.floor(this.stallMs / 5)));
  }

  /**
   * Looks at every server once; returns the ids that have been silent for `stallMs`
   * with requests awaiting an answer, each once per silence. A server seen for the first time
   * is only recorded.
   */
  observe(samples: Iterable<StallSample>, nowMs: number): string[] {
    const stalled: string[] = [];
    for (const s of samples) {
      const w = this.#watches.get(s.id);
      if (w === undefined) {
        // Answers before the first look count as of now: a quick burst of traffic that
        // ends before the first sample still proves the server answers, so it can stand
        // in for a silent one.
        const lastAnswerMs = s.answers > 0 ? nowMs : 0;
        this.#watches.set(s.id, { requests: s.requests, answers: s.answers, silentSinceMs: 0, lastAnswerMs, reported: false, heard: false });
        continue;
      }
      if (s.answers !== w.answers) {
        w.answers = s.answers;
        w.lastAnswerMs = nowMs;
        this.#quiet(w);
      } else if (s.awaiting === 0) {
        this.#quiet(w);
      } else {
        if (s.requests !== w.requests) w.heard = false;
        // Counted from this look, not the one before: never overstates the silence.
        if (w.silentSinceMs === 0 && !w.heard) w.silentSinceMs = nowMs;
      }
      w.requests = s.requests;
      if (this.stallMs > 0 && w.silentSinceMs !== 0 && !w.reported && nowMs - w.silentSinceMs >= this.stallMs) {
        w.reported = true;
        stalled.push(s.id);
      }
    }
    return stalled;
  }

  /** `id` proved alive (a probe answered): its silence starts over with the next request. */
  heard(id: string, nowMs: number): void {
    const w = this.#watches.get(id);
    if (w === undefined) return;
    w.lastAnswerMs = nowMs;
    this.#quiet(w);
    w.heard = true;
  }

  /** Whether `id` has answered before and is not silent now: it stands in for a silent one. */
  answering(id: string): boolean {
    const w = this.#watches.get(id);
    return w !== undefined && w.lastAnswerMs !== 0 && w.silentSinceMs === 0;
  }

  /** Whether `id` answered at or after `sinceMs`. */
  answeredSince(id: string, sinceMs: number): boolean {
    const w = this.#watches.get(id);
    return w !== undefined && w.lastAnswerMs !== 0 && w.lastAnswerMs >= sinceMs;
  }

  /** Forgets a server that left the pool. */
  forget(id: string): void {
    this.#watches.delete(id);
  }

  #quiet(w: Watch): void {
    w.silentSinceMs = 0;
    w.reported = false;
    w.heard = false;
  }
}
