/**
 * The configuration files scaleout writes into a data directory.
 *
 *   postgresql.conf       the same on every node: replication, memory, durability
 *   postgresql.auto.conf  per node: port, primary_conninfo, primary_slot_name
 *                         (also where ALTER SYSTEM writes, so follow() can re-point
 *                         a replica with ALTER SYSTEM + pg_reload_conf())
 *   pg_hba.conf           trust on loopback, for queries and replication
 *   standby.signal        present on replicas only
 */

/** The OS and database user the servers are administered as. @defaultValue `'postgres'` */
export const POSTGRES_SUPERUSER = 'postgres';
/** shared_buffers of each node: small, because one machine runs many nodes. @defaultValue `'16MB'` */
export const DEFAULT_SHARED_BUFFERS = '16MB';
/** @defaultValue `100` */
export const DEFAULT_MAX_CONNECTIONS = 100;
/** WAL kept for replicas that fall behind or re-point after a failover. @defaultValue `'64MB'` */
export const DEFAULT_WAL_KEEP_SIZE = '64MB';
/** Cap on WAL a slot of a dead replica may pin, so it cannot fill the disk. @defaultValue `'1GB'` */
export const DEFAULT_MAX_SLOT_WAL_KEEP_SIZE = '1GB';

const NAME_PATTERN = /^[a-z][a-z0-9_]{0,62}$/;

/**
 * Whether `name` can name a node: it is also its replication slot name and its
 * application_name, so it must be a plain lowercase identifier.
 */
export function isValidNodeName(name: string): boolean {
  return NAME_PATTERN.test(name);
}

/** Quotes a value for postgresql.conf. */
export function quoteConfValue(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** Quotes a value for a libpq connection string. */
function quoteConninfoValue(value: string): string {
  return /^[A-Za-z0-9_.:-]+$/.test(value) ? value : `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** The primary_conninfo of a replica. */
export function replicationConninfo(host: string, port: number, applicationName: string): string {
  return [
    `host=${quoteConninfoValue(host)}`,
    `port=${port}`,
    `user=${POSTGRES_SUPERUSER}`,
    `application_name=${quoteConninfoValue(applicationName)}`,
  ].join(' ');
}

/** Settings shared by every node of a replica set. */
export interface ReplicaSetConfig {
  /** listen_addresses. */
  host: string;
  /** fsync off: faster, and an OS crash loses data. */
  fast: boolean;
  /** Node names for synchronous_standby_names, or undefined for asynchronous replication. */
  synchronousNames: readonly string[] | undefined;
  /**
   * recovery_init_sync_method: `syncfs` (Linux only) flushes a data directory that was
   * not shut down cleanly (a crash, or a fresh base backup) with one call per file
   * system instead of one fsync per file.
   */
  recoverySyncMethod: 'syncfs' | 'fsync';
}

/**
 * synchronous_standby_names naming every node. A node never waits for itself,
 * so listing the primary too means a promoted replica is synchronous at once,
 * without a config change during failover.
 */
export function synchronousStandbyNames(names: readonly string[]): string {
  return names.length === 0 ? '' : `ANY 1 (${names.join(', ')})`;
}

/** The postgresql.conf of every node. */
export function renderPostgresqlConf(config: ReplicaSetConfig): string {
  const settings: [string, string | number][] = [
    ['listen_addresses', quoteConfValue(config.host)],
    // TCP only: a socket in /tmp named after the port would collide across replica sets.
    ['unix_socket_directories', "''"],
    ['max_connections', DEFAULT_MAX_CONNECTIONS],
    ['shared_buffers', quoteConfValue(DEFAULT_SHARED_BUFFERS)],
    ['wal_level', 'replica'],
    ['max_wal_senders', 16],
    ['max_replication_slots', 16],
    ['wal_keep_size', quoteConfValue(DEFAULT_WAL_KEEP_SIZE)],
    ['max_slot_wal_keep_size', quoteConfValue(DEFAULT_MAX_SLOT_WAL_KEEP_SIZE)],
    ['hot_standby', 'on'],
    ['hot_standby_feedback', 'on'],
    // Replay positions in pg_stat_replication fresh within a second, and a quick
    // reconnect after the primary changes.
    ['wal_receiver_status_interval', quoteConfValue('1s')],
    ['wal_retrieve_retry_interval', quoteConfValue('500ms')],
    ['fsync', config.fast ? 'off' : 'on'],
    // In the data directory, dynamic shared memory goes away with it: tests SIGKILL
    // servers, and a killed server's segments in /dev/shm would stay until reboot.
    ['dynamic_shared_memory_type', config.fast ? 'mmap' : 'posix'],
    ['recovery_init_sync_method', config.recoverySyncMethod],
    ['synchronous_commit', 'on'],
    ['full_page_writes', 'on'],
    ['synchronous_standby_names', quoteConfValue(synchronousStandbyNames(config.synchronousNames ?? []))],
    ['lc_messages', quoteConfValue('C')],
    ['logging_collector', 'off'],
    ['log_destination', quoteConfValue('stderr')],
    ['jit', 'off'],
  ];
  return [
    '# Written by scaleout; per-node settings are in postgresql.auto.conf.',
    ...settings.map(([key, value]) => `${key} = ${String(value)}`),
    '',
  ].join('\n');
}

/** The pg_hba.conf of every node. */
export function renderPgHbaConf(): string {
  return [
    '# Written by scaleout: trust on loopback only.',
    '# TYPE  DATABASE     USER  ADDRESS       METHOD',
    'local   all          all                 trust',
    'host    all          all   127.0.0.1/32  trust',
    'host    all          all   ::1/128       trust',
    'local   replication  all                 trust',
    'host    replication  all   127.0.0.1/32  trust',
    'host    replication  all   ::1/128       trust',
    '',
  ].join('\n');
}

/**
 * Sets (or, with `undefined`, removes) settings in the text of a config file,
 * keeping every other line.
 */
export function setConfSettings(existing: string, settings: Readonly<Record<string, string | number | undefined>>): string {
  const keys = new Set(Object.keys(settings).map((k) => k.toLowerCase()));
  const kept = existing.split('\n').filter((line) => {
    const key = /^\s*([A-Za-z_.]+)\s*(?:=|\s)/.exec(line)?.[1]?.toLowerCase();
    return key === undefined || !keys.has(key);
  });
  while (kept.length > 0 && kept[kept.length - 1]?.trim() === '') kept.pop();
  for (const [key, value] of Object.entries(settings)) {
    if (value !== undefined) kept.push(`${key} = ${typeof value === 'number' ? String(value) : quoteConfValue(value)}`);
  }
  return `${kept.join('\n')}\n`;
}

/** Whom a replica streams from, and through which slot. */
export interface Upstream {
  host: string;
  port: number;
  applicationName: string;
  slotName: string;
}

/**
 * The per-node settings of postgresql.auto.conf: the port, and for a replica its
 * upstream (for a primary, `undefined` removes a stale one).
 */
export function nodeSettings(port: number, upstream: Upstream | undefined): Record<string, string | number | undefined> {
  return {
    port,
    primary_conninfo: upstream && replicationConninfo(upstream.host, upstream.port, upstream.applicationName),
    primary_slot_name: upstream?.slotName,
  };
}
