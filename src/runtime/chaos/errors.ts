import { defineErrorCatalogue } from '../../internal/error-catalogue.js';
import { ScaleoutError } from '../../internal/errors.js';

/** A chaos request names no such process, a fault that does not exist, or a fault the target cannot take. */
export class ChaosRequestError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_RUNTIME_CHAOS_INVALID';
  constructor(message: string) {
    super(ChaosRequestError.code, message);
  }
}

/** The machine cannot inject this fault (a kernel without netem, no root). */
export class ChaosUnsupportedError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_RUNTIME_CHAOS_UNSUPPORTED';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(ChaosUnsupportedError.code, message, options);
  }
}

/** Every code of fault injection (`scaleout chaos`). */
export const CHAOS_ERRORS = defineErrorCatalogue('runtime', [
  { errorClass: ChaosRequestError, status: 400,
    meaning: 'A chaos request cannot be run: the fault is not kill, stop, slow or partition, the target is no process id or role of this deployment, `slow` has no delay of 1 to 60000 ms, or the target has no port to slow or partition (a worker).',
    action: 'Fix the request as the message says; `scaleout status` lists the ids and roles, `scaleout chaos --help` the faults.' },
  { errorClass: ChaosUnsupportedError,
    meaning: 'This machine cannot inject the fault: network faults need root and nftables, and `tc netem` delays on namespace hosts need a kernel with the netem queueing discipline.',
    action: 'Run the supervisor as root with nftables installed; for delays on namespace hosts use a kernel with CONFIG_NET_SCH_NETEM, or use `slow`, which needs only nft.' },
]);
