export {
  startPostgresCluster, promote, DEFAULT_POSTGRES_DATABASE, DEFAULT_POSTGRES_HOST, MAX_REPLICAS, NODE_NAME_PREFIX,
  type PostgresCluster, type PostgresClusterOptions,
} from './postgres-cluster.js';
export type { PostgresNode } from './postgres-node.js';
export { DEFAULT_START_TIMEOUT_MS, DEFAULT_STOP_TIMEOUT_MS } from './postgres-node.js';
export { DEFAULT_PROMOTE_WAIT_SECONDS, DEFAULT_REPLICATION_TIMEOUT_MS } from './replication.js';
export { freePort, freePorts } from './free-port.js';
export * from './errors.js';
