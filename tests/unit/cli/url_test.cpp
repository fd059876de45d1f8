#include "cli/url.h"

#include <gtest/gtest.h>

#include "common/error.h"

using namespace kontena;
using namespace kontena::cli;

TEST(Url, HttpDefaultsToPort80) {
  const Url url = parse_url("http://master.example.com");
  EXPECT_EQ(url.scheme, "http");
  EXPECT_EQ(url.host, "master.example.com");
  EXPECT_EQ(url.port, "80");
  EXPECT_FALSE(url.explicit_port);
  EXPECT_EQ(url.base_path, "");
  EXPECT_FALSE(url.tls());
  EXPECT_EQ(url.host_header(), "master.example.com");
}
