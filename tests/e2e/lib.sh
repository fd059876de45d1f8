# Helpers for end-to-end tests. Source it first thing in a tests/e2e/*_test.sh:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# See README.md in this directory for the list of helpers and an example.
# shellcheck shell=bash disable=SC2034,SC2016

set -euo pipefail

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_REPO=$(cd "$E2E_DIR/../.." && pwd)
E2E_NAME=$(basename "${BASH_SOURCE[1]:-$0}" .sh)

: "${KONTENA_SERVER_BIN:?KONTENA_SERVER_BIN is not set: run e2e tests through ctest (ctest --test-dir build -L e2e)}"
: "${KONTENA_BIN:?KONTENA_BIN is not set: run e2e tests through ctest (ctest --test-dir build -L e2e)}"

# Settings from the caller's environment must not leak into the binaries under test.
unset KONTENA_URL KONTENA_TOKEN KONTENA_GRID KONTENA_MASTER KONTENA_SSL_VERIFY \
  KONTENA_LISTEN KONTENA_DB KONTENA_TLS_CERT KONTENA_TLS_KEY LOG_LEVEL INITIAL_ADMIN_CODE \
  KONTENA_URI KONTENA_NODE_TOKEN KONTENA_NODE_NAME KONTENA_NODE_LABELS KONTENA_NODE_ID \
  KONTENA_PUBLIC_IP KONTENA_PRIVATE_IP KONTENA_PEER_INTERFACE KONTENA_SSL_HOSTNAME \
  KONTENA_SSL_CA_FILE KONTENA_PING_INTERVAL KONTENA_PING_TIMEOUT KONTENA_UPDATE_INTERVAL \
  KONTENA_BACKOFF_MAX KONTENA_BACKOFF_BASE KONTENA_CONNECT_TIMEOUT DOCKER_HOST \
  TESTBED_NAME TESTBED_SUBNET TESTBED_BIP_PREFIX TESTBED_POOL_PREFIX TESTBED_DEFAULT_ROUTE \
  TESTBED_DOCKERD_ARGS

# Everything a test writes lives in one temporary directory, removed at exit
# (kept when E2E_KEEP_TMP=1, to look at it after a failure).
E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/kontena-e2e-${E2E_NAME}.XXXXXX")
export HOME="$E2E_TMP/home"
mkdir -p "$HOME"
export KONTENA_CONFIG="$E2E_TMP/kontena_client.json"

# The one-time code of the initial admin user of every server this test starts.
E2E_ADMIN_CODE=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
E2E_DB="$E2E_TMP/master.db"
E2E_SERVER_LOG="$E2E_TMP/server.log"
E2E_SERVER_PID=""
E2E_SERVER_PORT=""
E2E_SERVER_ARGS=()
E2E_PIDS=()               # every process this test started in the background, by PID
E2E_START_TIMEOUT=${E2E_START_TIMEOUT:-20}
E2E_SERVER_HOST=127.0.0.1 # the address start_server listens on (start_server_on_testbed: the bridge)
E2E_CURL_ARGS=()          # extra curl options of api and the ping check, e.g. (--cacert FILE)
KONTENA_TEST_URL=""
ADMIN_TOKEN=""
E2E_SKIPPED=0

# Multi-node tests (see "Several nodes" in README.md).
E2E_TESTBED=0                                  # 1 once e2e_testbed_up ran: torn down at exit
E2E_GATEWAY_IP=""                              # the host's address on the test bed's bridge
E2E_PING_INTERVAL=${E2E_PING_INTERVAL:-1}      # seconds, master and agents (fractions allowed)
E2E_PING_TIMEOUT=${E2E_PING_TIMEOUT:-1}
E2E_AGENT_BACKOFF_MAX=${E2E_AGENT_BACKOFF_MAX:-1}
E2E_GRID=""                                    # default grid of the node_* helpers
E2E_TESTBED_NODES=0                            # how many nodes e2e_testbed_up brought up
KONTENA_AGENT_URL=""                           # ws(s)://GATEWAY:PORT, set by start_server_on_testbed
declare -A AGENT_PID=() AGENT_EXIT=()          # by node index
E2E_AGENT_ARGS=()                              # flags every agent_start adds (e.g. --no-overlay)
E2E_GRID_CREATE_ARGS=()                        # flags of stacks_grid_up's `grid create` (e.g. --initial-size 3)
WAITED=""                                      # seconds the last wait_node_* took

# Output of the last run/assert_ok/assert_fails and api/assert_status call.
OUT="" STDOUT="" STDERR="" STATUS=0 BODY="" HTTP_STATUS=""

# ---------------------------------------------------------------------------------------------
# messages and cleanup

e2e_log() { printf '[%s] %s\n' "$E2E_NAME" "$*" >&2; }

# fail MESSAGE [DETAILS...]: print where and what failed, then exit 1 (the EXIT trap cleans up).
fail() {
  local i=1
  # Report the first caller outside this file.
  while [[ "${BASH_SOURCE[$i]:-}" == "${BASH_SOURCE[0]}" ]]; do i=$((i + 1)); done
  {
    printf '\nFAIL %s:%s: %s\n' "$(basename "${BASH_SOURCE[$i]:-?}")" "${BASH_LINENO[$((i - 1))]:-?}" "$1"
    shift
    local d
    for d in "$@"; do printf '%s\n' "$d" | sed 's/^/    /'; done
  } >&2
  exit 1
}

_e2e_cleanup() {
  local rc=$?
  set +e
  trap - ERR
  local pid i
  # the most recently started first (agents before the master they talk to)
  for ((i = ${#E2E_PIDS[@]} - 1; i >= 0; i--)); do
    pid=${E2E_PIDS[$i]:-}
    [[ -n "$pid" ]] && _e2e_stop_pid "$pid" 5
  done
  # etcd members outlive an agent killed with SIGKILL (the next agent adopts them): end those the
  # agents did not stop, by the PID and start time their pid files record.
  local pf epid est
  for pf in "$E2E_TMP"/agent-data-*/etcd/etcd.pid; do
    [[ -f "$pf" ]] || continue
    read -r epid est <"$pf" || continue
    [[ "$epid" =~ ^[0-9]+$ ]] || continue
    if [[ -n "$est" ]] && _tb_proc_alive "$epid" "$est" 2>/dev/null; then
      kill -CONT "$epid" 2>/dev/null
      _tb_stop_procs 10 etcd "$epid $est" >/dev/null 2>&1
    fi
  done
  if [[ $E2E_TESTBED == 1 ]]; then
    if [[ $rc -ne 0 ]]; then
      printf '\n----- test bed %s at the failure -----\n' "$TESTBED_NAME" >&2
      testbed_status >&2 2>&1
    fi
    # `down` may fail on a race with the kernel's asynchronous netns cleanup (a host veth that
    # goes away between its check and its deletion): it keeps its state then, and a second
    # `down` finishes the job.
    local try down_ok=0
    for try in 1 2 3; do
      if testbed_down >>"$E2E_TMP/testbed.log" 2>&1; then down_ok=1; break; fi
      printf 'testbed_down attempt %s failed; retrying\n' "$try" >>"$E2E_TMP/testbed.log"
      sleep 1
    done
    if [[ $down_ok != 1 ]]; then
      printf '\n%s: testbed_down %s failed: run tests/testbed/testbed.sh --name %s down\n' \
        "$E2E_NAME" "$TESTBED_NAME" "$TESTBED_NAME" >&2
      [[ $rc -ne 0 ]] || rc=1
    elif grep -q 'attempt 1 failed' "$E2E_TMP/testbed.log"; then
      printf '%s: note: testbed_down needed a second attempt: %s\n' "$E2E_NAME" \
        "$(grep -E 'cannot|incomplete' "$E2E_TMP/testbed.log" | head -n 3 | tr '\n' ' ')" >&2
    fi
  fi
  if [[ $rc -ne 0 ]]; then
    local f
    for f in "$E2E_TMP"/*.log; do
      [[ -s "$f" ]] || continue
      printf '\n----- %s (last 100 lines) -----\n' "$(basename "$f")" >&2
      tail -n 100 "$f" >&2
    done
    printf '\n%s: FAILED (exit %d)\n' "$E2E_NAME" "$rc" >&2
  elif [[ $E2E_SKIPPED == 1 ]]; then
    printf '%s: skipped\n' "$E2E_NAME" >&2
  else
    printf '%s: passed\n' "$E2E_NAME" >&2
  fi
  if [[ "${E2E_KEEP_TMP:-0}" == 1 ]]; then
    printf 'kept %s\n' "$E2E_TMP" >&2
  else
    rm -rf "$E2E_TMP"
  fi
  exit "$rc"
}
trap _e2e_cleanup EXIT

# _e2e_stop_pid PID SECONDS: TERM, wait up to SECONDS, then KILL; reaps it. Sets E2E_LAST_EXIT.
_e2e_stop_pid() {
  local pid=$1 secs=$2 i
  E2E_LAST_EXIT=""
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < secs * 10; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      e2e_log "PID $pid did not stop within ${secs}s of SIGTERM: sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  local rc=0
  wait "$pid" 2>/dev/null || rc=$?
  E2E_LAST_EXIT=$rc
  local kept=() p
  for p in "${E2E_PIDS[@]}"; do [[ "$p" == "$pid" ]] || kept+=("$p"); done
  E2E_PIDS=(${kept[@]+"${kept[@]}"})
}

# ---------------------------------------------------------------------------------------------
# processes

# free_port: prints a loopback TCP port in 20000-60000 that nothing listens on.
free_port() {
  local port i
  for ((i = 0; i < 200; i++)); do
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 40001))
    if command -v ss >/dev/null 2>&1; then
      if [[ -z "$(ss -Htan "( sport = :$port )" 2>/dev/null)" ]]; then
        echo "$port"
        return 0
      fi
    elif ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  fail "free_port: found no free port"
}

# wait_until SECONDS COMMAND...: polls COMMAND every 0.1 s until it succeeds; fails after SECONDS.
wait_until() {
  local secs=$1 i
  shift
  for ((i = 0; i < secs * 10; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  fail "wait_until: '$*' did not succeed within ${secs}s"
}

_e2e_ping() {
  curl -fsS -m 2 ${E2E_CURL_ARGS[@]+"${E2E_CURL_ARGS[@]}"} -o /dev/null "$KONTENA_TEST_URL/v1/ping"
}

# _e2e_launch PORT: starts kontena-server on E2E_SERVER_HOST:PORT; 0 when it answers /v1/ping,
# 1 when it exited before that (e.g. the port was taken meanwhile), fails on timeout.
_e2e_launch() {
  local port=$1 i scheme=http
  [[ " ${E2E_SERVER_ARGS[*]:-} " == *" --tls-cert "* ]] && scheme=https
  KONTENA_TEST_URL="$scheme://$E2E_SERVER_HOST:$port"
  printf '\n===== %s: kontena-server --listen %s:%s --db %s %s\n' \
    "$(date +%T)" "$E2E_SERVER_HOST" "$port" "$E2E_DB" "${E2E_SERVER_ARGS[*]:-}" >>"$E2E_SERVER_LOG"
  INITIAL_ADMIN_CODE="$E2E_ADMIN_CODE" "$KONTENA_SERVER_BIN" --listen "$E2E_SERVER_HOST:$port" \
    --db "$E2E_DB" ${E2E_SERVER_ARGS[@]+"${E2E_SERVER_ARGS[@]}"} >>"$E2E_SERVER_LOG" 2>&1 &
  E2E_SERVER_PID=$!
  E2E_PIDS+=("$E2E_SERVER_PID")
  for ((i = 0; i < E2E_START_TIMEOUT * 10; i++)); do
    if ! kill -0 "$E2E_SERVER_PID" 2>/dev/null; then
      _e2e_stop_pid "$E2E_SERVER_PID" 0
      e2e_log "kontena-server exited with status $E2E_LAST_EXIT before answering /v1/ping"
      E2E_SERVER_PID=""
      return 1
    fi
    if _e2e_ping 2>/dev/null; then
      E2E_SERVER_PORT=$port
      export KONTENA_TEST_URL
      return 0
    fi
    sleep 0.1
  done
  fail "kontena-server (PID $E2E_SERVER_PID) did not answer GET $KONTENA_TEST_URL/v1/ping within ${E2E_START_TIMEOUT}s"
}

# start_server [EXTRA SERVER ARGS...]: starts kontena-server on a free loopback port with the
# test's database and INITIAL_ADMIN_CODE=$E2E_ADMIN_CODE, waits until GET /v1/ping answers and
# exports KONTENA_TEST_URL. Its log is $E2E_SERVER_LOG (printed when the test fails).
start_server() {
  [[ -z "$E2E_SERVER_PID" ]] || fail "start_server: a server is already running (PID $E2E_SERVER_PID)"
  E2E_SERVER_ARGS=("$@")
  local attempt
  for attempt in 1 2 3; do
    if _e2e_launch "$(free_port)"; then return 0; fi
  done
  fail "start_server: kontena-server did not start (3 attempts); see server.log below"
}

# stop_server: SIGTERM to the server, waits up to 10 s (then SIGKILL). Its exit status is in
# E2E_SERVER_EXIT (143 if it died of the TERM signal rather than exiting).
stop_server() {
  [[ -n "$E2E_SERVER_PID" ]] || fail "stop_server: no server is running"
  _e2e_stop_pid "$E2E_SERVER_PID" 10
  E2E_SERVER_EXIT=$E2E_LAST_EXIT
  E2E_SERVER_PID=""
}

# restart_server: stops the server and starts it again on the same port with the same database
# and arguments (so the CLI's config stays valid).
restart_server() {
  local port=$E2E_SERVER_PORT
  stop_server
  _e2e_launch "$port" || fail "restart_server: kontena-server did not start again on port $port"
}

# ---------------------------------------------------------------------------------------------
# running commands and assertions

# run COMMAND...: runs it; sets STATUS, STDOUT, STDERR and OUT (stdout then stderr). Never fails.
run() {
  local f="$E2E_TMP/.run"
  STATUS=0
  "$@" >"$f.out" 2>"$f.err" </dev/null || STATUS=$?
  STDOUT=$(cat "$f.out")
  STDERR=$(cat "$f.err")
  OUT="$STDOUT${STDOUT:+${STDERR:+$'\n'}}$STDERR"
}

_e2e_show_run() {
  printf 'command: %s\nexit status: %s\nstdout:\n%s\nstderr:\n%s' "$(_e2e_quote "$@")" "$STATUS" \
    "$(printf '%s' "$STDOUT" | sed 's/^/  /')" "$(printf '%s' "$STDERR" | sed 's/^/  /')"
}

_e2e_quote() {
  local a out=""
  for a in "$@"; do out+="$(printf '%q' "$a") "; done
  printf '%s' "${out% }"
}

# assert_ok COMMAND...: runs it (see run) and fails unless it exits 0.
assert_ok() {
  run "$@"
  [[ $STATUS -eq 0 ]] || fail "expected success" "$(_e2e_show_run "$@")"
}

# assert_fails COMMAND...: runs it (see run) and fails unless it exits non-zero.
assert_fails() {
  run "$@"
  [[ $STATUS -ne 0 ]] || fail "expected a non-zero exit status" "$(_e2e_show_run "$@")"
}

# assert_eq EXPECTED ACTUAL [WHAT]
assert_eq() {
  [[ "$1" == "$2" ]] || fail "${3:-values differ}" "expected: $1" "actual:   $2"
}

# assert_contains HAYSTACK NEEDLE [WHAT]
assert_contains() {
  [[ "$1" == *"$2"* ]] || fail "${3:-text does not contain '$2'}" "text:" "$1"
}

# assert_not_contains HAYSTACK NEEDLE [WHAT]
assert_not_contains() {
  [[ "$1" != *"$2"* ]] || fail "${3:-text contains '$2'}" "text:" "$1"
}

# assert_match HAYSTACK REGEX [WHAT]   (bash extended regex)
assert_match() {
  [[ "$1" =~ $2 ]] || fail "${3:-text does not match /$2/}" "text:" "$1"
}

# api METHOD PATH [--token TOKEN] [--data JSON] [--header 'Name: value']...
# One HTTP request to the server (PATH relative to KONTENA_TEST_URL, or a full URL). Sets
# HTTP_STATUS and BODY. Never fails on an HTTP error status.
api() {
  local method=$1 path=$2
  shift 2
  local url=$path
  [[ "$url" == http* ]] || url="$KONTENA_TEST_URL$path"
  local args=(-sS -m 30 -X "$method" -o "$E2E_TMP/.body" -w '%{http_code}'
    ${E2E_CURL_ARGS[@]+"${E2E_CURL_ARGS[@]}"})
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --token) args+=(-H "Authorization: Bearer $2"); shift 2 ;;
      --data) args+=(-H 'Content-Type: application/json' --data-binary "$2"); shift 2 ;;
      --header) args+=(-H "$2"); shift 2 ;;
      *) fail "api: unknown option $1" ;;
    esac
  done
  HTTP_STATUS=$(curl "${args[@]}" "$url" 2>"$E2E_TMP/.curlerr") ||
    fail "api: curl $method $url failed" "$(cat "$E2E_TMP/.curlerr")"
  BODY=$(cat "$E2E_TMP/.body")
}

# assert_status CODE METHOD PATH [api options]: api ... and fail unless the status is CODE.
assert_status() {
  local want=$1
  shift
  api "$@"
  [[ "$HTTP_STATUS" == "$want" ]] ||
    fail "expected HTTP $want from $1 $2, got $HTTP_STATUS" "body: $BODY"
}

# json JQ_FILTER [JSON]: prints the filter's raw result on JSON (default: $BODY); fails when the
# input is not JSON.
json() {
  local input=${2-$BODY} out
  out=$(printf '%s' "$input" | jq -r "$1" 2>&1) || fail "json: jq '$1' failed: $out" "input: $input"
  printf '%s' "$out"
}

# ---------------------------------------------------------------------------------------------
# kontena

# kontena ARGS...: the CLI under test (config file: $KONTENA_CONFIG).
kontena() { "$KONTENA_BIN" "$@"; }

# admin_token: prints an access token of the initial admin (never expires), got once through
# POST /oauth2/token with the initial admin code and cached in ADMIN_TOKEN.
# Call it directly (not in $(...)) first if you want ADMIN_TOKEN set in the test's own shell.
admin_token() {
  if [[ -z "$ADMIN_TOKEN" ]]; then
    api POST /oauth2/token --data \
      "{\"grant_type\":\"authorization_code\",\"code\":\"$E2E_ADMIN_CODE\",\"expires_in\":0}"
    [[ "$HTTP_STATUS" == 200 || "$HTTP_STATUS" == 201 ]] ||
      fail "admin_token: POST /oauth2/token with the initial admin code answered $HTTP_STATUS" "body: $BODY"
    ADMIN_TOKEN=$(json .access_token)
  fi
  printf '%s\n' "$ADMIN_TOKEN"
}

# login_admin: logs the CLI in to the test server as the initial admin. The initial code is
# one-time, so this uses admin_token and a fresh login code (POST /oauth2/authorize
# response_type=code); it can be called any number of times, before or after admin_token.
login_admin() {
  admin_token >/dev/null
  api POST /oauth2/authorize --token "$ADMIN_TOKEN" --data '{"response_type":"code"}'
  [[ "$HTTP_STATUS" == 200 || "$HTTP_STATUS" == 201 ]] ||
    fail "login_admin: POST /oauth2/authorize answered $HTTP_STATUS" "body: $BODY"
  local code
  code=$(json .code)
  assert_ok kontena master login --code "$code" "$KONTENA_TEST_URL"
}

# ---------------------------------------------------------------------------------------------
# time

# e2e_now: the current time in seconds (fractional), for e2e_since.
e2e_now() { local t=$EPOCHREALTIME; printf '%s' "${t/,/.}"; }

# e2e_since T0: seconds since T0 (from e2e_now), two decimals.
e2e_since() { awk -v a="$1" -v b="$(e2e_now)" 'BEGIN { printf "%.2f", b - a }'; }

# timing WHAT SECONDS: prints "TIMING: WHAT: SECONDS s" (shown by ctest -V and on failure).
timing() { printf 'TIMING: %s: %s s\n' "$1" "$2" | tee -a "$E2E_TMP/timings.txt" >&2; }

# assert_le ACTUAL MAX [WHAT]: numeric (fractional) ACTUAL <= MAX.
assert_le() {
  awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 <= b + 0) }' ||
    fail "${3:-value too large}" "expected at most: $2" "actual:           $1"
}

# ---------------------------------------------------------------------------------------------
# several nodes: the multi-node test bed (tests/testbed), a master on its bridge, agents in its
# nodes. See "Several nodes" in README.md.

# e2e_skip REASON: ends the test here with exit status 0, printing "SKIP: REASON".
e2e_skip() {
  printf 'SKIP: %s: %s\n' "$E2E_NAME" "$1" >&2
  E2E_SKIPPED=1
  exit 0
}

# e2e_require_root: skips the test (exit 0, "SKIP: ...") unless it runs as root.
e2e_require_root() {
  [[ $(id -u) == 0 ]] || e2e_skip "needs root (network namespaces, one dockerd per node)"
}

# e2e_require_agent: skips the test when this build has no kontena-agent (KONTENA_AGENT_BIN unset).
e2e_require_agent() {
  [[ -n "${KONTENA_AGENT_BIN:-}" ]] || e2e_skip "KONTENA_AGENT_BIN is not set: this build has no kontena-agent target"
  [[ -x "$KONTENA_AGENT_BIN" ]] || fail "KONTENA_AGENT_BIN=$KONTENA_AGENT_BIN is not an executable: build e2e_deps"
}

# e2e_testbed_up N: brings up the test bed with nodes 1..N (tests/testbed/testbed.sh). Set
# TESTBED_NAME, TESTBED_SUBNET, TESTBED_BIP_PREFIX and TESTBED_POOL_PREFIX first, unique to the
# test file (tests run in parallel). Leftovers of an earlier, killed run of the same test are torn
# down first. The EXIT trap tears it down (after stopping the agents and the master); its log is
# $E2E_TMP/testbed.log. Sets E2E_GATEWAY_IP.
e2e_testbed_up() {
  local n=$1 v
  for v in TESTBED_NAME TESTBED_SUBNET TESTBED_BIP_PREFIX TESTBED_POOL_PREFIX; do
    [[ -n "${!v:-}" ]] || fail "e2e_testbed_up: set $v (unique to this test file) first"
    export "${v?}"
  done
  for v in dockerd docker nsenter ip iptables; do
    command -v "$v" >/dev/null 2>&1 || fail "e2e_testbed_up: $v is missing (scripts/setup.sh installs it)"
  done
  # shellcheck source=../testbed/testbed.sh
  source "$E2E_REPO/tests/testbed/testbed.sh"
  E2E_TESTBED=1
  testbed_down >>"$E2E_TMP/testbed.log" 2>&1 ||
    fail "e2e_testbed_up: leftovers of test bed $TESTBED_NAME cannot be removed" "$(tail -n 30 "$E2E_TMP/testbed.log")"
  local t0
  t0=$(e2e_now)
  testbed_up "$n" >>"$E2E_TMP/testbed.log" 2>&1 ||
    fail "e2e_testbed_up: testbed_up $n failed" "$(tail -n 40 "$E2E_TMP/testbed.log")"
  E2E_GATEWAY_IP=$(testbed_gateway_ip)
  E2E_TESTBED_NODES=$n
  e2e_log "test bed $TESTBED_NAME: $n nodes up in $(e2e_since "$t0") s, gateway $E2E_GATEWAY_IP"
}

# start_server_on_testbed [EXTRA SERVER ARGS...]: start_server, but listening on the test bed's
# gateway address (agents in the nodes reach it there; so does the CLI on the host), with
# --ping-interval $E2E_PING_INTERVAL --ping-timeout $E2E_PING_TIMEOUT. Sets KONTENA_AGENT_URL
# (ws://GATEWAY:PORT, wss:// when the args contain --tls-cert).
start_server_on_testbed() {
  [[ -n "$E2E_GATEWAY_IP" ]] || fail "start_server_on_testbed: call e2e_testbed_up first"
  E2E_SERVER_HOST=$E2E_GATEWAY_IP
  start_server --ping-interval "$E2E_PING_INTERVAL" --ping-timeout "$E2E_PING_TIMEOUT" "$@"
  KONTENA_AGENT_URL="ws${KONTENA_TEST_URL#http}"
}

# _e2e_agent_pid I: the PID of the agent of node I if it still runs (not a zombie).
_e2e_agent_pid() {
  local pid=${AGENT_PID[$1]:-} state
  [[ -n "$pid" ]] || return 1
  state=$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$pid/stat" 2>/dev/null) || return 1
  [[ -n "$state" && "$state" != Z && "$state" != X ]] || return 1
  printf '%s' "$pid"
}

# agent_start [-e NAME=VALUE]... I [AGENT ARGS...]: starts kontena-agent in node I of the test bed
# (the node's netns and hostname, DOCKER_HOST = the node's dockerd; the same environment as
# testbed_run_in_node). Unless given, it adds --master $KONTENA_AGENT_URL (not when -e KONTENA_URI=
# is given), --ping-interval $E2E_PING_INTERVAL, --ping-timeout $E2E_PING_TIMEOUT,
# --backoff-max $E2E_AGENT_BACKOFF_MAX and --log-level debug. -e sets an environment variable of
# the agent only. Unlike testbed_run_in_node the agent stays a child of the test's shell, so
# agent_wait_exit gets its exit status; it is stopped at exit like every E2E_PIDS process.
# Sets AGENT_PID[I]; the log is $E2E_TMP/agent-nI.log (appended to, one header per start).
agent_start() {
  local envs=()
  while [[ "${1:-}" == -e ]]; do envs+=("$2"); shift 2; done
  local i=$1
  shift
  [[ "$i" =~ ^[1-9][0-9]*$ ]] || fail "agent_start: bad node index '$i'"
  [[ $E2E_TESTBED == 1 ]] || fail "agent_start: call e2e_testbed_up first"
  if _e2e_agent_pid "$i" >/dev/null; then fail "agent_start: the agent of node $i already runs (PID ${AGENT_PID[$i]})"; fi
  local args=("$@") extra=() have=" $* " e
  local has_uri=0
  for e in ${envs[@]+"${envs[@]}"}; do [[ "$e" == KONTENA_URI=* ]] && has_uri=1; done
  if [[ "$have" != *" --master "* && $has_uri == 0 ]]; then
    [[ -n "$KONTENA_AGENT_URL" ]] || fail "agent_start: no master: call start_server_on_testbed first"
    extra+=(--master "$KONTENA_AGENT_URL")
  fi
  [[ "$have" == *" --ping-interval "* ]] || extra+=(--ping-interval "$E2E_PING_INTERVAL")
  [[ "$have" == *" --ping-timeout "* ]] || extra+=(--ping-timeout "$E2E_PING_TIMEOUT")
  [[ "$have" == *" --backoff-max "* ]] || extra+=(--backoff-max "$E2E_AGENT_BACKOFF_MAX")
  [[ "$have" == *" --log-level "* ]] || extra+=(--log-level debug)
  # Each node's own agent files (its etcd member's data on initial nodes): never the machine's.
  [[ "$have" == *" --data-dir "* ]] || extra+=(--data-dir "$E2E_TMP/agent-data-$i")
  # Flags every agent of the test gets (e.g. --no-overlay), set by the test in E2E_AGENT_ARGS.
  extra+=(${E2E_AGENT_ARGS[@]+"${E2E_AGENT_ARGS[@]}"})
  local sock ns ip log="$E2E_TMP/agent-n$i.log"
  sock=$(testbed_docker_sock "$i") || fail "agent_start: node $i is not part of test bed $TESTBED_NAME"
  ns=$(testbed_netns "$i")
  ip=$(testbed_node_ip "$i")
  printf '\n===== %s: node %s: %s kontena-agent %s\n' "$(date +%T.%3N)" "$i" \
    "${envs[*]:-}" "${extra[*]} ${args[*]:-}" >>"$log"
  nsenter "--net=/run/netns/$ns" "--uts=$(dirname "$sock")/uts" -- \
    env "DOCKER_HOST=unix://$sock" "TESTBED_NODE=$i" "TESTBED_NODE_NAME=$ns" "TESTBED_NODE_IP=$ip" \
    "TESTBED_GATEWAY_IP=$E2E_GATEWAY_IP" ${envs[@]+"${envs[@]}"} \
    "$KONTENA_AGENT_BIN" "${extra[@]}" ${args[@]+"${args[@]}"} >>"$log" 2>&1 </dev/null &
  AGENT_PID[$i]=$!
  AGENT_EXIT[$i]=""
  E2E_PIDS+=("$!")
  e2e_log "node $i: kontena-agent started (PID $!, log $(basename "$log"))"
}

# agent_running I: the agent of node I runs.
agent_running() { _e2e_agent_pid "$1" >/dev/null; }

# agent_stop I [SECS]: SIGTERM to the agent of node I, waits up to SECS (10) s, then SIGKILL.
# Sets AGENT_EXIT[I] (its exit status; 143 if it died of the signal).
agent_stop() {
  local i=$1 secs=${2:-10}
  [[ -n "${AGENT_PID[$i]:-}" ]] || fail "agent_stop: no agent was started in node $i"
  _e2e_stop_pid "${AGENT_PID[$i]}" "$secs"
  AGENT_EXIT[$i]=$E2E_LAST_EXIT
  AGENT_PID[$i]=""
}

# agent_kill I [SIGNAL]: sends SIGNAL (KILL) to the agent of node I. For KILL it also reaps it
# (AGENT_EXIT[I]=137). STOP/CONT freeze and resume it.
agent_kill() {
  local i=$1 sig=${2:-KILL} pid
  pid=$(_e2e_agent_pid "$i") || fail "agent_kill: the agent of node $i does not run" "$(tail -n 20 "$E2E_TMP/agent-n$i.log" 2>/dev/null)"
  if [[ $sig == KILL || $sig == 9 ]]; then
    # reaped at once by wait (which also keeps bash from reporting the "Killed" job)
    local rc=0
    { kill -KILL "$pid" && wait "$pid"; } 2>/dev/null || rc=$?
    AGENT_EXIT[$i]=$rc
    AGENT_PID[$i]=""
    local kept=() p
    for p in "${E2E_PIDS[@]}"; do [[ "$p" == "$pid" ]] || kept+=("$p"); done
    E2E_PIDS=(${kept[@]+"${kept[@]}"})
  else
    kill "-$sig" "$pid"
  fi
}

# agent_wait_exit I SECS: waits until the agent of node I exits by itself; sets AGENT_EXIT[I].
# Fails when it still runs after SECS.
agent_wait_exit() {
  local i=$1 secs=$2 k pid=${AGENT_PID[$1]:-}
  [[ -n "$pid" ]] || fail "agent_wait_exit: no agent was started in node $i"
  for ((k = 0; k < secs * 10; k++)); do
    _e2e_agent_pid "$i" >/dev/null || break
    sleep 0.1
  done
  _e2e_agent_pid "$i" >/dev/null &&
    fail "agent_wait_exit: the agent of node $i (PID $pid) still runs after ${secs}s" \
      "$(tail -n 30 "$E2E_TMP/agent-n$i.log")"
  local rc=0
  wait "$pid" 2>/dev/null || rc=$?
  AGENT_EXIT[$i]=$rc
  AGENT_PID[$i]=""
  local kept=() p
  for p in "${E2E_PIDS[@]}"; do [[ "$p" == "$pid" ]] || kept+=("$p"); done
  E2E_PIDS=(${kept[@]+"${kept[@]}"})
}

# agent_log I: prints the log of the agent of node I (all its starts).
agent_log() { cat "$E2E_TMP/agent-n$1.log" 2>/dev/null || true; }

# wait_agent_log I SECS REGEX: waits until the log of node I's agent has a line matching REGEX
# (grep -E, case-insensitive) written since its last start (not the ===== header); fails after SECS.
wait_agent_log() {
  local i=$1 secs=$2 re=$3 k
  for ((k = 0; k < secs * 10; k++)); do
    agent_last_log "$i" | grep -qiE -- "$re" && return 0
    sleep 0.1
  done
  fail "wait_agent_log: no line matching /$re/ in the log of node $i's agent within ${secs}s" \
    "$(agent_last_log "$i" | tail -n 30)"
}

# agent_last_log I: what node I's agent logged since its last start (without the ===== header).
agent_last_log() {
  awk '/^===== / { buf = ""; next } { buf = buf $0 "\n" } END { printf "%s", buf }' "$E2E_TMP/agent-n$1.log" 2>/dev/null
}

# grid_token GRID: prints the grid's token (GET /v1/grids/GRID as admin).
grid_token() {
  admin_token >/dev/null
  assert_status 200 GET "/v1/grids/$1" --token "$ADMIN_TOKEN"
  json .token
}

# _e2e_node_get GRID NODE: GET /v1/nodes/GRID/NODE as admin, quietly: sets HTTP_STATUS and
# BODY; returns 1 when the master does not answer (e.g. while it restarts).
_e2e_node_get() {
  HTTP_STATUS=$(curl -sS -m 5 ${E2E_CURL_ARGS[@]+"${E2E_CURL_ARGS[@]}"} -o "$E2E_TMP/.nodebody" \
    -w '%{http_code}' -H "Authorization: Bearer $ADMIN_TOKEN" \
    "$KONTENA_TEST_URL/v1/nodes/$1/$2" 2>/dev/null) || { HTTP_STATUS=000; return 1; }
  BODY=$(cat "$E2E_TMP/.nodebody")
}

# node_status NODE [GRID]: prints the node's status (GET /v1/nodes/GRID/NODE): created,
# connecting, online, offline or drain; "absent" when the master answers 404, "unreachable"
# when it does not answer. GRID defaults to E2E_GRID.
node_status() {
  local grid=${2:-$E2E_GRID}
  [[ -n "$ADMIN_TOKEN" ]] || admin_token >/dev/null
  if ! _e2e_node_get "$grid" "$1"; then echo unreachable; return 0; fi
  case "$HTTP_STATUS" in
    200) jq -r .status <<<"$BODY" ;;
    404) echo absent ;;
    *) echo "http-$HTTP_STATUS" ;;
  esac
}

# wait_node_status NODE STATUS [SECS] [GRID]: polls the node's status (node_status) every 0.1 s
# until it is STATUS ("absent": the node is gone); fails after SECS (30). Sets WAITED: the seconds
# it took. Call admin_token (or login_admin) in the test's shell first, or it is done here.
wait_node_status() {
  local node=$1 want=$2 secs=${3:-30} grid=${4:-$E2E_GRID} t0 now st=""
  [[ -n "$grid" ]] || fail "wait_node_status: no grid (set E2E_GRID or pass GRID)"
  [[ -n "$ADMIN_TOKEN" ]] || admin_token >/dev/null
  t0=$(e2e_now)
  while :; do
    st=$(node_status "$node" "$grid")
    if [[ "$st" == "$want" ]]; then
      WAITED=$(e2e_since "$t0")
      return 0
    fi
    now=$(e2e_since "$t0")
    awk -v a="$now" -v b="$secs" 'BEGIN { exit !(a >= b) }' && break
    sleep 0.1
  done
  local ls
  ls=$(kontena node ls --grid "$grid" 2>&1)
  fail "wait_node_status: node $grid/$node is '$st', not '$want', after ${secs}s" "node ls:" "$ls" "node: $BODY"
}

# node_field NODE JQ_FILTER [GRID]: prints FILTER applied to GET /v1/nodes/GRID/NODE.
node_field() {
  local grid=${3:-$E2E_GRID}
  admin_token >/dev/null
  assert_status 200 GET "/v1/nodes/$grid/$1" --token "$ADMIN_TOKEN"
  json "$2"
}

# node_names [GRID]: the grid's node names, sorted, one per line (GET /v1/grids/GRID/nodes).
node_names() {
  local grid=${1:-$E2E_GRID}
  admin_token >/dev/null
  assert_status 200 GET "/v1/grids/$grid/nodes" --token "$ADMIN_TOKEN"
  json '[.nodes[].name] | sort | .[]'
  [[ -z "$(json '.nodes | length')" || "$(json '.nodes | length')" == 0 ]] || echo
}

# ---------------------------------------------------------------------------------------------
# stacks and services on the test bed (issue 4). See "Stacks and services" in README.md.

# wait_for SECS WHAT CMD...: polls CMD every 0.2 s until it succeeds; sets WAITED (seconds). On
# timeout fails with WHAT, CMD's last output and, when the test defines a function e2e_diagnose,
# its output (e.g. the containers of every node and the service's instances).
wait_for() {
  local secs=$1 what=$2 t0 rc out=""
  shift 2
  t0=$(e2e_now)
  while :; do
    rc=0
    out=$("$@" 2>&1) || rc=$?
    if [[ $rc == 0 ]]; then
      WAITED=$(e2e_since "$t0")
      return 0
    fi
    awk -v a="$(e2e_since "$t0")" -v b="$secs" 'BEGIN { exit !(a >= b) }' && break
    sleep 0.2
  done
  local diag=""
  if declare -F e2e_diagnose >/dev/null; then diag=$(e2e_diagnose 2>&1 || true); fi
  fail "wait_for: $what: not so after ${secs}s" "last check: $(_e2e_quote "$@") -> exit $rc" "$out" "$diag"
}

# e2e_build_web_image I TAG [TEXT]: builds the local image TAG on node I's dockerd with
# images/web/build.sh (static busybox; `/bin/serve web` = httpd on $PORT, default 8080, serving
# /www/index.html = TEXT, default "web <tag>"; `/bin/serve idle` sleeps; both exit at once on
# SIGTERM). Nothing is pulled. Its output goes to $E2E_TMP/testbed.log.
e2e_build_web_image() {
  local i=$1 tag=$2 text=${3:-} sock
  sock=$(testbed_docker_sock "$i") || fail "e2e_build_web_image: node $i is not part of test bed $TESTBED_NAME"
  "$E2E_REPO/images/web/build.sh" -H "unix://$sock" -t "$tag" ${text:+--text "$text"} >>"$E2E_TMP/testbed.log" 2>&1 ||
    fail "e2e_build_web_image $i $tag failed" "$(tail -n 20 "$E2E_TMP/testbed.log")"
}

# node_kontena_ps I [STACK]: node I's containers managed by Kontena (label io.kontena.service.id;
# of stack STACK only when given), one line each, sorted: "NAME STATE IMAGE ID" (ID: 12 chars).
node_kontena_ps() {
  local i=$1 filter=(--filter label=io.kontena.service.id)
  [[ -z "${2:-}" ]] || filter+=(--filter "label=io.kontena.stack.name=$2")
  testbed_docker "$i" ps -a --no-trunc "${filter[@]}" --format '{{.Names}} {{.State}} {{.Image}} {{.ID}}' |
    awk '{ printf "%s %s %s %s\n", $1, $2, $3, substr($4, 1, 12) }' | sort
}

# container_ip I NAME: the address of container NAME on node I (its overlay address when it is on
# the kontena network, else Docker's default bridge address).
container_ip() {
  testbed_docker "$1" inspect -f \
    '{{with index .NetworkSettings.Networks "kontena"}}{{.IPAddress}}{{else}}{{.NetworkSettings.IPAddress}}{{end}}' "$2"
}

# stacks_grid_up [SERVER FLAG...]: on the test bed that is up, the master (with these flags), the
# admin logged in, the grid `demo` (E2E_GRID; created with the flags in E2E_GRID_CREATE_ARGS) and
# one agent per node (--reconcile-interval 2, plus E2E_AGENT_ARGS) joined with its token (TOKEN)
# and online; NODE[i] is node i's name.
stacks_grid_up() {
  local i
  start_server_on_testbed "$@"
  login_admin
  assert_ok kontena grid create ${E2E_GRID_CREATE_ARGS[@]+"${E2E_GRID_CREATE_ARGS[@]}"} demo
  E2E_GRID=demo
  TOKEN=$(grid_token demo)
  NODE=()
  for ((i = 1; i <= E2E_TESTBED_NODES; i++)); do
    NODE[i]=$(testbed_netns "$i")
    agent_start "$i" --grid-token "$TOKEN" --reconcile-interval 2
  done
  for ((i = 1; i <= E2E_TESTBED_NODES; i++)); do wait_node_status "${NODE[i]}" online 30; done
}

# stack_ps [STACK]: node_kontena_ps of every node of the test bed, each line prefixed with the
# node's index: "I NAME STATE IMAGE ID", sorted by name.
stack_ps() {
  local i
  for ((i = 1; i <= E2E_TESTBED_NODES; i++)); do
    node_kontena_ps "$i" "${1:-}" | sed "s/^/$i /"
  done | sort -k2,2 -k1,1n
}

# service_instances STACK SERVICE [GRID]: the service's instances (GET .../instances as admin),
# one line each, sorted by number: "N NODE DESIRED STATE HEALTH CONTAINER" ("-" for null/empty).
service_instances() {
  local grid=${3:-$E2E_GRID}
  admin_token >/dev/null
  assert_status 200 GET "/v1/services/$grid/$1/$2/instances" --token "$ADMIN_TOKEN"
  json '.instances | sort_by(.instance_number) | .[] | [.instance_number, (.node // "-"), (.desired_state // "-"),
    (if (.state // "") == "" then "-" else .state end), (if (.health // "") == "" then "-" else .health end),
    (.container // "-")] | map(tostring) | join(" ")' | sed '$a\'
}

# testbed_node_index NODE_NAME: the test bed index of the node named NODE_NAME (its hostname).
testbed_node_index() {
  local i
  for ((i = 1; i <= E2E_TESTBED_NODES; i++)); do
    [[ "$(testbed_netns "$i")" == "$1" ]] && { echo "$i"; return 0; }
  done
  return 1
}

# expect_placement STACK SERVICE COUNT IMAGE [DEAD_NODE_INDEX]: succeeds when the master has
# exactly COUNT instances of the service, all desired and reported running, and each runs as
# container "STACK.SERVICE-N" with IMAGE on exactly the node the master names and on no other
# node; no container of a higher instance number exists anywhere. With DEAD_NODE_INDEX (a node
# whose agent is down, whose dockerd still runs what it ran) no instance may be placed on that
# node and its containers are not looked at. Otherwise prints what differs and returns 1: use it
# with wait_for.
expect_placement() {
  local stack=$1 svc=$2 count=$3 image=$4 dead=${5:-} inst ps n node desired state _health cname lines idx
  inst=$(service_instances "$stack" "$svc") || return 1
  ps=$(stack_ps "$stack")
  [[ -z "$dead" ]] || ps=$(awk -v d="$dead" '$1 != d' <<<"$ps")
  [[ $(grep -c . <<<"$inst") == "$count" ]] || { echo "expected $count instances of $svc:"; echo "$inst"; return 1; }
  while read -r n node desired state _health cname; do
    [[ "$desired $state" == "running running" ]] || { echo "$svc-$n: desired $desired, state $state"; return 1; }
    [[ "$cname" == "$stack.$svc-$n" ]] || { echo "$svc-$n: container '$cname'"; return 1; }
    idx=$(testbed_node_index "$node") || { echo "$svc-$n: on unknown node '$node'"; return 1; }
    [[ "$idx" != "$dead" ]] || { echo "$svc-$n: still on node $idx ($node)"; return 1; }
    lines=$(awk -v c="$cname" '$2 == c' <<<"$ps")
    [[ $(grep -c . <<<"$lines") == 1 ]] || { echo "$cname: not exactly one container on the nodes:"; echo "$lines"; return 1; }
    [[ $(awk '{ print $1, $3, $4 }' <<<"$lines") == "$idx running $image" ]] ||
      { echo "$cname: expected running $image on node $idx ($node), found: $lines"; return 1; }
  done <<<"$inst"
  lines=$(awk -v p="$stack.$svc-" -v c="$count" 'index($2, p) == 1 && substr($2, length(p) + 1) + 0 > c' <<<"$ps")
  [[ -z "$lines" ]] || { echo "containers of $svc beyond instance $count:"; echo "$lines"; return 1; }
}
