#!/usr/bin/env bash
# Stacks and services on the 3-node test bed (issue 4 §7), with the real master, agents, CLI and
# one dockerd per node: broken stack files and unknown names give clear errors and create nothing;
# `kontena stack install` of fixtures/stacks/shop.yml (web x3 with a health check and
# wait_for_port, worker linked to web, a stateful db) -> the containers "shop.SVC-N" with their
# io.kontena.* labels run where the master says, spread over the nodes, and serve; stack/service
# show, service containers; scale web to 5 and back to 2 (the others untouched); `stack upgrade
# --dry-run` changes nothing; upgrade to image tag v2 recreates web only; a `docker kill`ed
# container comes back; `stack rm` leaves no container on any node. Needs root.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

e2e_require_root
e2e_require_agent

TESTBED_NAME=kstk1 TESTBED_SUBNET=10.99.41.0/24 TESTBED_BIP_PREFIX=10.241 TESTBED_POOL_PREFIX=10.242
FIX="$E2E_DIR/fixtures/stacks"

e2e_testbed_up 3
for i in 1 2 3; do
  e2e_build_web_image "$i" local/web:v1
  e2e_build_web_image "$i" local/web:v2
done
stacks_grid_up

# On a failed wait: what every node runs and what the master says.
e2e_diagnose() {
  echo "containers (node name state image id):"
  stack_ps | sed 's/^/  /'
  local s
  for s in web worker db; do
    echo "instances of shop/$s (n node desired state health container):"
    service_instances shop "$s" 2>/dev/null | sed 's/^/  /' || true
  done
}

# no_containers: no container managed by Kontena on any node (running or not).
no_containers() { [[ -z "$(stack_ps)" ]]; }

# ---- bad input: a clear error, and nothing is created -----------------------------------------
assert_fails kontena stack install "$FIX/broken_key.yml"
assert_contains "$OUT" "broken_key.yml:9"
assert_contains "$OUT" "networkz"
assert_fails kontena stack install "$FIX/broken_yaml.yml"
assert_contains "$OUT" "broken_yaml.yml:"
assert_fails kontena stack install "$FIX/broken_link.yml"
assert_contains "$OUT" "nosuchservice"
assert_fails kontena stack install "$E2E_TMP/no-such-file.yml"
assert_contains "$OUT" "no-such-file.yml"
admin_token >/dev/null
assert_status 200 GET /v1/grids/demo/stacks --token "$ADMIN_TOKEN"
assert_eq 0 "$(json '.stacks | length')" "no stack after the broken installs"
assert_status 200 GET /v1/grids/demo/services --token "$ADMIN_TOKEN"
assert_eq 0 "$(json '.services | length')" "no service after the broken installs"
no_containers || fail "containers exist after the broken installs" "$(stack_ps)"

assert_fails kontena stack show nosuchstack
assert_contains "$OUT" "nosuchstack"
assert_match "${OUT,,}" "not found|does not exist"
assert_fails kontena service show nosuchstack/web
assert_match "${OUT,,}" "not found|does not exist"
assert_fails kontena stack rm --force nosuchstack
assert_match "${OUT,,}" "not found|does not exist"

# ---- install: the CLI follows the deploy until every service runs -------------------------------
t0=$(e2e_now)
assert_ok kontena stack install "$FIX/shop.yml"
timing "stack install (web x3, worker x2, db x1) -> deployed" "$(e2e_since "$t0")"
printf '%s\n' "$OUT" | sed 's/^/  [install] /' >&2
# links order the deploy: web (linked from worker) before worker
INSTALL_OUT=$OUT
web_at=$(grep -n 'deploying service shop/web' <<<"$INSTALL_OUT" | head -n 1 | cut -d: -f1)
worker_at=$(grep -n 'deploying service shop/worker' <<<"$INSTALL_OUT" | head -n 1 | cut -d: -f1)
[[ -n "$web_at" && -n "$worker_at" && "$web_at" -lt "$worker_at" ]] ||
  fail "stack install did not deploy web before worker (worker links to web)" "$INSTALL_OUT"

assert_status 200 GET /v1/stacks/demo/shop --token "$ADMIN_TOKEN"
assert_eq "shop e2e/shop 1 1" "$(json '"\(.name) \(.stack) \(.revision) \(.deployed_revision)"')" "stack name, revision"
wait_for 30 "stack shop is running" \
  bash -c "curl -fsS -H 'Authorization: Bearer $ADMIN_TOKEN' $KONTENA_TEST_URL/v1/stacks/demo/shop | jq -e '.state == \"running\"'"
assert_status 200 GET /v1/stacks/demo/shop --token "$ADMIN_TOKEN"
assert_eq "db:1:1 web:3:3 worker:2:2" \
  "$(json '[.services[] | "\(.name):\(.instances):\(.running)"] | sort | join(" ")')" "services: instances and running"

wait_for 20 "web x3 placed and running" expect_placement shop web 3 local/web:v1
wait_for 20 "worker x2 placed and running" expect_placement shop worker 2 local/web:v1
wait_for 20 "db x1 placed and running" expect_placement shop db 1 local/web:v1

# ha: three web instances on three nodes, one each
assert_eq "1 1 1" "$(service_instances shop web | awk '{ print $2 }' | sort | uniq -c | awk '{ print $1 }' | xargs)" \
  "web x3 spread over the 3 nodes"

# The containers' labels and what they serve (from inside the node: docker0 addresses).
while read -r n node _; do
  i=$(testbed_node_index "$node")
  assert_ok testbed_docker "$i" inspect "shop.web-$n"
  C=$STDOUT
  assert_eq "demo shop web $n" "$(json '.[0].Config.Labels | "\(.["io.kontena.grid.name"]) \(.["io.kontena.stack.name"]) \(.["io.kontena.service.name"]) \(.["io.kontena.service.instance_number"])"' "$C")" \
    "io.kontena.* labels of shop.web-$n"
  [[ -n "$(json '.[0].Config.Labels["io.kontena.service.id"] // empty' "$C")" ]] || fail "shop.web-$n has no io.kontena.service.id label"
  ip=$(json '.[0].NetworkSettings.Networks.kontena.IPAddress // empty' "$C")
  [[ "$ip" == 10.81.* ]] || fail "shop.web-$n is not on the overlay network kontena: '$ip'" "$C"
  assert_ok testbed_exec "$i" busybox wget -q -O - "http://$ip:8080/index.html"
  assert_eq "web v1" "$STDOUT" "shop.web-$n on node $i serves v1"
done < <(service_instances shop web)

# health checks of web (interval 2 s) reach the master
wait_for 20 "web: 3 healthy instances" bash -c \
  "curl -fsS -H 'Authorization: Bearer $ADMIN_TOKEN' $KONTENA_TEST_URL/v1/services/demo/shop/web | jq -e '.health_status.healthy == 3 and .health_status.total == 3'"
timing "web healthy after the install" "$WAITED"

# ---- the CLI's views agree with the master and the nodes ----------------------------------------
assert_ok kontena stack ls
assert_contains "$STDOUT" shop "stack ls lists shop"
assert_ok kontena stack show shop
SHOW=$STDOUT
for s in web worker db; do assert_contains "$SHOW" "$s" "stack show lists $s"; done
assert_contains "$SHOW" "local/web:v1"
assert_contains "$SHOW" "running"
assert_ok kontena service ls
for s in web worker db; do assert_contains "$STDOUT" "$s"; done
assert_ok kontena service show shop/web
assert_contains "$STDOUT" "local/web:v1"
assert_match "$STDOUT" "instances: *3" "service show: instances"
assert_contains "$STDOUT" "3 / 3 healthy" "service show: health"
assert_ok kontena service containers shop/web
CONT=$STDOUT
while read -r n node _; do
  grep -E "shop\.web-$n\b" <<<"$CONT" | grep -q -- "$node" ||
    fail "service containers: no line with shop.web-$n and its node $node" "$CONT"
done < <(service_instances shop web)

# ---- logs, exec, stop/start -----------------------------------------------------------------------
# what the containers print reaches the master (agent log shipping)
logs_have() {
  local out
  out=$(kontena "$@" 2>&1) || { echo "$out"; return 1; }
  grep -q -- "${LOGS_WANT}" <<<"$out" || { echo "$out"; return 1; }
}
LOGS_WANT="serve: web on port 8080" wait_for 20 "service logs shop/web show web's output" logs_have service logs shop/web
LOGS_WANT="serve: idle" wait_for 20 "stack logs shop show worker's output" logs_have stack logs shop
assert_ok kontena service exec shop/web cat /www/index.html
assert_eq "web v1" "$STDOUT" "service exec: web-1's index.html"
assert_ok kontena service exec --instance 2 shop/web hostname
assert_eq "web-2" "$STDOUT" "service exec --instance 2: web-2's hostname"
assert_fails kontena service exec shop/web sh -c 'exit 3'
assert_eq 3 "$STATUS" "service exec passes the command's exit status on"

ids_before=$(stack_ps shop | awk '$2 ~ /^shop\.worker-/ { print $2, $5 }')
assert_ok kontena service stop shop/worker
worker_stopped() {
  local inst ps
  inst=$(service_instances shop worker | awk '{ print $3 }' | sort -u)
  ps=$(stack_ps shop | awk '$2 ~ /^shop\.worker-/ && $3 == "running"')
  [[ "$inst" == stopped && -z "$ps" ]] || { echo "desired: $inst"; echo "running: $ps"; return 1; }
}
wait_for 30 "worker stopped on every node" worker_stopped
assert_status 200 GET /v1/services/demo/shop/worker --token "$ADMIN_TOKEN"
assert_eq stopped "$(json .state)" "worker's state after service stop"
wait_for 10 "stack shop partially running" \
  bash -c "curl -fsS -H 'Authorization: Bearer $ADMIN_TOKEN' $KONTENA_TEST_URL/v1/stacks/demo/shop | jq -e '.state == \"partially_running\"'"
assert_ok kontena service start shop/worker
wait_for 30 "worker x2 running again" expect_placement shop worker 2 local/web:v1
assert_eq "$ids_before" "$(stack_ps shop | awk '$2 ~ /^shop\.worker-/ { print $2, $5 }')" \
  "worker's containers were stopped and started, not recreated"

# ---- bad input on an existing stack: an error, nothing changes ---------------------------------
before=$(stack_ps shop)
assert_fails kontena service scale shop/web -3
assert_fails kontena service scale shop/web many
assert_fails kontena service scale shop/nosuchservice 2
assert_match "${OUT,,}" "not found|does not exist"
assert_status 422 POST /v1/services/demo/shop/web/scale --token "$ADMIN_TOKEN" --data '{"instances":-3}'
assert_status 422 POST /v1/services/demo/shop/web/scale --token "$ADMIN_TOKEN" --data '{"instances":100001}'
assert_status 422 POST /v1/services/demo/shop/web/scale --token "$ADMIN_TOKEN" --data '{"instances":"many"}'
assert_status 404 POST /v1/services/demo/shop/nosuchservice/scale --token "$ADMIN_TOKEN" --data '{"instances":2}'
assert_fails kontena stack upgrade shop "$FIX/broken_key.yml"
assert_contains "$OUT" "networkz"
assert_status 200 GET /v1/stacks/demo/shop --token "$ADMIN_TOKEN"
assert_eq "1 1" "$(json '"\(.revision) \(.deployed_revision)"')" "revision after the bad upgrade"
assert_status 200 GET /v1/services/demo/shop/web --token "$ADMIN_TOKEN"
assert_eq 3 "$(json .instances)" "web instances after the bad scales"
assert_eq "$before" "$(stack_ps shop)" "containers after the bad input"

# ---- scale web to 5, then back to 2 --------------------------------------------------------------
IDS_OTHERS=$(stack_ps shop | awk '$2 !~ /^shop\.web-/ { print $2, $5 }')
t0=$(e2e_now)
assert_ok kontena service scale shop/web 5
timing "scale web 3 -> 5" "$(e2e_since "$t0")"
wait_for 30 "web x5 placed and running" expect_placement shop web 5 local/web:v1
assert_eq "1 2 2" "$(service_instances shop web | awk '{ print $2 }' | sort | uniq -c | awk '{ print $1 }' | sort -n | xargs)" \
  "web x5 spread 2/2/1 over the 3 nodes"
IDS_WEB12=$(stack_ps shop | awk '$2 == "shop.web-1" || $2 == "shop.web-2" { print $2, $5 }')
t0=$(e2e_now)
assert_ok kontena service scale shop/web 2
timing "scale web 5 -> 2" "$(e2e_since "$t0")"
wait_for 30 "web x2: web-3..5 gone" expect_placement shop web 2 local/web:v1
assert_eq "$IDS_WEB12" "$(stack_ps shop | awk '$2 == "shop.web-1" || $2 == "shop.web-2" { print $2, $5 }')" \
  "web-1 and web-2 kept their containers through both scales"
assert_eq "$IDS_OTHERS" "$(stack_ps shop | awk '$2 !~ /^shop\.web-/ { print $2, $5 }')" \
  "worker and db untouched by the scales"

# ---- upgrade: --dry-run first (nothing changes), then image tag v2 ---------------------------------
before=$(stack_ps shop)
assert_ok kontena stack upgrade --dry-run shop "$FIX/shop.yml" -v tag=v2 -v web_instances=2
DRY=$OUT
assert_contains "$DRY" "web"
assert_contains "$DRY" "image"
assert_status 200 GET /v1/stacks/demo/shop --token "$ADMIN_TOKEN"
assert_eq "1 1" "$(json '"\(.revision) \(.deployed_revision)"')" "revision after --dry-run"
assert_status 200 GET /v1/services/demo/shop/web --token "$ADMIN_TOKEN"
assert_eq "local/web:v1" "$(json .image)" "web image after --dry-run"
sleep 2 # a deploy started by mistake would have touched a container by now
assert_eq "$before" "$(stack_ps shop)" "containers after --dry-run"

t0=$(e2e_now)
assert_ok kontena stack upgrade shop "$FIX/shop.yml" -v tag=v2 -v web_instances=2
timing "stack upgrade web v1 -> v2 (2 instances)" "$(e2e_since "$t0")"
printf '%s\n' "$OUT" | sed 's/^/  [upgrade] /' >&2
assert_status 200 GET /v1/stacks/demo/shop --token "$ADMIN_TOKEN"
assert_eq "2 2" "$(json '"\(.revision) \(.deployed_revision)"')" "revision after the upgrade"
wait_for 30 "web x2 running local/web:v2" expect_placement shop web 2 local/web:v2
after=$(stack_ps shop)
for n in 1 2; do
  old=$(awk -v c="shop.web-$n" '$2 == c { print $5 }' <<<"$before")
  new=$(awk -v c="shop.web-$n" '$2 == c { print $5 }' <<<"$after")
  [[ -n "$new" && "$new" != "$old" ]] || fail "shop.web-$n was not recreated by the upgrade ($old -> $new)" "$after"
done
assert_eq "$IDS_OTHERS" "$(awk '$2 !~ /^shop\.web-/ { print $2, $5 }' <<<"$after")" \
  "worker and db (unchanged in the file) keep their containers through the upgrade"
while read -r n node _; do
  i=$(testbed_node_index "$node")
  ip=$(container_ip "$i" "shop.web-$n")
  assert_ok testbed_exec "$i" busybox wget -q -O - "http://$ip:8080/index.html"
  assert_eq "web v2" "$STDOUT" "shop.web-$n serves v2 after the upgrade"
done < <(service_instances shop web)

# the stored revisions: the file as written, the values it was installed/upgraded with
assert_ok kontena stack inspect shop
assert_contains "$STDOUT" 'image: local/web:${tag}' "stack inspect prints the stack file as written"
assert_ok kontena stack inspect --values shop
assert_match "$STDOUT" "tag: *v2" "stack inspect --values (revision 2)"
assert_ok kontena stack inspect --revision 1 --values shop
assert_match "$STDOUT" "tag: *v1" "stack inspect --revision 1 --values"
assert_ok kontena stack events shop
[[ $(grep -c . <<<"$STDOUT") -ge 3 ]] || fail "stack events shows next to nothing after install, scales and upgrade" "$STDOUT"

# ---- a killed container comes back -----------------------------------------------------------------
read -r _ node _ < <(service_instances shop web | head -n 1)
i=$(testbed_node_index "$node")
started=$(testbed_docker "$i" inspect -f '{{.State.StartedAt}}' shop.web-1)
t0=$(e2e_now)
assert_ok testbed_docker "$i" kill shop.web-1
restarted() {
  local now
  now=$(testbed_docker "$i" inspect -f '{{.State.Running}} {{.State.StartedAt}}' shop.web-1 2>/dev/null) || return 1
  [[ "$now" == "true "* && "$now" != "true $started" ]]
}
wait_for 20 "shop.web-1 (docker kill on node $i) running again" restarted
timing "docker kill -> shop.web-1 running again" "$(e2e_since "$t0")"
wait_for 20 "web x2 running after the kill" expect_placement shop web 2 local/web:v2

# ---- a deploy that cannot succeed: it ends with an error naming the instance, its node and why --
t0=$(e2e_now)
assert_fails kontena stack upgrade shop "$FIX/shop.yml" -v tag=nope -v web_instances=2
timing "stack upgrade to a missing image -> deploy error" "$(e2e_since "$t0")"
printf '%s\n' "$OUT" | sed 's/^/  [failing upgrade] /' >&2
assert_match "$OUT" "web-[12]" "the deploy error names the failing instance"
assert_contains "$OUT" "local/web:nope" "the deploy error says which image is missing"
assert_match "$OUT" "node|kstk1" "the deploy error names the node"
# the agent pulls the new image before it stops the old container: both web instances keep serving v2
running_v2=$(awk '$2 ~ /^shop\.web-/ && $3 == "running" && $4 == "local/web:v2"' <<<"$(stack_ps shop)" | wc -l)
[[ $running_v2 -eq 2 ]] || fail "web instances stopped by an upgrade to a missing image" "$(stack_ps shop)"

# ---- stack rm: nothing left anywhere -------------------------------------------------------------
t0=$(e2e_now)
assert_ok kontena stack rm --force shop
wait_for 60 "no container left on any node after stack rm" no_containers
timing "stack rm -> no container on any node" "$(e2e_since "$t0")"
assert_status 404 GET /v1/stacks/demo/shop --token "$ADMIN_TOKEN"
assert_status 200 GET /v1/grids/demo/services --token "$ADMIN_TOKEN"
assert_eq 0 "$(json '.services | length')" "no service left after stack rm"
assert_ok kontena stack ls
assert_not_contains "$STDOUT" "shop"
