// `npm test` and `npm start` must work on a fresh checkout: install dependencies
// first when they are missing or older than the lockfile.
import { execSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';

const marker = 'node_modules/.package-lock.json';
const stale = !existsSync(marker) || statSync(marker).mtimeMs < statSync('package-lock.json').mtimeMs;
if (stale) {
  console.log('installing dependencies (npm install)…');
  execSync('npm install --no-audit --no-fund', { stdio: 'inherit' });
}

// The cache tests (and the Memcached cache L2) start their own memcached: install
// Debian's package when it is missing. Only root may run apt-get; anyone else gets the
// command to run, and everything that does not need memcached still works.
if (!existsSync('/usr/bin/memcached')) {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root) {
    console.warn('memcached is missing (/usr/bin/memcached), and only root can install it: ' +
      'run `sudo apt-get update && sudo apt-get install -y memcached` for the Memcached cache L2 and its tests');
  } else {
    console.log('installing memcached (apt-get update && apt-get install -y memcached)…');
    try {
      execSync('apt-get update', { stdio: 'inherit' });
      execSync('apt-get install -y memcached', { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    } catch (err) {
      console.warn(`installing memcached failed (${err.message}); the Memcached cache L2 and its tests need it`);
    }
  }
}

// The dashboard's browser test drives Debian's chromium (playwright-core, no bundled
// browser). Like memcached: root installs it, anyone else gets the command.
if (!existsSync('/usr/bin/chromium')) {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root) {
    console.warn('chromium is missing (/usr/bin/chromium), and only root can install it: ' +
      'run `sudo apt-get update && sudo apt-get install -y chromium` for the dashboard\'s browser test');
  } else {
    console.log('installing chromium (apt-get update && apt-get install -y chromium)…');
    try {
      execSync('apt-get update', { stdio: 'inherit' });
      execSync('apt-get install -y chromium', { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    } catch (err) {
      console.warn(`installing chromium failed (${err.message}); the dashboard's browser test needs it`);
    }
  }
}
