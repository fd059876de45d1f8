#!/usr/bin/env bash
# A restart of the master (SIGTERM, start again on the same database) loses nothing.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start_server
login_admin
assert_ok kontena grid create --initial-size 3 kept
assert_ok kontena node create -l az=b kept-node
assert_ok kontena master user invite keeper@example.com
assert_ok kontena master token create --description survives
ci_token=$(printf '%s' "$STDOUT" | tail -n1)
assert_ok kontena master config set server.name=restart-test
before_grids=$(kontena grid show kept --json | jq -S 'del(.updated_at)')
before_nodes=$(kontena node ls --json | jq -S .)
before_audit=$(kontena master audit-log --json | jq '.logs | length')

restart_server
assert_eq 0 "$E2E_SERVER_EXIT" "the master exits 0 on SIGTERM"

assert_ok kontena whoami
assert_contains "$OUT" admin
assert_eq "$before_grids" "$(kontena grid show kept --json | jq -S 'del(.updated_at)')" "grid unchanged"
assert_eq "$before_nodes" "$(kontena node ls --json | jq -S .)" "nodes unchanged"
assert_ok kontena master user ls
assert_contains "$OUT" keeper@example.com
assert_status 200 GET /v1/user --token "$ci_token"
assert_ok kontena master config get server.name
assert_contains "$OUT" restart-test
after_audit=$(kontena master audit-log --json | jq '.logs | length')
[[ $after_audit -ge $before_audit ]] || fail "audit entries lost across the restart" "$before_audit -> $after_audit"
# the initial admin is not created again, and its code stays used
assert_fails kontena master login --code "$E2E_ADMIN_CODE" --name again "$KONTENA_TEST_URL"

# A second master on the same port fails with a clear message and changes nothing.
run "$KONTENA_SERVER_BIN" --listen "127.0.0.1:$E2E_SERVER_PORT" --db "$E2E_TMP/other.db"
[[ $STATUS -ne 0 ]] || fail "a second server on a used port did not fail"
assert_contains "$OUT" "cannot listen"
