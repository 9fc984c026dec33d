import { setTimeout as delay } from 'node:timers/promises';
import type { Channel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import type { BackendCapabilities, BackendConsumer, ConsumeOptions, EnqueueOptions, QueueBackend, TakenJob } from '../backend.js';
import { JobsBackendUnavailableError, JobsOptionsError } from '../errors.js';
import type { JobEnvelope } from '../job.js';
import { MAX_PRIORITY } from '../options.js';
import { LocalRateLimiter } from '../rate-limiter.js';
import type { JobTracker } from '../tracker.js';
import { AmqpConnection } from './amqp-connection.js';

/** How often one publish is tried across reconnects before `add` fails. */
export const PUBLISH_ATTEMPTS = 5;
/** How long an unused delay queue lives after its last message. */
export const DELAY_QUEUE_IDLE_MS = 60_000;

export interface AmqplibBackendOptions {
  /** @defaultValue `process.env.AMQP_URL`, else `amqp://guest:guest@127.0.0.1:5672` */
  url?: string;
  /**
   * Where records, events, idempotency and leases live: RabbitMQ keeps none of them.
   * Give a RedisJobTracker or a PostgresJobTracker.
   */
  tracker: JobTracker;
}

/**
 * Queues in RabbitMQ. A job waits in a durable priority queue; an unacknowledged job
 * goes back when its consumer's connection dies. RabbitMQ has no delayed messages
 * without a plugin, so a delayed job waits in a per-delay queue whose messages expire
 * into the real one; delays are rounded up to two significant digits to share those
 * queues.
 */
export class AmqplibBackend implements QueueBackend {
  readonly name = 'amqplib';
  readonly capabilities: BackendCapabilities = { rateLimit: 'worker', atomicDedupe: false, transactionalAdd: false };
  readonly tracker: JobTracker;
  readonly #connection: AmqpConnection;
  #publisher: Promise<ConfirmChannel> | undefined;
  readonly #asserted = new Set<string>();
  readonly #closers = new Set<() => Promise<void>>();

  constructor(options: AmqplibBackendOptions) {
    if (options?.tracker === undefined) throw new JobsOptionsError('the amqplib backend needs a tracker (RedisJobTracker or PostgresJobTracker)');
    this.tracker = options.tracker;
    this.#connection = new AmqpConnection(options.url ?? process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672');
    this.#connection.onReconnect(() => { this.#publisher = undefined; this.#asserted.clear(); });
  }

  #channel(): Promise<ConfirmChannel> {
    this.#publisher ??= (async () => {
      const model = await this.#connection.get();
      const ch = await model.createConfirmChannel();
      ch.on('error', () => { /* 'close' follows */ });
      ch.once('close', () => { this.#publisher = undefined; this.#asserted.clear(); });
      return ch;
    })();
    this.#publisher.catch(() => { this.#publisher = undefined; });
    return this.#publisher;
  }

  async #assert(ch: Channel, queue: string): Promise<void> {
    if (this.#asserted.has(queue)) return;
    await ch.assertQueue(queue, { durable: true, arguments: { 'x-max-priority': MAX_PRIORITY } });
    this.#asserted.add(queue);
  }

  async depth(queue: string): Promise<number> {
    const ch = await this.#channel();
    await this.#assert(ch, queue);
    return (await ch.checkQueue(queue)).messageCount;
  }

  async prepare(queue: string): Promise<void> {
    await this.#assert(await this.#channel(), queue);
  }

  async enqueue(queue: string, envelope: JobEnvelope, options: EnqueueOptions): Promise<boolean> {
    // A publish on a connection that is dying fails with "channel closed"; the next
    // connection takes it. If the broker had it already, the job runs twice (at least once).
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.#publish(queue, envelope, options);
      } catch (err) {
        if (attempt >= PUBLISH_ATTEMPTS) throw new JobsBackendUnavailableError(this.name, { cause: err });
        this.#publisher = undefined;
        this.#asserted.clear();
        await delay(100 * attempt);
      }
    }
  }

  async #publish(queue: string, envelope: JobEnvelope, options: EnqueueOptions): Promise<boolean> {
    const ch = await this.#channel();
    await this.#assert(ch, queue);
    let target = queue;
    if (options.delayMs > 0) {
      const delayMs = roundDelayMs(options.delayMs);
      target = `${queue}.delay.${delayMs}`;
      if (!this.#asserted.has(target)) {
        await ch.assertQueue(target, {
          durable: true,
          arguments: {
            'x-message-ttl': delayMs, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': queue,
            'x-expires': delayMs + DELAY_QUEUE_IDLE_MS,
          },
        });
        this.#asserted.add(target);
      }
    }
    await new Promise<void>((resolve, reject) => {
      ch.sendToQueue(target, Buffer.from(JSON.stringify(envelope)), {
        persistent: true, priority: envelope.priority, messageId: envelope.id, contentType: 'application/json',
      }, (err) => { if (err) reject(err instanceof Error ? err : new Error(String(err))); else resolve(); });
    });
    return true;
  }

  consume(queue: string, options: ConsumeOptions, handle: (raw: unknown) => Promise<void>): BackendConsumer {
    const limiter = options.rateLimit === undefined ? undefined : new LocalRateLimiter(options.rateLimit.max, options.rateLimit.intervalMs);
    let stopped = false;
    let current: { ch: Channel; tag: string } | undefined;
    const running = new Set<Promise<void>>();
    const onMessage = (ch: Channel, msg: ConsumeMessage | null): void => {
      if (msg === null) return; // cancelled by the broker (queue deleted); a reconnect resubscribes
      const run = (async () => {
        if (limiter !== undefined) await limiter.take();
        let raw: unknown;
        try {
          raw = JSON.parse(msg.content.toString('utf8'));
        } catch {
          raw = msg.content.toString('utf8');
        }
        try {
          await handle(raw);
          ch.ack(msg);
        } catch {
          ch.nack(msg, false, true);
        }
      })().catch(() => { /* the channel died; the broker hands the message again */ });
      running.add(run);
      void run.finally(() => running.delete(run));
    };
    const subscribe = async (): Promise<void> => {
      while (!stopped) {
        try {
          const model = await this.#connection.get();
          const ch = await model.createChannel();
          ch.on('error', () => { /* 'close' follows */ });
          await ch.assertQueue(queue, { durable: true, arguments: { 'x-max-priority': MAX_PRIORITY } });
          await ch.prefetch(options.concurrency);
          const { consumerTag } = await ch.consume(queue, (msg) => onMessage(ch, msg));
          current = { ch, tag: consumerTag };
          ch.once('close', () => {
            if (current?.ch === ch) current = undefined;
            if (!stopped) void subscribe();
          });
          return;
        } catch {
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    };
    const started = subscribe();
    const close = async (): Promise<void> => {
      stopped = true;
      await started;
      await Promise.allSettled([...running]);
      await current?.ch.close().catch(() => undefined);
      current = undefined;
    };
    this.#closers.add(close);
    return {
      pause: async () => {
        stopped = true;
        await started;
        if (current !== undefined) await current.ch.cancel(current.tag).catch(() => undefined);
      },
      close: async () => { await close(); this.#closers.delete(close); },
    };
  }

  async take(queue: string, max: number): Promise<TakenJob[]> {
    const ch = await this.#channel();
    await this.#assert(ch, queue);
    const taken: TakenJob[] = [];
    while (taken.length < max) {
      const msg = await ch.get(queue, { noAck: false });
      if (msg === false) break;
      taken.push({ envelope: JSON.parse(msg.content.toString('utf8')) as unknown, ack: async () => { ch.ack(msg); } });
    }
    return taken;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#closers].map((c) => c()));
    await this.#connection.close();
  }
}

/** Rounds a delay up to two significant digits, so that few delay queues serve many delays. */
export function roundDelayMs(delayMs: number): number {
  if (delayMs < 100) return Math.max(1, Math.ceil(delayMs));
  const step = 10 ** (Math.floor(Math.log10(delayMs)) - 1);
  return Math.ceil(delayMs / step) * step;
}
