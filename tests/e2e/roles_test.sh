#!/usr/bin/env bash
# Roles and grid membership: users see only their grids; 401/403 where they may not act.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start_server
login_admin
assert_ok kontena grid create prod
assert_ok kontena grid create staging

# Two users join.
join_as() {  # join_as EMAIL: invite and log EMAIL in with its own config file
  assert_ok kontena master user invite "$1"
  local code
  code=$(printf '%s\n' "$STDOUT" | awk -v e="$1" '$1 == e {print $2}')
  assert_ok env KONTENA_CONFIG="$E2E_TMP/$1.json" "$KONTENA_BIN" master join "$KONTENA_TEST_URL" "$code"
}
as() {  # as EMAIL CLI-ARGS...
  local who=$1
  shift
  env KONTENA_CONFIG="$E2E_TMP/$who.json" "$KONTENA_BIN" "$@"
}
join_as alice@example.com
join_as bob@example.com

# A plain user sees no grid until added, cannot create grids or list users.
assert_ok as alice@example.com grid ls -q
assert_eq "" "$STDOUT" "alice sees no grids"
assert_fails as alice@example.com grid show prod
assert_contains "$STDERR" "not a member"
assert_fails as alice@example.com grid create alices
assert_contains "$STDERR" "grid_admin"
assert_fails as alice@example.com master user ls
assert_fails as alice@example.com master audit-log

# Added to prod: sees prod only, may create nodes, not remove them nor change the grid.
assert_ok kontena grid user add --grid prod alice@example.com
assert_ok kontena grid user ls --grid prod
assert_contains "$STDOUT" alice@example.com
assert_ok as alice@example.com grid ls -q
assert_eq prod "$STDOUT"
assert_ok as alice@example.com node create --grid prod a-node
assert_fails as alice@example.com node rm --force --grid prod a-node
assert_contains "$STDERR" "grid_admin"
assert_fails as alice@example.com grid update prod --no-default-affinity
assert_fails as alice@example.com node ls --grid staging
assert_contains "$STDERR" "not a member"

# grid_admin: may administer the grids it belongs to, and create grids.
assert_ok kontena master user role add grid_admin alice@example.com
assert_ok as alice@example.com node rm --force --grid prod a-node
assert_ok as alice@example.com grid update prod --statsd-server 127.0.0.1
assert_ok as alice@example.com grid create alices
assert_fails as bob@example.com grid show alices
assert_fails as alice@example.com grid rm --force staging
assert_contains "$STDERR" "not a member"

# user_admin: invites and grants grid_admin, but not master_admin.
assert_ok kontena master user role add user_admin bob@example.com
assert_ok as bob@example.com master user invite carol@example.com
assert_fails as bob@example.com master user role add master_admin bob@example.com
assert_contains "$STDERR" "cannot grant"
assert_ok as bob@example.com master user rm --force carol@example.com

# The last master_admin stays.
assert_fails kontena master user rm --force admin
assert_contains "$STDERR" "last master_admin"

# Removing a user revokes access at once; raw API: 401 without a token, 403 when not allowed.
alice_token=$(jq -r '.servers[0].token.access_token' "$E2E_TMP/alice@example.com.json")
assert_status 403 GET /v1/config --token "$alice_token"
assert_ok kontena master user rm --force alice@example.com
assert_status 401 GET /v1/grids --token "$alice_token"
assert_status 401 POST /v1/grids --data '{"name":"anon"}'
