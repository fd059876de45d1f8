#!/usr/bin/env bash
# Three real nodes (test bed: a netns and a dockerd each) join a grid of initial size 3 with the
# grid token: online, listed with INITIAL "N / 3", node show has the engine's facts. A SIGKILLed
# agent's node goes offline within the ping timeout, a frozen (SIGSTOP) agent's within ping
# interval + timeout; restarted or resumed it is the same node again. Drain/active, labels,
# node stats, SIGTERM = exit 0. Needs root.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

e2e_require_root
e2e_require_agent

TESTBED_NAME=ke2e1 TESTBED_SUBNET=10.99.21.0/24 TESTBED_BIP_PREFIX=10.221 TESTBED_POOL_PREFIX=10.222
E2E_PING_INTERVAL=1 E2E_PING_TIMEOUT=1
MARGIN=1.5 # seconds allowed on top of the configured liveness times (polling, scheduling)

e2e_testbed_up 3
start_server_on_testbed
login_admin
assert_ok kontena grid create --initial-size 3 demo
E2E_GRID=demo
TOKEN=$(grid_token demo)
[[ ${#TOKEN} -ge 16 ]] || fail "grid token looks wrong: '$TOKEN'"

NODE=()
for i in 1 2 3; do NODE[i]=$(testbed_netns "$i"); done # node name = the node's hostname

# --- three agents join with the grid token -------------------------------------------------
t0=$(e2e_now)
agent_start 1 --grid-token "$TOKEN" --update-interval 1
agent_start 2 --grid-token "$TOKEN" --update-interval 1
agent_start 3 --grid-token "$TOKEN" --update-interval 1 --label zone=z3,ssd=yes
for i in 1 2 3; do wait_node_status "${NODE[i]}" online 30; done
timing "3 agents started -> 3 nodes online" "$(e2e_since "$t0")"

assert_eq "$(printf '%s\n' "${NODE[@]}" | sort)" "$(node_names)" "exactly the three nodes, named by hostname"

assert_ok kontena node ls
LS=$STDOUT
printf '%s\n' "$LS" >&2
assert_match "$LS" '^NAME +VERSION +STATUS +INITIAL +LABELS' "node ls header"
numbers=()
for i in 1 2 3; do
  line=$(grep -E "^${NODE[i]} " <<<"$LS") || fail "node ls has no line for ${NODE[i]}" "$LS"
  assert_match "$line" "^${NODE[i]} +${KONTENA_EXPECTED_VERSION//./\\.} +online +[1-3] / 3 " "node ls line of ${NODE[i]}"
  numbers+=("$(awk '{print $4}' <<<"$line")")
done
assert_eq "1 2 3" "$(printf '%s\n' "${numbers[@]}" | sort -n | xargs)" "initial members 1 / 3, 2 / 3, 3 / 3"

assert_match "$(grep -E "^${NODE[3]} " <<<"$LS")" ' zone=z3,ssd=yes *$' "node 3 has its agent's labels"
assert_eq "zone=z3,ssd=yes" "$(node_field "${NODE[3]}" '.labels | join(",")')"
assert_eq "" "$(node_field "${NODE[1]}" '.labels | join(",")')" "node 1 has no labels"

assert_ok kontena node ls --json
assert_eq "online online online" "$(json '[.nodes[].status] | join(" ")' "$STDOUT")"
assert_eq "true true true" "$(json '[.nodes[].initial_member | tostring] | join(" ")' "$STDOUT")"

# --- node show: the facts of each node's own engine ------------------------------------------
declare -A NUM=() ENGINE_ID=()
for i in 1 2 3; do
  n=${NODE[i]}
  info=$(testbed_docker "$i" info --format '{{json .}}')
  ENGINE_ID[$i]=$(json .ID "$info")
  assert_ok kontena node show "$n" --json
  show=$STDOUT
  assert_eq "${ENGINE_ID[$i]}" "$(json .node_id "$show")" "$n: node id = its engine's ID"
  assert_eq "$(json .ServerVersion "$info")" "$(json .docker_version "$show")" "$n: docker version"
  assert_eq "$KONTENA_EXPECTED_VERSION" "$(json .agent_version "$show")" "$n: agent version"
  assert_eq "$(json .NCPU "$info")" "$(json .cpus "$show")" "$n: cpus"
  assert_eq "$(json .MemTotal "$info")" "$(json .mem_total "$show")" "$n: memory"
  assert_eq "$(testbed_node_ip "$i")" "$(json .private_ip "$show")" "$n: private ip = its underlay address"
  assert_match "$(json .public_ip "$show")" '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$' "$n: public ip"
  assert_eq "true active" "$(json '"\(.connected) \(.availability)"' "$show")" "$n: connected, active"
  NUM[$i]=$(json .node_number "$show")

  assert_ok kontena node show "$n"
  assert_contains "$STDOUT" "status: online"
  assert_contains "$STDOUT" "docker version: $(json .ServerVersion "$info")"
  assert_contains "$STDOUT" "agent version: $KONTENA_EXPECTED_VERSION"
  assert_contains "$STDOUT" "cpus: $(json .NCPU "$info")"
  assert_match "$STDOUT" 'memory: [0-9]+\.[0-9]{2} GiB'
  assert_contains "$STDOUT" "private ip: $(testbed_node_ip "$i")"
  assert_contains "$STDOUT" "initial node: ${NUM[$i]} / 3"
done

# --- node stats (the agents send them every --update-interval 1 s) ----------------------------
admin_token >/dev/null
stats_ok() {
  api GET "/v1/nodes/demo/${NODE[1]}/stats" --token "$ADMIN_TOKEN"
  [[ "$HTTP_STATUS" == 200 ]] && jq -e '.stats | type == "object" and length > 0' <<<"$BODY" >/dev/null
}
t0=$(e2e_now)
wait_until 15 stats_ok
timing "node stats available" "$(e2e_since "$t0")"
assert_status 200 GET "/v1/nodes/demo/${NODE[1]}/stats" --token "$ADMIN_TOKEN"
e2e_log "stats: $(head -c 600 <<<"$BODY")"
assert_eq "demo/${NODE[1]}" "$(json .id)"
assert_match "$(json .received_at)" '^20[0-9][0-9]-' "stats: received_at"
latest=$(json .stats)
assert_eq "$(grep -c '^cpu[0-9]' /proc/stat)" "$(json .cpu.num_cores "$latest")" "stats: cpu.num_cores (the host's CPUs)"
assert_match "$(json .memory.total "$latest")" '^[1-9][0-9]+$' "stats: memory.total"
assert_match "$(json '.filesystem | length' "$latest")" '^[1-9]' "stats: filesystem entries"
assert_status 404 GET "/v1/nodes/demo/no-such-node/stats" --token "$ADMIN_TOKEN"

# --- SIGKILL: the socket closes, the node goes offline within the ping timeout -------------------
agent_kill 2 KILL
wait_node_status "${NODE[2]}" offline 15
timing "SIGKILL -> offline" "$WAITED"
assert_le "$WAITED" "$(awk -v t="$E2E_PING_TIMEOUT" -v m="$MARGIN" 'BEGIN { print t + m }')" \
  "offline detection after SIGKILL took longer than ping timeout ${E2E_PING_TIMEOUT}s + ${MARGIN}s"
for i in 1 3; do assert_eq online "$(node_status "${NODE[i]}")" "the other nodes stay online"; done
assert_eq false "$(node_field "${NODE[2]}" .connected)"

# restarted, it is the same node (name, number, node id), no new node
agent_start 2 --grid-token "$TOKEN"
wait_node_status "${NODE[2]}" online 30
timing "restarted agent -> online" "$WAITED"
assert_eq "${NUM[2]}" "$(node_field "${NODE[2]}" .node_number)" "same node number after restart"
assert_eq "${ENGINE_ID[2]}" "$(node_field "${NODE[2]}" .node_id)" "same node id after restart"
assert_eq "$(printf '%s\n' "${NODE[@]}" | sort)" "$(node_names)" "no new node after the restart"

# --- SIGSTOP: the socket stays open but pongs stop; offline after ping interval + timeout ------
agent_kill 3 STOP
wait_node_status "${NODE[3]}" offline 20
timing "SIGSTOP (no pongs) -> offline" "$WAITED"
assert_le "$WAITED" "$(awk -v i="$E2E_PING_INTERVAL" -v t="$E2E_PING_TIMEOUT" -v m="$MARGIN" 'BEGIN { print i + t + m }')" \
  "ping timeout detection took longer than ping interval ${E2E_PING_INTERVAL}s + timeout ${E2E_PING_TIMEOUT}s + ${MARGIN}s"
assert_match "$(cat "$E2E_SERVER_LOG")" "ping timeout[^"$'\n'"]*node=${NODE[3]}" "the master logs the ping timeout of node 3"
agent_kill 3 CONT
wait_node_status "${NODE[3]}" online 30
assert_match "$(agent_last_log 3)" '4030' "the resumed agent logs close code 4030 and reconnects"
timing "resumed agent -> online again" "$WAITED"
assert_eq "${NUM[3]}" "$(node_field "${NODE[3]}" .node_number)" "same node number after the ping timeout"
agent_running 3 || fail "the resumed agent exited" "$(agent_log 3 | tail -n 30)"
assert_eq 3 "$(node_names | wc -l | tr -d ' ')" "still three nodes"

# --- availability: drain and back ----------------------------------------------------------------
assert_ok kontena node update --availability drain "${NODE[1]}"
wait_node_status "${NODE[1]}" drain 10
assert_eq drain "$(node_field "${NODE[1]}" .availability)"
assert_ok kontena node ls
assert_match "$STDOUT" "${NODE[1]} +[^ ]+ +drain +" "node ls shows drain"
assert_ok kontena node update --availability active "${NODE[1]}"
wait_node_status "${NODE[1]}" online 10
assert_eq active "$(node_field "${NODE[1]}" .availability)"

# --- labels of a connected node --------------------------------------------------------------
assert_ok kontena node label add "${NODE[2]}" region=eu disk=ssd
assert_ok kontena node label ls "${NODE[2]}"
assert_contains "$STDOUT" "region=eu"
assert_contains "$STDOUT" "disk=ssd"
assert_ok kontena node label rm "${NODE[2]}" region=eu
assert_ok kontena node label ls "${NODE[2]}"
assert_not_contains "$STDOUT" "region=eu"
assert_contains "$STDOUT" "disk=ssd"
assert_ok kontena node ls
assert_match "$STDOUT" "${NODE[2]} +.* online +[1-3] / 3 +disk=ssd" "node ls shows the label"
assert_eq online "$(node_status "${NODE[2]}")" "label changes keep the node online"
agent_running 2 || fail "the agent of node 2 exited after the label change" "$(agent_log 2 | tail -n 30)"

# --- SIGTERM: the agent exits 0, the node goes offline ------------------------------------------
agent_stop 1
assert_eq 0 "${AGENT_EXIT[1]}" "agent exit status after SIGTERM"
wait_node_status "${NODE[1]}" offline 10
timing "SIGTERM -> offline" "$WAITED"
for i in 2 3; do assert_eq online "$(node_status "${NODE[i]}")"; done
