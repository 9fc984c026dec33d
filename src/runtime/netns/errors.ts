import { defineErrorCatalogue } from '../../internal/error-catalogue.js';
import { ScaleoutError } from '../../internal/errors.js';

/** A system command (`ip`, `nft`, `tc`, `keepalived`) failed or hung; the message carries what it said. */
export class SystemCommandError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_RUNTIME_SYSTEM_COMMAND';
  /** The command line that failed. */
  readonly command: string;
  constructor(command: string, stderr: string, options: { cause?: unknown } = {}) {
    super(SystemCommandError.code, `\`${command}\` failed: ${stderr}; network namespaces, nft and tc need root and the iproute2 and nftables packages`, options);
    this.command = command;
  }
}

/** A namespace lab was asked for something it cannot do (a bad host name, too many hosts). */
export class NetnsError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_RUNTIME_NETNS';
  constructor(message: string) {
    super(NetnsError.code, message);
  }
}

/** Every code of network namespace hosts and the system commands behind them. */
export const NETNS_ERRORS = defineErrorCatalogue('runtime', [
  { errorClass: SystemCommandError,
    meaning: 'A system command the runtime runs for network namespaces, fault injection or the floating address (`ip`, `nft`, `tc`) failed or did not finish in 10 s. The message carries the command and what it printed.',
    action: 'Run as root with iproute2 and nftables installed (`scripts/ensure-deps.mjs` installs them on Debian); read the command\'s own message for the rest.' },
  { errorClass: NetnsError,
    meaning: 'A lab of network namespace hosts was asked for something it cannot do: a host name that is not 1 to 12 lowercase letters and digits, a name used twice, more than 200 hosts, or a lab already destroyed.',
    action: 'Fix the call as the message says.' },
]);
