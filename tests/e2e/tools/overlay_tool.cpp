// Drives the node's overlay (src/agent/network) on a real kernel and dockerd, for
// tests/e2e/overlay_test.sh and bench/overlay_throughput.sh. Runs inside a test bed node
// (`testbed.sh exec I overlay_tool ...`): the `ip`, `bridge` and `iptables` commands act on that
// node's network namespace.
//
//   overlay_tool ensure --address 10.81.0.N/16 --local-ip IP [--peer IP]... [--vni 81] [--port 4789]
//                [--slice CIDR --docker-sock PATH [--subnet 10.81.0.0/16]]
//       Overlay::ensure, then (with --slice) ensure_kontena_network with the address as gateway.
//       Prints "change: ..." per change and "overlay: no change" when there was none, then
//       "network: created" or "network: unchanged".
//   overlay_tool peers            the flood entries of the VXLAN device, one per line
//   overlay_tool teardown         removes the VXLAN device, the bridge and the iptables chain
// Exit status: 0 done, 2 bad usage, 3 a kontena::Error ("error: KIND: message" on stdout).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "agent/docker/docker_client.h"
#include "agent/network/docker_network.h"
#include "agent/network/overlay.h"
#include "common/error.h"
#include "common/log.h"

using namespace kontena::agent;

namespace {

std::string address_ip(const std::string& cidr) { return cidr.substr(0, cidr.find('/')); }

int run(int argc, char** argv) {
  CLI::App app{"overlay_tool: the node's overlay on a real kernel (e2e tests, benchmark)"};
  app.require_subcommand(1);
  network::OverlayConfig config;
  std::string slice, docker_sock, subnet = "10.81.0.0/16";
  auto* ensure = app.add_subcommand("ensure", "converge the overlay (and the Docker network with --slice)");
  ensure->add_option("--address", config.address, "the node's overlay address with prefix")->required();
  ensure->add_option("--local-ip", config.local_ip, "the node's underlay IP")->required();
  ensure->add_option("--peer", config.peers, "another node's underlay IP (repeat)");
  ensure->add_option("--vni", config.vni, "VXLAN id");
  ensure->add_option("--port", config.port, "VXLAN UDP port");
  ensure->add_option("--mtu", config.mtu, "overlay MTU");
  ensure->add_option("--slice", slice, "the node's IP range of the Docker network");
  ensure->add_option("--docker-sock", docker_sock, "the node's dockerd socket");
  ensure->add_option("--subnet", subnet, "the grid subnet");
  auto* peers = app.add_subcommand("peers", "the flood entries of the VXLAN device");
  auto* teardown = app.add_subcommand("teardown", "remove the overlay's devices and iptables chain");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (!slice.empty() && docker_sock.empty()) {
    std::fprintf(stderr, "--slice needs --docker-sock\n");
    return 2;
  }

  auto runner = network::make_process_runner();
  network::Overlay overlay(*runner);
  if (*ensure) {
    auto changes = overlay.ensure(config);
    for (const auto& c : changes) std::printf("change: %s\n", c.c_str());
    if (changes.empty()) std::printf("overlay: no change\n");
    if (!slice.empty()) {
      auto docker = docker::make_engine_client(docker_sock);
      network::KontenaNetworkSpec want;
      want.subnet = subnet;
      want.gateway = address_ip(config.address);
      want.ip_range = slice;
      want.mtu = config.mtu;
      bool created = network::ensure_kontena_network(*docker, want);
      std::printf("network: %s\n", created ? "created" : "unchanged");
    }
  } else if (*peers) {
    for (const auto& p : overlay.peers()) std::printf("%s\n", p.c_str());
  } else if (*teardown) {
    overlay.teardown(network::OverlayConfig{});
    std::printf("teardown: done\n");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  kontena::init_logging("overlay_tool", "info");  // to stderr; stdout is the tool's report
  try {
    return run(argc, argv);
  } catch (const kontena::Error& e) {
    std::printf("error: %s: %s\n", kontena::to_string(e.kind()), e.what());
  } catch (const std::exception& e) {
    std::printf("error: unexpected: %s\n", e.what());
  }
  return 3;
}
