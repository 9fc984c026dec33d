#!/usr/bin/env bash
# Installs the peers and the load generator the balancer benchmark compares
# against. Idempotent: touches apt only when a tool is missing, so it is cheap
# to run before every benchmark.
set -euo pipefail

missing=()
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
# nginx-light is enough (upstream, proxy, hash, least_conn are all built in)
# and pulls in fewer modules than the full package.
command -v nginx >/dev/null 2>&1 || missing+=(nginx-light)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v taskset >/dev/null 2>&1 || missing+=(util-linux)

if [ ${#missing[@]} -eq 0 ]; then
  echo "bench/setup.sh: haproxy, nginx, wrk and taskset are present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi

echo "bench/setup.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Debian starts services on install; the benchmark runs its own instances on
# its own ports, so the packaged ones must not hold port 80 or CPU.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
for svc in nginx haproxy; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    $SUDO systemctl stop "$svc" || true
    $SUDO systemctl disable "$svc" >/dev/null 2>&1 || true
  elif command -v service >/dev/null 2>&1; then
    $SUDO service "$svc" stop >/dev/null 2>&1 || true
  fi
done
echo "bench/setup.sh: done"
