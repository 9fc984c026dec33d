import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Makes this process the only benchmark run using `file`'s folder. Two runs at
 * once would load the same CPUs and measure each other, and each would take
 * the other's processes for leftovers; so a second run is refused while the
 * first lives, and a lock left by a killed run is taken over.
 * Returns a function that releases the lock.
 */
export function acquireRunLock(file: string): () => void {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      const release = (): void => {
        try {
          if (readFileSync(file, 'utf8').trim() === String(process.pid)) rmSync(file, { force: true });
        } catch {
          // already gone
        }
      };
      process.once('exit', release);
      return release;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner = NaN;
    try {
      owner = Number(readFileSync(file, 'utf8').trim());
    } catch {
      // removed between our open and read: try again
    }
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
      throw new Error(`another balancer benchmark (pid ${owner}) is running; wait for it to finish: two runs at once measure each other`);
    }
    rmSync(file, { force: true });
  }
  throw new Error(`could not take the benchmark lock ${file}; remove it if no benchmark is running`);
}
