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
// Debian's package when it is missing. Only root may run apt-get.
if (!existsSync('/usr/bin/memcached')) {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root) {
    console.error('memcached is missing (/usr/bin/memcached) and this is not root: ' +
      'install it with `sudo apt-get update && sudo apt-get install -y memcached`, then run this again');
    process.exit(1);
  }
  console.log('installing memcached (apt-get update && apt-get install -y memcached)…');
  execSync('apt-get update', { stdio: 'inherit' });
  execSync('apt-get install -y memcached', { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}
