#!/usr/bin/env bash
# The agent's Docker client (src/agent/docker, Engine API v1.41) against a REAL dockerd: one test
# bed node, driven by tests/e2e/tools/docker_client_probe. Info, images, the clear error of a pull
# without a registry, create/start/inspect/list, multiplexed and TTY logs, events and stats
# streams, stop with grace, kill, remove; exec (exit codes, stdout/stderr apart, 1 MiB cap, missing
# and stopped containers, timeout); a created container is cross-checked with `docker inspect`;
# a real pull with progress from a local registry (when Debian's docker-registry is installed).
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

e2e_require_root
: "${KONTENA_DOCKER_PROBE_BIN:?KONTENA_DOCKER_PROBE_BIN is not set: run through ctest after building e2e_deps}"
[[ -x "$KONTENA_DOCKER_PROBE_BIN" ]] || fail "KONTENA_DOCKER_PROBE_BIN=$KONTENA_DOCKER_PROBE_BIN is not an executable: build e2e_deps"

export TESTBED_NAME=kdce2e TESTBED_SUBNET=10.99.31.0/24 TESTBED_BIP_PREFIX=10.231 TESTBED_POOL_PREFIX=10.232
# A local registry (Debian's docker-registry) on the host's bridge address, for the real pull path.
REGISTRY=""
if command -v docker-registry >/dev/null 2>&1; then
  REGISTRY="10.99.31.1:$(free_port)"
  export TESTBED_DOCKERD_ARGS="--insecure-registry $REGISTRY"
fi
e2e_testbed_up 1
testbed_build_busybox_image 1 >>"$E2E_TMP/testbed.log" 2>&1 || fail "testbed_build_busybox_image 1 failed"
SOCK=$(testbed_docker_sock 1)
IMAGE=local/busybox:latest

probe() { "$KONTENA_DOCKER_PROBE_BIN" "$SOCK" "$@"; }

# A container with a TTY, made with the docker CLI (the client reads its logs as a raw stream).
assert_ok testbed_docker 1 run -d -t --init --pull never --name kdc-tty "$IMAGE" \
  sh -c 'echo tty-hello; echo tty-err >&2; sleep 1000'

# The whole scenario (each step prints "ok: ..."; the first failed check prints "FAIL: ...").
run probe scenario "$IMAGE" kdc-tty
printf '%s\n' "$STDOUT" | sed 's/^/  /' >&2
[[ $STATUS -eq 0 ]] || fail "docker_client_probe scenario failed" "$OUT"
assert_contains "$STDOUT" "probe: all steps passed"
assert_contains "$STDOUT" "ok: pull without a registry: unavailable: cannot pull image kontena-e2e/does-not-exist:1.0: the registry cannot be reached and the image is not present locally"
assert_contains "$STDOUT" "ok: logs (multiplexed)"
assert_contains "$STDOUT" "ok: logs (TTY, raw)"
assert_contains "$STDOUT" "ok: events stream: start and die seen"
assert_contains "$STDOUT" "ok: stats stream:"
assert_contains "$STDOUT" "ok: kill_container: ExitCode 137"

# exec: exit codes, stdout and stderr apart, the 1 MiB cap, errors (exit 3 = "KIND: message").
assert_ok probe exec kdc-tty 20 sh -c 'echo out-line; echo err-line >&2; exit 3'
assert_eq 3 "$(json .exit_code "$STDOUT")" "exec exit code 3"
assert_eq out-line "$(json .stdout "$STDOUT")" "exec stdout"
assert_eq err-line "$(json .stderr "$STDOUT")" "exec stderr"
assert_ok probe exec kdc-tty 20 true
assert_eq 0 "$(json .exit_code "$STDOUT")" "exec exit code 0"
assert_eq "" "$(json .stdout "$STDOUT")" "exec of true: no output"
assert_ok probe exec kdc-tty 20 sh -c 'head -c 1100000 /dev/zero | tr "\\000" x; echo done >&2'
assert_eq 1048576 "$(json .stdout_bytes "$STDOUT")" "exec stdout capped at 1 MiB"
assert_eq true "$(json .stdout_truncated "$STDOUT")" "exec stdout truncated"
assert_eq done "$(json .stderr "$STDOUT")" "exec stderr after a large stdout"
assert_ok probe exec kdc-tty 20 /no/such/program
assert_match "$(json .exit_code "$STDOUT")" '^12[67]$' "exec of a missing program: 126 or 127"
run probe exec kdc-no-such-container 20 true
assert_eq 3 "$STATUS" "exec in a missing container"
assert_contains "$STDOUT" "not_found: no such container: kdc-no-such-container"
assert_ok testbed_docker 1 create --name kdc-stopped "$IMAGE" true
run probe exec kdc-stopped 20 true
assert_eq 3 "$STATUS" "exec in a stopped container"
assert_contains "$STDOUT" "conflict:"
assert_contains "$STDOUT" "is not running"
assert_ok testbed_docker 1 rm kdc-stopped
run probe exec kdc-tty 1 sleep 30
assert_eq 3 "$STATUS" "exec that outlives its timeout"
assert_contains "$STDOUT" "unavailable: the command did not finish within 1 s in container kdc-tty"
assert_match "$STDOUT" "seconds: (1|2)\." "the timeout is kept"
e2e_log "exec: exit codes 0/3/126-127, stdout and stderr apart, 1 MiB cap, missing and stopped containers, timeout: ok"

# The pull error on its own (exit 3 = a kontena::Error, printed as "KIND: message").
run probe pull local/kdc-not-here:2
assert_eq 3 "$STATUS" "probe pull exit status"
assert_contains "$STDOUT" "unavailable: cannot pull image local/kdc-not-here:2: the registry cannot be reached"

# What the client asked Docker for is what Docker did: cross-check with the docker CLI.
assert_ok probe create-keep "$IMAGE" kdc-keep
ID=$STDOUT
assert_match "$ID" '^[0-9a-f]{64}$' "create-keep prints the container id"
assert_ok testbed_docker 1 inspect kdc-keep
C=$STDOUT
assert_eq "$ID" "$(json '.[0].Id' "$C")" "Id"
assert_eq "a b=c" "$(json '.[0].Config.Labels["io.kontena.test"]' "$C")" "label with spaces and ="
assert_eq 1 "$(json '.[0].Config.Labels["kdc.keep"]' "$C")" "label"
assert_eq true "$(json '.[0].Config.Env | index("FOO=bar") != null' "$C")" "env FOO=bar"
assert_eq true "$(json '.[0].Config.Env | index("EMPTY=") != null' "$C")" "env EMPTY="
assert_eq 67108864 "$(json '.[0].HostConfig.Memory' "$C")" "memory"
assert_eq 134217728 "$(json '.[0].HostConfig.MemorySwap' "$C")" "memory swap"
assert_eq 100000 "$(json '.[0].HostConfig.CpuPeriod' "$C")" "cpu period"
assert_eq 50000 "$(json '.[0].HostConfig.CpuQuota' "$C")" "cpu quota"
assert_eq 256 "$(json '.[0].HostConfig.CpuShares' "$C")" "cpu shares"
assert_eq true "$(json '.[0].HostConfig.Init' "$C")" "init"
assert_eq 18081 "$(json '.[0].HostConfig.PortBindings["8080/tcp"][0].HostPort' "$C")" "tcp port binding"
assert_eq true "$(json '.[0].Config.ExposedPorts | has("53/udp")' "$C")" "udp port exposed"
assert_eq SIGINT "$(json '.[0].Config.StopSignal' "$C")" "stop signal"
assert_eq 3 "$(json '.[0].Config.StopTimeout' "$C")" "stop timeout"
assert_eq /tmp "$(json '.[0].Config.WorkingDir' "$C")" "working dir"
assert_eq /bin/sh "$(json '.[0].Config.Entrypoint[0]' "$C")" "entrypoint"
assert_eq kdc-vol:/data "$(json '.[0].HostConfig.Binds[0]' "$C")" "bind"
assert_eq 10.99.0.1 "$(json '.[0].HostConfig.Dns[0]' "$C")" "dns"
assert_eq no "$(json '.[0].HostConfig.RestartPolicy.Name' "$C")" "restart policy"
assert_eq kdc-main-host "$(json '.[0].Config.Hostname' "$C")" "hostname"
assert_ok probe remove kdc-keep
assert_fails testbed_docker 1 inspect kdc-keep
assert_ok testbed_docker 1 volume rm kdc-vol

# Nothing of the scenario is left behind but the TTY container.
assert_ok testbed_docker 1 ps -a --format '{{.Names}}'
assert_eq kdc-tty "$STDOUT" "containers left"

# A real pull with progress, from a local registry (nothing leaves the machine).
if [[ -n "$REGISTRY" ]]; then
  mkdir -p "$E2E_TMP/registry"
  printf '%s\n' 'version: 0.1' 'log:' '  level: warn' 'storage:' '  filesystem:' \
    "    rootdirectory: $E2E_TMP/registry/data" 'http:' "  addr: $REGISTRY" >"$E2E_TMP/registry/config.yml"
  docker-registry serve "$E2E_TMP/registry/config.yml" >"$E2E_TMP/registry.log" 2>&1 &
  E2E_PIDS+=($!)
  wait_until 10 curl -fsS -m 2 "http://$REGISTRY/v2/"
  assert_ok testbed_docker 1 tag "$IMAGE" "$REGISTRY/kdc/busybox:1"
  assert_ok testbed_docker 1 push "$REGISTRY/kdc/busybox:1"
  # Nothing of the image left on the node, so that the layer is really downloaded.
  assert_ok testbed_docker 1 rm -f kdc-tty
  assert_ok testbed_docker 1 rmi "$REGISTRY/kdc/busybox:1" "$IMAGE"
  assert_fails testbed_docker 1 image inspect "$REGISTRY/kdc/busybox:1"
  assert_ok probe pull "$REGISTRY/kdc/busybox:1"
  e2e_log "pull: $STDOUT"
  assert_contains "$STDOUT" "statuses: Pulling from kdc/busybox|Pulling fs layer|Downloading"
  assert_contains "$STDOUT" "Pull complete"
  assert_match "$STDOUT" "largest total [1-9][0-9]* bytes" "download progress with a total"
  assert_contains "$STDOUT" "pulled"
  assert_ok testbed_docker 1 image inspect "$REGISTRY/kdc/busybox:1"
  # Pulling it again: up to date, no download.
  assert_ok probe pull "$REGISTRY/kdc/busybox:1"
  assert_contains "$STDOUT" "Image is up to date"
  # A tag the registry does not have: not_found, with Docker's message.
  run probe pull "$REGISTRY/kdc/busybox:nope"
  assert_eq 3 "$STATUS" "probe pull of a missing tag"
  assert_contains "$STDOUT" "not_found: cannot pull image $REGISTRY/kdc/busybox:nope: the registry does not have it"
  assert_contains "$STDOUT" "manifest unknown"
else
  e2e_log "docker-registry is not installed (Debian package docker-registry): the pull from a local registry is not tested"
fi

# The engine unreachable: a clear "unavailable" naming the socket.
run "$KONTENA_DOCKER_PROBE_BIN" "$E2E_TMP/no-such.sock" pull "$IMAGE"
assert_eq 3 "$STATUS" "probe against a missing socket"
assert_contains "$STDOUT" "unavailable: cannot reach the Docker Engine at $E2E_TMP/no-such.sock"
assert_contains "$STDOUT" "(is dockerd running?)"
