#!/usr/bin/env bash
# Brings up a single-machine Kontena platform from this checkout:
#   installs the Debian packages (scripts/setup.sh), builds (scripts/build.sh), starts the master
#   (kontena-server, on its embedded SQLite store) in the background, and on its first start logs
#   the CLI in as the admin and creates the grid `demo`. Then prints how to use it.
# Stop it with scripts/down.sh (the data in data/ is kept).
#
# Environment:
#   KONTENA_LISTEN   address the master listens on (default 127.0.0.1:9292)
#   KONTENA_DB       the master's database file (default data/master.db)
#   KONTENA_CONFIG   the CLI's config file (default ~/.kontena_client.json)
# Idempotent: when the master is already running it says so and changes nothing.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

LISTEN=${KONTENA_LISTEN:-127.0.0.1:9292}
DB=${KONTENA_DB:-$ROOT/data/master.db}
RUN_DIR="$ROOT/.run"
PID_FILE="$RUN_DIR/kontena-server.pid"
LOG_FILE="$RUN_DIR/kontena-server.log"
CODE_FILE="$RUN_DIR/initial-admin-code"   # kept only until the CLI has logged in with it
SERVER_BIN="$ROOT/build/src/master/kontena-server"
CLI_BIN="$ROOT/build/src/cli/kontena"
BIN_DIR=$(dirname "$CLI_BIN")

host=${LISTEN%:*}
port=${LISTEN##*:}
case "$host" in
  "" | 0.0.0.0 | "*" | "[::]" | "::") client_host=127.0.0.1 ;;
  *) client_host=$host ;;
esac
URL="http://$client_host:$port"

say() { printf 'up: %s\n' "$*"; }

# server_pid: prints the PID from the pid file if that process is a running kontena-server.
server_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid=$(cat "$PID_FILE")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q kontena-server || return 1
  echo "$pid"
}

ping_ok() { curl -fsS -m 2 -o /dev/null "$URL/v1/ping" 2>/dev/null; }

usage() {
  local pid=$1
  cat <<EOF

Kontena master is running at $URL  (PID $pid)
  log:       ${LOG_FILE#"$ROOT"/}
  database:  ${DB#"$ROOT"/}

Use the CLI (it is logged in as the admin user):
  export PATH="$BIN_DIR:\$PATH"
  kontena whoami
  kontena grid ls
  kontena grid show demo
  kontena node create --grid demo node-1
  kontena node ls --grid demo
  kontena --help

Or the REST API (docs/api.md), e.g.:
  curl $URL/v1/ping

Stop it with:  scripts/down.sh      (keeps the data; scripts/up.sh starts it again)
EOF
}

if pid=$(server_pid); then
  say "the master is already running (PID $pid): nothing to do"
  usage "$pid"
  exit 0
fi

bash "$ROOT/scripts/setup.sh"
# Only what the platform runs (scripts/test.sh builds everything).
bash "$ROOT/scripts/build.sh" kontena-server kontena

mkdir -p "$RUN_DIR" "$(dirname "$DB")"
if ping_ok; then
  echo "up: something already answers $URL/v1/ping but it is not a master started by this script" >&2
  echo "up: stop it, or choose another address with KONTENA_LISTEN=HOST:PORT" >&2
  exit 1
fi

# First start (no database yet): a fresh one-time admin login code.
env_code=()
if [[ ! -e "$DB" ]]; then
  (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$CODE_FILE")
  env_code=("INITIAL_ADMIN_CODE=$(cat "$CODE_FILE")")
  say "first start: new database $DB"
fi

say "starting kontena-server on $LISTEN"
printf '\n===== %s kontena-server --listen %s --db %s\n' "$(date '+%F %T')" "$LISTEN" "$DB" >>"$LOG_FILE"
# setsid: its own session, so a Ctrl-C in this terminal does not reach it.
env ${env_code[@]+"${env_code[@]}"} setsid "$SERVER_BIN" --listen "$LISTEN" --db "$DB" \
  </dev/null >>"$LOG_FILE" 2>&1 &
pid=$!
echo "$pid" >"$PID_FILE"

for ((i = 0; i < 300; i++)); do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "up: kontena-server exited at start; the end of ${LOG_FILE#"$ROOT"/}:" >&2
    tail -n 30 "$LOG_FILE" >&2
    rm -f "$PID_FILE"
    exit 1
  fi
  ping_ok && break
  sleep 0.1
done
if ! ping_ok; then
  echo "up: kontena-server (PID $pid) does not answer $URL/v1/ping after 30 s; see $LOG_FILE" >&2
  exit 1
fi
say "master is up at $URL (PID $pid)"

# First start: log the CLI in with the one-time code, then create the grid `demo`. The code file
# stays until the login worked, so a failed first login is retried by the next scripts/up.sh.
if [[ -f "$CODE_FILE" ]]; then
  say "logging the CLI in as admin"
  "$CLI_BIN" master login --code "$(cat "$CODE_FILE")" "$URL"
  rm -f "$CODE_FILE"
  say "creating grid demo"
  "$CLI_BIN" grid create demo
fi

# ---- later issues: the local agent and the demo stack -------------------------------------
# Here up.sh will start dockerd when none runs, start one kontena-agent for the grid `demo` on
# the local Docker Engine (pid file in .run/, stopped by scripts/down.sh) and deploy the demo stack.
# --------------------------------------------------------------------------------------------

usage "$pid"
