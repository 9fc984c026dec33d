// The DNS server's defaults and limits, apart from the option schema: the CLI's help
// shows them without loading the schema library.

/** Answers live this long in resolvers' caches: short, so a dead balancer leaves them fast. */
export const DEFAULT_TTL_SEC = 5;
/** The highest TTL allowed: above it a dead balancer stays in caches too long for failover. */
export const MAX_TTL_SEC = 5;
/** The UDP payload size we advertise in EDNS0 and accept from clients at most (the DNS Flag Day 2020 value). */
export const DEFAULT_UDP_PAYLOAD_BYTES = 1232;
/** A TCP connection with no complete query for this long is closed. */
export const DEFAULT_TCP_IDLE_MS = 10_000;
/** At most this many TCP connections at once; more are closed at accept. */
export const DEFAULT_MAX_TCP_CONNECTIONS = 256;
export const DEFAULT_HEALTH = Object.freeze({ intervalMs: 1_000, timeoutMs: 1_000, rise: 2, fall: 2 });
