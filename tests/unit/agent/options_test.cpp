#include <gtest/gtest.h>

#include "agent/backoff.h"
#include "agent/options.h"
#include "common/error.h"

using namespace kontena::agent;
using std::chrono::milliseconds;

TEST(Duration, SecondsFractionsAndUnits) {
  EXPECT_EQ(milliseconds(30'000), parse_duration("30", "--ping-interval"));
  EXPECT_EQ(milliseconds(500), parse_duration("0.5", "--ping-interval"));
  EXPECT_EQ(milliseconds(250), parse_duration("250ms", "--ping-interval"));
  EXPECT_EQ(milliseconds(1'500), parse_duration("1.5s", "--ping-interval"));
  EXPECT_EQ(milliseconds(120'000), parse_duration("2m", "--ping-interval"));
  EXPECT_EQ(milliseconds(3'600'000), parse_duration(" 1h ", "--ping-interval"));
}

TEST(Duration, RejectsBadValuesNamingTheFlag) {
  for (const char* bad : {"", "0", "-1", "abc", "1x", "1.2.3", "0.0001", "ms", "1e3"}) {
    try {
      parse_duration(bad, "--ping-timeout");
      ADD_FAILURE() << "accepted \"" << bad << "\"";
    } catch (const kontena::Error& e) {
      EXPECT_EQ(kontena::ErrorKind::invalid, e.kind());
      EXPECT_NE(std::string::npos, std::string(e.what()).find("--ping-timeout")) << e.what();
    }
  }
}

TEST(Bool, Accepts) {
  EXPECT_TRUE(parse_bool("true", "x"));
  EXPECT_TRUE(parse_bool("YES", "x"));
  EXPECT_TRUE(parse_bool("1", "x"));
  EXPECT_FALSE(parse_bool("false", "x"));
  EXPECT_FALSE(parse_bool("Off", "x"));
  EXPECT_FALSE(parse_bool("0", "x"));
  EXPECT_THROW(parse_bool("maybe", "KONTENA_SSL_VERIFY"), kontena::Error);
}

TEST(Labels, CommaList) {
  EXPECT_EQ((std::vector<std::string>{"region=eu", "disk=ssd"}), parse_labels("region=eu, disk=ssd"));
  EXPECT_EQ((std::vector<std::string>{"a=b"}), parse_labels(",a=b,,"));
  EXPECT_EQ((std::vector<std::string>{"ephemeral"}), parse_labels("ephemeral"));
  EXPECT_TRUE(parse_labels("").empty());
  EXPECT_THROW(parse_labels("=x"), kontena::Error);
  EXPECT_THROW(parse_labels("a b=c"), kontena::Error);
}

TEST(DockerSocket, UnixOrPath) {
  EXPECT_EQ("/var/run/docker.sock", parse_docker_socket(""));
  EXPECT_EQ("/run/n1/docker.sock", parse_docker_socket("unix:///run/n1/docker.sock"));
  EXPECT_EQ("/tmp/d.sock", parse_docker_socket("/tmp/d.sock"));
  try {
    parse_docker_socket("tcp://1.2.3.4:2375");
    ADD_FAILURE();
  } catch (const kontena::Error& e) {
    EXPECT_NE(std::string::npos, std::string(e.what()).find("unix socket")) << e.what();
  }
  EXPECT_THROW(parse_docker_socket("relative.sock"), kontena::Error);
}

TEST(FormatDuration, ShortAndLong) {
  EXPECT_EQ("250ms", format_duration(milliseconds(250)));
  EXPECT_EQ("1.5s", format_duration(milliseconds(1500)));
}

// --- backoff

TEST(Backoff, DoublesUpToTheMaxWithJitterInHalfOpenRange) {
  // random 0 -> factor 1 (the ceiling); random just under 1 -> factor just over 0.5
  double r = 0.0;
  Backoff b(milliseconds(1000), milliseconds(90'000), [&] { return r; });
  std::vector<long> seen;
  for (int i = 0; i < 10; ++i) seen.push_back(b.next().count());
  EXPECT_EQ((std::vector<long>{1000, 2000, 4000, 8000, 16000, 32000, 64000, 90000, 90000, 90000}), seen);
  b.reset();
  EXPECT_EQ(0, b.attempt());
  r = 0.999999;
  auto d = b.next().count();
  EXPECT_GT(d, 500);
  EXPECT_LE(d, 1000);
}

TEST(Backoff, RandomJitterStaysWithinBounds) {
  Backoff b(milliseconds(1000), milliseconds(90'000));
  bool varied = false;
  long first = -1;
  for (int round = 0; round < 200; ++round) {
    b.reset();
    for (int attempt = 0; attempt < 12; ++attempt) {
      auto ceiling = b.ceiling().count();
      auto d = b.next().count();
      EXPECT_GT(d, ceiling / 2);
      EXPECT_LE(d, ceiling);
      EXPECT_LE(d, 90'000);
      if (attempt == 0) {
        if (first >= 0 && d != first) varied = true;
        first = d;
      }
    }
  }
  EXPECT_TRUE(varied) << "the jitter never varied";
}

TEST(Backoff, NeverZeroAndNoOverflow) {
  Backoff b(milliseconds(0), milliseconds(0), [] { return 0.9999999; });
  for (int i = 0; i < 5000; ++i) EXPECT_GE(b.next().count(), 1);
  Backoff big(milliseconds(1000), milliseconds(90'000), [] { return 0.0; });
  for (int i = 0; i < 7; ++i) big.next();
  for (int i = 0; i < 5000; ++i) EXPECT_EQ(90'000, big.next().count());
}
