#!/usr/bin/env bash
# An agent on a real node (test bed) and a master serving HTTPS/WSS with a self-signed
# certificate: with verification on and no CA the agent fails with a clear TLS error and no node
# appears; with the certificate as its CA, or KONTENA_SSL_VERIFY=false, it comes online.
# Needs root.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

e2e_require_root
e2e_require_agent

TESTBED_NAME=ke2e3 TESTBED_SUBNET=10.99.23.0/24 TESTBED_BIP_PREFIX=10.225 TESTBED_POOL_PREFIX=10.226
E2E_PING_INTERVAL=1 E2E_PING_TIMEOUT=1

e2e_testbed_up 1
GW=$E2E_GATEWAY_IP

# a self-signed certificate for the master's address on the bridge
CERT=$E2E_TMP/master.crt KEY=$E2E_TMP/master.key
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 -keyout "$KEY" -out "$CERT" \
  -subj "/CN=kontena-e2e-master" -addext "subjectAltName=IP:$GW" >"$E2E_TMP/openssl.out" 2>&1 ||
  fail "openssl could not make a certificate" "$(cat "$E2E_TMP/openssl.out")"
E2E_CURL_ARGS=(--cacert "$CERT")
start_server_on_testbed --tls-cert "$CERT" --tls-key "$KEY"
assert_match "$KONTENA_TEST_URL" '^https://' "the master serves HTTPS"
assert_match "$KONTENA_AGENT_URL" '^wss://' "agents use wss://"

# The CLI accepts the self-signed certificate; not exported, so the agents do not inherit it.
kontena() { KONTENA_SSL_VERIFY=false "$KONTENA_BIN" "$@"; }
login_admin
assert_ok kontena grid create tls
E2E_GRID=tls
TOKEN=$(grid_token tls)
NODE1=$(testbed_netns 1)

# --- verification on, no CA: a TLS error, no node ----------------------------------------------
agent_start 1 --grid-token "$TOKEN"
wait_agent_log 1 15 'certificate|verify failed|self.signed|local issuer'
e2e_log "the agent said: $(agent_last_log 1 | grep -iE 'certificate|verify' | head -n 1)"
sleep 2 # it may retry: still no node
assert_eq "" "$(node_names)" "an agent that does not trust the master created no node"
if agent_running 1; then
  agent_stop 1
  assert_eq 0 "${AGENT_EXIT[1]}" "SIGTERM while retrying: exit 0"
else
  agent_wait_exit 1 1
  [[ "${AGENT_EXIT[1]}" != 0 ]] || fail "the agent exited 0 after a TLS failure"
fi

# --- the certificate as the agent's CA (--ssl-ca-file), https:// master URL: online ----------------
agent_start 1 --master "https://$GW:$E2E_SERVER_PORT" --grid-token "$TOKEN" --ssl-ca-file "$CERT"
wait_node_status "$NODE1" online 30
timing "TLS agent (--ssl-ca-file) -> online" "$WAITED"
agent_stop 1
assert_eq 0 "${AGENT_EXIT[1]}" "exit status after SIGTERM"
wait_node_status "$NODE1" offline 10

# --- the CA for another name: --ssl-hostname that the certificate does not name fails -------------
agent_start 1 --grid-token "$TOKEN" --ssl-ca-file "$CERT" --ssl-hostname wrong.example
wait_agent_log 1 15 'certificate|verify failed|hostname|mismatch'
agent_stop 1
assert_eq "$NODE1" "$(node_names)" "still the one node"
assert_eq offline "$(node_status "$NODE1")" "a wrong TLS name does not connect"

# --- KONTENA_SSL_VERIFY=false, https:// master URL: online -----------------------------------------
agent_start -e KONTENA_SSL_VERIFY=false 1 --master "https://$GW:$E2E_SERVER_PORT" --grid-token "$TOKEN"
wait_node_status "$NODE1" online 30
timing "TLS agent (verify off) -> online" "$WAITED"
assert_eq "$(testbed_docker 1 info --format '{{.ID}}')" "$(node_field "$NODE1" .node_id)"
assert_eq "$NODE1" "$(node_names)" "one node"
agent_kill 1 KILL
wait_node_status "$NODE1" offline 10
timing "TLS: SIGKILL -> offline" "$WAITED"
