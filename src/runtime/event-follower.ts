import { setTimeout as delay } from 'node:timers/promises';
import { ControlClient } from './control-client.js';
import type { RuntimeEvent } from './events.js';
import { EVENTS_RETRY_MS } from './event-stream.js';

export interface FollowEventsOptions {
  /** The app folder of the `scaleout up` to follow. */
  dir: string;
  /** Start after this id (undefined: everything the supervisor still holds). */
  afterId?: number | undefined;
  onEvent: (event: RuntimeEvent) => void;
  /** The connection is gone (the supervisor stopped or restarts): reconnecting every `retryMs`. */
  onDisconnected?: (reason: string) => void;
  /** Streaming again after a disconnection. */
  onReconnected?: () => void;
  /** Ends the follow. */
  signal: AbortSignal;
  /** @defaultValue {@link EVENTS_RETRY_MS} */
  retryMs?: number;
}

/**
 * Follows a supervisor's events until `signal` aborts, across disconnections: each
 * reconnection resumes after the last id received (`Last-Event-ID`), so nothing is
 * lost or repeated while the supervisor's ring still holds it (else a `gap` event
 * says so). The supervisor file is read again each time: a new supervisor of the
 * same folder has a new address and token.
 */
export async function followEvents(options: FollowEventsOptions): Promise<void> {
  let afterId = options.afterId;
  let disconnected = false;
  const { signal } = options;
  while (!signal.aborted) {
    let reason = 'the stream ended';
    try {
      const client = ControlClient.connect(options.dir);
      afterId = await client.streamEvents({
        afterId,
        signal,
        onOpen: () => {
          if (!disconnected) return;
          disconnected = false;
          options.onReconnected?.();
        },
        onEvent: options.onEvent,
      }) ?? afterId;
    } catch (err) {
      reason = (err as Error).message;
    }
    if (signal.aborted) return;
    if (!disconnected) {
      disconnected = true;
      options.onDisconnected?.(reason);
    }
    await delay(options.retryMs ?? EVENTS_RETRY_MS, undefined, { signal }).catch(() => undefined);
  }
}
