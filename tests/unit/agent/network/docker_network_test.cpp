// Docker's kontena network with the fake Docker: created when missing, left alone when right,
// re-created when its settings differ and nothing is attached, a conflict naming the difference
// when containers are attached.
#include <gtest/gtest.h>

#include "agent/network/docker_network.h"
#include "common/error.h"
#include "fake_docker.h"

using namespace kontena::agent::network;
using kontena::Error;
using kontena::ErrorKind;
using kontena::agent::fakes::FakeDocker;
using Json = nlohmann::json;

namespace {

KontenaNetworkSpec want() {
  KontenaNetworkSpec w;
  w.subnet = "10.81.0.0/16";
  w.gateway = "10.81.0.3";
  w.ip_range = "10.81.128.0/24";
  return w;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST(KontenaNetwork, SpecForDocker) {
  auto s = docker_network_spec(want());
  EXPECT_EQ(s.name, "kontena");
  EXPECT_EQ(s.driver, "bridge");
  EXPECT_EQ(s.subnet, "10.81.0.0/16");
  EXPECT_EQ(s.gateway, "10.81.0.3");
  EXPECT_EQ(s.ip_range, "10.81.128.0/24");
  EXPECT_EQ(s.options.at("com.docker.network.bridge.name"), "kontena0");
  EXPECT_EQ(s.options.at("com.docker.network.driver.mtu"), "1450");
  auto w = want();
  w.ip_range.clear();
  EXPECT_THROW(docker_network_spec(w), Error);
}

TEST(KontenaNetwork, CreatedWhenMissingThenLeftAlone) {
  FakeDocker docker;
  EXPECT_TRUE(ensure_kontena_network(docker, want()));
  auto net = docker.inspect_network("kontena");
  ASSERT_TRUE(net.has_value());
  EXPECT_EQ((*net)["IPAM"]["Config"][0]["Subnet"], "10.81.0.0/16");
  EXPECT_EQ((*net)["IPAM"]["Config"][0]["IPRange"], "10.81.128.0/24");
  EXPECT_EQ((*net)["Options"]["com.docker.network.bridge.name"], "kontena0");
  EXPECT_EQ(docker.network_calls(), std::vector<std::string>{"create kontena"});
  EXPECT_FALSE(ensure_kontena_network(docker, want()));
  EXPECT_EQ(docker.network_calls(), std::vector<std::string>{"create kontena"});
}

TEST(KontenaNetwork, RecreatedWhenDifferentAndEmpty) {
  FakeDocker docker;
  ensure_kontena_network(docker, want());
  auto w = want();
  w.ip_range = "10.81.129.0/24";
  EXPECT_TRUE(ensure_kontena_network(docker, w));
  EXPECT_EQ(docker.network_calls(), (std::vector<std::string>{"create kontena", "remove kontena", "create kontena"}));
  EXPECT_EQ((*docker.inspect_network("kontena"))["IPAM"]["Config"][0]["IPRange"], "10.81.129.0/24");
}

TEST(KontenaNetwork, ConflictWhenDifferentAndContainersAttached) {
  FakeDocker docker;
  ensure_kontena_network(docker, want());
  docker.attach_to_network("kontena", "c0ffee", "web-1");
  auto w = want();
  w.gateway = "10.81.0.4";
  try {
    ensure_kontena_network(docker, w);
    FAIL() << "no conflict";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::conflict);
    EXPECT_TRUE(contains(e.what(), "gateway 10.81.0.3 (wanted 10.81.0.4)")) << e.what();
    EXPECT_TRUE(contains(e.what(), "1 container(s) are attached")) << e.what();
    EXPECT_TRUE(contains(e.what(), "remove those containers")) << e.what();
  }
  EXPECT_EQ(docker.network_calls(), std::vector<std::string>{"create kontena"});
  // The same settings with containers attached: nothing to do, no error.
  EXPECT_FALSE(ensure_kontena_network(docker, want()));
}

TEST(KontenaNetwork, NetworkMadeByHandOnAnotherBridgeIsReplaced) {
  FakeDocker docker;
  docker.set_network("kontena", {{"Name", "kontena"},
                                 {"Driver", "bridge"},
                                 {"IPAM", {{"Config", Json::array({{{"Subnet", "10.81.0.0/16"}, {"Gateway", "10.81.0.3"},
                                                                    {"IPRange", "10.81.128.0/24"}}})}}},
                                 {"Options", Json::object()},
                                 {"Containers", Json::object()}});
  EXPECT_TRUE(ensure_kontena_network(docker, want()));
  EXPECT_EQ((*docker.inspect_network("kontena"))["Options"]["com.docker.network.bridge.name"], "kontena0");
}
