#!/usr/bin/env bash
# The node overlay (src/agent/network) on a real kernel: 3 test bed nodes, each converged by
# tests/e2e/tools/overlay_tool (Overlay::ensure + ensure_kontena_network) in its own namespace.
# Containers with fixed addresses in their node's slice reach each other across nodes by overlay
# address (content checked), node overlay IPs answer from other nodes; a second ensure changes
# nothing; the bridges keep their fixed MACs while ports come and go; a peer removed -> its traffic stops (iptables filter), restored -> back; the VXLAN
# device deleted by hand -> ensure repairs it; teardown removes the devices and the chain.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

e2e_require_root
: "${KONTENA_OVERLAY_TOOL_BIN:?KONTENA_OVERLAY_TOOL_BIN is not set: run through ctest after building e2e_deps}"
[[ -x "$KONTENA_OVERLAY_TOOL_BIN" ]] || fail "KONTENA_OVERLAY_TOOL_BIN=$KONTENA_OVERLAY_TOOL_BIN is not an executable: build e2e_deps"

export TESTBED_NAME=kovl1 TESTBED_SUBNET=10.99.51.0/24 TESTBED_BIP_PREFIX=10.251 TESTBED_POOL_PREFIX=10.252
NODES=3
IMAGE=local/busybox:latest
t0=$(e2e_now)
e2e_testbed_up $NODES
for i in $(seq 1 $NODES); do
  testbed_build_busybox_image "$i" >>"$E2E_TMP/testbed.log" 2>&1 || fail "testbed_build_busybox_image $i failed"
done
timing "test bed up, images built" "$(e2e_since "$t0")"

# Node i: overlay IP 10.81.0.i, slice 10.81.(127+i).0/24, container c<i> at .10 of the slice.
slice() { printf '10.81.%d.0/24' $((127 + $1)); }
cip() { printf '10.81.%d.10' $((127 + $1)); }
peers_of() { # peers_of I [J...]: --peer arguments for the nodes J (default: all but I)
  local i=$1 j
  shift
  local -a list=("$@")
  ((${#list[@]} > 0)) || list=($(seq 1 $NODES))
  for j in "${list[@]}"; do [[ $j == "$i" ]] || printf -- '--peer %s ' "$(testbed_node_ip "$j")"; done
}
# ensure I [PEER NODES...]: the tool's ensure in node I; its report in STDOUT.
ensure() {
  local i=$1
  shift
  # shellcheck disable=SC2046
  run testbed_exec "$i" "$KONTENA_OVERLAY_TOOL_BIN" ensure --address "10.81.0.$i/16" --local-ip "$(testbed_node_ip "$i")" \
    $(peers_of "$i" "$@") --slice "$(slice "$i")" --docker-sock "$(testbed_docker_sock "$i")"
  printf '%s\n' "$STDOUT" | sed "s/^/  [n$i ensure] /" >&2
  printf '%s\n' "$STDERR" >>"$E2E_TMP/overlay_tool.log"
  [[ $STATUS -eq 0 ]] || fail "overlay_tool ensure in node $i failed (status $STATUS)" "$OUT"
}
# fetch FROM_NODE TO_NODE: c<TO>'s page, fetched from c<FROM> over the overlay.
fetch() { testbed_docker "$1" exec "c$1" timeout 3 wget -q -O - "http://$(cip "$2"):8080/index.html"; }
expect_fetch() { # expect_fetch FROM TO: the page of c<TO>, with its content
  local out
  out=$(fetch "$1" "$2" 2>&1) || return 1
  [[ $out == "hello from node $2" ]]
}
e2e_diagnose() {
  local i
  for i in $(seq 1 $NODES); do
    echo "--- node $i"
    testbed_exec "$i" ip -d link show vxkontena 2>&1 | head -n 3
    testbed_exec "$i" bridge fdb show dev vxkontena 2>&1
    testbed_exec "$i" iptables -w -S KONTENA-OVERLAY 2>&1
    testbed_docker "$i" ps -a --format '{{.Names}} {{.Status}}' 2>&1
  done
}

# 1. Converge every node from nothing; start a web container on each, at a fixed overlay address.
t0=$(e2e_now)
for i in $(seq 1 $NODES); do
  ensure "$i"
  assert_contains "$STDOUT" "change: bridge kontena0 created"
  assert_contains "$STDOUT" "change: vxlan vxkontena created"
  assert_contains "$STDOUT" "network: created"
  assert_ok testbed_exec "$i" ip -j -d link show dev vxkontena
  assert_eq "81 $(testbed_node_ip "$i") 4789 kontena0 1450" \
    "$(json '.[0] | "\(.linkinfo.info_data.id) \(.linkinfo.info_data.local) \(.linkinfo.info_data.port) \(.master) \(.mtu)"' "$STDOUT")" "node $i vxlan"
  assert_ok testbed_exec "$i" "$KONTENA_OVERLAY_TOOL_BIN" peers
  assert_eq "$(for j in $(seq 1 $NODES); do [[ $j == "$i" ]] || testbed_node_ip "$j"; done | sort)" "$STDOUT" "node $i flood entries"
  assert_ok testbed_docker "$i" network inspect kontena --format '{{(index .IPAM.Config 0).Subnet}} {{(index .IPAM.Config 0).Gateway}} {{(index .IPAM.Config 0).IPRange}} {{index .Options "com.docker.network.bridge.name"}}'
  assert_eq "10.81.0.0/16 10.81.0.$i $(slice "$i") kontena0" "$STDOUT" "node $i docker network"
  assert_ok testbed_docker "$i" run -d --init --pull never --name "c$i" --network kontena --ip "$(cip "$i")" "$IMAGE" \
    sh -c "mkdir -p /www && echo 'hello from node $i' > /www/index.html && exec httpd -f -p 8080 -h /www"
done
timing "3 nodes converged, containers started" "$(e2e_since "$t0")"

# 2. Across nodes, by overlay address, both ways; node overlay IPs answer from other nodes.
t0=$(e2e_now)
for i in $(seq 1 $NODES); do
  for j in $(seq 1 $NODES); do
    [[ $i == "$j" ]] && continue
    wait_for 10 "c$i reaches c$j over the overlay" expect_fetch "$i" "$j"
  done
done
timing "all 6 container pairs reach each other" "$(e2e_since "$t0")"
assert_ok testbed_docker 1 exec c1 ping -c 1 -W 2 10.81.0.2
assert_contains "$STDOUT" "1 packets received"
assert_ok testbed_docker 3 exec c3 ping -c 1 -W 2 10.81.0.1
assert_ok testbed_exec 2 busybox ping -c 1 -W 2 10.81.0.3   # node to node over the overlay
assert_ok testbed_exec 2 busybox ping -c 1 -W 2 "$(cip 1)"  # node to a container on another node
# The container's interface has the overlay MTU.
assert_ok testbed_docker 1 exec c1 cat /sys/class/net/eth0/mtu
assert_eq 1450 "$STDOUT" "container MTU"

# 3. Idempotent: a second ensure changes nothing.
for i in $(seq 1 $NODES); do
  ensure "$i"
  assert_eq $'overlay: no change\nnetwork: unchanged' "$STDOUT" "second ensure in node $i"
done

# 3b. Each bridge has its fixed MAC (02:4b + overlay IP) and keeps it while ports come and go: a
# Linux bridge otherwise takes the lowest MAC of its ports, and the other nodes' ARP entries for
# its overlay IP (etcd, DNS) point at a MAC that is gone (seen in CI: a node lost etcd for 30 s
# after a container left the etcd node). A port with MAC 00:00:00:00:00:01 joins node 1's bridge
# while node 2 has node 1's MAC in its ARP cache.
bridge_mac_of() { testbed_exec "$1" ip -j link show kontena0 | jq -r '.[0].address'; }
for i in $(seq 1 $NODES); do
  assert_eq "02:4b:0a:51:00:0$i" "$(bridge_mac_of "$i")" "node $i's bridge MAC"
done
assert_ok testbed_exec 2 busybox ping -c 1 -W 2 10.81.0.1
assert_ok testbed_exec 1 ip link add kmac0 type veth peer name kmac1
assert_ok testbed_exec 1 ip link set kmac0 address 00:00:00:00:00:01
assert_ok testbed_exec 1 ip link set kmac0 master kontena0 up
assert_eq "02:4b:0a:51:00:01" "$(bridge_mac_of 1)" "node 1's bridge MAC with a low-MAC port"
assert_ok testbed_exec 2 busybox ping -c 1 -W 2 10.81.0.1
assert_ok testbed_exec 1 ip link del kmac0
assert_eq "02:4b:0a:51:00:01" "$(bridge_mac_of 1)" "node 1's bridge MAC after the port left"
assert_ok testbed_exec 2 busybox ping -c 1 -W 2 10.81.0.1
assert_ok testbed_docker 3 exec c3 ping -c 1 -W 2 10.81.0.1

# 4. Node 2 removed from node 1's peers: node 1 drops its VXLAN packets, so c2 cannot reach c1;
# node 3 still can. Restored: back.
ensure 1 3
assert_contains "$STDOUT" "change: peer $(testbed_node_ip 2) removed"
assert_ok testbed_exec 1 iptables -w -S KONTENA-OVERLAY
assert_not_contains "$STDOUT" "$(testbed_node_ip 2)/32"
assert_contains "$STDOUT" "-s $(testbed_node_ip 3)/32 -j ACCEPT"
assert_fails fetch 2 1
assert_fails testbed_docker 2 exec c2 ping -c 1 -W 1 10.81.0.1
assert_ok expect_fetch 3 1
ensure 1
assert_contains "$STDOUT" "change: peer $(testbed_node_ip 2) added"
wait_for 10 "c2 reaches c1 again once node 2 is a peer again" expect_fetch 2 1
timing "peer restored -> traffic back" "$WAITED"
assert_ok expect_fetch 1 2

# 5. The VXLAN device deleted by hand on node 2: c1 -> c2 breaks; ensure repairs it.
assert_ok testbed_exec 2 ip link del vxkontena
assert_fails fetch 1 2
ensure 2
assert_contains "$STDOUT" "change: vxlan vxkontena created"
assert_contains "$STDOUT" "network: unchanged"
wait_for 10 "c1 reaches c2 after the repair" expect_fetch 1 2
assert_ok expect_fetch 2 3

# 6. A changed slice with a container attached: a conflict that says what differs; nothing changed.
run testbed_exec 3 "$KONTENA_OVERLAY_TOOL_BIN" ensure --address 10.81.0.3/16 --local-ip "$(testbed_node_ip 3)" \
  $(peers_of 3) --slice 10.81.200.0/24 --docker-sock "$(testbed_docker_sock 3)"
assert_eq 3 "$STATUS" "ensure with another slice while c3 is attached"
assert_contains "$STDOUT" "error: conflict:"
assert_contains "$STDOUT" "ip range 10.81.130.0/24 (wanted 10.81.200.0/24)"
assert_ok expect_fetch 1 3

# 7. Teardown (after the containers and the Docker network): devices and chain gone; idempotent.
assert_ok testbed_docker 3 rm -f c3
assert_ok testbed_docker 3 network rm kontena
assert_ok testbed_exec 3 "$KONTENA_OVERLAY_TOOL_BIN" teardown
assert_fails testbed_exec 3 ip link show kontena0
assert_fails testbed_exec 3 ip link show vxkontena
assert_fails testbed_exec 3 iptables -w -S KONTENA-OVERLAY
assert_ok testbed_exec 3 iptables -w -S INPUT
assert_not_contains "$STDOUT" KONTENA-OVERLAY
assert_ok testbed_exec 3 "$KONTENA_OVERLAY_TOOL_BIN" teardown
assert_ok testbed_exec 3 "$KONTENA_OVERLAY_TOOL_BIN" peers
assert_eq "" "$STDOUT" "no peers after teardown"
# The other nodes still reach each other.
assert_ok expect_fetch 1 2
