import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Replaces the `## <title>` section of a Markdown file with `body`, leaving
 * every other section alone (other benchmarks write theirs). The section runs
 * to the next `## ` heading. A missing file is created with `intro`; a missing
 * section is appended.
 */
export function replaceSection(markdown: string, title: string, body: string): string {
  const heading = `## ${title}`;
  const section = `${heading}\n\n${body.trim()}\n`;
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.trimEnd() === heading);
  if (start < 0) return `${markdown.trimEnd()}\n\n${section}`;
  let end = lines.findIndex((l, i) => i > start && /^## /.test(l));
  if (end < 0) end = lines.length;
  const before = lines.slice(0, start).join('\n').trimEnd();
  const after = lines.slice(end).join('\n').trim();
  return `${before}\n\n${section}${after === '' ? '' : `\n${after}\n`}`;
}

/** Writes `body` as the `## <title>` section of `file`, creating the file with `intro` when missing. */
export function writeSection(file: string, title: string, body: string, intro: string): void {
  const current = existsSync(file) ? readFileSync(file, 'utf8') : `${intro.trim()}\n`;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, replaceSection(current, title, body));
}
