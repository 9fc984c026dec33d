import type { FastifyInstance } from 'fastify';
import type { SessionManager } from '../../session/index.js';

/**
 * A tier the plugin wires into every request when its option is given: `db` now,
 * `cache` and `jobs` next. Each tier is one file in this folder, one option in
 * `ScaleoutTierOptions` and one entry of the plugin's tier list; nothing else in the
 * plugin changes.
 */
export interface Tier<Options> {
  /** The plugin option that turns the tier on. */
  readonly option: string;
  /** Checks the option once, at registration; throws `ScaleoutPluginOptionsError`. */
  validate(value: unknown): Options;
  /** Decorates the app and its requests. */
  install(app: FastifyInstance, options: Options, context: TierContext): Promise<void>;
}

/** What the plugin shares with the tiers. */
export interface TierContext {
  /** The session manager, when sessions are configured: the tier may keep per-user state there. */
  sessions: SessionManager | undefined;
}
