#!/usr/bin/env bash
# The master answers its public routes, refuses unauthenticated calls, and the CLI logs in with
# the one-time initial admin code.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start_server

# GET / : name, tagline and version
assert_status 200 GET /
assert_eq "Kontena Master" "$(json .name)" "GET / name"
assert_eq "The maritime friendly container platform" "$(json .tagline)" "GET / tagline"
assert_eq "${KONTENA_EXPECTED_VERSION:-0.1.0}" "$(json .version)" "GET / version"

# GET /v1/ping
assert_status 200 GET /v1/ping
assert_eq pong "$(json .message)" "GET /v1/ping message"

# No token, or a wrong one: 401 with an error message
assert_status 401 GET /v1/grids
[[ -n "$(json .error)" ]] || fail "401 body has no error message" "body: $BODY"
assert_status 401 GET /v1/grids --token 0000000000000000000000000000000000000000000000000000000000000000

# Unknown route: 404
assert_status 404 GET /v1/no-such-route

# The CLI logs in with the initial admin code, and whoami shows the admin
assert_ok kontena master login --code "$E2E_ADMIN_CODE" "$KONTENA_TEST_URL"
[[ -s "$KONTENA_CONFIG" ]] || fail "kontena master login wrote no config file at $KONTENA_CONFIG"
assert_ok kontena whoami
assert_contains "$OUT" admin "kontena whoami shows the admin user"

# The initial code is one-time
assert_fails kontena master login --code "$E2E_ADMIN_CODE" "$KONTENA_TEST_URL"

# The login (token) survives a restart of the master
restart_server
assert_ok kontena whoami
assert_contains "$OUT" admin "kontena whoami after a restart"
