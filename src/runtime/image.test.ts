import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BUILD_ID_HEX_CHARS, computeBuild } from './build-id.js';
import { buildImage, runDir, unpackImage } from './image.js';

describe('builds', () => {
  let root: string;
  let app: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'scaleout-build-'));
    app = join(root, 'app');
    await mkdir(join(app, 'src'), { recursive: true });
    await writeFile(join(app, 'server.mjs'), 'console.log(1)\n');
    await writeFile(join(app, 'src', 'util.mjs'), 'export const x = 1;\n');
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('hashes the files and nothing else: not state, packages, history or timestamps', async () => {
    const first = await computeBuild(app);
    expect(first.buildId).toMatch(new RegExp(`^[0-9a-f]{${BUILD_ID_HEX_CHARS}}$`));
    expect(first.files).toEqual(['server.mjs', 'src/util.mjs']);
    for (const ignored of ['.scaleout', 'node_modules', '.git']) {
      await mkdir(join(app, ignored), { recursive: true });
      await writeFile(join(app, ignored, 'x'), 'ignored');
    }
    await writeFile(join(app, 'server.mjs'), 'console.log(1)\n');
    expect((await computeBuild(app)).buildId).toBe(first.buildId);
    await writeFile(join(app, 'src', 'util.mjs'), 'export const x = 2;\n');
    expect((await computeBuild(app)).buildId).not.toBe(first.buildId);
  });

  it('counts a path change and the lockfile (the app\'s own, else the nearest above)', async () => {
    const base = (await computeBuild(app)).buildId;
    await writeFile(join(root, 'package-lock.json'), '{"lockfileVersion":3}');
    const withRepoLock = await computeBuild(app);
    expect(withRepoLock.lockfile).toBe(join(root, 'package-lock.json'));
    expect(withRepoLock.buildId).not.toBe(base);
    await writeFile(join(app, 'package-lock.json'), '{"lockfileVersion":3,"own":true}');
    const own = await computeBuild(app);
    expect(own.lockfile).toBe(join(app, 'package-lock.json'));
    await rm(join(app, 'package-lock.json'));
    await rm(join(root, 'package-lock.json'));
    await rm(join(app, 'src', 'util.mjs'));
    await writeFile(join(app, 'util.mjs'), 'export const x = 1;\n');
    expect((await computeBuild(app)).buildId).not.toBe(base);
  });

  it('writes an image once, never overwrites it, and unpacks it to the run folder', async () => {
    const image = await buildImage(app);
    expect(image).toMatchObject({ created: true, fileCount: 2, imagePath: join(app, '.scaleout', 'images', `${image.buildId}.tgz`) });
    const written = await stat(image.imagePath);
    const again = await buildImage(app);
    expect(again).toMatchObject({ buildId: image.buildId, created: false });
    expect((await stat(image.imagePath)).mtimeMs).toBe(written.mtimeMs);

    const [a, b] = await Promise.all([unpackImage(app, image.buildId), unpackImage(app, image.buildId)]);
    expect(a).toBe(runDir(app, image.buildId));
    expect(b).toBe(a);
    expect(await readFile(join(a, 'src', 'util.mjs'), 'utf8')).toBe('export const x = 1;\n');
    // The working tree moves on; the image does not.
    await writeFile(join(app, 'server.mjs'), 'console.log(2)\n');
    expect(await readFile(join(await unpackImage(app, image.buildId), 'server.mjs'), 'utf8')).toBe('console.log(1)\n');
    await expect(unpackImage(app, 'feedfacecafe')).rejects.toThrow(/no image .*feedfacecafe\.tgz; run `scaleout build` first/);
    expect(existsSync(runDir(app, 'feedfacecafe'))).toBe(false);
  });
});
