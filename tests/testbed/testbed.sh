#!/usr/bin/env bash
# Multi-node test bed: N "nodes" on one machine, each a network namespace with its own dockerd.
# A bash library (source it) and a CLI (run it). Needs root. See README.md in this directory.
#
#   tests/testbed/testbed.sh up N [--name PREFIX]     bring up N nodes (1..16)
#   tests/testbed/testbed.sh down [--name PREFIX]     tear everything down (idempotent)
#   tests/testbed/testbed.sh status [--name PREFIX]
#   tests/testbed/testbed.sh exec I CMD...            run CMD in node I (its netns and hostname)
#   tests/testbed/testbed.sh docker I ARGS...         docker CLI against node I's dockerd
#   tests/testbed/testbed.sh load-image I IMAGE|FILE.tar
#   tests/testbed/testbed.sh build-busybox I [TAG]    local/busybox:latest from /usr/bin/busybox
#   tests/testbed/testbed.sh spawn I CMD...           background CMD in node I; prints its PID
#   tests/testbed/testbed.sh node-stop I | node-start I
# `--name PREFIX` may also come first: testbed.sh --name kt1 exec 1 ip addr
#
# Sourced, it defines testbed_up N, testbed_down, testbed_status, testbed_node_ip I,
# testbed_gateway_ip, testbed_docker_sock I, testbed_docker I ARGS..., testbed_exec I CMD...,
# testbed_netns I, testbed_run_in_node I CMD..., testbed_stop_proc PID, testbed_proc_alive PID,
# testbed_load_image I IMAGE, testbed_build_busybox_image I [TAG], testbed_node_stop I,
# testbed_node_start I, testbed_node_link I up|down, testbed_host_route I CIDR.
# They work under the caller's set -euo pipefail / set -E and ERR trap (those are set aside inside).
# Typical test:   source tests/testbed/testbed.sh; trap testbed_down EXIT; testbed_up 3
#
# Settings (environment; read when `up` runs and then kept in the state dir for the other commands):
#   TESTBED_NAME=ktb                 prefix: netns PREFIX-nI, host veth PREFIX-vI, bridge PREFIXbr0
#   TESTBED_SUBNET=10.99.0.0/24      underlay (/24 only): host bridge .1, node I is .(10+I)
#   TESTBED_BIP_PREFIX=10.201        node I: docker0 = 10.201.I.1/24
#   TESTBED_POOL_PREFIX=10.210       node I: --default-address-pool base=10.210.16*(I-1).0/20,size=24
#   TESTBED_DEFAULT_ROUTE=0          1: nodes get a default route via the host bridge (see README)
#   TESTBED_DOCKERD_ARGS=""          extra dockerd arguments for every node (split on spaces)
#   TESTBED_DOCKERD_ARGS_<I>=""      extra dockerd arguments for node I only
#   TESTBED_RUN_ROOT=/run/kontena-testbed       sockets, pids, exec roots, logs: RUN_ROOT/PREFIX
#   TESTBED_DATA_ROOT=/var/lib/kontena-testbed  data-roots, per-node /etc/docker: DATA_ROOT/PREFIX
#   TESTBED_READY_TIMEOUT=60  TESTBED_STOP_TIMEOUT=20  (seconds)
#   TESTBED_LOG_DIR=""               if set, `down` copies the node logs there before deleting them
#   TESTBED_DOCKER_CLI=docker  TESTBED_DOCKERD=dockerd  TESTBED_BUSYBOX=/usr/bin/busybox
# shellcheck shell=bash disable=SC2034

_TB_SELF=$(readlink -f "${BASH_SOURCE[0]}")
_TB_MAX_NODES=16

# ---------------------------------------------------------------------------------------------
# small helpers

_tb_log() { printf 'testbed[%s]: %s\n' "${_TB_NAME:-${TESTBED_NAME:-ktb}}" "$*" >&2; }

_tb_now() { local t=$EPOCHREALTIME; printf '%s' "${t/,/.}"; }

_tb_since() { awk -v a="$1" -v b="$(_tb_now)" 'BEGIN { printf "%.2f", b - a }'; }

# _tb_proc_start PID: the process's start time (field 22 of /proc/PID/stat), which together with
# the PID identifies it even if the PID is reused later. Fails when the process is gone or a zombie.
_tb_proc_start() {
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }
  local -a f
  read -r -a f <<<"$s"
  [[ ${f[0]} == Z || ${f[0]} == X ]] && return 1
  printf '%s\n' "${f[19]}"
}

# _tb_proc_alive PID START
_tb_proc_alive() {
  local st
  st=$(_tb_proc_start "$1") || return 1
  [[ $st == "$2" ]]
}

# _tb_stop_procs TIMEOUT LABEL "PID START"...: TERM the ones still alive, wait up to TIMEOUT s,
# then KILL the rest and wait up to 10 s more. Only the recorded PIDs are signalled.
_tb_stop_procs() {
  local timeout=$1 label=$2
  shift 2
  local -a live=()
  local e pid st
  for e in "$@"; do
    read -r pid st <<<"$e"
    [[ $pid =~ ^[0-9]+$ && $st =~ ^[0-9]+$ ]] || continue
    if _tb_proc_alive "$pid" "$st"; then
      kill -TERM "$pid" 2>/dev/null
      live+=("$pid $st")
    fi
  done
  [[ ${#live[@]} -eq 0 ]] && return 0
  local sig deadline
  for sig in KILL NONE; do
    deadline=$((SECONDS + timeout))
    while :; do
      local -a still=()
      for e in "${live[@]}"; do
        read -r pid st <<<"$e"
        _tb_proc_alive "$pid" "$st" && still+=("$e")
      done
      live=("${still[@]}")
      [[ ${#live[@]} -eq 0 ]] && return 0
      ((SECONDS >= deadline)) && break
      sleep 0.1
    done
    [[ $sig == NONE ]] && break
    for e in "${live[@]}"; do
      read -r pid st <<<"$e"
      _tb_log "$label: PID $pid did not exit ${timeout}s after TERM: sending KILL"
      kill -KILL "$pid" 2>/dev/null
    done
    timeout=10
  done
  for e in "${live[@]}"; do _tb_log "$label: PID ${e%% *} is still alive"; done
  return 1
}

# _tb_init: validate the settings and load the state of the test bed named by TESTBED_NAME.
_tb_init() {
  _TB_NAME=${TESTBED_NAME:-ktb}
  if ! [[ $_TB_NAME =~ ^[a-z][a-z0-9]{0,7}$ ]]; then
    _tb_log "bad name '$_TB_NAME': 1-8 characters, [a-z][a-z0-9]*"
    return 1
  fi
  _TB_RUN_ROOT=${TESTBED_RUN_ROOT:-/run/kontena-testbed}
  _TB_DATA_ROOT=${TESTBED_DATA_ROOT:-/var/lib/kontena-testbed}
  if [[ $_TB_RUN_ROOT != /?* || $_TB_DATA_ROOT != /?* ]]; then
    _tb_log "TESTBED_RUN_ROOT and TESTBED_DATA_ROOT must be absolute paths"
    return 1
  fi
  _TB_RUN_ROOT=${_TB_RUN_ROOT%/} _TB_DATA_ROOT=${_TB_DATA_ROOT%/}
  _TB_RUN=$_TB_RUN_ROOT/$_TB_NAME
  _TB_DATA=$_TB_DATA_ROOT/$_TB_NAME
  _TB_BR=${_TB_NAME}br0
  _TB_COMMENT="kontena-testbed:$_TB_NAME"
  _TB_DOCKER=${TESTBED_DOCKER_CLI:-docker}
  _TB_DOCKERD=${TESTBED_DOCKERD:-dockerd}
  # Settings of a running test bed come from its config; the environment only for a new one.
  local v
  for v in "${!_TB_CFG_@}"; do unset "$v"; done
  _TB_HAVE_CFG=0
  if [[ -f $_TB_RUN/config ]]; then
    # shellcheck disable=SC1091
    source "$_TB_RUN/config" || return 1
    _TB_HAVE_CFG=1
  fi
  _TB_N=${_TB_CFG_N:-0}
  local subnet=${_TB_CFG_SUBNET:-${TESTBED_SUBNET:-10.99.0.0/24}}
  if ! [[ $subnet =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.0/24$ ]]; then
    _tb_log "TESTBED_SUBNET '$subnet' must be a /24 written A.B.C.0/24"
    return 1
  fi
  _TB_SUBNET=$subnet
  _TB_NET3=${BASH_REMATCH[1]}.${BASH_REMATCH[2]}.${BASH_REMATCH[3]}
  _TB_GW=$_TB_NET3.1
  _TB_BIP=${_TB_CFG_BIP:-${TESTBED_BIP_PREFIX:-10.201}}
  _TB_POOL=${_TB_CFG_POOL:-${TESTBED_POOL_PREFIX:-10.210}}
  for v in "$_TB_BIP" "$_TB_POOL"; do
    if ! [[ $v =~ ^[0-9]{1,3}\.[0-9]{1,3}$ ]]; then
      _tb_log "TESTBED_BIP_PREFIX / TESTBED_POOL_PREFIX '$v' must be written A.B"
      return 1
    fi
  done
  _TB_DEFAULT_ROUTE=${_TB_CFG_DEFAULT_ROUTE:-${TESTBED_DEFAULT_ROUTE:-0}}
}

_tb_ns() { printf '%s-n%s' "$_TB_NAME" "$1"; }
_tb_veth() { printf '%s-v%s' "$_TB_NAME" "$1"; }
_tb_ip() { printf '%s.%s' "$_TB_NET3" "$((10 + $1))"; }
_tb_sock() { printf '%s/n%s/docker.sock' "$_TB_RUN" "$1"; }
_tb_bip_cidr() { printf '%s.%s.1/24' "$_TB_BIP" "$1"; }
_tb_bip_net() { printf '%s.%s.0/24' "$_TB_BIP" "$1"; }
_tb_pool_cidr() { printf '%s.%s.0/20' "$_TB_POOL" "$((16 * ($1 - 1)))"; }

# _tb_check_node I: I is a node of the running test bed.
_tb_check_node() {
  if ! [[ $1 =~ ^[1-9][0-9]*$ ]]; then
    _tb_log "bad node index '$1'"
    return 1
  fi
  if [[ $_TB_HAVE_CFG != 1 ]]; then
    _tb_log "test bed '$_TB_NAME' is not up (no $_TB_RUN/config)"
    return 1
  fi
  if (($1 > _TB_N)); then
    _tb_log "node $1 does not exist (test bed '$_TB_NAME' has $_TB_N nodes)"
    return 1
  fi
}

_tb_docker() {
  local i=$1
  shift
  "$_TB_DOCKER" -H "unix://$(_tb_sock "$i")" "$@"
}

# Every node this test bed may have left anything for: configured, or found by name.
_tb_known_nodes() {
  {
    local i d
    for ((i = 1; i <= _TB_N; i++)); do echo "$i"; done
    for d in "$_TB_RUN"/n* "$_TB_DATA"/n*; do
      [[ -d $d && ${d##*/n} =~ ^[0-9]+$ ]] && echo "${d##*/n}"
    done
    ip netns list 2>/dev/null | awk '{print $1}' | sed -n "s/^$_TB_NAME-n\([0-9][0-9]*\)\$/\1/p"
    ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed -n "s/^$_TB_NAME-v\([0-9][0-9]*\)@.*/\1/p; s/^$_TB_NAME-v\([0-9][0-9]*\)\$/\1/p"
  } | sort -un
}

# The two host FORWARD rules of this test bed (comment kontena-testbed:NAME):
#  - node<->node over the bridge is accepted (Docker's FORWARD policy DROP + br_netfilter drop it);
#  - anything from the bridge to elsewhere is rejected, so no node traffic can be routed out.
_tb_fw_rule() {
  case $1 in
    accept) printf '%s\n' FORWARD -i "$_TB_BR" -o "$_TB_BR" -m comment --comment "$_TB_COMMENT" -j ACCEPT ;;
    reject) printf '%s\n' FORWARD -i "$_TB_BR" '!' -o "$_TB_BR" -m comment --comment "$_TB_COMMENT" -j REJECT ;;
  esac
}

# _tb_cgroup_dirs I: node I's cgroups (dockerd runs containers under --cgroup-parent /PREFIX-nI).
_tb_cgroup_dirs() {
  local ns d
  ns=$(_tb_ns "$1")
  for d in /sys/fs/cgroup/*/"$ns" /sys/fs/cgroup/"$ns"; do
    [[ -d $d ]] && printf '%s\n' "$d"
  done
}

# _tb_cgroup_leftovers I: container processes of node I that outlived its dockerd (e.g. after a
# dockerd crash their shims may be gone too): found in the node's cgroups, ended by PID.
_tb_cgroup_leftovers() {
  local -a dirs recs=()
  mapfile -t dirs < <(_tb_cgroup_dirs "$1")
  ((${#dirs[@]} == 0)) && return 0
  local p st
  while read -r p; do
    st=$(_tb_proc_start "$p") || continue
    _tb_log "node $1: ending leftover container process $p ($(cat "/proc/$p/comm" 2>/dev/null))"
    recs+=("$p $st")
  done < <(find "${dirs[@]}" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -un)
  ((${#recs[@]} == 0)) && return 0
  _tb_stop_procs 1 "node $1 container" "${recs[@]}"
}

# ---------------------------------------------------------------------------------------------
# one node's dockerd

# _tb_dockerd_launch I: start node I's dockerd in the background, record its PID.
_tb_dockerd_launch() {
  local i=$1 ns nd dd
  ns=$(_tb_ns "$i")
  nd=$_TB_RUN/n$i
  dd=$_TB_DATA/n$i
  mkdir -p "$nd/exec" "$dd/docker" "$dd/etc" || return 1
  # left by a dockerd that was killed: dockerd refuses to start while its pidfile names a live PID
  rm -f "$nd/docker.sock" "$nd/docker.pid"
  local -a args=(
    --data-root "$dd/docker" --exec-root "$nd/exec" --pidfile "$nd/docker.pid"
    -H "unix://$nd/docker.sock"
    --bip "$(_tb_bip_cidr "$i")" --default-address-pool "base=$(_tb_pool_cidr "$i"),size=24"
    --cgroup-parent "/$ns" --dns "$_TB_GW"
  )
  local -a extra=()
  local per="_TB_CFG_ARGS_$i"
  read -r -a extra <<<"${_TB_CFG_ARGS:-} ${!per:-}"
  args+=("${extra[@]}")
  printf '=== %s dockerd %s\n' "$(date '+%F %T')" "${args[*]}" >>"$nd/dockerd.log"
  # nsenter --net (not `ip netns exec`, which remounts /sys and hides the v1 cgroups), the node's
  # own UTS namespace (hostname = netns name), a private mount namespace (slave: host mounts stay
  # visible, the node's overlay mounts stay out of the host's table) with its own /etc/docker,
  # so each node has its own key.json and engine ID. nsenter, unshare and sh all exec: $! is dockerd.
  # shellcheck disable=SC2016
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 \
    nsenter --net="/run/netns/$ns" --uts="$nd/uts" -- \
    unshare --mount --propagation slave -- \
    /bin/sh -c 'mount --bind "$1" /etc/docker || exit 125; shift; exec "$@"' sh "$dd/etc" \
    "$_TB_DOCKERD" "${args[@]}" >>"$nd/dockerd.log" 2>&1 </dev/null &
  local pid=$! st
  # not a job of the caller's shell: a plain `wait` in a test must not wait for dockerd, and
  # bash must not report its end; bash still reaps it
  disown "$pid" 2>/dev/null
  st=$(_tb_proc_start "$pid") || st=0
  echo "$pid $st" >"$nd/dockerd.proc"
}

# _tb_dockerd_wait I...: wait until every listed node's dockerd answers `docker info`.
_tb_dockerd_wait() {
  local timeout=${TESTBED_READY_TIMEOUT:-60}
  local deadline=$((SECONDS + timeout)) t0
  t0=$(_tb_now)
  local -a pending=("$@")
  while ((${#pending[@]} > 0)); do
    local -a rest=()
    local i pid st
    for i in "${pending[@]}"; do
      if timeout 5 "$_TB_DOCKER" -H "unix://$(_tb_sock "$i")" info --format '{{.ID}}' >/dev/null 2>&1; then
        read -r pid st <"$_TB_RUN/n$i/dockerd.proc"
        _tb_log "node $i ($(_tb_ns "$i"), $(_tb_ip "$i")): dockerd PID $pid ready after $(_tb_since "$t0") s"
        continue
      fi
      read -r pid st <"$_TB_RUN/n$i/dockerd.proc" 2>/dev/null
      if ! _tb_proc_alive "${pid:-0}" "${st:-0}"; then
        _tb_log "node $i: dockerd exited during start-up; its log ($_TB_RUN/n$i/dockerd.log):"
        tail -n 60 "$_TB_RUN/n$i/dockerd.log" | sed 's/^/    /' >&2
        return 1
      fi
      rest+=("$i")
    done
    pending=("${rest[@]}")
    ((${#pending[@]} == 0)) && break
    if ((SECONDS >= deadline)); then
      for i in "${pending[@]}"; do
        _tb_log "node $i: dockerd not ready after ${timeout}s; its log ($_TB_RUN/n$i/dockerd.log):"
        tail -n 60 "$_TB_RUN/n$i/dockerd.log" | sed 's/^/    /' >&2
      done
      return 1
    fi
    sleep 0.1
  done
}

# _tb_dockerd_stop I [rm]: (rm: remove all containers first), TERM dockerd, KILL after the timeout.
_tb_dockerd_stop() {
  local i=$1 mode=${2:-} nd=$_TB_RUN/n$1 pid='' st=''
  [[ -f $nd/dockerd.proc ]] || return 0
  read -r pid st <"$nd/dockerd.proc"
  if _tb_proc_alive "$pid" "$st"; then
    if [[ $mode == rm ]] && timeout 10 "$_TB_DOCKER" -H "unix://$nd/docker.sock" info >/dev/null 2>&1; then
      local -a ids=()
      mapfile -t ids < <(timeout 20 "$_TB_DOCKER" -H "unix://$nd/docker.sock" ps -aq 2>/dev/null)
      if ((${#ids[@]} > 0)); then
        timeout 60 "$_TB_DOCKER" -H "unix://$nd/docker.sock" rm -f "${ids[@]}" >/dev/null 2>&1 ||
          _tb_log "node $i: docker rm -f of ${#ids[@]} containers failed (dockerd stops them anyway)"
      fi
    fi
    _tb_stop_procs "${TESTBED_STOP_TIMEOUT:-20}" "node $i dockerd" "$pid $st" || return 1
  fi
  rm -f "$nd/dockerd.proc" "$nd/docker.pid" "$nd/docker.sock"
}

# _tb_netns_leftovers I: processes still inside node I's netns once its dockerd is gone (its
# containerd and shims, anything started with `exec` in the background). All were started by
# this test bed; they keep the netns and the veth alive, so they are ended, by PID.
_tb_netns_leftovers() {
  local ns
  ns=$(_tb_ns "$1")
  [[ -e /run/netns/$ns ]] || return 0
  local deadline=$((SECONDS + 2)) pids
  while :; do
    pids=$(ip netns pids "$ns" 2>/dev/null | grep -vx "$$" | grep -vx "${BASHPID:-$$}")
    [[ -z $pids ]] && return 0
    ((SECONDS >= deadline)) && break
    sleep 0.1
  done
  local -a recs=()
  local p st
  for p in $pids; do
    st=$(_tb_proc_start "$p") || continue
    _tb_log "node $1: ending leftover process $p ($(cat "/proc/$p/comm" 2>/dev/null)) in netns $ns"
    recs+=("$p $st")
  done
  _tb_stop_procs 5 "node $1 leftover" "${recs[@]}"
}

# ---------------------------------------------------------------------------------------------
# public functions

# testbed_up N: bring up N nodes. On any failure everything is torn down again and it returns 1.
_tb_pub_up() {
  local n=${1:-}
  _tb_init || return 1
  if ! [[ $n =~ ^[1-9][0-9]*$ ]] || ((n > _TB_MAX_NODES)); then
    _tb_log "usage: testbed_up N   (N = 1..$_TB_MAX_NODES)"
    return 1
  fi
  # --- preflight: nothing created yet, so a failure here tears nothing down
  if [[ $(id -u) != 0 ]]; then
    _tb_log "must run as root"
    return 1
  fi
  local c
  for c in ip iptables nsenter unshare mount umount timeout awk "$_TB_DOCKER" "$_TB_DOCKERD"; do
    command -v "$c" >/dev/null 2>&1 || {
      _tb_log "missing command: $c (apt-get install docker.io iptables iproute2 util-linux)"
      return 1
    }
  done
  if [[ -e $_TB_RUN || -e $_TB_DATA ]]; then
    _tb_log "test bed '$_TB_NAME' is already up or was left behind ($_TB_RUN, $_TB_DATA): run 'down' first"
    return 1
  fi
  if ip link show "$_TB_BR" >/dev/null 2>&1 || [[ -n $(_tb_known_nodes) ]]; then
    _tb_log "bridge $_TB_BR or netns/veths named $_TB_NAME-* already exist: run 'down' first"
    return 1
  fi
  local i r
  local -a routes=("$_TB_SUBNET")
  for ((i = 1; i <= n; i++)); do routes+=("$(_tb_bip_net "$i")" "$(_tb_pool_cidr "$i")"); done
  for r in "${routes[@]}"; do
    # a route inside or around it (other than the default route), or an address in it
    if [[ -n $(ip -4 -o route show root "$r" 2>/dev/null) ||
      -n $(ip -4 -o route show match "$r" 2>/dev/null | sed '/^default/d') ||
      -n $(ip -4 -o addr show to "$r" 2>/dev/null) ]]; then
      _tb_log "$r is already in use on this host (another test bed?): choose TESTBED_SUBNET / TESTBED_BIP_PREFIX / TESTBED_POOL_PREFIX"
      return 1
    fi
  done
  local t0
  t0=$(_tb_now)

  # --- from here on, a failure tears down what was made
  local had_netns=0 had_containerd=0 had_etc_docker=0 had_run_docker=0
  mountpoint -q /run/netns 2>/dev/null && had_netns=1
  [[ -e /run/containerd ]] && had_containerd=1
  [[ -e /run/docker ]] && had_run_docker=1
  [[ -d /etc/docker ]] && had_etc_docker=1
  if ! mkdir -p "$_TB_RUN" "$_TB_DATA"; then
    _tb_log "cannot create $_TB_RUN / $_TB_DATA"
    testbed_down
    return 1
  fi
  {
    printf '_TB_CFG_N=%q\n' "$n"
    printf '_TB_CFG_SUBNET=%q\n_TB_CFG_BIP=%q\n_TB_CFG_POOL=%q\n' "$_TB_SUBNET" "$_TB_BIP" "$_TB_POOL"
    printf '_TB_CFG_DEFAULT_ROUTE=%q\n' "$_TB_DEFAULT_ROUTE"
    printf '_TB_CFG_HAD_RUN_NETNS=%q\n_TB_CFG_HAD_RUN_CONTAINERD=%q\n_TB_CFG_HAD_ETC_DOCKER=%q\n' \
      "$had_netns" "$had_containerd" "$had_etc_docker"
    printf '_TB_CFG_HAD_RUN_DOCKER=%q\n' "$had_run_docker"
    printf '_TB_CFG_ARGS=%q\n' "${TESTBED_DOCKERD_ARGS:-}"
    local per
    for ((i = 1; i <= n; i++)); do
      per="TESTBED_DOCKERD_ARGS_$i"
      printf '_TB_CFG_ARGS_%s=%q\n' "$i" "${!per:-}"
    done
  } >"$_TB_RUN/config.tmp"
  if ! mv "$_TB_RUN/config.tmp" "$_TB_RUN/config" || ! _tb_init; then
    testbed_down
    return 1
  fi

  _tb_up_network "$n" && _tb_up_nodes "$n"
  local rc=$?
  if ((rc != 0)); then
    _tb_log "bring-up failed: tearing down"
    testbed_down
    return 1
  fi
  _tb_log "up: $n nodes in $(_tb_since "$t0") s (bridge $_TB_BR $_TB_GW/24, state $_TB_RUN, data $_TB_DATA)"
}

_tb_up_network() {
  local n=$1 i ns veth ip
  local -a cmd
  if [[ $_TB_CFG_HAD_ETC_DOCKER != 1 ]]; then
    mkdir -p /etc/docker || return 1 # the bind-mount target; removed again by down
  fi
  ip link add "$_TB_BR" type bridge || return 1
  ip addr add "$_TB_GW/24" dev "$_TB_BR" || return 1
  ip link set "$_TB_BR" up || return 1
  mapfile -t cmd < <(_tb_fw_rule reject)
  iptables -w 10 -I "${cmd[@]}" || return 1
  mapfile -t cmd < <(_tb_fw_rule accept)
  iptables -w 10 -I "${cmd[0]}" 1 "${cmd[@]:1}" || return 1
  for ((i = 1; i <= n; i++)); do
    ns=$(_tb_ns "$i") veth=$(_tb_veth "$i") ip=$(_tb_ip "$i")
    ip netns add "$ns" || return 1
    ip link add "$veth" type veth peer name eth0 netns "$ns" || return 1
    ip link set "$veth" master "$_TB_BR" up || return 1
    ip -n "$ns" addr add "$ip/24" dev eth0 || return 1
    ip -n "$ns" link set lo up || return 1
    ip -n "$ns" link set eth0 up || return 1
    if [[ $_TB_DEFAULT_ROUTE == 1 ]]; then
      ip -n "$ns" route add default via "$_TB_GW" || return 1
    fi
    # host -> containers of node I: without these routes such traffic would leave by the default gateway
    ip route add "$(_tb_bip_net "$i")" via "$ip" dev "$_TB_BR" || return 1
    ip route add "$(_tb_pool_cidr "$i")" via "$ip" dev "$_TB_BR" || return 1
    # the node's own UTS namespace, kept in a file so that dockerd can be restarted in it and
    # processes started with testbed_run_in_node see the node's hostname
    mkdir -p "$_TB_RUN/n$i" || return 1
    : >"$_TB_RUN/n$i/uts" || return 1
    unshare --uts="$_TB_RUN/n$i/uts" hostname "$ns" || return 1
  done
}

_tb_up_nodes() {
  local n=$1 i
  local -a all=()
  for ((i = 1; i <= n; i++)); do
    _tb_dockerd_launch "$i" || return 1
    all+=("$i")
  done
  _tb_dockerd_wait "${all[@]}"
}

# testbed_down: tear everything of the test bed down; idempotent, also after a partial `up`.
# Safe as `trap testbed_down EXIT`: it never exits the shell (bash keeps the script's exit status).
# Returns 1 if something could not be cleaned up (its state is then kept for another try).
_tb_pub_down() {
  _tb_init || return 1
  local -a nodes
  mapfile -t nodes < <(_tb_known_nodes)
  local -a fw_accept fw_reject
  mapfile -t fw_accept < <(_tb_fw_rule accept)
  mapfile -t fw_reject < <(_tb_fw_rule reject)
  if ((${#nodes[@]} == 0)) && [[ ! -e $_TB_RUN && ! -e $_TB_DATA ]] &&
    ! ip link show "$_TB_BR" >/dev/null 2>&1 &&
    ! iptables -w 10 -C "${fw_accept[@]}" 2>/dev/null && ! iptables -w 10 -C "${fw_reject[@]}" 2>/dev/null; then
    _tb_log "down: nothing to tear down"
    return 0
  fi
  local t0 i ns fail=0
  t0=$(_tb_now)

  # 1. processes started in the nodes with testbed_run_in_node (agents), by recorded PID
  local -a recs=()
  for i in "${nodes[@]}"; do
    [[ -f $_TB_RUN/n$i/procs ]] && mapfile -t -O "${#recs[@]}" recs < <(awk '{print $1, $2}' "$_TB_RUN/n$i/procs")
  done
  ((${#recs[@]} > 0)) && { _tb_stop_procs 10 "node process" "${recs[@]}" || fail=1; }

  # 2. containers, then dockerd (TERM, KILL after TESTBED_STOP_TIMEOUT); nodes in parallel
  local -A jobs=()
  for i in "${nodes[@]}"; do
    _tb_dockerd_stop "$i" rm &
    jobs[$i]=$!
  done
  for i in "${!jobs[@]}"; do wait "${jobs[$i]}" || fail=1; done

  # 3. only if a dockerd had died or was killed: container processes still in the node's cgroups,
  #    then whatever still runs in the node's netns (containerd, shims, `exec ... &`), by PID
  for i in "${nodes[@]}"; do _tb_cgroup_leftovers "$i" || fail=1; done
  for i in "${nodes[@]}"; do _tb_netns_leftovers "$i" || fail=1; done

  if ((fail)); then
    _tb_log "down: some processes could not be stopped; the state in $_TB_RUN is kept: run 'down' again"
  fi

  # 4. mounts: the nodes' UTS namespace files, anything else mounted under the state dirs
  local m
  while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || { _tb_log "cannot unmount $m"; fail=1; }
  done < <(awk -v a="$_TB_RUN/" -v b="$_TB_DATA/" \
    'index($5, a) == 1 || index($5, b) == 1 { print $5 }' /proc/self/mountinfo | sort -r)

  # 5. network: netns (with their eth0, docker0, containers' veths), host veths, bridge (with the
  #    host routes through it), the FORWARD rules
  for i in "${nodes[@]}"; do
    ns=$(_tb_ns "$i")
    if [[ -e /run/netns/$ns ]]; then
      ip netns del "$ns" 2>/dev/null || { _tb_log "cannot delete netns $ns"; fail=1; }
    fi
    # Deleting the netns removes its end of the veth pair, and with it the host end, but the kernel
    # does that asynchronously: the host veth may vanish between the check and the delete. Only a
    # veth that is still there after a short wait counts as a failure.
    local veth tries
    veth=$(_tb_veth "$i")
    for tries in 1 2 3 4 5 6 7 8 9 10; do
      ip link show "$veth" >/dev/null 2>&1 || break
      ip link del "$veth" 2>/dev/null && break
      sleep 0.2
    done
    if ip link show "$veth" >/dev/null 2>&1; then
      _tb_log "cannot delete veth $veth"
      fail=1
    fi
  done
  if ip link show "$_TB_BR" >/dev/null 2>&1; then
    ip link del "$_TB_BR" || { _tb_log "cannot delete bridge $_TB_BR"; fail=1; }
  fi
  while iptables -w 10 -C "${fw_accept[@]}" 2>/dev/null; do iptables -w 10 -D "${fw_accept[@]}" || break; done
  while iptables -w 10 -C "${fw_reject[@]}" 2>/dev/null; do iptables -w 10 -D "${fw_reject[@]}" || break; done

  # 6. the nodes' cgroups (--cgroup-parent /PREFIX-nI), empty once their containers are gone
  local d
  for i in "${nodes[@]}"; do
    while read -r d; do
      find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
      [[ -d $d ]] && _tb_log "cgroup $d is not empty: left in place"
    done < <(_tb_cgroup_dirs "$i")
  done

  # 7. files: logs (copied to TESTBED_LOG_DIR if set), state and data dirs
  if ((fail)); then
    _tb_log "down: incomplete after $(_tb_since "$t0") s"
    return 1
  fi
  if [[ -n ${TESTBED_LOG_DIR:-} && -d $_TB_RUN ]]; then
    local f dest
    for f in "$_TB_RUN"/n*/*.log; do
      [[ -f $f ]] || continue
      dest=$TESTBED_LOG_DIR/$_TB_NAME/$(basename "$(dirname "$f")")
      mkdir -p "$dest" && cp "$f" "$dest/"
    done
  fi
  if [[ -n $_TB_NAME && $_TB_RUN == "$_TB_RUN_ROOT/$_TB_NAME" && $_TB_DATA == "$_TB_DATA_ROOT/$_TB_NAME" ]]; then
    local had_netns=${_TB_CFG_HAD_RUN_NETNS:-1} had_cd=${_TB_CFG_HAD_RUN_CONTAINERD:-1} had_etc=${_TB_CFG_HAD_ETC_DOCKER:-1}
    local had_rd=${_TB_CFG_HAD_RUN_DOCKER:-1}
    rm -rf --one-file-system "$_TB_DATA" "$_TB_RUN" || fail=1
    rmdir "$_TB_RUN_ROOT" "$_TB_DATA_ROOT" 2>/dev/null
    # shared directories that this test bed's `up` created (only if now empty)
    # (dockerd creates /run/docker/plugins, and containerd's shims their sockets in /run/containerd/s,
    # whatever --exec-root says)
    if [[ $had_cd != 1 ]]; then rmdir /run/containerd/s /run/containerd 2>/dev/null; fi
    if [[ $had_rd != 1 ]]; then rmdir /run/docker/plugins /run/docker 2>/dev/null; fi
    if [[ $had_etc != 1 ]]; then rmdir /etc/docker 2>/dev/null; fi
    if [[ $had_netns != 1 ]] && mountpoint -q /run/netns && [[ -z $(ls -A /run/netns 2>/dev/null) ]]; then
      umount /run/netns 2>/dev/null && rmdir /run/netns 2>/dev/null
    fi
  fi
  if ((fail)); then
    _tb_log "down: incomplete after $(_tb_since "$t0") s"
    return 1
  fi
  _tb_log "down: done in $(_tb_since "$t0") s"
  return 0
}

# testbed_status: one line per node.
_tb_pub_status() {
  _tb_init || return 1
  if [[ $_TB_HAVE_CFG != 1 ]]; then
    _tb_log "test bed '$_TB_NAME' is not up"
    [[ -n $(_tb_known_nodes) || -e $_TB_DATA ]] && _tb_log "but something was left behind: run 'down'"
    return 1
  fi
  printf 'test bed %s: %s nodes, bridge %s %s/24, state %s, data %s\n' \
    "$_TB_NAME" "$_TB_N" "$_TB_BR" "$_TB_GW" "$_TB_RUN" "$_TB_DATA"
  printf '%-4s %-10s %-12s %-8s %-12s %-14s %-10s %s\n' node netns ip dockerd 'rss(MB)' 'containerd(MB)' containers 'docker info Name/ID'
  local i pid st rss crss cpid info cnt
  for ((i = 1; i <= _TB_N; i++)); do
    pid=- rss=- crss=- info=- cnt=-
    if [[ -f $_TB_RUN/n$i/dockerd.proc ]]; then
      read -r pid st <"$_TB_RUN/n$i/dockerd.proc"
      if _tb_proc_alive "$pid" "$st"; then
        rss=$(awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$pid/status" 2>/dev/null)
        cpid=$(pgrep -P "$pid" -x containerd | head -n 1)
        [[ -n $cpid ]] && crss=$(awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$cpid/status" 2>/dev/null)
        info=$(timeout 5 "$_TB_DOCKER" -H "unix://$(_tb_sock "$i")" info --format '{{.Name}} {{.ID}}' 2>/dev/null || echo unreachable)
        cnt=$(timeout 5 "$_TB_DOCKER" -H "unix://$(_tb_sock "$i")" ps -q 2>/dev/null | wc -l)
      else
        pid="$pid(dead)"
      fi
    else
      pid=stopped
    fi
    printf '%-4s %-10s %-12s %-8s %-12s %-14s %-10s %s\n' "$i" "$(_tb_ns "$i")" "$(_tb_ip "$i")" "$pid" "$rss" "$crss" "$cnt" "$info"
  done
}

_tb_pub_node_ip() {
  _tb_init || return 1
  [[ $1 =~ ^[1-9][0-9]*$ ]] || { _tb_log "bad node index '$1'"; return 1; }
  _tb_ip "$1"
  echo
}

# The host's address on the underlay bridge (where a master on the host listens for agents).
_tb_pub_gateway_ip() {
  _tb_init || return 1
  echo "$_TB_GW"
}

_tb_pub_docker_sock() {
  _tb_init || return 1
  [[ $1 =~ ^[1-9][0-9]*$ ]] || { _tb_log "bad node index '$1'"; return 1; }
  _tb_sock "$1"
  echo
}

_tb_pub_netns() {
  _tb_init || return 1
  _tb_ns "$1"
  echo
}

# testbed_docker I ARGS...: the docker CLI against node I's dockerd.
_tb_pub_docker() {
  _tb_init && _tb_check_node "$1" || return 1
  _tb_docker "$@"
}

# _tb_node_cmd I: the command prefix that runs something in node I (netns + hostname) with
# DOCKER_HOST and TESTBED_* describing the node.
_tb_node_cmd() {
  local i=$1
  _TB_NODE_CMD=(nsenter "--net=/run/netns/$(_tb_ns "$i")")
  [[ -e $_TB_RUN/n$i/uts ]] && _TB_NODE_CMD+=("--uts=$_TB_RUN/n$i/uts")
  _TB_NODE_CMD+=(-- env "DOCKER_HOST=unix://$(_tb_sock "$i")" "TESTBED_NODE=$i" "TESTBED_NODE_NAME=$(_tb_ns "$i")"
    "TESTBED_NODE_IP=$(_tb_ip "$i")" "TESTBED_GATEWAY_IP=$_TB_GW")
}

# testbed_exec I CMD...: run CMD in the foreground inside node I; returns its exit status.
_tb_pub_exec() {
  _tb_init && _tb_check_node "$1" || return 1
  (($# >= 2)) || { _tb_log "usage: testbed_exec I CMD..."; return 1; }
  _tb_node_cmd "$1"
  shift
  "${_TB_NODE_CMD[@]}" "$@"
}

# testbed_run_in_node I CMD...: the hook for agents. Starts CMD in the background inside node I
# (its netns and hostname; DOCKER_HOST=node I's socket, TESTBED_NODE, TESTBED_NODE_NAME,
# TESTBED_NODE_IP, TESTBED_GATEWAY_IP set), stdin /dev/null, stdout+stderr to a log in the node's
# state dir. Sets TESTBED_LAST_PID and TESTBED_LAST_LOG; records the PID so that testbed_down ends
# it (TERM, KILL after 10 s) before the containers and dockerds. Call it directly, not in $(...).
# The process is not a job of the calling shell (disowned): use testbed_proc_alive to watch it, or
# `testbed_exec I CMD... &` yourself when the test needs `wait` and the exit status.
_tb_pub_run_in_node() {
  _tb_init && _tb_check_node "$1" || return 1
  (($# >= 2)) || { _tb_log "usage: testbed_run_in_node I CMD..."; return 1; }
  local i=$1
  shift
  local nd=$_TB_RUN/n$i k=1
  [[ -f $nd/procs ]] && k=$(($(wc -l <"$nd/procs") + 1))
  local log=$nd/proc-$k.log
  _tb_node_cmd "$i"
  "${_TB_NODE_CMD[@]}" "$@" >"$log" 2>&1 </dev/null &
  local pid=$! st
  disown "$pid" 2>/dev/null # not a job: a plain `wait` in the test must not wait for it
  st=$(_tb_proc_start "$pid") || st=0
  printf '%s %s %s\n' "$pid" "$st" "$*" >>"$nd/procs"
  TESTBED_LAST_PID=$pid
  TESTBED_LAST_LOG=$log
  _tb_log "node $i: started PID $pid: $* (log $log)"
}

# testbed_stop_proc PID [TIMEOUT]: stop one process started with testbed_run_in_node
# (TERM, KILL after TIMEOUT s, default 10). Only PIDs recorded by this test bed are signalled.
_tb_pub_stop_proc() {
  _tb_init || return 1
  local pid=$1 timeout=${2:-10} f rec
  for f in "$_TB_RUN"/n*/procs; do
    [[ -f $f ]] || continue
    rec=$(awk -v p="$pid" '$1 == p { print $1, $2 }' "$f" | tail -n 1)
    if [[ -n $rec ]]; then
      _tb_stop_procs "$timeout" "process" "$rec"
      return
    fi
  done
  _tb_log "PID $pid was not started by this test bed"
  return 1
}

# testbed_proc_alive PID: the process started with testbed_run_in_node still runs (not a zombie,
# same start time as recorded).
_tb_pub_proc_alive() {
  _tb_init || return 1
  local f rec pid st
  for f in "$_TB_RUN"/n*/procs; do
    [[ -f $f ]] || continue
    rec=$(awk -v p="$1" '$1 == p { print $1, $2 }' "$f" | tail -n 1)
    if [[ -n $rec ]]; then
      read -r pid st <<<"$rec"
      _tb_proc_alive "$pid" "$st"
      return
    fi
  done
  return 1
}

# testbed_node_stop I: stop node I's dockerd (TERM, KILL after TESTBED_STOP_TIMEOUT); its
# containers stop with it (no live-restore), its netns stays. testbed_node_start I starts it again.
_tb_pub_node_stop() {
  _tb_init && _tb_check_node "$1" || return 1
  _tb_dockerd_stop "$1"
}

_tb_pub_node_start() {
  _tb_init && _tb_check_node "$1" || return 1
  local pid st
  if [[ -f $_TB_RUN/n$1/dockerd.proc ]]; then
    read -r pid st <"$_TB_RUN/n$1/dockerd.proc"
    if _tb_proc_alive "$pid" "$st"; then
      _tb_log "node $1: dockerd PID $pid is already running"
      return 0
    fi
  fi
  _tb_dockerd_launch "$1" && _tb_dockerd_wait "$1"
}

# testbed_node_link I up|down: cut node I off the underlay (and bring it back).
_tb_pub_node_link() {
  _tb_init && _tb_check_node "$1" || return 1
  [[ $2 == up || $2 == down ]] || { _tb_log "usage: testbed_node_link I up|down"; return 1; }
  ip link set "$(_tb_veth "$1")" "$2"
}

# testbed_host_route I CIDR: route CIDR from the host to node I (e.g. an overlay slice), so
# that host traffic to it stays on the bridge. Removed with the bridge by testbed_down.
_tb_pub_host_route() {
  _tb_init && _tb_check_node "$1" || return 1
  ip route replace "$2" via "$(_tb_ip "$1")" dev "$_TB_BR"
}

# testbed_load_image I IMAGE|FILE.tar: docker save from the host's dockerd (if one answers on
# TESTBED_HOST_DOCKER_HOST, default unix:///var/run/docker.sock, and has IMAGE) or else from
# node 1, and docker load into node I. TESTBED_IMAGE_SOURCE=host|<node index> forces the source.
_tb_pub_load_image() {
  local -
  set -o pipefail
  _tb_init && _tb_check_node "$1" || return 1
  local i=$1 img=${2:-}
  [[ -n $img ]] || { _tb_log "usage: testbed_load_image I IMAGE|FILE.tar"; return 1; }
  if [[ -f $img ]]; then
    _tb_docker "$i" load -q -i "$img" >/dev/null || { _tb_log "node $i: docker load -i $img failed"; return 1; }
    _tb_log "node $i: loaded $img"
    return 0
  fi
  local host=${TESTBED_HOST_DOCKER_HOST:-unix:///var/run/docker.sock} src=${TESTBED_IMAGE_SOURCE:-} from=
  if [[ -z $src ]]; then
    if [[ -S ${host#unix://} ]] && timeout 10 "$_TB_DOCKER" -H "$host" image inspect "$img" >/dev/null 2>&1; then
      src=host
    elif [[ $i != 1 ]] && timeout 10 "$_TB_DOCKER" -H "unix://$(_tb_sock 1)" image inspect "$img" >/dev/null 2>&1; then
      src=1
    else
      _tb_log "image $img is neither on the host's dockerd nor on node 1 (nothing is ever pulled)"
      return 1
    fi
  fi
  if [[ $src == host ]]; then
    from=$host
  elif [[ $src =~ ^[1-9][0-9]*$ ]] && ((src <= _TB_N)); then
    from=unix://$(_tb_sock "$src")
  else
    _tb_log "bad TESTBED_IMAGE_SOURCE '$src'"
    return 1
  fi
  if [[ $from == "unix://$(_tb_sock "$i")" ]]; then
    return 0
  fi
  timeout 300 "$_TB_DOCKER" -H "$from" save "$img" | timeout 300 "$_TB_DOCKER" -H "unix://$(_tb_sock "$i")" load -q >/dev/null ||
    { _tb_log "node $i: docker save $img ($src) | docker load failed"; return 1; }
  _tb_log "node $i: loaded $img from $src"
}

# testbed_build_busybox_image I [TAG]: TAG (default local/busybox:latest) made with docker import
# on node I from the static busybox (Debian busybox-static): /bin/busybox and a link per applet,
# CMD ["sh"]. No registry involved.
_tb_pub_build_busybox_image() {
  local -
  set -o pipefail
  _tb_init && _tb_check_node "$1" || return 1
  local i=$1 tag=${2:-local/busybox:latest} bb=${TESTBED_BUSYBOX:-/usr/bin/busybox}
  local lddout
  lddout=$(LC_ALL=C ldd "$bb" 2>&1)
  if [[ ! -x $bb || $lddout != *"not a dynamic executable"* && $lddout != *"statically linked"* ]]; then
    _tb_log "$bb is not a static busybox: apt-get install busybox-static"
    return 1
  fi
  local tmp
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/testbed-busybox.XXXXXX") || return 1
  local r=$tmp/rootfs a
  if ! {
    mkdir -p "$r"/{bin,etc,root,tmp,var/tmp,usr,proc,sys,dev} &&
      chmod 1777 "$r/tmp" "$r/var/tmp" &&
      cp "$bb" "$r/bin/busybox" &&
      ln -s bin "$r/sbin" && ln -s ../bin "$r/usr/bin" && ln -s ../bin "$r/usr/sbin" &&
      printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$r/etc/passwd" &&
      printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
  }; then
    rm -rf "$tmp"
    return 1
  fi
  for a in $("$bb" --list); do
    [[ $a == busybox || $a == */* || -e $r/bin/$a ]] || ln -s busybox "$r/bin/$a"
  done
  tar --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -C "$r" -c . |
    timeout 120 "$_TB_DOCKER" -H "unix://$(_tb_sock "$i")" import -c 'CMD ["sh"]' - "$tag" >/dev/null
  local rc=$?
  rm -rf "$tmp"
  ((rc == 0)) || { _tb_log "node $i: docker import of $tag failed"; return 1; }
  _tb_log "node $i: built $tag"
}

# ---------------------------------------------------------------------------------------------
# public names: each runs its _tb_ twin with the caller's shell options (set -e, -u, pipefail,
# errtrace) and ERR trap out of the way, and restores them

_tb_call() {
  local _tb_err_trap
  _tb_err_trap=$(trap -p ERR)
  trap - ERR
  local -
  set +e +u +E +o pipefail
  "$@"
  local _tb_rc=$?
  [[ -n $_tb_err_trap ]] && eval "$_tb_err_trap"
  return "$_tb_rc"
}

testbed_up() { _tb_call _tb_pub_up "$@"; }
testbed_down() { _tb_call _tb_pub_down; }
testbed_status() { _tb_call _tb_pub_status; }
testbed_node_ip() { _tb_call _tb_pub_node_ip "$@"; }
testbed_gateway_ip() { _tb_call _tb_pub_gateway_ip "$@"; }
testbed_docker_sock() { _tb_call _tb_pub_docker_sock "$@"; }
testbed_netns() { _tb_call _tb_pub_netns "$@"; }
testbed_docker() { _tb_call _tb_pub_docker "$@"; }
testbed_exec() { _tb_call _tb_pub_exec "$@"; }
testbed_run_in_node() { _tb_call _tb_pub_run_in_node "$@"; }
testbed_stop_proc() { _tb_call _tb_pub_stop_proc "$@"; }
testbed_proc_alive() { _tb_call _tb_pub_proc_alive "$@"; }
testbed_node_stop() { _tb_call _tb_pub_node_stop "$@"; }
testbed_node_start() { _tb_call _tb_pub_node_start "$@"; }
testbed_node_link() { _tb_call _tb_pub_node_link "$@"; }
testbed_host_route() { _tb_call _tb_pub_host_route "$@"; }
testbed_load_image() { _tb_call _tb_pub_load_image "$@"; }
testbed_build_busybox_image() { _tb_call _tb_pub_build_busybox_image "$@"; }

# ---------------------------------------------------------------------------------------------
# CLI

_tb_usage() {
  sed -n '2,14p' "$_TB_SELF" | sed 's/^# \{0,1\}//'
}

_tb_main() {
  while [[ ${1:-} == --name ]]; do
    [[ -n ${2:-} ]] || { _tb_usage >&2; return 2; }
    TESTBED_NAME=$2
    shift 2
  done
  local sub=${1:-}
  [[ -n $sub ]] || { _tb_usage >&2; return 2; }
  shift
  # `--name PREFIX` right after the command (or anywhere for up/down/status)
  local -a rest=()
  case $sub in
    up | down | status)
      while (($#)); do
        if [[ $1 == --name ]]; then TESTBED_NAME=${2:?--name needs a value}; shift 2; else rest+=("$1"); shift; fi
      done
      ;;
    *)
      while [[ ${1:-} == --name ]]; do TESTBED_NAME=${2:?--name needs a value}; shift 2; done
      rest=("$@")
      ;;
  esac
  set -- "${rest[@]}"
  case $sub in
    up)
      (($# == 1)) || { _tb_usage >&2; return 2; }
      trap '_tb_log "interrupted: tearing down"; testbed_down; exit 130' INT TERM HUP
      testbed_up "$1"
      ;;
    down) testbed_down ;;
    status) testbed_status ;;
    exec) testbed_exec "$@" ;;
    docker) testbed_docker "$@" ;;
    load-image) (($# == 2)) || { _tb_usage >&2; return 2; }; testbed_load_image "$1" "$2" ;;
    build-busybox) testbed_build_busybox_image "$@" ;;
    spawn)
      testbed_run_in_node "$@" || return 1
      echo "$TESTBED_LAST_PID"
      ;;
    node-stop) testbed_node_stop "$1" ;;
    node-start) testbed_node_start "$1" ;;
    ip) testbed_node_ip "$1" ;;
    sock) testbed_docker_sock "$1" ;;
    -h | --help | help) _tb_usage ;;
    *) _tb_log "unknown command '$sub'"; _tb_usage >&2; return 2 ;;
  esac
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  _tb_main "$@"
  exit $?
fi
