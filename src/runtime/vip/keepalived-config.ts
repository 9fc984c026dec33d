/**
 * The floating service address of a balancer pair, as keepalived runs it: one VRRP
 * instance per machine, all with the same `routerId` and `address`, each with its own
 * `priority`. See docs/failover.md.
 */
export interface VipOptions {
  /** The floating address with its prefix length: `10.0.0.100/24`. */
  address: string;
  /** The interface it is added to: `eth0`. */
  interface: string;
  /** VRRP's virtual router id, 1 to 255; the same on every machine of the pair, unique on the network. */
  routerId: number;
  /** 1 to 254; the highest live priority holds the address. Give each machine a different one. */
  priority: number;
  /** The other machines' addresses: adverts go to them by unicast (no multicast needed). */
  peers: readonly string[];
  /** This machine's address the adverts come from. @defaultValue the interface's primary address */
  source?: string | undefined;
  /** VRRPv3 advert interval, a multiple of 10 ms. @defaultValue {@link DEFAULT_ADVERT_INTERVAL_MS} */
  advertIntervalMs?: number | undefined;
  /**
   * false (`nopreempt`): a machine that comes back does not take the address from the
   * one that holds it, even with a higher priority: one move per failure, not two.
   * @defaultValue false
   */
  preempt?: boolean | undefined;
}

/** 100 ms: a backup takes over about 3.6 intervals after the last advert it heard. @defaultValue 100 */
export const DEFAULT_ADVERT_INTERVAL_MS = 100;

/** Where keepalived finds the runtime's health verdict and its fallback check. */
export interface KeepalivedFiles {
  /** Holds `0` while the local balancer serves, `1` while it does not (written by the guard). */
  trackFile: string;
  /** A script that checks the local balancer by itself, for when the guard is gone. */
  checkScript: string;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** What is wrong with `options`, or undefined when keepalived can be given them. */
export function checkVipOptions(options: VipOptions): string | undefined {
  const [address, prefix, ...rest] = options.address.split('/');
  if (!isIpv4(address) || prefix === undefined || rest.length > 0 || !/^\d{1,2}$/.test(prefix) || Number(prefix) > 32) {
    return `vip.address "${options.address}" must be an IPv4 address with its prefix length, e.g. 10.0.0.100/24`;
  }
  if (!/^[A-Za-z0-9_.:-]{1,15}$/.test(options.interface)) return `vip.interface "${options.interface}" is no interface name (e.g. eth0)`;
  if (!Number.isInteger(options.routerId) || options.routerId < 1 || options.routerId > 255) return `vip.routerId must be 1 to 255, not ${options.routerId}`;
  if (!Number.isInteger(options.priority) || options.priority < 1 || options.priority > 254) return `vip.priority must be 1 to 254, not ${options.priority}`;
  if (options.peers.length === 0) return 'vip.peers must name the other machines\' addresses (at least one)';
  for (const peer of [...options.peers, ...options.source === undefined ? [] : [options.source]]) {
    if (!isIpv4(peer)) return `"${peer}" in vip.peers or vip.source is no IPv4 address`;
  }
  const advert = options.advertIntervalMs ?? DEFAULT_ADVERT_INTERVAL_MS;
  if (!Number.isInteger(advert) || advert < 10 || advert > 40_950 || advert % 10 !== 0) return `vip.advertIntervalMs must be a multiple of 10 from 10 to 40950 (VRRPv3 counts centiseconds), not ${advert}`;
  return undefined;
}

function isIpv4(text: string | undefined): boolean {
  const m = IPV4.exec(text ?? '');
  return m !== null && m.slice(1).every((o) => Number(o) <= 255);
}

/** The VRRP instance's name in keepalived's config and log lines. */
export const VRRP_INSTANCE = 'scaleout';

/**
 * keepalived's config for one machine of the pair (options checked first with
 * {@link checkVipOptions}).
 *
 * - VRRPv3, for an advert interval below a second. VRRPv3 has no authentication
 *   (RFC 5798 dropped it: a cleartext password protected nothing); instead adverts go
 *   by unicast to the named peers only and `check_unicast_src` ignores adverts from
 *   any other address.
 * - Every machine starts as BACKUP: the first to hear no master within the master
 *   down interval takes the address, so a restart never starts with two masters.
 * - Two health inputs, either of which puts the instance in FAULT (it gives the
 *   address up at once and advertises priority 0, so a backup takes over without
 *   waiting): the track file the runtime's guard writes (checked every 100 ms), and
 *   the check script every second, which still works when the guard is gone.
 */
export function keepalivedConfig(options: VipOptions, files: KeepalivedFiles): string {
  const advertSec = (options.advertIntervalMs ?? DEFAULT_ADVERT_INTERVAL_MS) / 1000;
  const lines = [
    '# Written by scaleout: changes are overwritten at the next start.',
    'global_defs {',
    `  router_id scaleout_${options.routerId}_${options.priority}`,
    // The scripts run as root (keepalived refuses scripts a non-root user could change).
    '  script_user root',
    '  enable_script_security',
    // Announce the address the moment it moves: clients' ARP caches follow at once.
    '  vrrp_garp_master_delay 0',
    '  vrrp_garp_master_repeat 3',
    '}',
    '',
    'track_file scaleout_guard {',
    `  file "${files.trackFile}"`,
    '  weight 0',
    // No init_file: the runtime writes the file before keepalived starts, and a restarted
    // keepalived must read the guard's verdict, not overwrite it.
    '}',
    '',
    'vrrp_script scaleout_check {',
    `  script "${files.checkScript}"`,
    '  interval 1',
    '  timeout 1',
    '  fall 2',
    '  rise 2',
    '}',
    '',
    `vrrp_instance ${VRRP_INSTANCE} {`,
    '  state BACKUP',
    `  interface ${options.interface}`,
    `  virtual_router_id ${options.routerId}`,
    `  priority ${options.priority}`,
    '  version 3',
    `  advert_int ${advertSec}`,
    ...options.preempt === true ? [] : ['  nopreempt'],
    ...options.source === undefined ? [] : [`  unicast_src_ip ${options.source}`],
    '  unicast_peer {',
    ...options.peers.map((peer) => `    ${peer}`),
    '  }',
    '  check_unicast_src',
    '  virtual_ipaddress {',
    `    ${options.address} dev ${options.interface}`,
    '  }',
    '  track_file {',
    '    scaleout_guard weight 0',
    '  }',
    '  track_script {',
    '    scaleout_check',
    '  }',
    '}',
    '',
  ];
  return lines.join('\n');
}

/**
 * The fallback check: an HTTP GET of the balancer's health URL with bash's /dev/tcp
 * (no curl needed, starts in a few ms), killed by `timeout` after 800 ms so it can
 * never hang keepalived's check. Healthy is a 2xx or 3xx status line.
 */
export function checkScript(host: string, port: number, path: string): string {
  const request = `GET ${path} HTTP/1.0\\r\\nHost: ${host}\\r\\nConnection: close\\r\\n\\r\\n`;
  return [
    '#!/bin/sh',
    '# Written by scaleout: keepalived\'s fallback check of the local balancer.',
    `exec /usr/bin/timeout -s KILL 0.8 /bin/bash -c 'exec 3<>/dev/tcp/${host}/${port} || exit 1; printf "${request}" >&3; read -r status <&3; case "$status" in "HTTP/1."?" "[23]*) exit 0;; esac; exit 1'`,
    '',
  ].join('\n');
}
