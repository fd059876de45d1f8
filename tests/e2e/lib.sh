# Helpers for end-to-end tests. Source it first thing in a tests/e2e/*_test.sh:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# See README.md in this directory for the list of helpers and an example.
# shellcheck shell=bash disable=SC2034,SC2016

set -euo pipefail

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_NAME=$(basename "${BASH_SOURCE[1]:-$0}" .sh)

: "${KONTENA_SERVER_BIN:?KONTENA_SERVER_BIN is not set: run e2e tests through ctest (ctest --test-dir build -L e2e)}"
: "${KONTENA_BIN:?KONTENA_BIN is not set: run e2e tests through ctest (ctest --test-dir build -L e2e)}"

# Settings from the caller's environment must not leak into the binaries under test.
unset KONTENA_URL KONTENA_TOKEN KONTENA_GRID KONTENA_MASTER KONTENA_SSL_VERIFY \
  KONTENA_LISTEN KONTENA_DB KONTENA_TLS_CERT KONTENA_TLS_KEY LOG_LEVEL INITIAL_ADMIN_CODE

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
KONTENA_TEST_URL=""
ADMIN_TOKEN=""

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
  local pid
  for pid in "${E2E_PIDS[@]}"; do
    _e2e_stop_pid "$pid" 5
  done
  if [[ $rc -ne 0 ]]; then
    local f
    for f in "$E2E_TMP"/*.log; do
      [[ -s "$f" ]] || continue
      printf '\n----- %s (last 100 lines) -----\n' "$(basename "$f")" >&2
      tail -n 100 "$f" >&2
    done
    printf '\n%s: FAILED (exit %d)\n' "$E2E_NAME" "$rc" >&2
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

_e2e_ping() { curl -fsS -m 2 -o /dev/null "$KONTENA_TEST_URL/v1/ping"; }

# _e2e_launch PORT: starts kontena-server on 127.0.0.1:PORT; 0 when it answers /v1/ping,
# 1 when it exited before that (e.g. the port was taken meanwhile), fails on timeout.
_e2e_launch() {
  local port=$1 i
  KONTENA_TEST_URL="http://127.0.0.1:$port"
  printf '\n===== %s: kontena-server --listen 127.0.0.1:%s --db %s %s\n' \
    "$(date +%T)" "$port" "$E2E_DB" "${E2E_SERVER_ARGS[*]:-}" >>"$E2E_SERVER_LOG"
  INITIAL_ADMIN_CODE="$E2E_ADMIN_CODE" "$KONTENA_SERVER_BIN" --listen "127.0.0.1:$port" \
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
  local args=(-sS -m 30 -X "$method" -o "$E2E_TMP/.body" -w '%{http_code}')
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
