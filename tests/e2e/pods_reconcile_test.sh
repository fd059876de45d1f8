#!/usr/bin/env bash
# The agent's service-pod reconciler (src/agent/pods) against a REAL dockerd: one test bed node,
# driven by tests/e2e/tools/pods_probe (each stage its own process, as an agent restart would be).
# 2 desired pods -> 2 containers running with the right names, labels and env, reported running
# once their port is open; a second pass is a no-op; a killed container comes back after the
# backoff (0 s, 1 s, 4 s); a new deploy_rev with the same image keeps the containers; a new
# service_revision recreates them; a failing health check restarts its container; post_start hooks
# run in the container through docker exec (a failing one is reported with its name and exit code),
# a restart runs pre_stop, stop, start, post_start; the log shipper ships every line of a service
# container once (across a "disconnection" and a container restart), not those of a skip_logs one;
# no desired pods -> every managed container gone.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

e2e_require_root
: "${KONTENA_PODS_PROBE_BIN:?KONTENA_PODS_PROBE_BIN is not set: run through ctest after building e2e_deps}"
[[ -x "$KONTENA_PODS_PROBE_BIN" ]] || fail "KONTENA_PODS_PROBE_BIN=$KONTENA_PODS_PROBE_BIN is not an executable: build e2e_deps"

export TESTBED_NAME=kpode2e TESTBED_SUBNET=10.99.32.0/24 TESTBED_BIP_PREFIX=10.233 TESTBED_POOL_PREFIX=10.234
e2e_testbed_up 1
testbed_build_busybox_image 1 >>"$E2E_TMP/testbed.log" 2>&1 || fail "testbed_build_busybox_image 1 failed"
SOCK=$(testbed_docker_sock 1)
IMAGE=local/busybox:latest

# A stage of the probe, run in node 1's network namespace (where the agent runs: container
# addresses on docker0 are reachable there).
stage() {
  run testbed_exec 1 "$KONTENA_PODS_PROBE_BIN" "$SOCK" "$IMAGE" "$@"
  printf '%s\n' "$STDOUT" | sed "s/^/  [$1] /" >&2
  [[ $STATUS -eq 0 ]] || fail "pods_probe $* failed (status $STATUS)" "$OUT"
}

t0=$(e2e_now)
stage up 1
timing "2 pods created and running" "$(e2e_since "$t0")"
assert_contains "$STDOUT" "ok: e2e.web-1: running, labels and env as expected"
assert_contains "$STDOUT" "ok: e2e.web-2: running, labels and env as expected"
assert_contains "$STDOUT" "ok: second pass: no action (idempotent)"
assert_contains "$STDOUT" '"state":"running"'

# Cross-check with the docker CLI.
assert_ok testbed_docker 1 ps --format '{{.Names}}' --filter label=io.kontena.service.id=svc-web
assert_eq "e2e.web-1 e2e.web-2" "$(printf '%s\n' "$STDOUT" | sort | tr '\n' ' ' | sed 's/ $//')" "containers"
assert_ok testbed_docker 1 inspect e2e.web-2
C=$STDOUT
assert_eq svc-web "$(json '.[0].Config.Labels["io.kontena.service.id"]' "$C")" "service.id label"
assert_eq 2 "$(json '.[0].Config.Labels["io.kontena.service.instance_number"]' "$C")" "instance label"
assert_eq 1 "$(json '.[0].Config.Labels["io.kontena.container.service_revision"]' "$C")" "revision label"
assert_eq d1 "$(json '.[0].Config.Labels["io.kontena.container.deploy_rev"]' "$C")" "deploy_rev label"
assert_eq kpod "$(json '.[0].Config.Labels["io.kontena.grid.name"]' "$C")" "grid label"
assert_eq true "$(json '.[0].Config.Env | index("KONTENA_SERVICE_NAME=web") != null' "$C")" "KONTENA_SERVICE_NAME"
assert_eq true "$(json '.[0].Config.Env | index("KONTENA_GRID_NAME=kpod") != null' "$C")" "KONTENA_GRID_NAME"
assert_eq true "$(json '.[0].Config.Env | index("KONTENA_SERVICE_ID=svc-web") != null' "$C")" "KONTENA_SERVICE_ID"
assert_eq web-2 "$(json '.[0].Config.Hostname' "$C")" "hostname"
IP2=$(json '.[0].NetworkSettings.IPAddress' "$C")
assert_ok testbed_exec 1 busybox wget -q -O - "http://$IP2:8080/index.html"
assert_eq hello-2 "$STDOUT" "web-2 serves its page"

stage crash 1
assert_contains "$STDOUT" "ok: restart backoff 0 s, 1 s, 4 s"
assert_contains "$STDOUT" "ok: health checks:"
assert_match "$STDOUT" "ok: kill 3: web-1 running again after [0-9.]+ s"

stage redeploy 1
assert_contains "$STDOUT" "ok: new deploy_rev, same image id: kept, reported rev d2"

ID1=$(testbed_docker 1 inspect -f '{{.Id}}' e2e.web-1)
stage revision 2
assert_contains "$STDOUT" "ok: service_revision 2: both recreated"
assert_ok testbed_docker 1 inspect e2e.web-1
assert_eq 2 "$(json '.[0].Config.Labels["io.kontena.container.service_revision"]' "$STDOUT")" "revision label after recreate"
[[ "$(json '.[0].Id' "$STDOUT")" != "$ID1" ]] || fail "web-1 was not recreated"

stage unhealthy 2
assert_contains "$STDOUT" "ok: unhealthy (HTTP 404) -> restarted"

stage hooks 2
assert_contains "$STDOUT" "ok: failing post_start: reported"
assert_contains "$STDOUT" 'post_start hook "fail" (echo failing >&2; exit 4) exited with code 4'
assert_contains "$STDOUT" "ok: post_start hooks ran in e2e.hooky-1"
assert_contains "$STDOUT" "ok: restart: pre_stop, stop (grace 1 s), start, post_start"
assert_contains "$STDOUT" "ok: hook pods removed"

stage logs 2
assert_contains "$STDOUT" "ok: first lines shipped:"
assert_contains "$STDOUT" "each line once, none missing; skip_logs container not shipped"

t0=$(e2e_now)
stage down
timing "3 pods stopped and removed" "$(e2e_since "$t0")"
assert_contains "$STDOUT" "ok: no pods desired"
assert_ok testbed_docker 1 ps -a --format '{{.Names}}'
assert_eq "" "$STDOUT" "no container left"
