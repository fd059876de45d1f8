// node_overlay_address (src/agent/network_sync.h): a node's overlay address is its node number
// within the grid subnet; numbers that do not fit and subnets that are not IPv4 CIDRs are invalid.
#include <gtest/gtest.h>

#include <chrono>
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

// retry_while_unavailable: IPAM's `unavailable` (etcd without a majority, or one that answers
// before it takes writes again) is retried until the deadline; other errors are not.
namespace {

using kontena::agent::retry_while_unavailable;
using namespace std::chrono_literals;

auto never_stopping = [] { return false; };

std::chrono::steady_clock::time_point in(std::chrono::milliseconds d) { return std::chrono::steady_clock::now() + d; }

}  // namespace

TEST(RetryWhileUnavailable, ReturnsOnceAnAttemptSucceeds) {
  int calls = 0;
  auto ip = retry_while_unavailable(
      [&] {
        if (++calls < 3) throw Error(ErrorKind::unavailable, "etcd has no leader yet");
        return std::string("10.81.128.5");
      },
      in(5s), 1ms, never_stopping);
  EXPECT_EQ(ip, "10.81.128.5");
  EXPECT_EQ(calls, 3);
}

TEST(RetryWhileUnavailable, OtherErrorsAreThrownAtOnce) {
  int calls = 0;
  try {
    retry_while_unavailable(
        [&]() -> std::string {
          ++calls;
          throw Error(ErrorKind::conflict, "the address slice is full");
        },
        in(5s), 1ms, never_stopping);
    FAIL() << "no error thrown";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::conflict);
    EXPECT_STREQ(e.what(), "the address slice is full");
  }
  EXPECT_EQ(calls, 1);
}

TEST(RetryWhileUnavailable, TheLastUnavailableIsThrownAtTheDeadline) {
  int calls = 0;
  auto t0 = std::chrono::steady_clock::now();
  try {
    retry_while_unavailable(
        [&]() -> std::string {
          throw Error(ErrorKind::unavailable, "etcd answer " + std::to_string(++calls));
        },
        in(300ms), 20ms, never_stopping);
    FAIL() << "no error thrown";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unavailable);
    EXPECT_EQ(std::string(e.what()), "etcd answer " + std::to_string(calls));
  }
  EXPECT_GE(calls, 2);
  // It stops trying when the next pause would pass the deadline: never long after it.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
}

TEST(RetryWhileUnavailable, StoppingEndsTheRetriesWithTheError) {
  int calls = 0;
  bool stopping = false;
  try {
    retry_while_unavailable(
        [&]() -> std::string {
          ++calls;
          stopping = true;  // the agent got SIGTERM during the first try
          throw Error(ErrorKind::unavailable, "etcd has no leader yet");
        },
        in(5s), 1ms, [&] { return stopping; });
    FAIL() << "no error thrown";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unavailable);
  }
  EXPECT_EQ(calls, 1);
}

TEST(RetryWhileUnavailable, APastDeadlineStillTriesOnce) {
  int calls = 0;
  auto ip = retry_while_unavailable(
      [&] {
        ++calls;
        return std::string("10.81.128.9");
      },
      in(-1s), 1ms, never_stopping);
  EXPECT_EQ(ip, "10.81.128.9");
  EXPECT_EQ(calls, 1);
}
