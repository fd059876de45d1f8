#!/usr/bin/env bash
# Login, tokens, invites and logout through the real CLI.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start_server

# A wrong code is refused with the master's reason and stores nothing locally.
assert_fails kontena master login --code not-the-code "$KONTENA_TEST_URL"
assert_contains "$STDERR" "invalid or already used code"
[[ ! -s "$KONTENA_CONFIG" ]] || fail "a failed login wrote the config file" "$(cat "$KONTENA_CONFIG")"

# Commands before logging in say how to log in.
assert_fails kontena grid ls
assert_contains "$STDERR" "master login"

# The initial admin code logs in once; the config file holds the token with mode 0600.
assert_ok kontena master login --code "$E2E_ADMIN_CODE" --name local "$KONTENA_TEST_URL"
assert_contains "$OUT" "as admin"
assert_eq 600 "$(stat -c %a "$KONTENA_CONFIG")" "config file mode"
assert_ok kontena master current
assert_contains "$OUT" local
assert_ok kontena master ls
assert_contains "$OUT" "$KONTENA_TEST_URL"

# The master keeps only token digests: the clear token is nowhere in its database.
token=$(jq -r '.servers[0].token.access_token' "$KONTENA_CONFIG")
[[ ${#token} -eq 64 ]] || fail "stored access token is not 64 hex characters" "$token"
if grep -aq "$token" "$E2E_DB" "$E2E_DB-wal" 2>/dev/null; then fail "the clear access token is in the master's database"; fi

# A long-lived token for scripts, used through KONTENA_URL/KONTENA_TOKEN without a config file.
assert_ok kontena master token create --description ci-token
ci_token=$(printf '%s' "$STDOUT" | tail -n1)
assert_match "$ci_token" '^[0-9a-f]{64}$' "token create prints the token"
assert_ok env KONTENA_CONFIG="$E2E_TMP/none.json" KONTENA_URL="$KONTENA_TEST_URL" KONTENA_TOKEN="$ci_token" "$KONTENA_BIN" master token current --json
assert_eq admin "$(json .user.email "$STDOUT")" "the env token authenticates as admin"
assert_ok kontena master token ls
assert_contains "$OUT" ci-token
assert_ok kontena master token ls --json
ci_id=$(json '.access_tokens[] | select(.description=="ci-token") | .id' "$STDOUT")
assert_not_contains "$STDOUT" "$ci_token" "token ls must not show clear tokens"
assert_ok kontena master token rm "$ci_id"
assert_fails env KONTENA_CONFIG="$E2E_TMP/none.json" KONTENA_URL="$KONTENA_TEST_URL" KONTENA_TOKEN="$ci_token" "$KONTENA_BIN" grid ls
assert_contains "$STDERR" "invalid access token"

# Invite a user, who joins with the one-time invite code.
assert_ok kontena master user invite jane@example.com
code=$(printf '%s\n' "$STDOUT" | awk '/jane@example.com/ {print $2}')
[[ -n "$code" ]] || fail "invite printed no code" "$OUT"
jane_config="$E2E_TMP/jane.json"
assert_ok env KONTENA_CONFIG="$jane_config" "$KONTENA_BIN" master join "$KONTENA_TEST_URL" "$code"
assert_ok env KONTENA_CONFIG="$jane_config" "$KONTENA_BIN" whoami
assert_contains "$OUT" jane@example.com
assert_fails env KONTENA_CONFIG="$E2E_TMP/again.json" "$KONTENA_BIN" master join "$KONTENA_TEST_URL" "$code"
assert_contains "$STDERR" "already used"
assert_ok kontena master user ls
assert_contains "$OUT" jane@example.com

# An expired login token is refreshed by the CLI with its refresh token.
assert_ok kontena master token create --code
login_code=$(printf '%s' "$STDOUT" | tail -n1)
short_config="$E2E_TMP/short.json"
assert_ok env KONTENA_CONFIG="$short_config" "$KONTENA_BIN" master login --code "$login_code" --expires-in 12 "$KONTENA_TEST_URL"
old=$(jq -r '.servers[0].token.access_token' "$short_config")
sleep 3  # the CLI refreshes tokens that expire within 10 s
assert_ok env KONTENA_CONFIG="$short_config" "$KONTENA_BIN" grid ls
new=$(jq -r '.servers[0].token.access_token' "$short_config")
[[ "$old" != "$new" ]] || fail "the expired token was not refreshed"
assert_status 401 GET /v1/user --token "$old"

# Logout revokes the token on the master and forgets it locally.
assert_ok kontena master logout
assert_status 401 GET /v1/user --token "$token"
assert_fails kontena grid ls
assert_contains "$STDERR" "master login"
