/**
 * `scaleout/runtime`: runs a scaled-out deployment of an app from one config file:
 * engines, the balancer, N identical instances started from an immutable build,
 * rolling and blue-green deploys, live scaling, and a control API for status.
 */
export {
  defineConfig, runtimeConfigSchema,
  DEFAULT_BALANCER_ADMIN, DEFAULT_BALANCER_HEALTH_INTERVAL_MS, DEFAULT_BALANCER_LISTEN, DEFAULT_DRAIN_TIMEOUT_MS,
  DEFAULT_HEALTH_PATH, DEFAULT_HEALTH_TIMEOUT_MS, DEFAULT_INSTANCES, DEFAULT_POSTGRES_REPLICAS, DEFAULT_RESTART_INITIAL_MS,
  DEFAULT_RESTART_MAX_MS, DEFAULT_STOP_GRACE_MS, MAX_INSTANCES, PROFILES,
} from './config.js';
export type { DeployStrategy, Profile, RuntimeConfig, RuntimeConfigInput, ShardsConfig } from './config.js';
export { CONFIG_FILE_NAMES, loadConfig, parseConfig } from './config-loader.js';
export type { LoadedConfig } from './config-loader.js';
export { BUILD_EXCLUDED_DIRS, BUILD_ID_HEX_CHARS, computeBuild } from './build-id.js';
export type { BuildSource } from './build-id.js';
export { buildImage, imagesDir, runDir, STATE_DIR_NAME, unpackImage } from './image.js';
export type { BuildImage } from './image.js';
export { Supervisor, BALANCER_SHUTDOWN_MS, DEFAULT_POOL_NAME } from './supervisor.js';
export type { QueueStats } from './queue-depth.js';
export type { BuildResult, ControlHost, ControlPages, ProcessAction, ScaleResult, SupervisorOptions, UpSummary } from './supervisor.js';
export type { DeployResult } from './deploy.js';
export type { EventInput, LegacyNotice, RuntimeEvent, RuntimeEventBody, RuntimeEventKind, SupervisorEvent } from './events.js';
export { EventRing, DEFAULT_EVENT_RING_SIZE } from './event-ring.js';
export type { EventRingOptions, EventsSince } from './event-ring.js';
export { describeEvent, formatEventLine, isEcho } from './event-text.js';
export type { EventText } from './event-text.js';
export { EVENTS_HEARTBEAT_MS, EVENTS_MAX_BUFFERED_BYTES, EVENTS_RETRY_MS, parseEventId, streamEvents } from './event-stream.js';
export type { EventFeed } from './event-stream.js';
export { followEvents } from './event-follower.js';
export type { FollowEventsOptions } from './event-follower.js';
export { ControlClient } from './control-client.js';
export type { DbRequest } from './control-api.js';
export { DB_FAILOVER_CHECK_INTERVAL_MS, SWITCHOVER_TIMEOUT_MS } from './postgres-guard.js';
export type { RebuildResult, SwitchoverResult } from './postgres-guard.js';
export { RESHARD_CONNECT_TIMEOUT_MS } from './app-reshard.js';
export type { AppReshardRequest, AppReshardResult } from './app-reshard.js';
export { readSupervisorFile, supervisorFilePath } from './supervisor-file.js';
export type { SupervisorFile } from './supervisor-file.js';
export { DEFAULT_RESTART_STABLE_MS } from './restart-backoff.js';
export { findRedisServer } from './engines/redis-server.js';
export { compareProcesses, ROLE_ORDER } from './status.js';
export type { DbStatus, ProcessRole, ProcessState, ProcessStatus, RuntimeStatus, ShardsStatus, SupervisorState } from './status.js';
export { DEFAULT_INSTANCE_HOST, INSTANCE_ENV, instanceEnv } from './instance-env.js';
export type { EnvSessionKey, InstanceEnv, InstanceEnvOptions, InstanceNeed, InstanceProfile } from './instance-env.js';
export * from './errors.js';
export * from './vip/index.js';
export { NetnsLab, namespaceHost, HOST_INTERFACE, LAB_SUBNET, MAX_LAB_HOSTS, NETNS_PREFIX } from './netns/netns-lab.js';
export type { NetnsHost } from './netns/netns-lab.js';
export { applyHostFault, healHost, HOST_FAULT_TABLE } from './netns/host-faults.js';
export type { HostFault } from './netns/host-faults.js';
export * from './netns/errors.js';
export * from './chaos/errors.js';
export { stampEvent } from './events.js';
export { Chaos, CHAOS_LEDGER_FILE } from './chaos/chaos.js';
export type { ChaosFault, ChaosOptions } from './chaos/chaos.js';
export { CHAOS_FAULTS, CHAOS_ROLE_WORDS, MAX_SLOW_MS, parseChaosRequest } from './chaos/chaos-request.js';
export type { ChaosFaultKind, ChaosRequest } from './chaos/chaos-request.js';
export { CHAOS_TABLE_PREFIX } from './chaos/loopback-faults.js';
export { DELAY_PROXY_SOURCE } from './chaos/delay-proxy.js';
