import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE, ERROR_DOMAINS, NOT_ERROR_CODES } from '../scripts/error-catalogue.js';
import { DB_REQUEST_CODES, DbRequestError } from '../src/runtime/errors.js';
import { ERRORS_DOC_PATH, renderErrorsDoc } from '../scripts/errors-doc.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = join(ROOT, 'src');

// A code is SCALEOUT_ and capitals; `\b` keeps out names that merely contain one
// (F_SCALEOUT_LOAD), and the first character after the prefix keeps out the
// `SCALEOUT_<DOMAIN>_<PROBLEM>` pattern in comments. A code built with a template
// (`SCALEOUT_X_${y}`) shows up as its prefix and so is reported: spell codes out.
const CODE = /\bSCALEOUT_[A-Z0-9][A-Z0-9_]*/g;
const CLASS_START = /^(?:export\s+)?(?:abstract\s+)?class\s+(\w+)\b[^{]*\{/gm;
const OWN_CODE = /static\s+readonly\s+code(?::\s*string)?\s*=\s*'(SCALEOUT_[A-Z0-9_]+)'|super\(\s*'(SCALEOUT_[A-Z0-9_]+)'/;

/** Every `SCALEOUT_*` name in a text, wherever it is: code, string literal, comment. */
function findCodes(text: string): string[] {
  return [...new Set(text.match(CODE) ?? [])];
}

/** The classes a source file declares, with the code each passes to its base class. */
function findClassCodes(text: string): Array<{ className: string; code: string }> {
  const starts = [...text.matchAll(CLASS_START)];
  const found: Array<{ className: string; code: string }> = [];
  starts.forEach((start, i) => {
    const body = text.slice(start.index, starts[i + 1]?.index ?? text.length);
    const own = OWN_CODE.exec(body);
    if (own !== null) found.push({ className: start[1]!, code: (own[1] ?? own[2])! });
  });
  return found;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? sourceFiles(path) : [path];
  });
}

const sources = sourceFiles(SRC).map((path) => ({ file: relative(ROOT, path), text: readFileSync(path, 'utf8') }));
const catalogued = new Set(ERROR_CATALOGUE.map((e) => e.code));

describe('the detectors', () => {
  it('find a code wherever it is written, and nothing that only looks like one', () => {
    const text = [
      "res.end(JSON.stringify({ error: { code: 'SCALEOUT_X_ONLY_IN_A_LITERAL' } }));",
      '// answers 403 SCALEOUT_X_IN_A_COMMENT',
      'const id = F_SCALEOUT_LOAD; // `SCALEOUT_<DOMAIN>_<PROBLEM>`',
      'super(`SCALEOUT_X_BUILT_${problem}`, message);',
    ].join('\n');
    expect(findCodes(text).sort()).toEqual(['SCALEOUT_X_BUILT_', 'SCALEOUT_X_IN_A_COMMENT', 'SCALEOUT_X_ONLY_IN_A_LITERAL']);
  });

  it('see two classes that share a code', () => {
    const text = [
      'export class AError extends ScaleoutError {',
      "  static readonly code: string = 'SCALEOUT_X_SAME';",
      '  constructor() { super(AError.code, "a"); }',
      '}',
      'export class BError extends BalancerError {',
      "  constructor() { super('SCALEOUT_X_SAME', 500, 'b'); }",
      '}',
      'class Helper {}',
    ].join('\n');
    expect(findClassCodes(text)).toEqual([
      { className: 'AError', code: 'SCALEOUT_X_SAME' },
      { className: 'BError', code: 'SCALEOUT_X_SAME' },
    ]);
  });
});

describe('the error catalogue', () => {
  it('lists every SCALEOUT_ code that appears anywhere in src/', () => {
    const missing: string[] = [];
    for (const { file, text } of sources) {
      for (const code of findCodes(text)) {
        if (!catalogued.has(code) && !NOT_ERROR_CODES.has(code)) missing.push(`${code} (${file})`);
      }
    }
    // Add each to the catalogue at the end of its domain's errors.ts (an environment
    // variable goes to NOT_ERROR_CODES in scripts/error-catalogue.ts), then run
    // `npm run docs:errors`.
    expect(missing).toEqual([]);
  });

  it('lists each code once, well formed, with what it means and what to do', () => {
    const seen = new Map<string, number>();
    for (const entry of ERROR_CATALOGUE) seen.set(entry.code, (seen.get(entry.code) ?? 0) + 1);
    expect([...seen].filter(([, n]) => n > 1).map(([code]) => code)).toEqual([]);
    for (const entry of ERROR_CATALOGUE) {
      expect(entry.code).toMatch(/^SCALEOUT_[A-Z0-9]+(_[A-Z0-9]+)+$/);
      expect(NOT_ERROR_CODES.has(entry.code), entry.code).toBe(false);
      expect(entry.meaning.length, `${entry.code} meaning`).toBeGreaterThan(10);
      expect(entry.action.length, `${entry.code} action`).toBeGreaterThan(10);
      if (entry.status !== undefined) expect(entry.status >= 400 && entry.status <= 599, entry.code).toBe(true);
    }
  });

  it('gives no two classes in src/ the same code', () => {
    const classesByCode = new Map<string, string[]>();
    for (const { file, text } of sources) {
      for (const { className, code } of findClassCodes(text)) {
        classesByCode.set(code, [...(classesByCode.get(code) ?? []), `${className} (${file})`]);
      }
    }
    expect(classesByCode.size).toBeGreaterThan(50);
    expect([...classesByCode].filter(([, classes]) => classes.length > 1)).toEqual([]);
  });

  it('names, for each code with a class, the class that carries that code', () => {
    const codeOfClass = new Map<string, string>();
    const declared = new Set<string>();
    for (const { text } of sources) {
      for (const m of text.matchAll(CLASS_START)) declared.add(m[1]!);
      for (const { className, code } of findClassCodes(text)) codeOfClass.set(className, code);
    }
    const wrong = ERROR_CATALOGUE
      .filter((e) => e.className !== undefined)
      .filter((e) => !declared.has(e.className!) || (codeOfClass.has(e.className!) && codeOfClass.get(e.className!) !== e.code))
      .map((e) => `${e.code}: ${e.className} carries ${codeOfClass.get(e.className!) ?? 'no such class'}`);
    expect(wrong).toEqual([]);
  });

  it('takes its part from every errors.ts in src/ (a new domain is listed in scripts/error-catalogue.ts)', () => {
    const errorFiles = sources.map((s) => s.file.replaceAll('\\', '/')).filter((f) => f.endsWith('/errors.ts'));
    const listed = new Set(ERROR_DOMAINS.map((d) => d.file));
    expect(errorFiles.filter((f) => !listed.has(f))).toEqual([]);
    for (const { file, entries } of ERROR_DOMAINS) expect(entries.length, file).toBeGreaterThan(0);
  });

  it('keeps the codes of a class with several codes as they were', () => {
    for (const [problem, code] of Object.entries(DB_REQUEST_CODES)) {
      expect(new DbRequestError(problem as keyof typeof DB_REQUEST_CODES, 'x').code).toBe(code);
      expect(code).toBe(`SCALEOUT_RUNTIME_DB_${problem}`);
    }
  });

  it('is what docs/errors.md shows (run `npm run docs:errors` after changing it)', () => {
    expect(readFileSync(ERRORS_DOC_PATH, 'utf8')).toBe(renderErrorsDoc());
  });
});
