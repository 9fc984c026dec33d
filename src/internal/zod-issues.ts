import type { z } from 'zod';

/**
 * One line for invalid options: for each of the first few issues, the field, what is
 * allowed, and the value that was given, so a user fixes a config without reading code.
 *
 * @example `pools.web.strategy: Invalid option: expected one of "round-robin"|... (got "random")`
 */
export function describeIssues(issues: readonly z.core.$ZodIssue[], input: unknown, max = 3): string {
  return issues.slice(0, max).map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const at = issue.path.map(String);
      return issue.keys.map((key) => `${[...at, key].join('.')}: unknown field; remove it or check its spelling`).join('; ');
    }
    const path = issue.path.map(String).join('.') || '(root)';
    const value = valueAt(input, issue.path);
    const shown = value === undefined ? 'missing' : JSON.stringify(value)?.slice(0, 80);
    return `${path}: ${issue.message} (got ${shown})`;
  }).join('; ');
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let at: unknown = input;
  for (const key of path) {
    if (at === null || typeof at !== 'object') return undefined;
    at = (at as Record<PropertyKey, unknown>)[key];
  }
  return at;
}
