#!/usr/bin/env bash
# Installs every Debian 12 package Kontena/C++ needs to build, test and run.
# Idempotent: when all packages are already installed it does nothing (no apt-get at all).
# Works as root; otherwise uses sudo.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential g++ cmake ninja-build pkg-config
  # libraries
  libboost-dev libssl-dev nlohmann-json3-dev libyaml-cpp-dev libspdlog-dev libcli11-dev
  libsqlite3-dev sqlite3 libgtest-dev libgmock-dev
  # tools used by the scripts and the end-to-end tests
  curl iproute2 procps ca-certificates jq
  # real components the platform drives (agent, overlay, load balancer)
  docker.io etcd-server haproxy
  # the grid's private image registry; the e2e tests pull from a local one (DESIGN §1, §8)
  docker-registry
  # the multi-node test bed builds its local busybox image from this (tests/testbed)
  busybox-static
  # benchmarks: dnsmasq is the DNS baseline the agent's resolver is measured against (bench/)
  dnsmasq-base
)

log() { printf 'setup: %s\n' "$*" >&2; }

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  if [[ "$status" != "installed" ]]; then
    missing+=("$pkg")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  log "all ${#PACKAGES[@]} packages are installed"
  exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if ! command -v sudo >/dev/null 2>&1; then
    log "missing packages: ${missing[*]}"
    log "not root and sudo is not installed: run this script as root"
    exit 1
  fi
  SUDO=(sudo)
fi

log "installing: ${missing[*]}"

# Packages such as docker.io, etcd-server and haproxy would start their system services at
# install time. The project's scripts start the daemons they need themselves (an etcd or haproxy
# service on the default ports would get in the way), so deny service starts while we install,
# through the standard policy-rc.d hook, unless the machine already has one.
POLICY=/usr/sbin/policy-rc.d
policy_added=0
cleanup() {
  if [[ $policy_added -eq 1 ]]; then
    "${SUDO[@]}" rm -f "$POLICY"
  fi
}
trap cleanup EXIT
if [[ ! -e "$POLICY" ]]; then
  printf '#!/bin/sh\n# added by kontena scripts/setup.sh during apt-get install\nexit 101\n' |
    "${SUDO[@]}" tee "$POLICY" >/dev/null
  "${SUDO[@]}" chmod 755 "$POLICY"
  policy_added=1
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"

log "done"
