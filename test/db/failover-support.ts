import { isScaleoutError } from '../../src/internal/errors.js';
import type { Database } from '../../src/db/index.js';
import type { PostgresNode } from '../support/pg-replica-set.js';

/** `host:port`, the router's name for a node. */
export function nameOf(node: PostgresNode): string {
  return `${node.host}:${node.port}`;
}

/**
 * Inserts ids 1, 2, 3... into `table` one after another until stopped, recording
 * which inserts were acknowledged and which errors came back (then pausing briefly,
 * as a client retrying would).
 */
export class SteadyWriter {
  readonly acknowledged: number[] = [];
  readonly errors: unknown[] = [];
  #next = 1;
  #running = true;
  #done: Promise<void>;

  constructor(db: Database, table: string) {
    this.#done = (async () => {
      while (this.#running) {
        const id = this.#next++;
        try {
          await db.query(`INSERT INTO ${table} (id) VALUES ($1)`, [id]);
          this.acknowledged.push(id);
        } catch (err) {
          this.errors.push(err);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#done;
  }

  /** Every error was a retriable ScaleoutError; returns their codes. */
  errorCodes(): string[] {
    return this.errors.map((err) => {
      if (!isScaleoutError(err) || !err.retriable) throw new Error(`unexpected error during failover: ${String(err)}`, { cause: err });
      return err.code;
    });
  }
}
