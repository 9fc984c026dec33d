import { DocumentPatchError } from './errors.js';

/** A place in a document: `'a.b.0'` or `['a', 'b', 0]` (use the list form for keys containing dots). */
export type DocumentPath = string | readonly (string | number)[];

/**
 * One atomic change. All operations of a patch apply in order, in one UPDATE, on the
 * row as it is when the UPDATE locks it: two concurrent patches never lose each
 * other's changes (no read-modify-write in the application).
 */
export type PatchOperation =
  /** Sets a value, creating missing parent objects (and replacing scalars in the way). */
  | { op: 'set'; path: DocumentPath; value: unknown }
  /** Removes a key or array element; a missing path is not an error. */
  | { op: 'remove'; path: DocumentPath }
  /** Adds `by` (default 1) to a number; a missing value counts as 0. */
  | { op: 'increment'; path: DocumentPath; by?: number }
  /** Appends to an array; a missing value becomes a one-element array. */
  | { op: 'append'; path: DocumentPath; value: unknown }
  /** Shallow-merges an object into the object at `path` (the root when omitted). */
  | { op: 'merge'; path?: DocumentPath; value: Record<string, unknown> };

/** Deepest path a patch may address. @defaultValue 32 */
export const MAX_PATH_DEPTH = 32;

function toPath(path: DocumentPath | undefined, allowRoot: boolean): string[] {
  if (path === undefined && allowRoot) return [];
  const parts = typeof path === 'string' ? path.split('.') : Array.isArray(path) ? path : undefined;
  if (parts === undefined) throw new DocumentPatchError(`path must be a string or a list, got ${typeof path}`);
  if (parts.length === 0 && !allowRoot) throw new DocumentPatchError('the path is empty');
  if (parts.length > MAX_PATH_DEPTH) throw new DocumentPatchError(`the path is deeper than ${MAX_PATH_DEPTH}`);
  return parts.map((p: unknown) => {
    if (typeof p === 'string' && p.length > 0) return p;
    if (typeof p === 'number' && Number.isSafeInteger(p)) return String(p);
    throw new DocumentPatchError(`path element ${JSON.stringify(p) ?? String(p)} is neither a non-empty key nor an integer index`);
  });
}

/** JSON text of `value`, or a {@link DocumentPatchError} saying why there is none. */
export function toJson(value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new DocumentPatchError('the value cannot be written as JSON', { cause: err });
  }
  if (text === undefined) throw new DocumentPatchError('the value is undefined or a function');
  return text;
}

/** The SQL expression for a patch over `source` (a column reference), with its parameters. */
export interface CompiledPatch {
  /** A scalar subquery computing the new document. */
  expression: string;
  params: unknown[];
}

/**
 * Compiles operations into one expression. Each step is a LATERAL subquery reading the
 * previous step's result by name, so the SQL grows linearly with the patch (nesting
 * the expressions instead would repeat each one inside the next).
 *
 * @param firstParam - number of the first `$n` placeholder this expression may use
 */
export function compilePatch(ops: readonly PatchOperation[], source: string, firstParam: number): CompiledPatch {
  if (!Array.isArray(ops) || ops.length === 0) throw new DocumentPatchError('a patch needs at least one operation');
  const params: unknown[] = [];
  const param = (value: unknown, cast: string): string => {
    params.push(value);
    return `$${firstParam + params.length - 1}::${cast}`;
  };
  const steps: string[] = [];
  const step = (expr: (d: string) => string): void => {
    const d = `d${steps.length}`;
    steps.push(`LATERAL (SELECT ${expr(d)} AS d${steps.length + 1}) s${steps.length + 1}`);
  };
  // Parents must exist as containers before jsonb_set can write below them.
  const ensureParents = (path: string[]): void => {
    for (let i = 1; i < path.length; i++) {
      const p = param(path.slice(0, i), 'text[]');
      step((d) => `CASE WHEN jsonb_typeof(${d} #> ${p}) IN ('object', 'array') THEN ${d} ELSE jsonb_set(${d}, ${p}, '{}'::jsonb, true) END`);
    }
  };
  for (const op of ops) {
    switch (op?.op) {
      case 'set': {
        const path = toPath(op.path, false);
        ensureParents(path);
        const p = param(path, 'text[]');
        const v = param(toJson(op.value), 'jsonb');
        step((d) => `jsonb_set(${d}, ${p}, ${v}, true)`);
        break;
      }
      case 'remove': {
        const p = param(toPath(op.path, false), 'text[]');
        step((d) => `${d} #- ${p}`);
        break;
      }
      case 'increment': {
        const by = op.by ?? 1;
        if (typeof by !== 'number' || !Number.isFinite(by)) throw new DocumentPatchError('increment.by must be a finite number');
        const path = toPath(op.path, false);
        ensureParents(path);
        const p = param(path, 'text[]');
        const n = param(String(by), 'numeric');
        step((d) => `jsonb_set(${d}, ${p}, to_jsonb(COALESCE((${d} #>> ${p})::numeric, 0) + ${n}), true)`);
        break;
      }
      case 'append': {
        const path = toPath(op.path, false);
        ensureParents(path);
        const p = param(path, 'text[]');
        const v = param(toJson(op.value), 'jsonb');
        step((d) => `jsonb_set(${d}, ${p}, COALESCE(${d} #> ${p}, '[]'::jsonb) || jsonb_build_array(${v}), true)`);
        break;
      }
      case 'merge': {
        if (typeof op.value !== 'object' || op.value === null || Array.isArray(op.value)) {
          throw new DocumentPatchError('merge.value must be an object');
        }
        const path = toPath(op.path, true);
        const v = param(toJson(op.value), 'jsonb');
        if (path.length === 0) {
          step((d) => `${d} || ${v}`);
        } else {
          ensureParents(path);
          const p = param(path, 'text[]');
          step((d) => `jsonb_set(${d}, ${p}, COALESCE(${d} #> ${p}, '{}'::jsonb) || ${v}, true)`);
        }
        break;
      }
      default:
        throw new DocumentPatchError(`unknown operation ${JSON.stringify((op as { op?: unknown } | null)?.op) ?? 'undefined'}`);
    }
  }
  return {
    expression: `(SELECT d${steps.length} FROM (SELECT ${source} AS d0) s0, ${steps.join(', ')})`,
    params,
  };
}
