import type { ProcessGroup } from '../process-group.js';
import type { ProcessStatus } from '../status.js';

/** Where an engine comes from. */
export type EngineSource = 'external' | 'embedded' | 'spawned' | 'none';

/**
 * One engine of a deployment (PostgreSQL, Redis; later Memcached, a second Redis):
 * found in the environment, or started and kept running by the runtime. Adding an
 * engine is one class implementing this, listed in `engine-set.ts`.
 *
 *     start ─► serving (its url() and env() go to every instance) ─► stop
 *
 * External engines (given by URL) are only checked to answer; the runtime never
 * stops them.
 */
export interface Engine extends ProcessGroup {
  /** Where it came from; `none` when the deployment has no such engine (then it has no processes). */
  readonly source: EngineSource;
  /** Finds or starts it; resolves once it answers. */
  start(): Promise<void>;
  /** Stops what the runtime started (never an external engine). */
  stop(): Promise<void>;
  /** SIGKILL what the runtime started, now. */
  kill(): void;
  /** Whether it answers now. */
  health(): Promise<boolean>;
  /** Where clients connect; undefined without one. */
  url(): string | undefined;
  /** Variables an instance started now gets (`REDIS_URL`, `DATABASE_URL`). */
  env(): Record<string, string>;
  /** Its lines in `scaleout status`. */
  status(): ProcessStatus[];
}

/** What every engine gets to start with. */
export interface EngineContext {
  /** Absolute app folder; data of started engines lives in `<dir>/.scaleout/`. */
  dir: string;
  env: NodeJS.ProcessEnv;
  /** A step finished (for the progress display). */
  step: (message: string) => void;
}

/** `host:port` of a URL, with the engine's default port; null when it does not parse. */
export function hostPortOf(url: string): string | null {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port === '' ? (parsed.protocol.startsWith('redis') ? '6379' : '5432') : parsed.port}`;
  } catch {
    return null;
  }
}
