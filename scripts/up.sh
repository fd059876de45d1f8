#!/usr/bin/env bash
# Brings up a single-machine Kontena platform from this checkout:
#   installs the Debian packages (scripts/setup.sh), builds (scripts/build.sh), starts the master
#   (kontena-server, on its embedded SQLite store) in the background, and on its first start logs
#   the CLI in as the admin and creates the grid `demo`. Starts a Docker Engine (dockerd) when none
#   answers on /var/run/docker.sock, then one kontena-agent that joins the grid `demo` with the
#   grid token as this machine's node, and waits until `kontena node ls` shows it online. Then
#   prints how to use it.
# Stop it with scripts/down.sh (the data in data/ is kept). Pid files and logs are in .run/.
#
# Environment:
#   KONTENA_LISTEN   address the master listens on (default 127.0.0.1:9292)
#   KONTENA_DB       the master's database file (default data/master.db)
#   KONTENA_CONFIG   the CLI's config file (default ~/.kontena_client.json)
# Idempotent: what already runs is left alone; when everything runs it changes nothing.
# dockerd and the agent need root: as another user they are started with sudo.
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
AGENT_BIN="$ROOT/build/src/agent/kontena-agent"
BIN_DIR=$(dirname "$CLI_BIN")
GRID=demo
DOCKER_SOCK=/var/run/docker.sock
DOCKERD_PID_FILE="$RUN_DIR/dockerd.pid"     # exists only while a dockerd started by up.sh runs
DOCKERD_LOG="$RUN_DIR/dockerd.log"
AGENT_PID_FILE="$RUN_DIR/kontena-agent.pid"
AGENT_LOG="$RUN_DIR/kontena-agent.log"
AGENT_ENV="$RUN_DIR/kontena-agent.env"      # KONTENA_URI and KONTENA_TOKEN for the agent (0600)
SUDO=()
[[ $(id -u) -eq 0 ]] || SUDO=(sudo)

host=${LISTEN%:*}
port=${LISTEN##*:}
case "$host" in
  "" | 0.0.0.0 | "*" | "[::]" | "::") client_host=127.0.0.1 ;;
  *) client_host=$host ;;
esac
URL="http://$client_host:$port"

say() { printf 'up: %s\n' "$*"; }
die() { printf 'up: %s\n' "$*" >&2; exit 1; }

# pid_of PID_FILE NAME: prints the PID in PID_FILE if that process runs (not a zombie) and its
# command line contains NAME.
pid_of() {
  local file=$1 name=$2 pid state
  [[ -f "$file" ]] || return 1
  pid=$(cat "$file" 2>/dev/null || true)
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  state=$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$pid/stat" 2>/dev/null || true)
  [[ -n "$state" && "$state" != Z ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$name" || return 1
  echo "$pid"
}

server_pid() { pid_of "$PID_FILE" kontena-server; }
agent_pid() { pid_of "$AGENT_PID_FILE" kontena-agent; }

ping_ok() { curl -fsS -m 2 -o /dev/null "$URL/v1/ping" 2>/dev/null; }

# docker_ok: a Docker Engine answers on /var/run/docker.sock.
docker_ok() {
  [[ -S "$DOCKER_SOCK" ]] &&
    "${SUDO[@]}" curl -fsS -m 3 -o /dev/null --unix-socket "$DOCKER_SOCK" http://localhost/_ping 2>/dev/null
}

# docker_engine_id: the local engine's ID, which is the node id of this machine's node.
docker_engine_id() {
  "${SUDO[@]}" curl -fsS -m 5 --unix-socket "$DOCKER_SOCK" http://localhost/info 2>/dev/null | jq -r '.ID // empty'
}

# wait_pid_file PID_FILE NAME: waits up to 5 s until PID_FILE names a running NAME; prints the PID.
wait_pid_file() {
  local i
  for ((i = 0; i < 50; i++)); do
    pid_of "$1" "$2" && return 0
    sleep 0.1
  done
  return 1
}

# node_line ENGINE_ID: "NAME STATUS" of this machine's node in grid demo (found by its node id).
node_line() {
  "$CLI_BIN" node ls --grid "$GRID" --json 2>/dev/null |
    jq -r --arg id "$1" '.nodes[] | select(.node_id == $id) | "\(.name) \(.status)"' 2>/dev/null | head -n 1
}

usage() {
  local pid=$1 node=${2:-} started=""
  [[ -f "$DOCKERD_PID_FILE" ]] && started=" (a dockerd started by scripts/up.sh, log ${DOCKERD_LOG#"$ROOT"/})"
  cat <<EOF

Kontena master is running at $URL  (PID $pid)
  log:       ${LOG_FILE#"$ROOT"/}
  database:  ${DB#"$ROOT"/}
This machine is node ${node:-?} of grid $GRID: kontena-agent (PID $(agent_pid || echo '?'), log ${AGENT_LOG#"$ROOT"/})
drives the Docker Engine on $DOCKER_SOCK$started.

Use the CLI (it is logged in as the admin user; grid $GRID is selected):
  export PATH="$BIN_DIR:\$PATH"
  kontena whoami
  kontena grid ls
  kontena node ls                  # ${node:-this machine}: online
  kontena node show ${node:-NAME}
  kontena node create node-2       # pre-create a node; its agent needs: kontena node env node-2
  kontena stack ls                 # the demo stack hello: kontena stack show hello
  kontena service containers hello/web
  kontena grid health              # the grid's etcd (this machine is its initial node)
  kontena etcd ls /kontena/ipam    # IPAM: this node's slice and the containers' overlay addresses
  kontena service exec hello/web -- nslookup web.hello.demo.kontena.local   # service discovery
  kontena --help

Or the REST API (docs/api.md), e.g.:
  curl $URL/v1/ping

Stop it with:  scripts/down.sh      (keeps the data; scripts/up.sh starts it again)
EOF
}

# Everything runs already: change nothing.
if pid=$(server_pid) && apid=$(agent_pid) && docker_ok; then
  node="" status=""
  engine_id=$(docker_engine_id || true)
  [[ -z "$engine_id" ]] || read -r node status <<<"$(node_line "$engine_id")" || true
  say "the master (PID $pid), the Docker Engine and the agent (PID $apid) are already running: nothing to do"
  [[ -z "$status" ]] || say "node $node is $status"
  usage "$pid" "$node"
  exit 0
fi

bash "$ROOT/scripts/setup.sh"
# Only what the platform runs (scripts/test.sh builds everything).
bash "$ROOT/scripts/build.sh" kontena-server kontena kontena-agent

mkdir -p "$RUN_DIR" "$(dirname "$DB")"

# ---- the master -------------------------------------------------------------------------------
if pid=$(server_pid); then
  say "the master is already running (PID $pid)"
else
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
  ping_ok || die "kontena-server (PID $pid) does not answer $URL/v1/ping after 30 s; see $LOG_FILE"
  say "master is up at $URL (PID $pid)"
fi

# First start: log the CLI in with the one-time code, then create the grid `demo`. The code file
# stays until the login worked, so a failed first login is retried by the next scripts/up.sh.
if [[ -f "$CODE_FILE" ]]; then
  say "logging the CLI in as admin"
  "$CLI_BIN" master login --code "$(cat "$CODE_FILE")" "$URL"
  rm -f "$CODE_FILE"
  say "creating grid $GRID"
  "$CLI_BIN" grid create "$GRID"
fi

# ---- the Docker Engine: started only when none answers on /var/run/docker.sock -----------------
if docker_ok; then
  if dpid=$(pid_of "$DOCKERD_PID_FILE" dockerd); then
    say "dockerd is already running (PID $dpid, started by scripts/up.sh)"
  else
    rm -f "$DOCKERD_PID_FILE" # not ours: scripts/down.sh leaves it alone
    say "a Docker Engine answers on $DOCKER_SOCK: using it"
  fi
else
  if dpid=$(pid_of "$DOCKERD_PID_FILE" dockerd); then
    say "dockerd (PID $dpid) runs but does not answer on $DOCKER_SOCK yet: waiting for it"
  elif dpid=$(pid_of /var/run/docker.pid dockerd); then
    die "a dockerd not started by this script (PID $dpid) runs but does not answer on $DOCKER_SOCK: fix or stop it first"
  else
    command -v dockerd >/dev/null 2>&1 || die "dockerd is not installed (scripts/setup.sh installs docker.io)"
    rm -f "$DOCKERD_PID_FILE"
    say "no Docker Engine answers on $DOCKER_SOCK: starting dockerd (log ${DOCKERD_LOG#"$ROOT"/})"
    printf '\n===== %s dockerd -H unix://%s\n' "$(date '+%F %T')" "$DOCKER_SOCK" >>"$DOCKERD_LOG"
    # Its own session (a Ctrl-C here does not reach it); the process writes its own PID (right
    # under sudo too) and then becomes dockerd. DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1: local
    # images are used without asking a registry.
    "${SUDO[@]}" env DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 setsid sh -c 'echo $$ >"$0"; exec "$@"' \
      "$DOCKERD_PID_FILE" "$(command -v dockerd)" -H "unix://$DOCKER_SOCK" </dev/null >>"$DOCKERD_LOG" 2>&1 &
    dpid=$(wait_pid_file "$DOCKERD_PID_FILE" dockerd) || {
      echo "up: dockerd exited at start; the end of ${DOCKERD_LOG#"$ROOT"/}:" >&2
      tail -n 30 "$DOCKERD_LOG" >&2
      rm -f "$DOCKERD_PID_FILE"
      exit 1
    }
  fi
  for ((i = 0; i < 600; i++)); do
    docker_ok && break
    if ! pid_of "$DOCKERD_PID_FILE" dockerd >/dev/null; then
      echo "up: dockerd exited at start; the end of ${DOCKERD_LOG#"$ROOT"/}:" >&2
      tail -n 30 "$DOCKERD_LOG" >&2
      rm -f "$DOCKERD_PID_FILE"
      exit 1
    fi
    sleep 0.1
  done
  docker_ok || die "the Docker Engine does not answer on $DOCKER_SOCK after 60 s; see ${DOCKERD_LOG#"$ROOT"/}"
  say "dockerd is up (PID $dpid)"
fi
engine_id=$(docker_engine_id || true)
[[ -n "$engine_id" ]] || die "GET /info on $DOCKER_SOCK gave no engine ID"

# ---- the local agent: this machine joins the grid demo with the grid token ---------------------
if apid=$(agent_pid); then
  say "the agent is already running (PID $apid)"
else
  [[ -x "$AGENT_BIN" ]] || die "$AGENT_BIN was not built"
  grid_env=$("$CLI_BIN" grid env "$GRID") ||
    die "'kontena grid env $GRID' failed: is the CLI logged in to $URL (kontena master login) and does grid $GRID exist?"
  agent_uri=$(sed -n 's/^KONTENA_URI=//p' <<<"$grid_env")
  agent_token=$(sed -n 's/^KONTENA_TOKEN=//p' <<<"$grid_env")
  [[ -n "$agent_uri" && -n "$agent_token" ]] || die "'kontena grid env $GRID' printed no KONTENA_URI or KONTENA_TOKEN"
  # The token reaches the agent through its environment, never its command line (ps shows that).
  (umask 077 && printf 'KONTENA_URI=%s\nKONTENA_TOKEN=%s\n' "$agent_uri" "$agent_token" >"$AGENT_ENV")
  say "starting kontena-agent: grid $GRID at $agent_uri (log ${AGENT_LOG#"$ROOT"/})"
  printf '\n===== %s kontena-agent --docker-socket unix://%s (KONTENA_URI=%s)\n' \
    "$(date '+%F %T')" "$DOCKER_SOCK" "$agent_uri" >>"$AGENT_LOG"
  rm -f "$AGENT_PID_FILE"
  # --data-dir: this machine is the grid's initial node: its etcd member keeps its data in data/agent.
  "${SUDO[@]}" setsid sh -c 'echo $$ >"$0"; set -a; . "$1"; set +a; exec "$2" --docker-socket "$3" --data-dir "$4"' \
    "$AGENT_PID_FILE" "$AGENT_ENV" "$AGENT_BIN" "unix://$DOCKER_SOCK" "$ROOT/data/agent" </dev/null >>"$AGENT_LOG" 2>&1 &
  apid=$(wait_pid_file "$AGENT_PID_FILE" kontena-agent) || {
    echo "up: kontena-agent exited at start; the end of ${AGENT_LOG#"$ROOT"/}:" >&2
    tail -n 30 "$AGENT_LOG" >&2
    exit 1
  }
fi

say "waiting for this machine's node to be online in grid $GRID"
node="" status=""
for ((i = 0; i < 600; i++)); do
  read -r node status <<<"$(node_line "$engine_id")" || true
  [[ "$status" == online || "$status" == drain ]] && break
  if ! agent_pid >/dev/null; then
    echo "up: kontena-agent exited; the end of ${AGENT_LOG#"$ROOT"/}:" >&2
    tail -n 30 "$AGENT_LOG" >&2
    exit 1
  fi
  sleep 0.1
done
if [[ "$status" != online && "$status" != drain ]]; then
  echo "up: this machine's node is not online after 60 s (status: ${status:-no node}); the end of ${AGENT_LOG#"$ROOT"/}:" >&2
  tail -n 30 "$AGENT_LOG" >&2
  exit 1
fi
say "node $node is $status (agent PID $(agent_pid))"

# ---- the demo stack: `hello` in grid demo --------------------------------------------------------
# Installed once (the marker file remembers it, so a stack the user removed is not brought back):
# two instances of the local image local/web:latest (images/web/build.sh: busybox httpd, built on
# this machine's Docker Engine when missing; nothing is pulled), with a health check.
DEMO_STACK=hello
DEMO_MARK="$RUN_DIR/demo-stack-installed"
DEMO_FILE="$RUN_DIR/hello.yml"
if [[ -f "$DEMO_MARK" ]]; then
  :
elif "$CLI_BIN" stack show "$DEMO_STACK" --grid "$GRID" >/dev/null 2>&1; then
  touch "$DEMO_MARK"
else
  if ! "${SUDO[@]}" docker -H "unix://$DOCKER_SOCK" image inspect local/web:latest >/dev/null 2>&1; then
    say "building the demo image local/web:latest (images/web/build.sh)"
    "${SUDO[@]}" "$ROOT/images/web/build.sh" -H "unix://$DOCKER_SOCK" -t local/web:latest --text "hello from Kontena" ||
      die "building local/web:latest failed"
  fi
  cat >"$DEMO_FILE" <<'YAML'
stack: demo/hello
version: 1.0.0
description: the demo stack of scripts/up.sh
services:
  web:
    image: local/web:latest
    instances: 2
    deploy:
      wait_for_port: 8080
    health_check:
      protocol: http
      port: 8080
      uri: /
      interval: 30
      timeout: 5
      initial_delay: 5
YAML
  say "installing the demo stack $DEMO_STACK ($DEMO_FILE)"
  "$CLI_BIN" stack install --grid "$GRID" "$DEMO_FILE" || die "kontena stack install $DEMO_FILE failed (see above)"
  touch "$DEMO_MARK"
fi
# ------------------------------------------------------------------------------------------------

usage "$(server_pid)" "$node"
