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

// Debian packages the tests (and some optional features) need. Only root may run
// apt-get; anyone else gets the command to run, and everything that does not need the
// package still works: a missing one never stops `npm start`.
const debianPackages = [
  { binary: '/usr/bin/memcached', pkg: 'memcached', neededBy: 'the Memcached cache L2 and its tests' },
  { binary: '/usr/bin/dig', pkg: 'dnsutils', neededBy: 'the DNS server\'s tests (dig)' },
  { binary: '/usr/bin/chromium', pkg: 'chromium', neededBy: 'the dashboard\'s browser test' },
  { binary: '/usr/sbin/ip', pkg: 'iproute2', neededBy: 'network namespace hosts (chaos, floating address tests)' },
  { binary: '/usr/sbin/nft', pkg: 'nftables', neededBy: '`scaleout chaos` network faults' },
  { binary: '/usr/sbin/keepalived', pkg: 'keepalived', neededBy: 'the floating address (balancer.vip) and its tests' },
  { binary: '/usr/bin/curl', pkg: 'curl', neededBy: 'the network namespace tests' },
  { binary: '/usr/sbin/pgbouncer', pkg: 'pgbouncer', neededBy: 'the test of the jobs\' prepared statements behind a connection pooler' },
];
const missing = debianPackages.filter((p) => !existsSync(p.binary));
if (missing.length > 0) {
  const names = missing.map((p) => p.pkg).join(' ');
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root) {
    for (const p of missing) console.warn(`${p.binary} is missing; ${p.neededBy} need it.`);
    console.warn(`Only root can install them: run \`sudo apt-get update && sudo apt-get install -y ${names}\``);
  } else {
    console.log(`installing ${names} (apt-get update && apt-get install -y ${names})…`);
    try {
      execSync('apt-get update', { stdio: 'inherit' });
      execSync(`apt-get install -y ${names}`, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    } catch (err) {
      console.warn(`installing ${names} failed (${err.message}); ${missing.map((p) => p.neededBy).join(', ')} need them`);
    }
  }
}
