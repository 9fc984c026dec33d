import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tar from 'tar';
import { computeBuild } from './build-id.js';
import { BuildError } from './errors.js';

/** Runtime state of an app, inside its folder (and excluded from its builds). */
export const STATE_DIR_NAME = '.scaleout';
/** Marks a fully unpacked run folder; one without it was interrupted and is unpacked again. */
const UNPACKED_MARKER = '.scaleout-unpacked';
// Archive entries get this time, so the bytes of an image depend on the files alone.
const FIXED_MTIME = new Date('2000-01-01T00:00:00Z');

/** An immutable, content-addressed artifact of the app. */
export interface BuildImage {
  buildId: string;
  /** `<app>/.scaleout/images/<buildId>.tgz` */
  imagePath: string;
  /** False when an image of this content already existed (it is never overwritten). */
  created: boolean;
  fileCount: number;
}

export function imagesDir(appDir: string): string {
  return join(appDir, STATE_DIR_NAME, 'images');
}

export function runDir(appDir: string, buildId: string): string {
  return join(appDir, STATE_DIR_NAME, 'run', buildId);
}

/**
 * Builds the app in `appDir`: hashes it ({@link computeBuild}) and writes
 * `.scaleout/images/<buildId>.tgz` unless it exists. The tarball is written under a
 * temporary name and renamed, so a reader never sees half an image.
 */
export async function buildImage(appDir: string): Promise<BuildImage> {
  const source = await computeBuild(appDir);
  const dir = imagesDir(appDir);
  const imagePath = join(dir, `${source.buildId}.tgz`);
  if (existsSync(imagePath)) return { buildId: source.buildId, imagePath, created: false, fileCount: source.files.length };
  const partial = `${imagePath}.${randomBytes(4).toString('hex')}.partial`;
  try {
    await mkdir(dir, { recursive: true });
    await tar.create({ gzip: true, file: partial, cwd: appDir, portable: true, mtime: FIXED_MTIME, noDirRecurse: true }, source.files);
    if (existsSync(imagePath)) await rm(partial, { force: true });
    else await rename(partial, imagePath);
  } catch (err) {
    await rm(partial, { force: true });
    throw new BuildError(`cannot write the image ${imagePath} (${(err as Error).message}); check free disk space and permissions`, { cause: err });
  }
  return { buildId: source.buildId, imagePath, created: true, fileCount: source.files.length };
}

/**
 * Unpacks an image to `<app>/.scaleout/run/<buildId>/` (read-only by convention) and
 * returns that folder; an already unpacked image is reused. Living inside the app
 * folder lets Node's module resolution walk up to the app's and the repo's
 * `node_modules`, so the image carries no packages of its own.
 */
export function unpackImage(appDir: string, buildId: string): Promise<string> {
  const target = runDir(appDir, buildId);
  // Instances started together share one unpacking instead of racing over the folder.
  let pending = unpacking.get(target);
  if (pending === undefined) {
    pending = unpack(appDir, buildId, target).finally(() => unpacking.delete(target));
    unpacking.set(target, pending);
  }
  return pending;
}

const unpacking = new Map<string, Promise<string>>();

async function unpack(appDir: string, buildId: string, target: string): Promise<string> {
  if (existsSync(join(target, UNPACKED_MARKER))) return target;
  const imagePath = join(imagesDir(appDir), `${buildId}.tgz`);
  if (!existsSync(imagePath)) throw new BuildError(`no image ${imagePath}; run \`scaleout build\` first`);
  const partial = `${target}.${randomBytes(4).toString('hex')}.partial`;
  try {
    await mkdir(partial, { recursive: true });
    await tar.extract({ file: imagePath, cwd: partial, strict: true });
    await writeFile(join(partial, UNPACKED_MARKER), `${buildId}\n`);
    await rm(target, { recursive: true, force: true });
    await rename(partial, target);
  } catch (err) {
    await rm(partial, { recursive: true, force: true });
    throw new BuildError(`cannot unpack ${imagePath} (${(err as Error).message}); delete it and build again`, { cause: err });
  }
  return target;
}
