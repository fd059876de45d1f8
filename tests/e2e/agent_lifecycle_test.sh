#!/usr/bin/env bash
# Joining and leaving, with three real nodes (test bed): a pre-created node joins with its node
# token (kontena node env) and binds to the engine; wrong grid or node tokens stop the agent (exit 3,
# close 4001/4002) and create no node; a used node token is refused (4003); `node rm` of a
# connected node stops its agent (exit 3, close 4040); a master restart is survived (agents
# reconnect, same nodes); a network partition of a node turns it offline within ping interval +
# timeout, and it comes back when the link does; a node token reset with --reset-connection drops
# the agent (4031), whose old token is then refused (exit 3). Needs root.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

e2e_require_root
e2e_require_agent

TESTBED_NAME=ke2e2 TESTBED_SUBNET=10.99.22.0/24 TESTBED_BIP_PREFIX=10.223 TESTBED_POOL_PREFIX=10.224
E2E_PING_INTERVAL=1 E2E_PING_TIMEOUT=1
MARGIN=1.5

e2e_testbed_up 3
start_server_on_testbed
login_admin
assert_ok kontena grid create --initial-size 3 life
E2E_GRID=life
TOKEN=$(grid_token life)

NODE=()
for i in 1 2 3; do NODE[i]=$(testbed_netns "$i"); done
ENGINE_ID=()
for i in 1 2 3; do ENGINE_ID[i]=$(testbed_docker "$i" info --format '{{.ID}}'); done

# --- a pre-created node joins with its node token, given as in `kontena node env` -------------
assert_ok kontena node create -l role=pre pre-1
assert_eq created "$(node_status pre-1)"
assert_ok kontena node env pre-1
ENV_OUT=$STDOUT
URI=$(sed -n 's/^KONTENA_URI=//p' <<<"$ENV_OUT")
NODE_TOKEN=$(sed -n 's/^KONTENA_NODE_TOKEN=//p' <<<"$ENV_OUT")
assert_eq "$KONTENA_AGENT_URL" "$URI" "node env: KONTENA_URI is the master's ws:// address"
[[ -n "$NODE_TOKEN" ]] || fail "node env printed no KONTENA_NODE_TOKEN" "$ENV_OUT"
# only the environment, as the original's agent container gets it
agent_start -e "KONTENA_URI=$URI" -e "KONTENA_NODE_TOKEN=$NODE_TOKEN" 1
wait_node_status pre-1 online 30
timing "node-token agent -> online" "$WAITED"
assert_eq "${ENGINE_ID[1]}" "$(node_field pre-1 .node_id)" "pre-1 is bound to node 1's engine"
assert_eq "$(testbed_node_ip 1)" "$(node_field pre-1 .private_ip)"
assert_eq role=pre "$(node_field pre-1 '.labels | join(",")')" "the pre-created labels are kept"
assert_eq pre-1 "$(node_names)" "no other node was created for the engine"
assert_eq 1 "$(node_field pre-1 .node_number)"

# --- a wrong grid token: close 4001, the agent exits 3, no node ---------------------------------
agent_start 2 --grid-token "not-the-grid-token-0123456789"
agent_wait_exit 2 20
assert_eq 3 "${AGENT_EXIT[2]}" "agent exit status after close 4001"
assert_match "$(agent_last_log 2)" '4001' "the agent's log names close code 4001"
e2e_log "node 2 agent said: $(agent_last_log 2 | grep -E '4001' | tail -n 1)"
assert_eq pre-1 "$(node_names)" "a wrong grid token created no node"

# --- a wrong node token: close 4002, exit 3 -------------------------------------------------------
agent_start -e KONTENA_NODE_TOKEN=no-such-node-token-0123456789 2
agent_wait_exit 2 20
assert_eq 3 "${AGENT_EXIT[2]}" "agent exit status after close 4002"
assert_match "$(agent_last_log 2)" '4002' "the agent's log names close code 4002"
assert_eq pre-1 "$(node_names)" "a wrong node token created no node"

# --- pre-1's token from another engine: the token is bound already (4003), exit 3 ---------------
agent_start 3 --node-token "$NODE_TOKEN"
agent_wait_exit 3 20
assert_eq 3 "${AGENT_EXIT[3]}" "agent exit status after close 4003"
assert_match "$(agent_last_log 3)" '4003' "the agent's log names close code 4003"
assert_eq "${ENGINE_ID[1]}" "$(node_field pre-1 .node_id)" "pre-1 stays bound to node 1"
assert_eq online "$(node_status pre-1)" "pre-1 stays online"

# --- two more with the grid token ---------------------------------------------------------------
agent_start 2 --grid-token "$TOKEN"
agent_start 3 --grid-token "$TOKEN"
wait_node_status "${NODE[2]}" online 30
wait_node_status "${NODE[3]}" online 30
assert_eq "$(printf '%s\n' pre-1 "${NODE[2]}" "${NODE[3]}" | sort)" "$(node_names)"
declare -A NUM=()
for n in pre-1 "${NODE[2]}" "${NODE[3]}"; do NUM[$n]=$(node_field "$n" .node_number); done
assert_eq "1 2 3" "$(printf '%s\n' "${NUM[@]}" | sort -n | xargs)" "node numbers 1..3"

# --- node rm of a connected node: close 4040, its agent exits 3, the node is gone --------------
assert_ok kontena node rm --force "${NODE[3]}"
t0=$(e2e_now)
agent_wait_exit 3 15
timing "node rm -> agent exited" "$(e2e_since "$t0")"
assert_eq 3 "${AGENT_EXIT[3]}" "agent exit status after close 4040"
assert_match "$(agent_last_log 3)" '4040' "the agent's log names close code 4040"
assert_ok kontena node ls -q
assert_not_contains "$STDOUT" "${NODE[3]}" "the removed node is gone from node ls"
assert_eq "$(printf '%s\n' pre-1 "${NODE[2]}" | sort)" "$(node_names)"
assert_eq online "$(node_status pre-1)"
assert_eq online "$(node_status "${NODE[2]}")"

# --- the master restarts: the agents reconnect, the same nodes come back online ---------------
restart_server
t0=$(e2e_now)
wait_node_status pre-1 online 30
wait_node_status "${NODE[2]}" online 30
timing "master restart -> both agents online again" "$(e2e_since "$t0")"
for n in pre-1 "${NODE[2]}"; do
  assert_eq "${NUM[$n]}" "$(node_field "$n" .node_number)" "$n keeps its node number over the restart"
done
assert_eq "${ENGINE_ID[2]}" "$(node_field "${NODE[2]}" .node_id)"
assert_eq "$(printf '%s\n' pre-1 "${NODE[2]}" | sort)" "$(node_names)" "no new nodes after the master restart"
agent_running 1 || fail "agent 1 exited during the master restart" "$(agent_log 1 | tail -n 30)"
agent_running 2 || fail "agent 2 exited during the master restart" "$(agent_log 2 | tail -n 30)"

# --- a partition: node 2 off the underlay; offline within ping interval + timeout, back after ----
testbed_node_link 2 down
wait_node_status "${NODE[2]}" offline 20
timing "partition -> offline" "$WAITED"
assert_le "$WAITED" "$(awk -v i="$E2E_PING_INTERVAL" -v t="$E2E_PING_TIMEOUT" -v m="$MARGIN" 'BEGIN { print i + t + m }')" \
  "partition detection took longer than ping interval ${E2E_PING_INTERVAL}s + timeout ${E2E_PING_TIMEOUT}s + ${MARGIN}s"
assert_eq online "$(node_status pre-1)" "the other node stays online"
testbed_node_link 2 up
wait_node_status "${NODE[2]}" online 30
timing "link up -> online again" "$WAITED"
assert_eq "${NUM[${NODE[2]}]}" "$(node_field "${NODE[2]}" .node_number)" "same node after the partition"
agent_running 2 || fail "agent 2 exited during the partition" "$(agent_log 2 | tail -n 30)"

# --- reset-token --reset-connection: the agent is dropped (4031), its old token refused: exit 3 ---
assert_ok kontena node reset-token --reset-connection pre-1
agent_wait_exit 1 20
assert_eq 3 "${AGENT_EXIT[1]}" "agent exit status after its node token was reset"
assert_match "$(agent_last_log 1)" '4031' "the agent's log names close code 4031"
assert_match "$(agent_last_log 1)" '4002' "the agent's log names close code 4002 (old token)"
wait_node_status pre-1 offline 10
assert_eq online "$(node_status "${NODE[2]}")"
