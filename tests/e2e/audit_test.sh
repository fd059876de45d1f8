#!/usr/bin/env bash
# Every mutating call is in the audit log: who, what, when, source IP, result; secrets redacted.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start_server
login_admin
assert_ok kontena grid create --token audit-secret-token-0123456789 audited
assert_ok kontena node create --grid audited n1
assert_fails kontena grid create x
assert_status 401 DELETE /v1/grids/audited

assert_ok kontena master audit-log --json
log=$STDOUT
# newest first: the unauthenticated delete, the rejected create, the node, the grid
assert_eq error "$(json '.logs[0].event_status' "$log")"
assert_eq 401 "$(json '.logs[0].http_status' "$log")"
assert_eq DELETE "$(json '.logs[0].request_method' "$log")"
assert_eq null "$(json '.logs[0].user_identity.id' "$log")"
assert_eq 422 "$(json '.logs[1].http_status' "$log")"
assert_contains "$(json '.logs[1].error' "$log")" "too short"
assert_eq node "$(json '.logs[2].resource_type' "$log")"
assert_eq audited/n1 "$(json '.logs[2].resource_id' "$log")"
assert_eq grid "$(json '.logs[3].resource_type' "$log")"
assert_eq create "$(json '.logs[3].event_name' "$log")"
assert_eq success "$(json '.logs[3].event_status' "$log")"
assert_eq admin "$(json '.logs[3].user_identity.email' "$log")"
assert_eq 127.0.0.1 "$(json '.logs[3].source_ip' "$log")"
assert_eq audited "$(json '.logs[3].grid' "$log")"
assert_match "$(json '.logs[3].time' "$log")" '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T'
assert_eq "[redacted]" "$(json '.logs[3].request_body.token' "$log")"
assert_not_contains "$log" "audit-secret-token-0123456789" "secrets never reach the audit log"

# human table and limits
assert_ok kontena master audit-log --limit 2
assert_eq 3 "$(printf '%s\n' "$STDOUT" | wc -l | tr -d ' ')" "header + 2 entries"
assert_ok kontena grid audit-log --grid audited --json
assert_eq 3 "$(json '.logs | length' "$STDOUT")" "grid audit log holds only that grid's calls"
assert_fails kontena master audit-log --limit 0
