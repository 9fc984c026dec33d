import type { ShardsConfig } from './config.js';

/** Where the app's shards and their directory are, as URLs. */
export interface ShardUrls {
  /** The database holding the directory, as status shows it (a name, never a URL with a password). */
  directoryName: string;
  directoryUrl: string;
  /** By shard name, in config order. A shard's name is its database name. */
  shards: Map<string, string>;
}

/** `url` with its database replaced. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

const isUrl = (ref: string): boolean => /^postgres(ql)?:\/\//.test(ref);

/** The database name a config entry (a name or a URL) stands for. */
export function databaseNameOf(ref: string): string {
  if (!isUrl(ref)) return ref;
  try {
    return decodeURIComponent(new URL(ref).pathname.slice(1)) || 'postgres';
  } catch {
    return ref;
  }
}

/**
 * Resolves `db.shards` against the current primary: a database name lives on the
 * primary's server (the shop keeps its shards there), a URL stays as it is. The
 * directory defaults to the primary URL's own database (the shop's catalogue).
 */
export function resolveShardUrls(config: ShardsConfig, primaryUrl: string, extra: readonly string[] = []): ShardUrls {
  const url = (ref: string): string => (isUrl(ref) ? ref : withDatabase(primaryUrl, ref));
  const shards = new Map<string, string>();
  for (const ref of [...config.databases, ...extra]) {
    const name = databaseNameOf(ref);
    if (!shards.has(name)) shards.set(name, url(ref));
  }
  const directory = config.directory;
  return {
    directoryName: directory === undefined ? databaseNameOf(primaryUrl) : databaseNameOf(directory),
    directoryUrl: directory === undefined ? primaryUrl : url(directory),
    shards,
  };
}
