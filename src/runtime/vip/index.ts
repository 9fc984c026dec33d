export { FloatingAddress, DEFAULT_VIP_CHECK_INTERVAL_MS, KEEPALIVED_START_TIMEOUT_MS, VIP_CHECK_FALL } from './floating-address.js';
export type { FloatingAddressOptions, VipState } from './floating-address.js';
export { checkScript, checkVipOptions, DEFAULT_ADVERT_INTERVAL_MS, keepalivedConfig, VRRP_INSTANCE } from './keepalived-config.js';
export type { KeepalivedFiles, VipOptions } from './keepalived-config.js';
export * from './errors.js';
