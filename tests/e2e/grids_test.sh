#!/usr/bin/env bash
# Grid life cycle through the CLI, and bad grid input: clear errors, nothing stored.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start_server
login_admin

assert_ok kontena grid create --initial-size 3 --default-affinity label==az=a --trusted-subnet 192.168.10.0/24 demo
assert_contains "$OUT" demo
assert_ok kontena grid current --name
assert_eq demo "$STDOUT" "grid create selects the new grid"
assert_ok kontena grid create other
assert_ok kontena grid use demo
assert_ok kontena grid ls -q
assert_eq $'demo\nother' "$(printf '%s\n' "$STDOUT" | sort)" "grid ls -q"
assert_ok kontena grid ls
assert_match "$STDOUT" 'demo \*' "the current grid is marked"
assert_ok kontena grid show demo --json
assert_eq 3 "$(json .initial_size "$STDOUT")"
assert_eq 10.81.0.0/16 "$(json .subnet "$STDOUT")"
assert_eq label==az=a "$(json '.default_affinity[0]' "$STDOUT")"
assert_eq 192.168.10.0/24 "$(json '.trusted_subnets[0]' "$STDOUT")"
grid_token=$(json .token "$STDOUT")
assert_ok kontena grid show demo
assert_contains "$OUT" "$grid_token"

# grid env: what an agent needs
assert_ok kontena grid env demo
assert_contains "$STDOUT" "KONTENA_URI=ws://127.0.0.1:$E2E_SERVER_PORT"
assert_contains "$STDOUT" "KONTENA_TOKEN=$grid_token"

# update
assert_ok kontena grid update demo --no-default-affinity --statsd-server 127.0.0.1:8125 \
  --log-forwarder fluentd --log-opt fluentd-address=127.0.0.1:24224
assert_ok kontena grid show demo --json
assert_eq 0 "$(json '.default_affinity | length' "$STDOUT")"
assert_eq 127.0.0.1 "$(json .stats.statsd.server "$STDOUT")"
assert_eq fluentd "$(json .logs.forwarder "$STDOUT")"
assert_fails kontena grid update demo --log-forwarder splunk
assert_contains "$STDERR" "splunk"

# bad input through the CLI: each refused with the reason, nothing stored
assert_fails kontena grid create ab
assert_contains "$STDERR" "too short"
assert_fails kontena grid create "bad name"
assert_contains "$STDERR" "letters, digits"
assert_fails kontena grid create --initial-size 9 big-grid
assert_fails kontena grid create --subnet 10.81.0.0 nosubnet
assert_contains "$STDERR" "CIDR"
assert_fails kontena grid create --default-affinity "zone=a" badaff
assert_contains "$STDERR" "default_affinity"
assert_fails kontena grid create demo
assert_contains "$STDERR" "already exists"
assert_ok kontena grid ls -q
assert_eq $'demo\nother' "$(printf '%s\n' "$STDOUT" | sort)" "nothing stored by bad creates"

# bad input straight to the API
admin_token >/dev/null
assert_status 400 POST /v1/grids --token "$ADMIN_TOKEN" --data '{"name": "broken'
assert_contains "$(json .error)" "not valid JSON"
assert_status 400 POST /v1/grids --token "$ADMIN_TOKEN" --data '"demo"'
assert_status 422 POST /v1/grids --token "$ADMIN_TOKEN" --data '{"name": 12345}'
assert_contains "$(json .error)" "must be a string"
assert_status 422 POST /v1/grids --token "$ADMIN_TOKEN" --data '{"name": "typo-grid", "initial_sise": 3}'
assert_contains "$(json .error)" 'unknown field "initial_sise"'
assert_status 422 POST /v1/grids --token "$ADMIN_TOKEN" --data '{"name": "typo-grid", "initial_size": "3"}'
assert_status 409 POST /v1/grids --token "$ADMIN_TOKEN" --data '{"name": "demo"}'
head -c 1100000 /dev/zero | tr '\0' 'x' >"$E2E_TMP/big.json"
assert_status 413 POST /v1/grids --token "$ADMIN_TOKEN" --data "@$E2E_TMP/big.json"
assert_status 200 GET /v1/grids --token "$ADMIN_TOKEN"
assert_eq 2 "$(json '.grids | length')" "bad API calls stored nothing"
assert_eq 3 "$(kontena grid show demo --json | jq .initial_size)" "demo unchanged by the duplicate"

# remove (non-interactive needs --force)
assert_fails kontena grid rm other
assert_contains "$STDERR" "--force"
assert_ok kontena grid rm --force other
assert_ok kontena grid ls -q
assert_eq demo "$STDOUT"
assert_fails kontena grid show other
assert_contains "$STDERR" "does not exist"
