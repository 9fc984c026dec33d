import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describeIssues } from '../internal/zod-issues.js';
import { runtimeConfigSchema } from './config.js';
import type { RuntimeConfig } from './config.js';
import { AppEntryNotFoundError, RuntimeConfigError } from './errors.js';

/** Looked for in this order in the app folder. */
export const CONFIG_FILE_NAMES = ['scaleout.config.ts', 'scaleout.config.mts', 'scaleout.config.js', 'scaleout.config.mjs', 'scaleout.config.json'] as const;

/** A validated config and where it came from. */
export interface LoadedConfig {
  /** Absolute app folder. */
  dir: string;
  /** Absolute path of the config file. */
  file: string;
  config: RuntimeConfig;
}

/**
 * Finds, loads and validates the config of the app in `dir`. TypeScript configs are
 * loaded with tsx, so they may import `defineConfig` from `scaleout/runtime`.
 * Fails with a {@link RuntimeConfigError} that names the field, the value and what
 * is allowed, or an {@link AppEntryNotFoundError}.
 */
export async function loadConfig(dir: string): Promise<LoadedConfig> {
  const appDir = resolve(dir);
  if (!existsSync(appDir) || !statSync(appDir).isDirectory()) {
    throw new RuntimeConfigError(`${appDir} is not a folder; pass the folder of the app that holds scaleout.config.ts`);
  }
  const name = CONFIG_FILE_NAMES.find((n) => existsSync(join(appDir, n)));
  if (name === undefined) {
    throw new RuntimeConfigError(`no scaleout.config.ts, .js or .json in ${appDir}; create one with defineConfig({ app: { entry: 'server.ts' } })`);
  }
  const file = join(appDir, name);
  const raw = await readConfigFile(file);
  const config = parseConfig(raw, name);
  if (!existsSync(join(appDir, config.app.entry))) throw new AppEntryNotFoundError(config.app.entry, appDir);
  return { dir: appDir, file, config };
}

/** Validates a config object; the error names the file, field, value and what is allowed. */
export function parseConfig(raw: unknown, source = 'scaleout.config'): RuntimeConfig {
  const result = runtimeConfigSchema.safeParse(raw);
  if (!result.success) {
    // `listen: "host:port"` is checked as a list of one; name the field the user wrote.
    const listenText = typeof (raw as { balancer?: { listen?: unknown } } | null)?.balancer?.listen === 'string';
    const issues = result.error.issues.map((issue) => (listenText && issue.path[0] === 'balancer' && issue.path[1] === 'listen' ? { ...issue, path: ['balancer', 'listen'] } : issue));
    throw new RuntimeConfigError(`${source}: ${describeIssues(issues, raw)}`);
  }
  return result.data;
}


async function readConfigFile(file: string): Promise<unknown> {
  if (file.endsWith('.json')) {
    const text = await readFile(file, 'utf8');
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new RuntimeConfigError(`${file} is not valid JSON (${(err as Error).message}); fix the syntax`, { cause: err });
    }
  }
  let module: { default?: unknown };
  try {
    const { tsImport } = await import('tsx/esm/api');
    module = await tsImport(pathToFileURL(file).href, import.meta.url) as { default?: unknown };
  } catch (err) {
    throw new RuntimeConfigError(`cannot load ${file}: ${firstLine(err)}; fix the error in the file`, { cause: err });
  }
  // tsx may load the file as CommonJS; its exports object then arrives as `default`:
  // `export default x` as { default: { default: x } }, named exports alone as
  // { default: { name }, name }, `module.exports = x` as { default: x }.
  let config = module.default;
  const named = Object.keys(module).filter((k) => k !== 'default');
  const isObject = config !== null && typeof config === 'object';
  if (isObject && 'default' in (config as object)) config = (config as { default: unknown }).default;
  else if (isObject && named.length > 0 && named.every((k) => (config as Record<string, unknown>)[k] === (module as Record<string, unknown>)[k])) config = undefined;
  if (config === undefined) {
    throw new RuntimeConfigError(`${file} has no default export; end it with \`export default defineConfig({ ... })\``);
  }
  return config;
}

/** A loader error on one line: esbuild puts the useful part on the lines after the first. */
function firstLine(err: unknown): string {
  const text = String((err as Error)?.message ?? err).split('\n').map((l) => l.trim()).filter(Boolean).join(' ').replace(/:\s*$/, '');
  return text.length > 240 ? `${text.slice(0, 240)}…` : text;
}
