/**
 * The whole error catalogue, domain by domain, in the order docs/errors.md lists it.
 * It lives outside `src/` because it imports every domain, and lower layers must not
 * import higher ones.
 */
import { AFFINITY_ERRORS } from '../src/balancer/affinity/errors.js';
import { BALANCER_ERRORS } from '../src/balancer/errors.js';
import { BENCH_ERRORS } from '../src/bench/errors.js';
import { CACHE_ERRORS } from '../src/cache/errors.js';
import { CLI_ERRORS } from '../src/cli/cli-error.js';
import { DNS_ERRORS } from '../src/dns/errors.js';
import { DOCUMENT_ERRORS } from '../src/db/documents/errors.js';
import { DB_ERRORS } from '../src/db/errors.js';
import { SHARDING_ERRORS } from '../src/db/sharding/errors.js';
import { FASTIFY_ERRORS } from '../src/fastify/errors.js';
import type { ErrorCatalogueEntry } from '../src/internal/error-catalogue.js';
import { INTERNAL_ERRORS } from '../src/internal/errors.js';
import { JOBS_ERRORS } from '../src/jobs/errors.js';
import { CHAOS_ERRORS } from '../src/runtime/chaos/errors.js';
import { ENGINE_ERRORS } from '../src/runtime/engines/errors.js';
import { NETNS_ERRORS } from '../src/runtime/netns/errors.js';
import { VIP_ERRORS } from '../src/runtime/vip/errors.js';
import { RUNTIME_ERRORS } from '../src/runtime/errors.js';
import { SESSION_ERRORS } from '../src/session/errors.js';
import { STATIC_ERRORS } from '../src/static/errors.js';

/** One part of the catalogue per domain, with the file that declares it. */
export const ERROR_DOMAINS: ReadonlyArray<{ readonly file: string; readonly entries: readonly ErrorCatalogueEntry[] }> = [
  { file: 'src/balancer/errors.ts', entries: BALANCER_ERRORS },
  { file: 'src/balancer/affinity/errors.ts', entries: AFFINITY_ERRORS },
  { file: 'src/session/errors.ts', entries: SESSION_ERRORS },
  { file: 'src/cache/errors.ts', entries: CACHE_ERRORS },
  { file: 'src/jobs/errors.ts', entries: JOBS_ERRORS },
  { file: 'src/static/errors.ts', entries: STATIC_ERRORS },
  { file: 'src/db/errors.ts', entries: DB_ERRORS },
  { file: 'src/db/sharding/errors.ts', entries: SHARDING_ERRORS },
  { file: 'src/db/documents/errors.ts', entries: DOCUMENT_ERRORS },
  { file: 'src/dns/errors.ts', entries: DNS_ERRORS },
  { file: 'src/fastify/errors.ts', entries: FASTIFY_ERRORS },
  { file: 'src/runtime/errors.ts', entries: RUNTIME_ERRORS },
  { file: 'src/runtime/engines/errors.ts', entries: ENGINE_ERRORS },
  { file: 'src/bench/errors.ts', entries: BENCH_ERRORS },
  { file: 'src/runtime/netns/errors.ts', entries: NETNS_ERRORS },
  { file: 'src/runtime/chaos/errors.ts', entries: CHAOS_ERRORS },
  { file: 'src/runtime/vip/errors.ts', entries: VIP_ERRORS },
  { file: 'src/cli/cli-error.ts', entries: CLI_ERRORS },
  { file: 'src/internal/errors.ts', entries: INTERNAL_ERRORS },
];

/** Every code, in catalogue order. */
export const ERROR_CATALOGUE: readonly ErrorCatalogueEntry[] = ERROR_DOMAINS.flatMap((d) => d.entries);

/**
 * Names of the `SCALEOUT_` form that are not error codes: environment variables.
 * A new one must be added here, so that no error code hides among them.
 */
export const NOT_ERROR_CODES: ReadonlySet<string> = new Set([
  'SCALEOUT_ADMIN_TOKEN',
  'SCALEOUT_BALANCER_KEYS',
  'SCALEOUT_BUILD_ID',
  'SCALEOUT_PROFILE',
  'SCALEOUT_REAPER_GRACE_MS',
  'SCALEOUT_SESSION_KEYS',
]);
