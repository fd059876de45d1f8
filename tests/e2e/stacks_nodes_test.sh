#!/usr/bin/env bash
# Stacks when nodes fail or are drained (issue 4 §6, §7), on the 3-node test bed with the real
# master (short ha grace and reschedule loop), agents, CLI and one dockerd per node. With
# fixtures/stacks/shop.yml installed (web x3 ha, worker x2, stateful db x1): a node's agent is
# SIGKILLed -> its stateless instances stay put for the grace period, then move to the other
# nodes and run there; the agent comes back -> what it ran for the moved instances is removed (one
# container per instance in the grid); the stateful db's node is drained -> its stateless
# instances leave it, db-1 is stopped there and not moved; active again (other containers took
# db-1's address meanwhile) -> db-1 runs again on the same node at its new address; that node's
# agent dies -> db-1 stays placed there after the grace, keeps its container and runs when the
# agent is back; `stack rm` leaves no container on any node. Needs root.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

e2e_require_root
e2e_require_agent

TESTBED_NAME=kstk2 TESTBED_SUBNET=10.99.42.0/24 TESTBED_BIP_PREFIX=10.243 TESTBED_POOL_PREFIX=10.244
FIX="$E2E_DIR/fixtures/stacks"
GRACE=3     # --grace-ha: an offline node's ha instances move after it
INTERVAL=1  # --reschedule-interval
MARGIN=15   # seconds allowed on top for the deploys themselves on a loaded 2-core machine

e2e_testbed_up 3
for i in 1 2 3; do e2e_build_web_image "$i" local/web:v1; done
# Docker's default network, not the overlay (--no-overlay): this test checks that a container which
# gets another address when it starts again is probed at the new one (on the overlay an instance
# keeps its IPAM address; network_test.sh covers that).
E2E_AGENT_ARGS=(--no-overlay)
stacks_grid_up --grace-ha "${GRACE}s" --reschedule-interval "${INTERVAL}s"

e2e_diagnose() {
  echo "nodes:"
  kontena node ls 2>&1 | sed 's/^/  /'
  echo "containers (node name state image id):"
  stack_ps | sed 's/^/  /'
  local s
  for s in web worker db; do
    echo "instances of shop/$s (n node desired state health container):"
    service_instances shop "$s" 2>/dev/null | sed 's/^/  /' || true
  done
}
no_containers() { [[ -z "$(stack_ps)" ]]; }
# nodes_of SVC: the node names of the service's instances, one per line, by instance number.
nodes_of() { service_instances shop "$1" | awk '{ print $2 }'; }

t0=$(e2e_now)
assert_ok kontena stack install "$FIX/shop.yml"
timing "stack install -> deployed" "$(e2e_since "$t0")"
wait_for 30 "web x3 running" expect_placement shop web 3 local/web:v1
wait_for 30 "worker x2 running" expect_placement shop worker 2 local/web:v1
wait_for 30 "db x1 running" expect_placement shop db 1 local/web:v1

DB_NODE=$(nodes_of db)
D=$(testbed_node_index "$DB_NODE")
# K: a node other than the db's, preferably one that also runs a worker
K=""
for i in 1 2 3; do
  [[ $i == "$D" ]] && continue
  [[ -z "$K" ]] && K=$i
  if nodes_of worker | grep -qx "${NODE[i]}"; then K=$i; break; fi
done
e2e_log "db-1 is on node $D (${NODE[D]}); killing the agent of node $K (${NODE[K]})"
DB_ID=$(stack_ps shop | awk '$2 == "shop.db-1" { print $5 }')
ON_K=$(for s in web worker; do service_instances shop "$s" | awk -v n="${NODE[K]}" -v s="$s" '$2 == n { print s "-" $1 }'; done | xargs)
[[ -n "$ON_K" ]] || fail "no stateless instance on node $K to move" "$(e2e_diagnose)"

# ---- a node's agent dies: after the grace, its instances move --------------------------------
agent_kill "$K" KILL
t0=$(e2e_now)
wait_node_status "${NODE[K]}" offline 10
# Within the grace period nothing moves.
sleep 1
moved_early=$(for s in web worker; do service_instances shop "$s" | awk -v n="${NODE[K]}" -v s="$s" '$2 == n { print s "-" $1 }'; done | xargs)
offline_for=$(e2e_since "$t0")
if awk -v a="$offline_for" -v g="$GRACE" 'BEGIN { exit !(a < g) }'; then
  assert_eq "$ON_K" "$moved_early" "instances on node $K ${offline_for} s after its agent died (grace ${GRACE} s)"
fi
wait_for $((GRACE + INTERVAL + MARGIN)) "web x3 moved off node $K and running" expect_placement shop web 3 local/web:v1 "$K"
wait_for 20 "worker x2 moved off node $K and running" expect_placement shop worker 2 local/web:v1 "$K"
MOVED=$(e2e_since "$t0")
timing "agent SIGKILL -> its instances ($ON_K) running on the other nodes (grace ${GRACE} s)" "$MOVED"
assert_le "$MOVED" $((GRACE + INTERVAL + MARGIN + 20)) "time for the instances to move"
assert_eq "$DB_ID" "$(stack_ps shop | awk '$2 == "shop.db-1" { print $5 }')" "db-1 (not on node $K) untouched"
expect_placement shop db 1 local/web:v1 >/dev/null || fail "db-1 not running on its node" "$(expect_placement shop db 1 local/web:v1)"

# ---- the agent comes back: its stale containers go, one container per instance ---------------------
agent_start "$K" --grid-token "$TOKEN" --reconcile-interval 2
wait_node_status "${NODE[K]}" online 30
t0=$(e2e_now)
wait_for 30 "web: one container per instance after node $K came back" expect_placement shop web 3 local/web:v1
wait_for 30 "worker: one container per instance after node $K came back" expect_placement shop worker 2 local/web:v1
timing "node back -> its stale containers removed" "$(e2e_since "$t0")"

# ---- drain the db's node: stateless instances leave it, the stateful one stops there -----------------
DB_IP=$(testbed_docker "$D" inspect -f '{{.NetworkSettings.IPAddress}}' shop.db-1)
[[ -n "$DB_IP" ]] || fail "shop.db-1 has no address on node $D"
assert_ok kontena node update --availability drain "${NODE[D]}"
wait_node_status "${NODE[D]}" drain 10
t0=$(e2e_now)
wait_for 30 "web x3 off the drained node $D" expect_placement shop web 3 local/web:v1 "$D"
wait_for 30 "worker x2 off the drained node $D" expect_placement shop worker 2 local/web:v1 "$D"
db_stopped() {
  local line
  line=$(service_instances shop db)
  [[ $(awk '{ print $1, $2, $3 }' <<<"$line") == "1 ${NODE[D]} stopped" ]] || { echo "db: $line"; return 1; }
  [[ -z "$(testbed_docker "$D" ps -q --filter name='^shop\.db-1$' --filter status=running)" ]] ||
    { echo "shop.db-1 still runs on node $D"; return 1; }
  [[ -z "$(stack_ps shop | awk -v d="$D" '$2 == "shop.db-1" && $1 != d')" ]] || { echo "shop.db-1 exists elsewhere"; return 1; }
}
wait_for 30 "db-1 stopped on the drained node $D, not moved" db_stopped
timing "drain -> stateless instances moved off, stateful stopped" "$(e2e_since "$t0")"
# the stateless ones are gone from the drained node (not only placed elsewhere)
none_on_drained() { local l; l=$(node_kontena_ps "$D" shop | awk '$2 ~ /^shop\.(web|worker)-/'); [[ -z "$l" ]] || { echo "$l"; return 1; }; }
wait_for 20 "no web/worker container left on the drained node $D" none_on_drained

# Meanwhile other containers start on the node (plain docker ones, not Kontena's), until one has
# taken db-1's old address: db-1 gets a new one when it starts again (wait_for_port must probe it).
k=0
while :; do
  k=$((k + 1))
  [[ $k -le 20 ]] || fail "20 filler containers on node $D and none got db-1's old address $DB_IP" "$(testbed_docker "$D" ps)"
  assert_ok testbed_docker "$D" run -d --name "filler-$k" local/web:v1 /bin/serve idle
  [[ "$(testbed_docker "$D" inspect -f '{{.NetworkSettings.IPAddress}}' "filler-$k")" != "$DB_IP" ]] || break
done

assert_ok kontena node update --availability active "${NODE[D]}"
wait_node_status "${NODE[D]}" online 10
wait_for 30 "db-1 running again on node $D (new address, was $DB_IP; port 5432 awaited)" expect_placement shop db 1 local/web:v1
assert_eq "${NODE[D]}" "$(nodes_of db)" "db-1 stays on its node"
NEW_IP=$(testbed_docker "$D" inspect -f '{{.NetworkSettings.IPAddress}}' shop.db-1)
e2e_log "db-1's address: $DB_IP before the drain, $NEW_IP now ($k filler containers)"
[[ "$NEW_IP" != "$DB_IP" ]] || fail "db-1 got its old address $DB_IP back although filler-$k holds it"

# ---- the stateful db's node goes offline: db-1 is never moved automatically -------------------------
DB_ID=$(stack_ps shop | awk '$2 == "shop.db-1" { print $5 }')
agent_kill "$D" KILL
wait_node_status "${NODE[D]}" offline 10
sleep $((GRACE + INTERVAL + 3))
assert_eq "${NODE[D]}" "$(nodes_of db)" "db-1 (stateful) still placed on its offline node $D after the grace"
elsewhere=$(stack_ps shop | awk -v d="$D" '$2 == "shop.db-1" && $1 != d')
[[ -z "$elsewhere" ]] || fail "shop.db-1 was created on another node while node $D was offline" "$elsewhere"
agent_start "$D" --grid-token "$TOKEN" --reconcile-interval 2
wait_node_status "${NODE[D]}" online 30
wait_for 30 "db-1 running on node $D after its agent came back" expect_placement shop db 1 local/web:v1
assert_eq "$DB_ID" "$(stack_ps shop | awk '$2 == "shop.db-1" { print $5 }')" "db-1 kept its container through the outage"
wait_for 30 "web x3 running, one container each" expect_placement shop web 3 local/web:v1
wait_for 30 "worker x2 running, one container each" expect_placement shop worker 2 local/web:v1

for ((j = 1; j <= k; j++)); do assert_ok testbed_docker "$D" rm -f "filler-$j"; done

# ---- stack rm: nothing left anywhere -------------------------------------------------------------
t0=$(e2e_now)
assert_ok kontena stack rm --force shop
wait_for 60 "no container left on any node after stack rm" no_containers
timing "stack rm -> no container on any node" "$(e2e_since "$t0")"
admin_token >/dev/null
assert_status 404 GET /v1/stacks/demo/shop --token "$ADMIN_TOKEN"
