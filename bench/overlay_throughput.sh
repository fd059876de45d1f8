#!/usr/bin/env bash
# overlay_throughput.sh: TCP throughput between two containers on different nodes over the overlay
# (src/agent/network: bridge kontena0 + VXLAN, Docker's kontena network), against baselines
# measured in the same run: (b) the same two nodes' namespaces linked directly (node IP to node
# IP over their underlay veths and the host bridge: the path the VXLAN packets take), and (c) a
# veth pair between two fresh namespaces. Two test bed nodes (its own name and subnets), each
# converged by overlay_tool; bench/tcp_throughput runs with nsenter in the containers' network
# namespaces. Prints the median MB/s of RUNS runs of SECONDS each, and the ratio overlay/direct
# against the target (>= 0.8). Needs root. Tears everything down on exit. See bench/README.md.
#
#   bench/overlay_throughput.sh [--build DIR] [--seconds 5] [--runs 3]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build
SECONDS_PER_RUN=5
RUNS=3
TARGET=0.8

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case $1 in
    --build) BUILD=$2; shift 2 ;;
    --seconds) SECONDS_PER_RUN=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "overlay_throughput.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
TOOL=$BUILD/tests/e2e/tools/overlay_tool
TCP=$BUILD/bench/tcp_throughput
for b in "$TOOL" "$TCP"; do
  [[ -x $b ]] || { echo "overlay_throughput.sh: $b is missing (ninja -C $BUILD overlay_tool tcp_throughput, or pass --build)" >&2; exit 1; }
done
[[ $(id -u) == 0 ]] || { echo "overlay_throughput.sh: needs root (the test bed makes network namespaces)" >&2; exit 1; }

# This benchmark's own test bed: unique name and subnets (tests/e2e/README.md keeps the table).
export TESTBED_NAME=kbovl TESTBED_SUBNET=10.99.54.0/24 TESTBED_BIP_PREFIX=10.249 TESTBED_POOL_PREFIX=10.250
# shellcheck source=../tests/testbed/testbed.sh
source "$ROOT/tests/testbed/testbed.sh"
# (c): two fresh namespaces joined by one veth pair, addresses from this benchmark's 10.249 range.
NS_A=kbovl-va NS_B=kbovl-vb
IMAGE=local/busybox:latest
PORT=5201

TMP=$(mktemp -d /tmp/kontena-overlay-throughput.XXXXXX)
SERVER_PIDS=()

stop_pid() {  # PID: TERM, KILL after 5 s; only processes this script started
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${SERVER_PIDS[@]}"; do stop_pid "$pid"; done
  ip netns del "$NS_A" 2>/dev/null || true
  ip netns del "$NS_B" 2>/dev/null || true
  testbed_down >"$TMP/testbed-down.log" 2>&1 || { echo "overlay_throughput.sh: testbed_down failed:" >&2; tail -n 20 "$TMP/testbed-down.log" >&2; }
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '%s\n' "--- $*" >&2; }

# serve NETNS_PATH: a receiver in that network namespace (in the background; stopped at exit).
serve() {
  nsenter --net="$1" "$TCP" serve "$PORT" >>"$TMP/servers.log" 2>&1 &
  SERVER_PIDS+=($!)
}
# measure NAME NETNS_PATH HOST: RUNS sends of SECONDS_PER_RUN from NETNS_PATH to HOST; prints the median MB/s.
measure() {
  local name=$1 ns=$2 host=$3 i out rates=()
  for i in $(seq 1 50); do  # the receiver is listening
    nsenter --net="$ns" "$TCP" send "$host" "$PORT" 0.01 >/dev/null 2>&1 && break
    sleep 0.1
  done
  for i in $(seq 1 "$RUNS"); do
    out=$(nsenter --net="$ns" "$TCP" send "$host" "$PORT" "$SECONDS_PER_RUN") || { echo "$name: run $i failed" >&2; return 1; }
    rates+=("$(awk '{ print $2 }' <<<"$out")")
    printf '  %-28s run %d: %s MB/s\n' "$name" "$i" "${rates[-1]}" >&2
  done
  printf '%s\n' "${rates[@]}" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

step "test bed $TESTBED_NAME: 2 nodes"
testbed_down >"$TMP/testbed.log" 2>&1  # leftovers of a killed run
testbed_up 2 >>"$TMP/testbed.log" 2>&1 || { tail -n 30 "$TMP/testbed.log" >&2; exit 1; }
IP1=$(testbed_node_ip 1) IP2=$(testbed_node_ip 2)
for i in 1 2; do
  testbed_build_busybox_image "$i" >>"$TMP/testbed.log" 2>&1
  peer=$IP2; [[ $i == 2 ]] && peer=$IP1
  testbed_exec "$i" "$TOOL" ensure --address "10.81.0.$i/16" --local-ip "$(testbed_node_ip "$i")" --peer "$peer" \
    --slice "10.81.$((127 + i)).0/24" --docker-sock "$(testbed_docker_sock "$i")" >"$TMP/ensure-$i.log" 2>&1 ||
    { cat "$TMP/ensure-$i.log" >&2; exit 1; }
  testbed_docker "$i" run -d --init --pull never --name "tp$i" --network kontena --ip "10.81.$((127 + i)).10" "$IMAGE" \
    sleep 1000000 >/dev/null
done
PID1=$(testbed_docker 1 inspect -f '{{.State.Pid}}' tp1)
PID2=$(testbed_docker 2 inspect -f '{{.State.Pid}}' tp2)

step "(c) baseline: a veth pair between two fresh namespaces"
ip netns add "$NS_A"
ip netns add "$NS_B"
ip link add kbovl-pa netns "$NS_A" type veth peer name kbovl-pb netns "$NS_B"
ip -n "$NS_A" addr add 10.249.255.1/30 dev kbovl-pa
ip -n "$NS_B" addr add 10.249.255.2/30 dev kbovl-pb
for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set lo up; done
ip -n "$NS_A" link set kbovl-pa up
ip -n "$NS_B" link set kbovl-pb up

serve "/proc/$PID2/ns/net"
serve "/run/netns/$(testbed_netns 2)"
serve "/run/netns/$NS_B"

step "measuring: $RUNS runs of $SECONDS_PER_RUN s each"
OVERLAY=$(measure "(a) overlay container->container" "/proc/$PID1/ns/net" 10.81.129.10)
DIRECT=$(measure "(b) direct node->node" "/run/netns/$(testbed_netns 1)" "$IP2")
VETH=$(measure "(c) veth pair" "/run/netns/$NS_A" 10.249.255.2)

# Not /sys through nsenter: sysfs shows the namespace of whoever mounted it.
MTU_C=$(nsenter --net="/proc/$PID1/ns/net" ip -j link show dev eth0 | jq -r '.[0].mtu')
RATIO=$(awk -v a="$OVERLAY" -v b="$DIRECT" 'BEGIN { printf "%.2f", a / b }')
RATIO_VETH=$(awk -v a="$OVERLAY" -v b="$VETH" 'BEGIN { printf "%.2f", a / b }')
VERDICT=$(awk -v r="$RATIO" -v t="$TARGET" 'BEGIN { print (r >= t) ? "PASS" : "MISS" }')
echo
echo "overlay_throughput: TCP, median of $RUNS x $SECONDS_PER_RUN s, $(nproc) CPUs (sender and receiver share them)"
printf '  (a) overlay, container -> container (MTU %s): %8.1f MB/s\n' "$MTU_C" "$OVERLAY"
printf '  (b) direct, node -> node over the underlay:  %8.1f MB/s\n' "$DIRECT"
printf '  (c) veth pair between two namespaces:        %8.1f MB/s\n' "$VETH"
printf '  overlay / direct: %s (target >= %s): %s\n' "$RATIO" "$TARGET" "$VERDICT"
printf '  overlay / veth pair: %s\n' "$RATIO_VETH"
