import { defineErrorCatalogue } from '../../internal/error-catalogue.js';
import { ScaleoutError } from '../../internal/errors.js';

/** The floating address's settings (`balancer.vip`, `scaleout vip`) cannot be given to keepalived. */
export class VipConfigError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_RUNTIME_VIP_CONFIG';
  constructor(message: string) {
    super(VipConfigError.code, message);
  }
}

/** keepalived is missing, exited during startup, or reported no VRRP state in time. */
export class KeepalivedStartError extends ScaleoutError {
  static readonly code: string = 'SCALEOUT_RUNTIME_KEEPALIVED_START';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(KeepalivedStartError.code, message, options);
  }
}

/** Every code of the floating service address. */
export const VIP_ERRORS = defineErrorCatalogue('runtime', [
  { errorClass: VipConfigError,
    meaning: 'The floating address settings cannot work: an address without its prefix length, a router id outside 1 to 255, a priority outside 1 to 254, no peers, an advert interval that is not a multiple of 10 ms, or a balancer check that is not host:port and a plain path.',
    action: 'Fix `balancer.vip` (or the `scaleout vip` flags) as the message says; docs/failover.md explains each setting.' },
  { errorClass: KeepalivedStartError,
    meaning: 'keepalived is not installed, exited while starting (a config it rejects, no permission to add addresses: it needs root or CAP_NET_ADMIN), or said nothing about its VRRP instance within 10 s. The message carries its last lines.',
    action: 'Install keepalived (Debian: `apt-get install keepalived`), run as root, and read its lines in the message.' },
]);
