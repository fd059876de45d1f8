// node_overlay_address (src/agent/network_sync.h): a node's overlay address is its node number
// within the grid subnet; numbers that do not fit and subnets that are not IPv4 CIDRs are invalid.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <utility>

#include "agent/network_sync.h"
#include "common/error.h"

using kontena::Error;
using kontena::ErrorKind;
using kontena::agent::node_overlay_address;

namespace {

// The kind of the kontena::Error thrown, or nullopt when none (or another exception) is thrown.
std::optional<ErrorKind> error_kind(const std::string& subnet, int node_number) {
  try {
    node_overlay_address(subnet, node_number);
  } catch (const Error& e) {
    return e.kind();
  } catch (...) {
    return ErrorKind::internal;
  }
  return std::nullopt;
}

}  // namespace

TEST(NodeOverlayAddress, NodeNumberInASlash16) {
  EXPECT_EQ(node_overlay_address("10.81.0.0/16", 3), (std::pair<std::string, int>{"10.81.0.3", 16}));
  EXPECT_EQ(node_overlay_address("10.81.0.0/16", 1), (std::pair<std::string, int>{"10.81.0.1", 16}));
  EXPECT_EQ(node_overlay_address("10.81.0.0/16", 256), (std::pair<std::string, int>{"10.81.1.0", 16}));
}

TEST(NodeOverlayAddress, TheLastHostOfASlash24FitsTheBroadcastDoesNot) {
  EXPECT_EQ(node_overlay_address("10.81.0.0/24", 254), (std::pair<std::string, int>{"10.81.0.254", 24}));
  EXPECT_EQ(error_kind("10.81.0.0/24", 255), ErrorKind::invalid);
  EXPECT_EQ(error_kind("10.81.0.0/24", 0), ErrorKind::invalid);
  EXPECT_EQ(error_kind("10.81.0.0/24", -1), ErrorKind::invalid);
}

TEST(NodeOverlayAddress, CarriesIntoTheNextOctetOfAWiderSubnet) {
  EXPECT_EQ(node_overlay_address("192.168.8.0/22", 300), (std::pair<std::string, int>{"192.168.9.44", 22}));
  EXPECT_EQ(node_overlay_address("192.168.8.0/22", 1022), (std::pair<std::string, int>{"192.168.11.254", 22}));
  EXPECT_EQ(error_kind("192.168.8.0/22", 1023), ErrorKind::invalid);
}

TEST(NodeOverlayAddress, HostBitsOfTheSubnetAreIgnored) {
  EXPECT_EQ(node_overlay_address("10.81.7.9/16", 3).first, "10.81.0.3");
}

TEST(NodeOverlayAddress, BadSubnetsAreInvalid) {
  for (const char* s : {"", "10.81.0.0", "10.81.0.0/", "10.81.0.0/x", "10.81.0/16", "10.81.0.256/16", "fd00::/64",
                        "10.81.0.0/33", "10.81.0.0/-1", "kontena/16"})
    EXPECT_EQ(error_kind(s, 3), ErrorKind::invalid) << s;
}
