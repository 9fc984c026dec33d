/**
 * Carries cache invalidations between processes (Redis pub/sub or PostgreSQL
 * LISTEN/NOTIFY). Delivery is at most once: a message sent while a subscriber is
 * disconnected is lost, which is why the cache clears its L1 when its bus goes down
 * and revalidates L1 entries against L2 anyway.
 */
export interface Bus {
  /** Short name for messages and logs: `redis`, `postgres`. */
  readonly name: string;
  /** True while this process is subscribed and would receive messages. */
  readonly connected: boolean;
  /** Send `message` to every subscriber of `channel`, this process's included. */
  publish(channel: string, message: string): Promise<void>;
  /** Deliver messages of `channel` to `handler`; resolves once subscribed (or once the first attempt failed). */
  subscribe(channel: string, handler: (message: string) => void): Promise<void>;
  /** Called with false when the subscription is lost and true when it is back. */
  onConnectionChange(listener: (connected: boolean) => void): void;
  close(): Promise<void>;
}
