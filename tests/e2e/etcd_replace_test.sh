#!/usr/bin/env bash
# Initial node replacement (issue 5 §1, seed "Initial Node Replacement") on a 4-node test bed with
# the real master, agents, etcd and CLI: a grid with initial_size=3 on nodes 1-3 -> one etcd
# cluster of 3; a key is written. Node 3 is lost for good (agent stopped, its etcd data gone) and
# removed with `kontena node rm`; a new machine (node 4) joins: it takes node number 3, so it is an
# initial node, and its agent replaces the lost member (remove + add) -> 3 of 3 healthy again, the
# key is still there, the member node-3 has a new id. The old machine then joins again as a new
# node: it gets node number 4 and never becomes an etcd member. Needs root.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

e2e_require_root
e2e_require_agent

TESTBED_NAME=kerp1 TESTBED_SUBNET=10.99.55.0/24 TESTBED_BIP_PREFIX=10.247 TESTBED_POOL_PREFIX=10.248

e2e_testbed_up 4
start_server_on_testbed
login_admin
assert_ok kontena grid create --initial-size 3 demo
E2E_GRID=demo
TOKEN=$(grid_token demo)
NODE=()
for i in 1 2 3 4; do NODE[i]=$(testbed_netns "$i"); done
# one after the other, so that node i gets node number i
for i in 1 2 3; do
  agent_start "$i" --grid-token "$TOKEN"
  wait_node_status "${NODE[i]}" online 30
done

e2e_diagnose() { kontena grid health 2>&1 | sed 's/^/  [grid health] /' || true; }

wait_for 90 "etcd healthy on the 3 initial nodes" kontena grid health
assert_ok kontena etcd set /e2e/before-replacement kept
assert_ok kontena etcd health --json
OLD_ID=$(json '[.. | objects | select(has("peer_urls") and .name == "node-3") | .id] | first // empty' "$STDOUT")
[[ -n "$OLD_ID" ]] || fail "no etcd member node-3 in etcd health" "$STDOUT"

# ---- node 3 is lost for good: its agent and etcd stop, its data is gone --------------------------------
agent_stop 3
rm -rf "$E2E_TMP/agent-data-3"
wait_node_status "${NODE[3]}" offline 10
two_of_three() { kontena etcd health 2>&1 | grep -q "2 of 3"; }
wait_for 20 "etcd health: 2 of 3 members healthy" two_of_three
assert_ok kontena node rm --force "${NODE[3]}"

# ---- a new machine joins: node number 3, an initial node, it replaces the lost member ------------------
t0=$(e2e_now)
agent_start 4 --grid-token "$TOKEN"
wait_node_status "${NODE[4]}" online 30
assert_ok kontena node show "${NODE[4]}" --json
assert_eq "3 true" "$(json '"\(.node_number) \(.initial_member)"' "$STDOUT")" "the new node takes node number 3 and is an initial member"
wait_for 90 "etcd healthy again with the replacement member" kontena grid health
timing "replacement node joined -> etcd 3 of 3 healthy" "$(e2e_since "$t0")"
assert_ok kontena etcd health
assert_match "$STDOUT" "3 of 3" "etcd health: 3 of 3 after the replacement"
assert_ok kontena etcd get /e2e/before-replacement
assert_eq "kept" "$(tr -d '\n' <<<"$STDOUT")" "the key written before the replacement is still there"
assert_ok kontena etcd health --json
NEW_ID=$(json '[.. | objects | select(has("peer_urls") and .name == "node-3") | .id] | first // empty' "$STDOUT")
[[ -n "$NEW_ID" && "$NEW_ID" != "$OLD_ID" ]] || fail "member node-3 was not replaced (id $OLD_ID -> '$NEW_ID')" "$STDOUT"
MEMBERS=$(json '[.. | objects | select(has("peer_urls")) | .name] | unique | join(" ")' "$STDOUT")
assert_eq "node-1 node-2 node-3" "$MEMBERS" "the cluster has exactly the three initial members"
grep -q 'plan=replace' "$E2E_TMP/agent-n4.log" || fail "the new node's agent did not replace the old member" \
  "$(grep 'etcd member' "$E2E_TMP/agent-n4.log" | tail -n 10)"

# ---- the old machine comes back as a new node: node number 4, never a member ---------------------------
agent_start 3 --grid-token "$TOKEN"
wait_node_status "${NODE[3]}" online 30
assert_ok kontena node show "${NODE[3]}" --json
assert_eq "4 false" "$(json '"\(.node_number) \(.initial_member)"' "$STDOUT")" "the returning machine is node 4, not initial"
sleep 3
[[ ! -e "$E2E_TMP/agent-data-3/etcd/etcd.pid" ]] || fail "a non-initial node started an etcd member"
assert_ok kontena etcd health --json
assert_eq "node-1 node-2 node-3" "$(json '[.. | objects | select(has("peer_urls")) | .name] | unique | join(" ")' "$STDOUT")" \
  "still three members: a non-initial node is never promoted"
# the non-initial node uses the cluster through the members
assert_ok kontena grid health
