#!/usr/bin/env bash
# Stops what scripts/up.sh started, by the PIDs in its pid files only (SIGTERM, up to 10 s, then
# SIGKILL). Keeps the data (data/master.db) and the logs in .run/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN_DIR="$ROOT/.run"

say() { printf 'down: %s\n' "$*"; }

# alive PID: the process exists and is not a zombie waiting to be reaped.
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)
  [[ "$state" != Z ]]
}

# stop NAME PID_FILE: stops the process named in PID_FILE if it is a running NAME.
stop() {
  local name=$1 pid_file=$2 pid i
  if [[ ! -f "$pid_file" ]]; then
    say "$name is not running (no ${pid_file#"$ROOT"/})"
    return 0
  fi
  pid=$(cat "$pid_file")
  if ! [[ "$pid" =~ ^[0-9]+$ ]] || ! alive "$pid" ||
     ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$name"; then
    say "$name is not running (stale ${pid_file#"$ROOT"/})"
    rm -f "$pid_file"
    return 0
  fi
  kill -TERM "$pid"
  for ((i = 0; i < 100; i++)); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid"; then
    say "$name (PID $pid) did not stop within 10 s: sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pid_file"
  say "stopped $name (PID $pid)"
}

# ---- later issues: stop the local kontena-agent here (before the master) ---------------------

stop kontena-server "$RUN_DIR/kontena-server.pid"
say "the data is kept; start again with scripts/up.sh"
