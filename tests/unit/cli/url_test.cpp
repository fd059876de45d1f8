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

TEST(Url, HttpsDefaultsToPort443) {
  const Url url = parse_url("HTTPS://master.example.com/");
  EXPECT_EQ(url.scheme, "https");
  EXPECT_EQ(url.port, "443");
  EXPECT_TRUE(url.tls());
  EXPECT_EQ(url.base_path, "");
  EXPECT_EQ(url.host_header(), "master.example.com");
}

TEST(Url, ExplicitPortAndBasePath) {
  const Url url = parse_url("http://127.0.0.1:9292/kontena/");
  EXPECT_EQ(url.host, "127.0.0.1");
  EXPECT_EQ(url.port, "9292");
  EXPECT_TRUE(url.explicit_port);
  EXPECT_EQ(url.base_path, "/kontena");
  EXPECT_EQ(url.host_header(), "127.0.0.1:9292");
}

TEST(Url, DefaultPortGivenExplicitlyIsLeftOutOfHostHeader) {
  EXPECT_EQ(parse_url("https://m:443").host_header(), "m");
  EXPECT_EQ(parse_url("http://m:443").host_header(), "m:443");
}

TEST(Url, Ipv6Literal) {
  const Url url = parse_url("http://[::1]:9292");
  EXPECT_EQ(url.host, "::1");
  EXPECT_EQ(url.port, "9292");
  EXPECT_EQ(url.host_header(), "[::1]:9292");
  EXPECT_EQ(parse_url("https://[fe80::1]").port, "443");
}

TEST(Url, RejectsWhatItCannotUse) {
  for (const char* bad : {"master:9292", "ftp://master", "http://", "http://:9292", "http://m:0", "http://m:65536",
                          "http://m:abc", "http://user@m", "http://m?x=1", "http://[::1"}) {
    try {
      parse_url(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::invalid) << bad;
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << "message names the URL: " << e.what();
    }
  }
}

TEST(Url, NormalizeStripsTrailingSlashes) {
  EXPECT_EQ(normalize_master_url("http://m:9292//"), "http://m:9292");
  EXPECT_EQ(normalize_master_url("https://m/x/"), "https://m/x");
  EXPECT_THROW(normalize_master_url("m:9292"), Error);
}

TEST(Url, WebsocketUrlFollowsTheScheme) {
  EXPECT_EQ(websocket_url("http://127.0.0.1:9292"), "ws://127.0.0.1:9292");
  EXPECT_EQ(websocket_url("https://master.example.com"), "wss://master.example.com");
  EXPECT_EQ(websocket_url("https://master.example.com:8443/"), "wss://master.example.com:8443");
  EXPECT_EQ(websocket_url("http://m/prefix/"), "ws://m/prefix");
  EXPECT_EQ(websocket_url("http://[::1]:9292"), "ws://[::1]:9292");
}

TEST(Url, EncodePathSegment) {
  EXPECT_EQ(encode_path_segment("admin@example.com"), "admin@example.com");
  EXPECT_EQ(encode_path_segment("node-1_a.b~"), "node-1_a.b~");
  EXPECT_EQ(encode_path_segment("a b/c?d+e"), "a%20b%2Fc%3Fd%2Be");
}
