#!/usr/bin/env bash
# Stops what scripts/up.sh started, by the PIDs in its pid files only (SIGTERM, then SIGKILL after
# a while): the local kontena-agent, the master, and dockerd if up.sh started it (a Docker Engine
# that was already running is left alone). Keeps the data (data/master.db) and the logs in .run/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN_DIR="$ROOT/.run"
SUDO=()
[[ $(id -u) -eq 0 ]] || SUDO=(sudo)

say() { printf 'down: %s\n' "$*"; }

# alive PID: the process exists and is not a zombie waiting to be reaped.
alive() {
  [[ -e "/proc/$1" ]] || return 1
  local state
  state=$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null || true)
  [[ -n "$state" && "$state" != Z ]]
}

# signal SIG PID: kill, with sudo when the process is not ours to signal.
signal() {
  kill "-$1" "$2" 2>/dev/null || "${SUDO[@]}" kill "-$1" "$2"
}

# stop NAME PID_FILE [SECONDS]: stops the process named in PID_FILE if it is a running NAME
# (SIGTERM, SIGKILL after SECONDS, default 10).
stop() {
  local name=$1 pid_file=$2 secs=${3:-10} pid i
  if [[ ! -f "$pid_file" ]]; then
    say "$name is not running (no ${pid_file#"$ROOT"/})"
    return 0
  fi
  pid=$(cat "$pid_file" 2>/dev/null || true)
  if ! [[ "$pid" =~ ^[0-9]+$ ]] || ! alive "$pid" ||
     ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$name"; then
    say "$name is not running (stale ${pid_file#"$ROOT"/})"
    rm -f "$pid_file"
    return 0
  fi
  signal TERM "$pid"
  for ((i = 0; i < secs * 10; i++)); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid"; then
    say "$name (PID $pid) did not stop within $secs s: sending SIGKILL"
    signal KILL "$pid" || true
  fi
  rm -f "$pid_file"
  say "stopped $name (PID $pid)"
}

stop kontena-agent "$RUN_DIR/kontena-agent.pid"
stop kontena-server "$RUN_DIR/kontena-server.pid"
# dockerd.pid exists only when scripts/up.sh started dockerd. Its containers stop with it.
stop dockerd "$RUN_DIR/dockerd.pid" 60
say "the data is kept; start again with scripts/up.sh"
