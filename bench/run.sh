#!/usr/bin/env bash
# Builds build/ (scripts/build.sh) and runs every benchmark (bench/README.md). Not part of the
# test suite.
#
#   bench/run.sh [BENCH_API ARGS...]     arguments go to bench_api (as before)
#   BENCH_ONLY="api agents idle scheduler deploy dns overlay"  which benchmarks to run (default: all seven)
#   BENCH_AGENTS_ARGS="--agents 500"     arguments for bench_agents
#   AGENT_IDLE_ARGS="--sample 20"        arguments for agent_idle.sh
#   BENCH_DEPLOY_ARGS="--rounds 1"       arguments for bench_deploy.sh
#   DNS_BENCH_ARGS="--rounds 1"          arguments for dns_bench.sh
#
# agent_idle.sh and bench_deploy.sh need root (they bring up a one-node test bed) and the
# kontena-agent target; they are skipped, with a note, when either is missing.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ONLY=${BENCH_ONLY:-api agents idle scheduler deploy dns overlay}
want() { [[ " $ONLY " == *" $1 "* ]]; }

bash "$ROOT/scripts/setup.sh"
targets=(kontena-server kontena bench_api bench_agents bench_scheduler bench_dns overlay_tool tcp_throughput)
have_agent=0
if grep -q 'add_executable(kontena-agent' "$ROOT/src/agent/CMakeLists.txt" 2>/dev/null; then
  targets+=(kontena-agent)
  have_agent=1
fi
bash "$ROOT/scripts/build.sh" "${targets[@]}"

# bench_agents holds one socket per simulated agent, and so does the master it starts (which
# inherits the limit); bench_agents also raises its soft limit to the hard one itself.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

if want api; then
  echo
  echo "==== bench_api: master memory, GET /v1/grids latency and throughput, grid create ===="
  "$ROOT/build/bench/bench_api" --server "$ROOT/build/src/master/kontena-server" "$@"
fi

if want agents; then
  echo
  echo "==== bench_agents: simulated agents on the master's WebSocket hub ===="
  # shellcheck disable=SC2086
  "$ROOT/build/bench/bench_agents" --server "$ROOT/build/src/master/kontena-server" ${BENCH_AGENTS_ARGS:-}
fi

if want idle; then
  echo
  echo "==== agent_idle: one real kontena-agent, idle, on a one-node test bed ===="
  if [[ $have_agent != 1 ]]; then
    echo "skipped: this tree has no kontena-agent target"
  elif [[ $(id -u) != 0 ]]; then
    echo "skipped: needs root (sudo bench/agent_idle.sh)"
  else
    # shellcheck disable=SC2086
    "$ROOT/bench/agent_idle.sh" --build "$ROOT/build" ${AGENT_IDLE_ARGS:-}
  fi
fi

if want scheduler; then
  echo
  echo "==== bench_scheduler: placements per second (ha + affinity, 100,000 instances over 10,000 nodes) ===="
  "$ROOT/build/bench/bench_scheduler"
fi

if want deploy; then
  echo
  echo "==== bench_deploy: a 20-instance service: kontena stack install vs docker run vs Swarm mode ===="
  if [[ $have_agent != 1 ]]; then
    echo "skipped: this tree has no kontena-agent target"
  elif [[ $(id -u) != 0 ]]; then
    echo "skipped: needs root (sudo bench/bench_deploy.sh)"
  else
    # shellcheck disable=SC2086
    "$ROOT/bench/bench_deploy.sh" --build "$ROOT/build" ${BENCH_DEPLOY_ARGS:-}
  fi
fi

if want dns; then
  echo
  echo "==== dns_bench: the agent's DNS server vs dnsmasq, the same 1,500 names over UDP ===="
  # shellcheck disable=SC2086
  "$ROOT/bench/dns_bench.sh" --build "$ROOT/build" ${DNS_BENCH_ARGS:-}
fi

if want overlay; then
  echo
  echo "==== overlay_throughput: TCP between containers on two nodes over the VXLAN overlay vs the direct link ===="
  if [[ $(id -u) != 0 ]]; then
    echo "skipped: needs root (sudo bench/overlay_throughput.sh)"
  else
    "$ROOT/bench/overlay_throughput.sh" --build "$ROOT/build"
  fi
fi
