#!/usr/bin/env bash
# Pre-created nodes: create, list (initial members), show, update, labels, tokens, env, remove.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start_server
login_admin
assert_ok kontena grid create --initial-size 2 demo

assert_ok kontena node create -l az=a node-1
assert_ok kontena node create node-2
assert_ok kontena node create --token 0123456789abcdef0123456789 node-3
assert_ok kontena node ls
assert_match "$STDOUT" 'node-1 +.*created +1 / 2' "node-1 is initial member 1 of 2"
assert_match "$STDOUT" 'node-2 +.*created +2 / 2' "node-2 is initial member 2 of 2"
assert_match "$STDOUT" 'node-3 +.*created +- ' "node-3 is not an initial member"
assert_ok kontena node ls -q
assert_eq $'node-1\nnode-2\nnode-3' "$STDOUT"

assert_ok kontena node show node-1 --json
assert_eq created "$(json .status "$STDOUT")"
assert_eq 1 "$(json .node_number "$STDOUT")"
assert_eq true "$(json .initial_member "$STDOUT")"
assert_eq az=a "$(json '.labels[0]' "$STDOUT")"

# node env prints what the node's agent needs
assert_ok kontena node env node-3
assert_contains "$STDOUT" "KONTENA_URI=ws://127.0.0.1:$E2E_SERVER_PORT"
assert_contains "$STDOUT" "KONTENA_NODE_TOKEN=0123456789abcdef0123456789"

# reset-token gives a new token
assert_ok kontena node reset-token node-3
assert_ok kontena node env node-3
assert_not_contains "$STDOUT" "0123456789abcdef0123456789" "reset-token changed the token"
assert_ok kontena node reset-token --clear-token node-2
assert_fails kontena node env node-2
assert_contains "$STDERR" "no node token"

# availability and labels
assert_ok kontena node update --availability drain node-1
assert_eq drain "$(kontena node show node-1 --json | jq -r .availability)"
assert_ok kontena node update --availability active node-1
assert_eq active "$(kontena node show node-1 --json | jq -r .availability)"
assert_ok kontena node label add node-1 region=eu disk=ssd
assert_ok kontena node label ls node-1
assert_eq $'az=a\nregion=eu\ndisk=ssd' "$STDOUT"
assert_ok kontena node label rm node-1 az=a
assert_ok kontena node label ls node-1
assert_eq $'region=eu\ndisk=ssd' "$STDOUT"

# bad input: nothing changes
assert_fails kontena node update --availability paused node-1
assert_fails kontena node create node-1
assert_contains "$STDERR" "already exists"
assert_fails kontena node create -- -bad
assert_fails kontena node create -l "bad label" node-9
assert_contains "$STDERR" "label"
assert_fails kontena node show ghost
assert_contains "$STDERR" "does not exist"
assert_fails kontena node ls --grid nogrid
assert_contains "$STDERR" "does not exist"
assert_ok kontena node ls -q
assert_eq $'node-1\nnode-2\nnode-3' "$STDOUT" "bad node input stored nothing"

# a grid with nodes is not removed
assert_fails kontena grid rm --force demo
assert_contains "$STDERR" "node"

# remove nodes; numbers are reused from the lowest
assert_ok kontena node rm --force node-1 node-2
assert_ok kontena node ls -q
assert_eq node-3 "$STDOUT"
assert_ok kontena node create node-4
assert_eq 1 "$(kontena node show node-4 --json | jq .node_number)" "lowest free node number reused"
assert_ok kontena node rm --force node-3 node-4
assert_ok kontena grid rm --force demo
