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

/** A redis-server could not be started. */
export class RedisStartError extends ScaleoutError {
  constructor(detail: string, options: { cause?: unknown } = {}) {
    super('SCALEOUT_RUNTIME_REDIS_START', `redis-server did not start (${detail})`, options);
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

/** A `scaleout db` request the data tier cannot do as asked (an unknown node, the primary, no replica). */
export class DbRequestError extends ScaleoutError {
  constructor(problem: 'NODE_UNKNOWN' | 'NOT_EMBEDDED' | 'INVALID' | 'NO_SHARDS', message: string) {
    super(`SCALEOUT_RUNTIME_DB_${problem}`, message);
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
