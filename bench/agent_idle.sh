#!/usr/bin/env bash
# agent_idle.sh: the idle footprint of one real kontena-agent. Brings up a one-node test bed
# (tests/testbed, its own name and subnets), starts this build's kontena-server on the test bed's
# gateway address and one kontena-agent inside the node, driving the node's real dockerd. Once the
# node is online and has settled, samples the agent's memory (VmRSS, VmHWM) and CPU time over an
# idle period, once per ping interval given (default: 30 s, the default, and 1 s, to show what a
# ping costs). Prints the figures against the target (RSS < 15 MB), with the node's dockerd and
# containerd as a baseline. Needs root. Tears everything down on exit. See bench/README.md.
#
#   bench/agent_idle.sh [--build DIR] [--server PATH] [--agent PATH] [--settle S] [--sample S]
#                       [--intervals "30 1"] [--keep-logs DIR]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build
SERVER_BIN="" AGENT_BIN="" KEEP_LOGS=""
SETTLE=10      # seconds between "online" and the first sample
SAMPLE=30      # seconds of sampling per run
INTERVALS="30 1"
TARGET_MB=15

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case $1 in
    --build) BUILD=$2; shift 2 ;;
    --server) SERVER_BIN=$2; shift 2 ;;
    --agent) AGENT_BIN=$2; shift 2 ;;
    --settle) SETTLE=$2; shift 2 ;;
    --sample) SAMPLE=$2; shift 2 ;;
    --intervals) INTERVALS=$2; shift 2 ;;
    --keep-logs) KEEP_LOGS=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "agent_idle.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
SERVER_BIN=${SERVER_BIN:-$BUILD/src/master/kontena-server}
AGENT_BIN=${AGENT_BIN:-$BUILD/src/agent/kontena-agent}
for b in "$SERVER_BIN" "$AGENT_BIN"; do
  [[ -x $b ]] || { echo "agent_idle.sh: $b is missing (build it, or pass --server/--agent)" >&2; exit 1; }
done
[[ $(id -u) == 0 ]] || { echo "agent_idle.sh: needs root (the test bed makes network namespaces)" >&2; exit 1; }
for c in curl jq awk; do command -v $c >/dev/null || { echo "agent_idle.sh: $c is missing" >&2; exit 1; }; done

# This benchmark's own test bed: unique name and subnets, so it can run next to the e2e tests.
export TESTBED_NAME=kbch TESTBED_SUBNET=10.99.13.0/24 TESTBED_BIP_PREFIX=10.204 TESTBED_POOL_PREFIX=10.214
[[ -n $KEEP_LOGS ]] && export TESTBED_LOG_DIR=$KEEP_LOGS  # testbed_down copies the node logs (the agent's) there
# shellcheck source=../tests/testbed/testbed.sh
source "$ROOT/tests/testbed/testbed.sh"

TMP=$(mktemp -d /tmp/kontena-agent-idle.XXXXXX)
SERVER_PID="" AGENT_PID=""

stop_pid() {  # PID: TERM, KILL after 10 s; only processes this script started
  local pid=$1 i
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    [[ $(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$pid/stat" 2>/dev/null) == Z ]] && break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [[ -n $AGENT_PID ]] && testbed_stop_proc "$AGENT_PID" >/dev/null 2>&1
  stop_pid "$SERVER_PID"
  if [[ -n $KEEP_LOGS ]]; then mkdir -p "$KEEP_LOGS" && cp -r "$TMP"/. "$KEEP_LOGS"/ 2>/dev/null || true; fi
  testbed_down >"$TMP/testbed-down.log" 2>&1 || { echo "agent_idle.sh: testbed_down failed:" >&2; tail -n 20 "$TMP/testbed-down.log" >&2; }
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- /proc helpers
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
status_mb() { awk -v k="$2:" '$1 == k { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null; }  # PID FIELD
threads() { awk '/^Threads:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# CPU time of all threads of PID in nanoseconds (first field of schedstat: time on a CPU). Finer
# than utime/stime (clock ticks), which an idle agent hardly moves in 30 s.
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%d", s }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

free_port() { python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' "$1"; }

api() {  # METHOD PATH [BODY]
  local args=(-sS --max-time 10 -X "$1" "http://$GW:$PORT$2" -H 'Content-Type: application/json')
  [[ -n ${TOKEN:-} ]] && args+=(-H "Authorization: Bearer $TOKEN")
  [[ $# -ge 3 ]] && args+=(-d "$3")
  curl "${args[@]}"
}

echo "agent_idle: kontena-agent $AGENT_BIN"
echo "            kontena-server $SERVER_BIN"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1 /proc/loadavg); settle ${SETTLE} s, sample ${SAMPLE} s per run"
t=$(date +%s.%N)
testbed_up 1 >"$TMP/testbed-up.log" 2>&1 || { echo "agent_idle.sh: testbed_up failed:" >&2; tail -n 30 "$TMP/testbed-up.log" >&2; exit 1; }
GW=$(testbed_gateway_ip)
NODE_IP=$(testbed_node_ip 1)
SOCK=$(testbed_docker_sock 1)
read -r DOCKERD_PID _ <"/run/kontena-testbed/$TESTBED_NAME/n1/dockerd.proc" 2>/dev/null || DOCKERD_PID=""
[[ -n $DOCKERD_PID ]] || DOCKERD_PID=$(cat "$(dirname "$SOCK")/docker.pid")
CONTAINERD_PID=$(pgrep -P "$DOCKERD_PID" -x containerd | head -n 1 || true)
echo "test bed $TESTBED_NAME up in $(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s: node 1 $NODE_IP, gateway $GW, dockerd PID $DOCKERD_PID, containerd PID ${CONTAINERD_PID:-?}"
echo

declare -A RSS_AVG HWM CPU_PCT CPU_US_S THREADS ANON FILE
RUN=0
for interval in $INTERVALS; do
  RUN=$((RUN + 1))
  PORT=$(free_port "$GW")
  CODE=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
  mkdir -p "$TMP/run$RUN"
  INITIAL_ADMIN_CODE=$CODE "$SERVER_BIN" --listen "$GW:$PORT" --db "$TMP/run$RUN/master.db" \
    --ping-interval "$interval" --log-level info >"$TMP/run$RUN/server.log" 2>&1 </dev/null &
  SERVER_PID=$!
  TOKEN=""
  for ((i = 0; i < 200; i++)); do
    api GET /v1/ping >/dev/null 2>&1 && break
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "kontena-server exited:" >&2; tail -n 20 "$TMP/run$RUN/server.log" >&2; exit 1; }
    sleep 0.1
  done
  TOKEN=$(api POST /oauth2/token "{\"grant_type\":\"authorization_code\",\"code\":\"$CODE\",\"expires_in\":0}" | jq -r .access_token)
  GRID_TOKEN=$(api POST /v1/grids '{"name":"idle"}' | jq -r .token)
  [[ -n $GRID_TOKEN && $GRID_TOKEN != null ]] || { echo "agent_idle.sh: grid create failed" >&2; exit 1; }

  testbed_run_in_node 1 "$AGENT_BIN" --master "ws://$GW:$PORT" --grid-token "$GRID_TOKEN" \
    --ping-interval "$interval" --private-ip "$NODE_IP" --log-level info >>"$TMP/testbed.log" 2>&1
  AGENT_PID=$TESTBED_LAST_PID
  AGENT_LOG=$TESTBED_LAST_LOG
  t0=$(date +%s.%N)
  status=""
  for ((i = 0; i < 300; i++)); do
    status=$(api GET /v1/grids/idle/nodes 2>/dev/null | jq -r '.nodes[0].status // empty' 2>/dev/null || true)
    [[ $status == online ]] && break
    testbed_proc_alive "$AGENT_PID" || { echo "kontena-agent exited:" >&2; tail -n 30 "$AGENT_LOG" >&2; exit 1; }
    sleep 0.1
  done
  if [[ $status != online ]]; then
    echo "agent_idle.sh: the node did not come online within 30 s (status '$status'); agent log:" >&2
    tail -n 30 "$AGENT_LOG" >&2
    exit 1
  fi
  t_online=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
  echo "---- run $RUN: ping interval ${interval} s (agent and master); node online ${t_online} s after the agent started"
  sleep "$SETTLE"

  # sample every second: RSS; CPU over the whole window
  c0=$(cpu_ns "$AGENT_PID"); m0=$(cpu_ns "$SERVER_PID"); d0=$(cpu_ns "$DOCKERD_PID"); w0=$(date +%s%N)
  sum=0 n=0 min=0 max=0
  for ((s = 0; s < SAMPLE; s++)); do
    sleep 1
    r=$(rss_kb "$AGENT_PID")
    sum=$((sum + r)); n=$((n + 1))
    ((min == 0 || r < min)) && min=$r
    ((r > max)) && max=$r
  done
  c1=$(cpu_ns "$AGENT_PID"); m1=$(cpu_ns "$SERVER_PID"); d1=$(cpu_ns "$DOCKERD_PID"); w1=$(date +%s%N)
  testbed_proc_alive "$AGENT_PID" || { echo "kontena-agent died while idle:" >&2; tail -n 30 "$AGENT_LOG" >&2; exit 1; }
  wall_ns=$((w1 - w0))
  avg=$((sum / n))
  RSS_AVG[$interval]=$avg
  HWM[$interval]=$(hwm_kb "$AGENT_PID")
  THREADS[$interval]=$(threads "$AGENT_PID")
  ANON[$interval]=$(status_mb "$AGENT_PID" RssAnon)
  FILE[$interval]=$(status_mb "$AGENT_PID" RssFile)
  CPU_PCT[$interval]=$(awk -v c=$((c1 - c0)) -v w=$wall_ns 'BEGIN { printf "%.3f", c / w * 100 }')
  CPU_US_S[$interval]=$(awk -v c=$((c1 - c0)) -v w=$wall_ns 'BEGIN { printf "%.1f", c / 1000 / (w / 1e9) }')
  echo "  agent (PID $AGENT_PID, ${THREADS[$interval]} threads): RSS avg $(mb "$avg") MB, min $(mb "$min") MB, max $(mb "$max") MB; peak (VmHWM) $(mb "${HWM[$interval]}") MB; now RssAnon ${ANON[$interval]} MB (heap, stacks) + RssFile ${FILE[$interval]} MB (binary, shared libraries)"
  echo "  agent CPU: $(awk -v c=$((c1 - c0)) 'BEGIN { printf "%.1f", c / 1e6 }') ms in $(awk -v w=$wall_ns 'BEGIN { printf "%.1f", w / 1e9 }') s = ${CPU_PCT[$interval]}% of one core (${CPU_US_S[$interval]} us per second)"
  echo "  meanwhile: master CPU $(awk -v c=$((m1 - m0)) 'BEGIN { printf "%.1f", c / 1e6 }') ms, RSS $(mb "$(rss_kb "$SERVER_PID")") MB; dockerd CPU $(awk -v c=$((d1 - d0)) 'BEGIN { printf "%.1f", c / 1e6 }') ms (the agent's Docker calls)"
  echo "  agent log: $(wc -l <"$AGENT_LOG") lines, last: $(tail -n 1 "$AGENT_LOG" | cut -c1-160)"
  echo

  testbed_stop_proc "$AGENT_PID" >/dev/null 2>&1 || true
  AGENT_PID=""
  stop_pid "$SERVER_PID"
  SERVER_PID=""
done

D_RSS=$(rss_kb "$DOCKERD_PID")
C_RSS=0
[[ -n $CONTAINERD_PID ]] && C_RSS=$(rss_kb "$CONTAINERD_PID")
echo "==== summary: kontena-agent idle (load average now $(cut -d' ' -f1 /proc/loadavg)) ===="
first=""
for interval in $INTERVALS; do
  [[ -n $first ]] || first=$interval
  verdict=MISS
  awk -v k="${RSS_AVG[$interval]}" -v t=$TARGET_MB 'BEGIN { exit !(k / 1024 < t) }' && verdict=PASS
  printf 'agent RSS, ping every %4s s        %6s MB   peak %5s MB   target < %s MB   %s\n' "$interval" \
    "$(mb "${RSS_AVG[$interval]}")" "$(mb "${HWM[$interval]}")" "$TARGET_MB" "$verdict"
  printf 'agent CPU, ping every %4s s        %7s %%    (%s us per second)\n' "$interval" "${CPU_PCT[$interval]}" "${CPU_US_S[$interval]}"
done
set -- $INTERVALS
if [[ $# -ge 2 ]]; then
  # per-ping cost: the CPU difference between two intervals per extra ping exchange (the agent's
  # ping and its pong, plus the master's ping and the agent's pong, per interval)
  awk -v a="${CPU_US_S[$1]}" -v b="${CPU_US_S[$2]}" -v ia="$1" -v ib="$2" 'BEGIN {
    extra = 1 / ib - 1 / ia
    if (extra > 0) printf "agent CPU per ping exchange        %7.1f us    ((%.1f - %.1f us/s) / %.3f extra exchanges/s)\n", (b - a) / extra, b, a, extra
  }'
fi
printf 'baseline: node dockerd RSS          %6s MB   containerd %s MB (idle, no containers)\n' "$(mb "$D_RSS")" "$(mb "$C_RSS")"
