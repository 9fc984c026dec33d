// Apart from the option schema: the CLI checks `--workers` without loading the schema library.

/** The most balancer worker processes one balancer runs. */
export const MAX_WORKERS = 64;
