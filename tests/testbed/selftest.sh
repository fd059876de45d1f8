#!/usr/bin/env bash
# Self-test of the multi-node test bed (testbed.sh). Needs root, docker.io and busybox-static.
#
#   tests/testbed/selftest.sh
#
# A: up 3 nodes (CLI); each dockerd answers `docker info` with its own Name and ID; busybox image
#    built on node 1 and loaded into nodes 2 and 3; containers on nodes 1 and 2; node<->node ping on
#    the underlay from the node netns; HTTP node1 -> published port on node2 (from the netns and
#    from a container); the agent hook; node stop/start; down (CLI); nothing left behind.
# B: a partial up (node 2's dockerd cannot start) fails, prints the log, and leaves nothing.
# C: a node's dockerd is SIGKILLed with containers running; down still leaves nothing.
# D: `trap testbed_down EXIT` in a script keeps the script's exit status and leaves nothing.
# E: down is idempotent.
# Ends with the line "selftest: N passed, M failed"; exit status 0 only if M is 0.
# It uses its own name and addresses (ktst, 10.99.9.0/24, 10.209.I.0/24, 10.219.0.0/16), so it can
# run next to a default test bed.
# shellcheck disable=SC2015,SC2016
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TB=$HERE/testbed.sh
export TESTBED_NAME=${SELFTEST_NAME:-ktst}
export TESTBED_SUBNET=${SELFTEST_SUBNET:-10.99.9.0/24}
export TESTBED_BIP_PREFIX=${SELFTEST_BIP_PREFIX:-10.209}
export TESTBED_POOL_PREFIX=${SELFTEST_POOL_PREFIX:-10.219}
unset TESTBED_DOCKERD_ARGS TESTBED_DEFAULT_ROUTE TESTBED_RUN_ROOT TESTBED_DATA_ROOT
for v in "${!TESTBED_DOCKERD_ARGS_@}"; do unset "$v"; done
# shellcheck source=testbed.sh
source "$TB"
_tb_init || exit 1
RUN=$_TB_RUN DATA=$_TB_DATA
NAME=$TESTBED_NAME
IMG=local/busybox:latest

PASS=0 FAILED=0
T_START=$(_tb_now)
say() { printf '\n== %s\n' "$*"; }
ok() { PASS=$((PASS + 1)); printf 'ok   - %s\n' "$*"; }
nok() {
  FAILED=$((FAILED + 1))
  printf 'FAIL - %s\n' "$1"
  [[ -n ${2:-} ]] && printf '%s\n' "$2" | tail -n 30 | sed 's/^/       /'
  return 0
}
# check DESC CMD...: passes when CMD succeeds
check() {
  local desc=$1 out
  shift
  if out=$("$@" 2>&1); then ok "$desc"; else nok "$desc" "$out"; fi
}
# expect DESC ACTUAL EXPECTED
expect() {
  if [[ $2 == "$3" ]]; then ok "$1"; else nok "$1" "expected: $3"$'\n'"actual:   $2"; fi
}

finish() {
  local rc=$?
  # safety net: whatever a failed step left up
  testbed_down >/dev/null 2>&1
  printf '\nselftest took %s s\n' "$(_tb_since "$T_START")"
  printf 'selftest: %d passed, %d failed\n' "$PASS" "$FAILED"
  if ((FAILED > 0 || rc != 0)); then exit 1; fi
  exit 0
}
trap finish EXIT

if [[ $(id -u) != 0 ]]; then
  nok "must run as root"
  exit 1
fi
for c in docker dockerd busybox nsenter unshare ip iptables; do
  command -v "$c" >/dev/null 2>&1 || { nok "missing $c (apt-get install docker.io busybox-static iptables)"; exit 1; }
done

# Everything on the host that a test bed could leave behind, to compare before/after.
snapshot() {
  {
    find /run /etc /var/lib -maxdepth 3 2>/dev/null | grep -E 'docker|containerd|kontena-testbed|netns' | sort
    echo '-- mounts'
    awk '{print $5}' /proc/self/mountinfo | grep -E 'docker|containerd|kontena-testbed|netns' | sort
    echo '-- forward'
    iptables -w 10 -S FORWARD
    echo '-- routes'
    ip -4 route show
    echo '-- links'
    ip -o link show | awk -F': ' '{print $2}' | sort
    echo '-- netns'
    ip netns list | sort
    echo '-- cgroups'
    find /sys/fs/cgroup -maxdepth 2 -name "$NAME-*" | sort
  }
}

# leftovers LABEL [PID START]...: nothing of the test bed is left; the given processes are gone.
leftovers() {
  local label=$1 e pid st out
  shift
  out=$(ip netns list | grep "^$NAME-")
  expect "$label: no netns $NAME-*" "$out" ""
  out=$(ip -o link show | awk -F': ' '{print $2}' | grep -E "^($NAME-v[0-9]+|${NAME}br0)([@]|$)")
  expect "$label: no veth / bridge" "$out" ""
  local alive=""
  for e in "$@"; do
    read -r pid st <<<"$e"
    _tb_proc_alive "$pid" "$st" && alive+="$pid($(cat "/proc/$pid/comm" 2>/dev/null)) "
  done
  out=$(pgrep -af "$RUN/")
  expect "$label: no dockerd/containerd/shim/recorded PIDs alive" "$alive$out" ""
  out=$(grep -E "$RUN/|$DATA/|/run/netns/$NAME-" /proc/self/mountinfo)
  expect "$label: no leftover mounts" "$out" ""
  out=$(ls -d "$RUN" "$DATA" 2>/dev/null)
  expect "$label: state and data dirs removed" "$out" ""
  out=$(iptables -w 10 -S FORWARD | grep "kontena-testbed:$NAME\"")
  expect "$label: FORWARD rules removed" "$out" ""
  out=$(find /sys/fs/cgroup -maxdepth 2 -name "$NAME-n*")
  expect "$label: no cgroups $NAME-n*" "$out" ""
  out=$(diff <(printf '%s\n' "$SNAP_BEFORE") <(snapshot))
  expect "$label: host state (dirs, mounts, FORWARD, routes, links, netns, cgroups) as before" "$out" ""
}

recorded_pids() { cat "$RUN"/n*/dockerd.proc 2>/dev/null; }

say "setup"
out=$("$TB" down 2>&1) || nok "initial down (clears an aborted earlier run)" "$out"
SNAP_BEFORE=$(snapshot)

# ------------------------------------------------------------------------------------------------
say "A: up 3 nodes, images, containers, underlay, teardown"
t0=$(_tb_now)
if out=$("$TB" up 3 2>&1); then
  UP_TIME=$(_tb_since "$t0")
  ok "up 3 (CLI) in $UP_TIME s"
else
  nok "up 3 (CLI)" "$out"
  exit 1
fi
printf '%s\n' "$out" | sed 's/^/    /'
awk -v t="$UP_TIME" 'BEGIN { exit !(t < 30) }' && ok "3-node up under 30 s" || nok "3-node up took $UP_TIME s"
_tb_init
mapfile -t DPIDS < <(recorded_pids)
expect "3 dockerd PIDs recorded" "${#DPIDS[@]}" 3

declare -A SEEN_ID=()
for i in 1 2 3; do
  sock=$(testbed_docker_sock "$i")
  [[ -S $sock ]] && ok "node $i socket $sock" || nok "node $i socket $sock missing"
  info=$(testbed_docker "$i" info --format '{{.Name}} {{.ID}}' 2>&1)
  expect "node $i docker info Name" "${info%% *}" "$NAME-n$i"
  id=${info#* }
  [[ -n $id && -z ${SEEN_ID[$id]:-} ]] && ok "node $i engine ID $id is distinct" || nok "node $i engine ID '$id' not distinct"
  SEEN_ID[$id]=1
  read -r pid _ <<<"${DPIDS[$((i - 1))]}"
  if tr '\0' '\n' <"/proc/$pid/environ" | grep -qx DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1; then
    ok "node $i dockerd (PID $pid) has DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1"
  else
    nok "node $i dockerd (PID $pid) lacks DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1"
  fi
  expect "node $i netns of dockerd" "$(ip netns identify "$pid")" "$NAME-n$i"
done
RSS=$(for e in "${DPIDS[@]}"; do
  read -r pid _ <<<"$e"
  c=$(pgrep -P "$pid" -x containerd | head -n 1)
  printf 'dockerd %s: %s MB RSS, its containerd: %s MB RSS\n' "$pid" \
    "$(awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$pid/status")" \
    "$(awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$c/status" 2>/dev/null)"
done)

t0=$(_tb_now)
check "build $IMG on node 1 (docker import of busybox-static)" testbed_build_busybox_image 1
BUILD_TIME=$(_tb_since "$t0")
t0=$(_tb_now)
check "load-image 2 $IMG (CLI, from node 1)" "$TB" load-image 2 "$IMG"
check "load-image 3 $IMG (CLI, from node 1)" "$TB" load-image 3 "$IMG"
LOAD_TIME=$(_tb_since "$t0")
img_ids=$(for i in 1 2 3; do testbed_docker "$i" image inspect -f '{{.Id}}' "$IMG" 2>&1; done | sort -u)
[[ $(wc -l <<<"$img_ids") == 1 && $img_ids == sha256:* ]] && ok "same image ID on all nodes" || nok "image IDs differ" "$img_ids"

out=$("$TB" docker 1 run --rm --pull never "$IMG" sh -c 'echo hello-from-$(hostname | cut -c1-4)' 2>&1)
[[ $out == hello-from-* ]] && ok "container on node 1 ran: $out" || nok "container on node 1" "$out"
out=$("$TB" docker 2 run -d --pull never --init --name web -p 8080:80 "$IMG" \
  sh -c 'mkdir -p /www && echo hello-n2 >/www/index.html && exec httpd -f -p 80 -h /www' 2>&1) ||
  nok "web container on node 2" "$out"
expect "container on node 2 running" "$(testbed_docker 2 inspect -f '{{.State.Running}}' web 2>&1)" true

for i in 1 2 3; do
  for j in 1 2 3; do
    ((i == j)) && continue
    check "underlay ping node $i -> node $j ($(testbed_node_ip "$j")) from netns $NAME-n$i" \
      "$TB" exec "$i" busybox ping -c 1 -W 2 "$(testbed_node_ip "$j")"
  done
done
check "host -> node 3 ping" busybox ping -c 1 -W 2 "$(testbed_node_ip 3)"

web=""
for _ in $(seq 1 50); do
  web=$(testbed_exec 1 busybox wget -qO- "http://$(testbed_node_ip 2):8080/" 2>&1) && [[ $web == hello-n2 ]] && break
  sleep 0.1
done
expect "HTTP node 1 netns -> node 2 published port" "$web" hello-n2
out=$(testbed_docker 1 run --rm --pull never "$IMG" wget -qO- "http://$(testbed_node_ip 2):8080/" 2>&1)
expect "HTTP container on node 1 -> node 2 published port" "$out" hello-n2
cip=$(testbed_docker 2 inspect -f '{{.NetworkSettings.IPAddress}}' web 2>&1)
out=$(busybox wget -qO- "http://$cip/" 2>&1)
expect "HTTP host -> container on node 2 ($cip) by host route" "$out" hello-n2
if testbed_exec 1 ip route get 1.1.1.1 >/dev/null 2>&1; then
  nok "node 1 must have no route off the test bed"
else
  ok "node 1 has no route off the test bed (no default route)"
fi
expect "2 FORWARD rules for ${NAME}br0" "$(iptables -w 10 -S FORWARD | grep -c "kontena-testbed:$NAME\"")" 2

# the agent hook
testbed_run_in_node 2 sh -c 'hostname; echo "$DOCKER_HOST"; exec sleep 600' 2>/dev/null
HOOK_PID=$TESTBED_LAST_PID
HOOK_REC="$HOOK_PID $(_tb_proc_start "$HOOK_PID")"
sleep 0.3
expect "run_in_node: process in netns $NAME-n2" "$(ip netns identify "$HOOK_PID")" "$NAME-n2"
expect "run_in_node: hostname and DOCKER_HOST" "$(tr '\n' ' ' <"$TESTBED_LAST_LOG")" "$NAME-n2 unix://$(testbed_docker_sock 2) "
grep -q "^$HOOK_PID " "$RUN/n2/procs" && ok "run_in_node: PID $HOOK_PID recorded" || nok "run_in_node: PID not recorded"

# node stop / start keeps the node's identity
id3=$(testbed_docker 3 info --format '{{.ID}}' 2>&1)
check "node-stop 3" "$TB" node-stop 3
if testbed_docker 3 info >/dev/null 2>&1; then nok "node 3 still answers after node-stop"; else ok "node 3 stopped"; fi
check "node-start 3" "$TB" node-start 3
expect "node 3 same engine ID after restart" "$(testbed_docker 3 info --format '{{.ID}}' 2>&1)" "$id3"
mapfile -t DPIDS < <(recorded_pids)

printf '\n'
"$TB" status

t0=$(_tb_now)
if out=$("$TB" down 2>&1); then
  DOWN_TIME=$(_tb_since "$t0")
  ok "down (CLI) in $DOWN_TIME s"
else
  nok "down (CLI)" "$out"
fi
leftovers "A" "${DPIDS[@]}" "$HOOK_REC"

# ------------------------------------------------------------------------------------------------
say "B: partial up (node 2's dockerd fails) tears down by itself"
errlog=$(mktemp)
if TESTBED_DOCKERD_ARGS_2=--no-such-flag testbed_up 3 2>"$errlog"; then
  nok "up with a broken node 2 must fail"
else
  ok "up with a broken node 2 fails"
fi
grep -q 'unknown flag: --no-such-flag' "$errlog" && ok "node 2's dockerd log is printed" || nok "dockerd log not printed" "$(cat "$errlog")"
grep -q 'down: done' "$errlog" && ok "failed up tore down" || nok "failed up did not tear down" "$(cat "$errlog")"
rm -f "$errlog"
leftovers "B"

# ------------------------------------------------------------------------------------------------
say "C: dockerd SIGKILLed with containers running, then down"
if testbed_up 2 2>/dev/null; then
  testbed_build_busybox_image 1 2>/dev/null
  testbed_docker 1 run -d --pull never --name c1 "$IMG" sleep 600 >/dev/null 2>&1
  testbed_docker 1 run -d --pull never --init --name c2 "$IMG" sleep 600 >/dev/null 2>&1
  CPIDS=()
  for c in c1 c2; do
    p=$(testbed_docker 1 inspect -f '{{.State.Pid}}' "$c" 2>/dev/null)
    [[ $p =~ ^[1-9][0-9]*$ ]] && CPIDS+=("$p $(_tb_proc_start "$p")")
  done
  expect "2 containers running on node 1" "${#CPIDS[@]}" 2
  mapfile -t DPIDS < <(recorded_pids)
  read -r pid _ <"$RUN/n1/dockerd.proc"
  kill -KILL "$pid"
  sleep 0.5
  t0=$(_tb_now)
  check "down after a dockerd crash" testbed_down
  CRASH_DOWN_TIME=$(_tb_since "$t0")
  leftovers "C" "${DPIDS[@]}" "${CPIDS[@]}"
else
  nok "up 2 for the crash test"
fi

# ------------------------------------------------------------------------------------------------
say "D: a strict test script (set -eEuo pipefail, ERR trap) with trap testbed_down EXIT"
# The library must not trip the caller's ERR trap or errexit, a plain `wait` must not wait for
# dockerd or the agent hook's processes, and the script's exit status must survive the EXIT trap.
errlog=$(mktemp)
timeout 120 bash -c '
  set -eEuo pipefail
  trap "echo ERR-TRAP-FIRED at line \$LINENO >&2" ERR
  source "$1"
  trap testbed_down EXIT
  testbed_up 2
  testbed_run_in_node 1 sleep 600
  testbed_proc_alive "$TESTBED_LAST_PID"
  testbed_docker 2 info >/dev/null
  ip=$(testbed_node_ip 2)
  testbed_exec 1 busybox ping -c 1 -W 2 "$ip" >/dev/null
  testbed_load_image 2 no-such/image:1 || true
  wait
  exit 3' _ "$TB" 2>"$errlog"
expect "script exit status kept through the EXIT trap" "$?" 3
out=$(grep -E 'ERR-TRAP-FIRED|down: done' "$errlog")
expect "no ERR trap fired inside the library; down ran" "$out" "testbed[$NAME]: down: done in ${out##* in }"
rm -f "$errlog"
leftovers "D"

# ------------------------------------------------------------------------------------------------
say "E: down is idempotent"
check "down again (CLI)" "$TB" down
check "down again (function)" testbed_down

say "measurements"
printf '3-node up: %s s; down: %s s; busybox build: %s s; 2 image loads: %s s; down after a crash: %s s\n' \
  "$UP_TIME" "${DOWN_TIME:-?}" "$BUILD_TIME" "$LOAD_TIME" "${CRASH_DOWN_TIME:-?}"
printf '%s\n' "$RSS"
