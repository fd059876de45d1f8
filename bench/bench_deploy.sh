#!/usr/bin/env bash
# bench_deploy.sh: how long a 20-instance service takes to be running, three ways, on ONE real
# dockerd (a one-node test bed: tests/testbed, its own name and subnets), same image, same command:
#   (a) kontena: `kontena stack install` of a stack with one service of N instances (the CLI
#       follows the deploy), until the node's dockerd runs all N containers;
#   (b) docker run: N sequential `docker run -d` on that dockerd;
#   (c) Swarm mode: `docker swarm init` on that dockerd, `docker service create --replicas N
#       --no-resolve-image`, until N tasks' containers run (skipped, saying why, if it cannot run
#       offline here).
# Each is run --rounds times (3), cleaned up in between; the medians and the ratios (a)/(b) and
# (a)/(c) are printed against the targets ((a) under 1.5x (b); (a) faster than (c)). Needs root.
# Everything it starts (master, agent, test bed, swarm) is stopped on exit, by PID.
#
#   bench/bench_deploy.sh [--build DIR] [--server PATH] [--cli PATH] [--agent PATH]
#                         [--instances N] [--rounds R] [--keep-logs DIR]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build
SERVER_BIN="" CLI_BIN="" AGENT_BIN="" KEEP_LOGS=""
N=20
ROUNDS=3
RUN_TIMEOUT=180 # seconds allowed to any one way to get N containers running

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case $1 in
    --build) BUILD=$2; shift 2 ;;
    --server) SERVER_BIN=$2; shift 2 ;;
    --cli) CLI_BIN=$2; shift 2 ;;
    --agent) AGENT_BIN=$2; shift 2 ;;
    --instances) N=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --keep-logs) KEEP_LOGS=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench_deploy.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ $N =~ ^[1-9][0-9]*$ && $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "bench_deploy.sh: --instances and --rounds take a positive integer" >&2; exit 2; }
SERVER_BIN=${SERVER_BIN:-$BUILD/src/master/kontena-server}
CLI_BIN=${CLI_BIN:-$BUILD/src/cli/kontena}
AGENT_BIN=${AGENT_BIN:-$BUILD/src/agent/kontena-agent}
for b in "$SERVER_BIN" "$CLI_BIN" "$AGENT_BIN"; do
  [[ -x $b ]] || { echo "bench_deploy.sh: $b is missing (build it, or pass --server/--cli/--agent)" >&2; exit 1; }
done
[[ $(id -u) == 0 ]] || { echo "bench_deploy.sh: needs root (the test bed makes network namespaces)" >&2; exit 1; }
for c in curl jq awk docker dockerd; do command -v $c >/dev/null || { echo "bench_deploy.sh: $c is missing (scripts/setup.sh)" >&2; exit 1; }; done

# This benchmark's own test bed: unique name and subnets (tests/e2e/README.md lists them all).
export TESTBED_NAME=kbdep TESTBED_SUBNET=10.99.43.0/24 TESTBED_BIP_PREFIX=10.245 TESTBED_POOL_PREFIX=10.246
[[ -n $KEEP_LOGS ]] && export TESTBED_LOG_DIR=$KEEP_LOGS
# shellcheck source=../tests/testbed/testbed.sh
source "$ROOT/tests/testbed/testbed.sh"

TMP=$(mktemp -d /tmp/kontena-bench-deploy.XXXXXX)
export HOME=$TMP/home KONTENA_CONFIG=$TMP/kontena_client.json
mkdir -p "$HOME"
unset KONTENA_URL KONTENA_TOKEN KONTENA_GRID KONTENA_MASTER DOCKER_HOST
SERVER_PID="" AGENT_PID="" SWARM=0 SOCK=""
IMAGE=local/web:bench
STACK=bench

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
  if [[ $SWARM == 1 ]]; then dk swarm leave --force >/dev/null 2>&1 || echo "bench_deploy.sh: docker swarm leave --force failed" >&2; fi
  [[ -n $AGENT_PID ]] && testbed_stop_proc "$AGENT_PID" >/dev/null 2>&1
  stop_pid "$SERVER_PID"
  if [[ -n $KEEP_LOGS ]]; then mkdir -p "$KEEP_LOGS" && cp -r "$TMP"/. "$KEEP_LOGS"/ 2>/dev/null || true; fi
  testbed_down >"$TMP/testbed-down.log" 2>&1 || { echo "bench_deploy.sh: testbed_down failed:" >&2; tail -n 20 "$TMP/testbed-down.log" >&2; }
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "bench_deploy.sh: $*" >&2; exit 1; }
now() { local t=$EPOCHREALTIME; printf '%s' "${t/,/.}"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
dk() { docker -H "unix://$SOCK" "$@"; }
kontena() { "$CLI_BIN" "$@"; }
free_port() { python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' "$1"; }
api() {  # METHOD PATH [BODY]
  local args=(-sS --max-time 10 -X "$1" "http://$GW:$PORT$2" -H 'Content-Type: application/json')
  [[ -n ${TOKEN:-} ]] && args+=(-H "Authorization: Bearer $TOKEN")
  [[ $# -ge 3 ]] && args+=(-d "$3")
  curl "${args[@]}"
}
# running LABEL=VALUE: how many containers with that label run on the node
running() { dk ps -q --filter "label=$1" --filter status=running | wc -l; }
# wait_count LABEL=VALUE WANT SECS: polls until exactly WANT such containers run (1 on timeout)
wait_count() {
  local deadline=$((SECONDS + $3))
  while ((SECONDS < deadline)); do
    [[ $(running "$1") == "$2" ]] && return 0
    sleep 0.05
  done
  return 1
}
# wait_none LABEL=VALUE SECS: until no such container exists (running or not)
wait_none() {
  local deadline=$((SECONDS + $2))
  while ((SECONDS < deadline)); do
    [[ -z $(dk ps -aq --filter "label=$1") ]] && return 0
    sleep 0.2
  done
  return 1
}
median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

echo "bench_deploy: $N instances of $IMAGE on one dockerd, $ROUNDS round(s) each"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1 /proc/loadavg)"
t=$(now)
# leftovers of an earlier, killed run of this benchmark
testbed_down >"$TMP/testbed-leftovers.log" 2>&1 || { tail -n 20 "$TMP/testbed-leftovers.log" >&2; die "leftovers of test bed $TESTBED_NAME cannot be removed"; }
testbed_up 1 >"$TMP/testbed-up.log" 2>&1 || { tail -n 30 "$TMP/testbed-up.log" >&2; die "testbed_up failed"; }
GW=$(testbed_gateway_ip)
NODE_IP=$(testbed_node_ip 1)
SOCK=$(testbed_docker_sock 1)
echo "test bed $TESTBED_NAME up in $(since "$t") s: node 1 $NODE_IP ($(dk version --format '{{.Server.Version}}') dockerd), gateway $GW"
"$ROOT/images/web/build.sh" -H "unix://$SOCK" -t "$IMAGE" >>"$TMP/image.log" 2>&1 || { cat "$TMP/image.log" >&2; die "building $IMAGE failed"; }

# ---- the platform: master on the gateway, one agent in the node ---------------------------------
PORT=$(free_port "$GW")
CODE=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
INITIAL_ADMIN_CODE=$CODE "$SERVER_BIN" --listen "$GW:$PORT" --db "$TMP/master.db" --log-level info \
  >"$TMP/server.log" 2>&1 </dev/null &
SERVER_PID=$!
for ((i = 0; i < 200; i++)); do
  api GET /v1/ping >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 20 "$TMP/server.log" >&2; die "kontena-server exited at start"; }
  sleep 0.1
done
kontena master login --code "$CODE" "http://$GW:$PORT" >"$TMP/cli.log" 2>&1 || { cat "$TMP/cli.log" >&2; die "kontena master login failed"; }
kontena grid create "$STACK" >>"$TMP/cli.log" 2>&1 || { cat "$TMP/cli.log" >&2; die "kontena grid create failed"; }
GRID_TOKEN=$(kontena grid env "$STACK" | sed -n 's/^KONTENA_TOKEN=//p')
[[ -n $GRID_TOKEN ]] || die "kontena grid env printed no token"
testbed_run_in_node 1 "$AGENT_BIN" --master "ws://$GW:$PORT" --grid-token "$GRID_TOKEN" \
  --private-ip "$NODE_IP" --log-level info >>"$TMP/testbed.log" 2>&1
AGENT_PID=$TESTBED_LAST_PID
AGENT_LOG=$TESTBED_LAST_LOG
status=""
for ((i = 0; i < 300; i++)); do
  status=$(kontena node ls --grid "$STACK" --json 2>/dev/null | jq -r '.nodes[0].status // empty' 2>/dev/null || true)
  [[ $status == online ]] && break
  testbed_proc_alive "$AGENT_PID" || { tail -n 30 "$AGENT_LOG" >&2; die "kontena-agent exited"; }
  sleep 0.1
done
[[ $status == online ]] || { tail -n 30 "$AGENT_LOG" >&2; die "the node is not online after 30 s (status '$status')"; }

cat >"$TMP/bench.yml" <<EOF
stack: bench/$STACK
version: 1.0.0
services:
  web:
    image: $IMAGE
    instances: $N
EOF
# (a') the same with deploy.min_health 0: the master does not throttle the rollout (the default
# 0.8 keeps at most floor(N x 0.2) instances deploying at once); an informative row, no target
sed 's/^    instances: .*/&\n    deploy:\n      min_health: 0/' "$TMP/bench.yml" >"$TMP/bench-nothrottle.yml"

declare -a A=() A0=() B=() C=()
C_SKIP=""

# (b) N sequential docker run -d
run_docker() {
  local t0 k
  t0=$(now)
  for ((k = 1; k <= N; k++)); do
    dk run -d --label bench.run=1 --name "bench-run-$k" "$IMAGE" >/dev/null || die "docker run -d #$k failed"
  done
  local dt
  dt=$(since "$t0")
  [[ $(running bench.run=1) == "$N" ]] || die "docker run: only $(running bench.run=1) of $N containers run"
  B+=("$dt")
  echo "  (b) $N x docker run -d:              $dt s"
  dk rm -f $(dk ps -aq --filter label=bench.run=1) >/dev/null
}

# (a) kontena stack install, the CLI following the deploy, until N containers run
# run_kontena FILE ROW_LABEL ARRAY_NAME
run_kontena() {
  local file=$1 label=$2
  local -n into=$3
  local t0 dt dcli rc=0
  t0=$(now)
  kontena stack install --grid "$STACK" "$file" >"$TMP/install.log" 2>&1 || rc=$?
  dcli=$(since "$t0")
  if [[ $rc != 0 ]]; then
    echo "  $label FAILED (exit $rc):" >&2
    sed 's/^/      /' "$TMP/install.log" | tail -n 20 >&2
    return 1
  fi
  wait_count "io.kontena.stack.name=$STACK" "$N" "$RUN_TIMEOUT" ||
    { echo "  $label only $(running io.kontena.stack.name=$STACK) of $N containers run ${RUN_TIMEOUT} s after the install" >&2; return 1; }
  dt=$(since "$t0")
  into+=("$dt")
  echo "  $label $dt s   (the CLI returned after $dcli s)"
  kontena stack rm --grid "$STACK" --force "$STACK" >>"$TMP/install.log" 2>&1 ||
    { tail -n 20 "$TMP/install.log" >&2; die "kontena stack rm failed"; }
  wait_none "io.kontena.stack.name=$STACK" 60 || die "containers of stack $STACK are still there 60 s after stack rm"
}

# (c) Swarm mode on the same engine
swarm_setup() {
  local out
  if ! out=$(dk swarm init --advertise-addr 127.0.0.1 2>&1); then
    # a dockerd may refuse a loopback advertise address: the node's own address then
    out=$(dk swarm init --advertise-addr "$NODE_IP" 2>&1) || { C_SKIP="docker swarm init failed: $(head -n 2 <<<"$out" | tr '\n' ' ')"; return 1; }
  fi
  SWARM=1
  # a first service checks that Swarm runs tasks from a local image without a registry
  dk service create --detach --quiet --no-resolve-image --name bench-probe --replicas 1 "$IMAGE" >/dev/null 2>"$TMP/swarm.err" ||
    { C_SKIP="docker service create failed: $(head -n 2 "$TMP/swarm.err" | tr '\n' ' ')"; return 1; }
  if ! wait_count com.docker.swarm.service.name=bench-probe 1 60; then
    C_SKIP="a Swarm task of the local image $IMAGE did not start within 60 s offline: $(dk service ps --no-trunc --format '{{.CurrentState}} {{.Error}}' bench-probe 2>&1 | head -n 2 | tr '\n' ' ')"
    return 1
  fi
  dk service rm bench-probe >/dev/null
  wait_none com.docker.swarm.service.name=bench-probe 60 || true
}
run_swarm() {
  local t0 dt
  t0=$(now)
  dk service create --detach --quiet --no-resolve-image --name bench-swarm --replicas "$N" "$IMAGE" >/dev/null ||
    die "docker service create --replicas $N failed"
  wait_count com.docker.swarm.service.name=bench-swarm "$N" "$RUN_TIMEOUT" ||
    die "Swarm: only $(running com.docker.swarm.service.name=bench-swarm) of $N tasks run after ${RUN_TIMEOUT} s"
  dt=$(since "$t0")
  C+=("$dt")
  echo "  (c) docker service create --replicas $N: $dt s   (until $N task containers run)"
  dk service rm bench-swarm >/dev/null
  wait_none com.docker.swarm.service.name=bench-swarm 60 || die "Swarm task containers still there 60 s after service rm"
}

A_FAIL=""
for ((r = 1; r <= ROUNDS; r++)); do
  echo "---- round $r"
  run_docker
  if [[ -z $A_FAIL ]]; then
    run_kontena "$TMP/bench.yml" "(a) kontena stack install ($N):     " A || A_FAIL="kontena stack install failed (round $r; see above)"
  fi
  if [[ -z $A_FAIL ]]; then
    run_kontena "$TMP/bench-nothrottle.yml" "(a') the same, min_health 0:       " A0 || A_FAIL="kontena stack install (min_health 0) failed (round $r; see above)"
  fi
done
if swarm_setup; then
  for ((r = 1; r <= ROUNDS; r++)); do echo "---- round $r (Swarm)"; run_swarm; done
  dk swarm leave --force >/dev/null 2>&1 && SWARM=0
else
  echo "  (c) Swarm mode SKIPPED: $C_SKIP"
fi

a=$(printf '%s ' ${A[@]+"${A[@]}"} | median)
a0=$(printf '%s ' ${A0[@]+"${A0[@]}"} | median)
b=$(printf '%s ' "${B[@]}" | median)
c=$(printf '%s ' ${C[@]+"${C[@]}"} | median)
ratio() { [[ $1 == n/a || $2 == n/a ]] && { echo n/a; return; }; awk -v x="$1" -v y="$2" 'BEGIN { printf "%.2f", x / y }'; }
verdict() { [[ $1 == n/a ]] && { echo "n/a"; return; }; awk -v x="$1" -v t="$2" 'BEGIN { exit !(x < t) }' && echo PASS || echo MISS; }
rab=$(ratio "$a" "$b")
rac=$(ratio "$a" "$c")
echo
echo "==== summary: $N instances on one dockerd, median of $ROUNDS (load average now $(cut -d' ' -f1 /proc/loadavg)) ===="
printf '(a) kontena stack install -> all running   %6s s   %s\n' "$a" "${A_FAIL:-}"
printf "(a') the same, deploy.min_health 0          %6s s   (rollout not throttled; no target)\n" "$a0"
printf '(b) %2d sequential docker run -d            %6s s\n' "$N" "$b"
printf '(c) Swarm service create --replicas %-3s    %6s s   %s\n' "$N" "$c" "${C_SKIP:+skipped: $C_SKIP}"
printf '(a)/(b)                                    %6s x   target < 1.5x   %s\n' "$rab" "$(verdict "$rab" 1.5)"
printf '(a)/(c)                                    %6s x   target < 1x     %s\n' "$rac" "$(verdict "$rac" 1)"
