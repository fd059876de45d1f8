#include "agent/network/docker_network.h"

#include <spdlog/spdlog.h>

#include <vector>

#include "common/error.h"

namespace kontena::agent::network {
namespace {

using Json = nlohmann::json;

constexpr const char* kBridgeNameOption = "com.docker.network.bridge.name";
constexpr const char* kMtuOption = "com.docker.network.driver.mtu";

std::string string_at(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// "subnet 10.81.0.0/16 (wanted 10.82.0.0/16)" for each setting of the existing network that differs.
std::vector<std::string> differences(const Json& have, const docker::NetworkSpec& want) {
  Json pool = Json::object();
  if (auto ipam = have.find("IPAM"); ipam != have.end() && ipam->is_object()) {
    if (auto cfg = ipam->find("Config"); cfg != ipam->end() && cfg->is_array() && !cfg->empty() && (*cfg)[0].is_object()) {
      pool = (*cfg)[0];
    }
  }
  Json options = have.contains("Options") && have["Options"].is_object() ? have["Options"] : Json::object();
  std::vector<std::string> out;
  auto compare = [&](const std::string& what, const std::string& got, const std::string& wanted) {
    if (got != wanted) out.push_back(what + " " + (got.empty() ? "(none)" : got) + " (wanted " + wanted + ")");
  };
  compare("driver", string_at(have, "Driver"), want.driver);
  compare("subnet", string_at(pool, "Subnet"), want.subnet);
  compare("gateway", string_at(pool, "Gateway"), want.gateway);
  compare("ip range", string_at(pool, "IPRange"), want.ip_range);
  compare("bridge", string_at(options, kBridgeNameOption), want.options.at(kBridgeNameOption));
  compare("mtu", string_at(options, kMtuOption), want.options.at(kMtuOption));
  return out;
}

std::string joined(const std::vector<std::string>& parts) {
  std::string s;
  for (const auto& p : parts) s += (s.empty() ? "" : ", ") + p;
  return s;
}

}  // namespace

docker::NetworkSpec docker_network_spec(const KontenaNetworkSpec& want) {
  if (want.name.empty()) invalid("name", "the Docker network name is empty");
  if (want.bridge.empty()) invalid("bridge", "the Docker network " + want.name + " needs the overlay bridge's name");
  if (want.subnet.empty() || want.gateway.empty() || want.ip_range.empty()) {
    invalid("subnet", "the Docker network " + want.name + " needs the grid subnet, the node's overlay IP as gateway and the node's IP range");
  }
  docker::NetworkSpec spec;
  spec.name = want.name;
  spec.driver = "bridge";
  spec.subnet = want.subnet;
  spec.gateway = want.gateway;
  spec.ip_range = want.ip_range;
  spec.options = {{kBridgeNameOption, want.bridge}, {kMtuOption, std::to_string(want.mtu)}};
  return spec;
}

bool ensure_kontena_network(docker::DockerClient& docker, const KontenaNetworkSpec& want) {
  auto spec = docker_network_spec(want);
  auto have = docker.inspect_network(spec.name);
  if (have) {
    auto differ = differences(*have, spec);
    if (differ.empty()) return false;
    auto containers = have->find("Containers");
    if (containers != have->end() && containers->is_object() && !containers->empty()) {
      fail(ErrorKind::conflict, "the Docker network " + spec.name + " has other settings than this node needs (" + joined(differ) +
                                    ") and " + std::to_string(containers->size()) +
                                    " container(s) are attached to it: remove those containers (or `docker network disconnect` them) "
                                    "so that the network can be made again");
    }
    spdlog::info("docker network: re-creating name={} because={}", spec.name, joined(differ));
    docker.remove_network(spec.name);
  }
  docker.create_network(spec);
  spdlog::info("docker network: ready name={} bridge={} subnet={} gateway={} ip_range={}", spec.name, want.bridge, spec.subnet,
               spec.gateway, spec.ip_range);
  return true;
}

}  // namespace kontena::agent::network
