export { startPostgresReplicaSet, promote, type PostgresReplicaSet } from './postgres-replica-set.js';
export {
  DEFAULT_POSTGRES_DATABASE, DEFAULT_POSTGRES_HOST, MAX_REPLICAS, NODE_NAME_PREFIX, type PostgresReplicaSetOptions,
} from './postgres-replica-set-options.js';
export type { PostgresExit, PostgresNode } from './postgres-node.js';
export { DEFAULT_START_TIMEOUT_MS, DEFAULT_STOP_TIMEOUT_MS } from './postgres-node.js';
export { DEFAULT_PROMOTE_WAIT_SECONDS, DEFAULT_REPLICATION_TIMEOUT_MS } from './replication.js';
export { freePort, freePorts } from './free-port.js';
export * from './errors.js';
