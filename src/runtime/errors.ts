import { defineErrorCatalogue } from '../internal/error-catalogue.js';
import { ScaleoutError } from '../internal/errors.js';

/**
 * Errors of the runtime (`scaleout up`, builds, deploys, scaling, status). Engine
 * errors (PostgreSQL, Redis) live in `engines/errors.ts`.
 */

/** `scaleout.config.*` is missing, unreadable, or does not pass validation. */
export class RuntimeConfigError extends ScaleoutError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_RUNTIME_CONFIG_INVALID', message, options);
  }
}

/** The config names an app entry file that does not exist. */
export class AppEntryNotFoundError extends ScaleoutError {
  constructor(entry: string, dir: string) {
    super('SCALEOUT_RUNTIME_APP_ENTRY_NOT_FOUND',
      `app.entry "${entry}" does not exist in ${dir}; create it or point app.entry in scaleout.config at the file that starts the server`);
  }
}

/** A port the runtime must bind is taken by another process. */
export class PortInUseError extends ScaleoutError {
  constructor(what: string, address: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_RUNTIME_PORT_IN_USE',
      `${what} ${address} is in use by another process; stop that process or choose another port in scaleout.config`, options);
  }
}

/** The balancer's client address cannot be bound (not an address of this machine, no permission for the port). */
export class RuntimeListenError extends ScaleoutError {
  constructor(address: string, reason: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_RUNTIME_LISTEN',
      `cannot bind balancer.listen ${address} (${reason}); use an address of this machine and a port above 1023, or run as a user allowed to bind it`, options);
  }
}

/** A build could not be made (unreadable files, no space for the image). */
export class BuildError extends ScaleoutError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_RUNTIME_BUILD_FAILED', message, options);
  }
}

/** An instance exited or stayed unhealthy while it was being started. */
export class InstanceStartError extends ScaleoutError {
  /** The last lines the instance wrote, to see why. */
  readonly logTail: string;
  constructor(id: string, detail: string, logFile: string, logTail: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_RUNTIME_INSTANCE_START',
      `instance ${id} did not become healthy (${detail}); its log is ${logFile}${logTail === '' ? '' : `, ending:\n${logTail}`}`,
      { ...options, retriable: true });
    this.logTail = logTail;
  }
}

/** The balancer process did not start. */
export class BalancerStartError extends ScaleoutError {
  constructor(detail: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_RUNTIME_BALANCER_START', `the balancer did not start (${detail})`, options);
  }
}

/** The balancer's admin API refused or failed a request of the supervisor. */
export class BalancerAdminError extends ScaleoutError {
  readonly status: number;
  constructor(status: number, detail: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_RUNTIME_BALANCER_ADMIN', `the balancer admin API answered ${status}: ${detail}`, { ...options, retriable: status >= 500 || status === 0 });
    this.status = status;
  }
}

/** A deploy did not complete; the previous build keeps serving. */
export class DeployFailedError extends ScaleoutError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_RUNTIME_DEPLOY_FAILED', message, options);
  }
}

/** Another deploy, scale or build is running; the supervisor does one at a time. */
export class OperationInProgressError extends ScaleoutError {
  constructor(running: string) {
    super('SCALEOUT_RUNTIME_BUSY', `a ${running} is running; wait until it finishes, then try again`, { retriable: true });
  }
}

/** No supervisor answers for an app folder. */
export class SupervisorNotRunningError extends ScaleoutError {
  constructor(dir: string, detail: string) {
    super('SCALEOUT_RUNTIME_NOT_RUNNING', `no scaleout supervisor runs for ${dir} (${detail}); start one with \`scaleout up ${dir}\``);
  }
}

/** A supervisor already runs for this app folder. */
export class SupervisorAlreadyRunningError extends ScaleoutError {
  constructor(dir: string, pid: number) {
    super('SCALEOUT_RUNTIME_ALREADY_RUNNING',
      `a scaleout supervisor (pid ${pid}) already runs ${dir}; stop it first (Ctrl-C, or kill ${pid}), or use \`scaleout status\``);
  }
}

/** The supervisor is stopping; the operation was not done. */
export class SupervisorStoppingError extends ScaleoutError {
  constructor() {
    super('SCALEOUT_RUNTIME_STOPPING', 'the supervisor is stopping; start it again with `scaleout up`');
  }
}

/** A request to the supervisor's control API was refused or failed. */
export class ControlRequestError extends ScaleoutError {
  readonly status: number;
  constructor(status: number, message: string, code = 'SCALEOUT_RUNTIME_CONTROL', options: { cause?: unknown } = {}) {
    super(code, message, options);
    this.status = status;
  }
}

/** A scale request asks for something the runtime cannot do. */
export class ScaleRequestError extends ScaleoutError {
  constructor(message: string) {
    super('SCALEOUT_RUNTIME_SCALE_INVALID', message);
  }
}

/** A process action (kill, restart, drain) names no such process, or one it cannot act on. */
export class ProcessActionError extends ScaleoutError {
  constructor(message: string) {
    super('SCALEOUT_RUNTIME_PROCESS_ACTION_INVALID', message);
  }
}

/** A redis-server could not be started. */
export class RedisStartError extends ScaleoutError {
  constructor(detail: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_RUNTIME_REDIS_START', `redis-server did not start (${detail})`, options);
  }
}

/** A `memcached` the config asks for could not be started. */
export class MemcachedStartError extends ScaleoutError {
  constructor(detail: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_RUNTIME_MEMCACHED_START', `memcached did not start (${detail})`, options);
  }
}

/** An engine given by URL (DATABASE_URL, REDIS_URL) does not answer. */
export class EngineUnreachableError extends ScaleoutError {
  constructor(variable: string, url: string, detail: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_RUNTIME_ENGINE_UNREACHABLE',
      `${variable} (${redactUrl(url)}) does not answer (${detail}); start that server, or unset ${variable} to let scaleout start one`,
      { ...options, retriable: true });
  }
}

/** A URL without its password, for messages and status output. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}

/** The codes of {@link DbRequestError}, spelled out so each can be found and documented. */
export const DB_REQUEST_CODES = Object.freeze({
  NODE_UNKNOWN: 'SCALEOUT_RUNTIME_DB_NODE_UNKNOWN',
  NOT_EMBEDDED: 'SCALEOUT_RUNTIME_DB_NOT_EMBEDDED',
  INVALID: 'SCALEOUT_RUNTIME_DB_INVALID',
  NO_SHARDS: 'SCALEOUT_RUNTIME_DB_NO_SHARDS',
});

/** A `scaleout db` request the data tier cannot do as asked (an unknown node, the primary, no replica). */
export class DbRequestError extends ScaleoutError {
  constructor(problem: keyof typeof DB_REQUEST_CODES, message: string) {
    super(DB_REQUEST_CODES[problem], message);
  }
}

/** A planned failover did not complete; the old primary was started again. */
export class DbFailoverError extends ScaleoutError {
  constructor(detail: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_RUNTIME_DB_FAILOVER_FAILED',
      `the failover did not complete (${detail}); check \`scaleout status\` and the PostgreSQL logs, then try again`,
      { ...options, retriable: true });
  }
}

/** An instance's environment (PORT, SCALEOUT_SESSION_KEYS, DATABASE_URL, ...) is missing or invalid: see `instanceEnv()`. */
export class InstanceEnvError extends ScaleoutError {
  /** Each problem on its own, naming the variable. */
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super('SCALEOUT_RUNTIME_INSTANCE_ENV_INVALID',
      `the instance's environment is not usable: ${problems.join('; ')}. Start the app with \`scaleout up\`, or set these variables`);
    this.problems = problems;
  }
}

/**
 * Every code of the runtime: what it means and what to do. The control API's own
 * answers (bad request, unauthorized, not found, internal) have no class: they are
 * only sent as JSON by the supervisor and read back by `ControlRequestError`.
 */
export const RUNTIME_ERRORS = defineErrorCatalogue('runtime', [
  { code: 'SCALEOUT_RUNTIME_CONFIG_INVALID', errorClass: RuntimeConfigError,
    meaning: '`scaleout.config.*` is missing, cannot be loaded, or does not pass validation; the message names the field, the value and what is allowed.',
    action: 'Fix the named field of the config file. Nothing was started.' },
  { code: 'SCALEOUT_RUNTIME_APP_ENTRY_NOT_FOUND', errorClass: AppEntryNotFoundError,
    meaning: 'The config\'s `app.entry` names a file that does not exist.',
    action: 'Create the file, or point `app.entry` at the file that starts the server.' },
  { code: 'SCALEOUT_RUNTIME_PORT_IN_USE', errorClass: PortInUseError,
    meaning: 'A port the runtime must bind (balancer, admin, control API) is taken by another process.',
    action: 'Stop that process, or choose another port in `scaleout.config`.' },
  { code: 'SCALEOUT_RUNTIME_LISTEN', errorClass: RuntimeListenError,
    meaning: 'The supervisor cannot bind the balancer\'s client address: not an address of this machine, or no permission for the port.',
    action: 'Use an address of this machine and a port above 1023 in `balancer.listen`, or run as a user allowed to bind it.' },
  { code: 'SCALEOUT_RUNTIME_BUILD_FAILED', errorClass: BuildError,
    meaning: 'A build could not be made: unreadable files, or no space for the image.',
    action: 'Fix what the message names; the running build keeps serving.' },
  { code: 'SCALEOUT_RUNTIME_INSTANCE_START', errorClass: InstanceStartError,
    meaning: 'An app instance exited or stayed unhealthy while it was being started. The error carries the end of its log.',
    action: 'Read the log lines in the message (or the instance\'s log file); a crash at startup or a wrong health path are the usual causes.' },
  { code: 'SCALEOUT_RUNTIME_BALANCER_START', errorClass: BalancerStartError,
    meaning: 'The balancer process did not start.',
    action: 'Read the detail in the message: a port in use or an invalid balancer section of the config are the usual causes.' },
  { code: 'SCALEOUT_RUNTIME_BALANCER_ADMIN', errorClass: BalancerAdminError,
    meaning: 'The balancer\'s admin API refused or failed a request of the supervisor; `status` is its HTTP answer (0: no answer). Retriable when the balancer failed or did not answer.',
    action: 'Check that the balancer runs (`scaleout status`); the message carries the balancer\'s own error.' },
  { code: 'SCALEOUT_RUNTIME_DEPLOY_FAILED', errorClass: DeployFailedError,
    meaning: 'A deploy did not complete. The previous build keeps serving.',
    action: 'Fix what the message names (often a new build whose instances do not become healthy), then deploy again.' },
  { code: 'SCALEOUT_RUNTIME_BUSY', errorClass: OperationInProgressError,
    meaning: 'Another deploy, scale or build is running; the supervisor does one at a time.',
    action: 'Wait until it finishes, then try again.' },
  { code: 'SCALEOUT_RUNTIME_NOT_RUNNING', errorClass: SupervisorNotRunningError,
    meaning: 'No supervisor answers for the app folder.',
    action: 'Start one with `scaleout up <dir>`, or name the folder where it runs.' },
  { code: 'SCALEOUT_RUNTIME_ALREADY_RUNNING', errorClass: SupervisorAlreadyRunningError,
    meaning: 'A supervisor already runs for this app folder.',
    action: 'Stop it first (Ctrl-C, or kill its pid), or talk to it with `scaleout status`, `deploy`, `scale`.' },
  { code: 'SCALEOUT_RUNTIME_STOPPING', errorClass: SupervisorStoppingError,
    meaning: 'The supervisor is stopping; the operation was not done.',
    action: 'Start it again with `scaleout up`.' },
  { code: 'SCALEOUT_RUNTIME_CONTROL', errorClass: ControlRequestError,
    meaning: 'A request to the supervisor\'s control API failed without a code of its own (the connection closed, an unreadable answer). When the supervisor answers with a code, `ControlRequestError` carries that code instead.',
    action: 'Check that the supervisor runs (`scaleout status`) and try again.' },
  { code: 'SCALEOUT_RUNTIME_CONTROL_BAD_REQUEST', status: 400,
    meaning: 'The control API refused a request body: not JSON, or a field out of range (a deploy strategy, a scale count, a node name).',
    action: 'Send what the message asks for; the `scaleout` commands always send valid requests.' },
  { code: 'SCALEOUT_RUNTIME_CONTROL_UNAUTHORIZED', status: 401,
    meaning: 'A control API request without the supervisor\'s token.',
    action: 'Send `Authorization: Bearer <token>` with the token from `.scaleout/supervisor.json`.' },
  { code: 'SCALEOUT_RUNTIME_CONTROL_NOT_FOUND', status: 404,
    meaning: 'The control API has no such method and path.',
    action: 'Use `GET /status`, `POST /build`, `/deploy`, `/scale`, `/db/rebuild`, `/db/failover` or `/reshard`.' },
  { code: 'SCALEOUT_RUNTIME_INTERNAL', status: 500,
    meaning: 'The supervisor failed on an error it did not expect while serving a control request.',
    action: 'Look at the supervisor\'s output for the cause; the request may be retried.' },
  { code: 'SCALEOUT_RUNTIME_SCALE_INVALID', errorClass: ScaleRequestError,
    meaning: 'A scale request asks for something the runtime cannot do: a role it does not run, or a count out of range.',
    action: 'Scale a role the message lists (`app`, `worker:<name>`) to a whole number within the range it gives.' },
  { code: 'SCALEOUT_RUNTIME_PROCESS_ACTION_INVALID', errorClass: ProcessActionError,
    meaning: 'A kill, restart or drain names a process the supervisor does not run, or one that action does not apply to (the supervisor itself, a process without a pid, draining anything but an app instance).',
    action: 'Use an id from `scaleout status`; drain only app instances.' },
  { code: 'SCALEOUT_RUNTIME_REDIS_START', errorClass: RedisStartError,
    meaning: 'A `redis-server` could not be started.',
    action: 'Read the detail; check that `redis-server` on the PATH runs, or set `REDIS_URL` to an existing server.' },
  { code: 'SCALEOUT_RUNTIME_MEMCACHED_START', errorClass: MemcachedStartError,
    meaning: 'A `memcached` (asked for by `engines.memcached`) could not be started.',
    action: 'Read the detail; install memcached (`apt-get install memcached`), set `MEMCACHED_URL` to an existing server, or remove `engines.memcached`.' },
  { code: 'SCALEOUT_RUNTIME_ENGINE_UNREACHABLE', errorClass: EngineUnreachableError,
    meaning: 'An engine given by URL (`DATABASE_URL`, `REDIS_URL`) does not answer.',
    action: 'Start that server, or unset the variable to let scaleout start one.' },
  { code: DB_REQUEST_CODES.NODE_UNKNOWN, errorClass: DbRequestError,
    meaning: 'A `scaleout db` command names a PostgreSQL node that does not exist.',
    action: 'Use one of the node names the message lists (`scaleout status` shows them).' },
  { code: DB_REQUEST_CODES.NOT_EMBEDDED, errorClass: DbRequestError,
    meaning: 'A `scaleout db` command needs the PostgreSQL that scaleout runs, but the deployment has none or uses an external one (`DATABASE_URL`).',
    action: 'Do the operation on the external server with its own tools, or let scaleout run PostgreSQL.' },
  { code: DB_REQUEST_CODES.INVALID, errorClass: DbRequestError,
    meaning: 'A `scaleout db` or `reshard` request the data tier cannot do as asked: rebuilding the primary, a failover without a healthy replica, a table missing on a shard, more buckets than exist.',
    action: 'Do what the message says first (for example `scaleout db failover` before rebuilding the old primary), then try again.' },
  { code: DB_REQUEST_CODES.NO_SHARDS, errorClass: DbRequestError,
    meaning: 'A reshard was asked for, but the config has no `db.shards` section, no sharded tables, or no shard directory yet.',
    action: 'Add `db.shards` to the config (databases and tables with their shard key), and start the app once so it creates the directory.' },
  { code: 'SCALEOUT_RUNTIME_DB_FAILOVER_FAILED', errorClass: DbFailoverError,
    meaning: 'A planned failover did not complete; the old primary was started again.',
    action: 'Check `scaleout status` and the PostgreSQL logs, then try again.' },
  { code: 'SCALEOUT_RUNTIME_INSTANCE_ENV_INVALID', errorClass: InstanceEnvError,
    meaning: 'An app instance\'s environment (PORT, SCALEOUT_SESSION_KEYS, DATABASE_URL, ...) is missing or invalid; `instanceEnv()` lists every problem.',
    action: 'Start the app with `scaleout up`, or set the variables the message names.' },
]);
