#include <gtest/gtest.h>

#include "agent/connection/handshake.h"
#include "agent/connection/master_url.h"
#include "common/error.h"

using namespace kontena::agent;

TEST(MasterUrl, WsAndHttpAreEquivalent) {
  for (const char* text : {"ws://10.0.0.1:9292", "http://10.0.0.1:9292", "HTTP://10.0.0.1:9292/"}) {
    MasterUrl u = parse_master_url(text);
    EXPECT_FALSE(u.tls) << text;
    EXPECT_EQ("10.0.0.1", u.host);
    EXPECT_EQ("9292", u.port);
    EXPECT_EQ("/", u.target);
    EXPECT_EQ("10.0.0.1:9292", u.host_header());
    EXPECT_EQ("ws://10.0.0.1:9292/", u.to_string());
  }
}

TEST(MasterUrl, WssAndHttpsDefaultPorts) {
  MasterUrl a = parse_master_url("wss://master.example.com");
  EXPECT_TRUE(a.tls);
  EXPECT_EQ("443", a.port);
  EXPECT_EQ("master.example.com", a.host_header());
  MasterUrl b = parse_master_url("https://master.example.com:8443");
  EXPECT_TRUE(b.tls);
  EXPECT_EQ("8443", b.port);
  EXPECT_EQ("master.example.com:8443", b.host_header());
  MasterUrl c = parse_master_url("ws://m");
  EXPECT_EQ("80", c.port);
  EXPECT_EQ("m", c.host_header());
}

TEST(MasterUrl, Ipv6AndPaths) {
  MasterUrl u = parse_master_url("ws://[::1]:9292/prefix");
  EXPECT_EQ("::1", u.host);
  EXPECT_EQ("[::1]:9292", u.host_header());
  EXPECT_EQ("/prefix", u.target);
  EXPECT_EQ("/?a=b", parse_master_url("http://h:1?a=b").target);
}

TEST(MasterUrl, BadUrlsSayWhatIsWrong) {
  struct Case {
    const char* text;
    const char* says;
  };
  for (const Case& c : {Case{"", "empty"}, Case{"10.0.0.1:9292", "scheme"}, Case{"ftp://h", "unsupported scheme"},
                        Case{"ws://", "host is missing"}, Case{"ws://:9292", "host is missing"},
                        Case{"ws://h:0", "1..65535"}, Case{"ws://h:99999", "1..65535"}, Case{"ws://h:abc", "port"},
                        Case{"ws://u:p@h", "user"}, Case{"ws://h h", "white space"}, Case{"ws://[::1", "']'"},
                        Case{"ws://h/#x", "fragment"}, Case{"ws://h$x:1", "contains"}}) {
    try {
      parse_master_url(c.text);
      ADD_FAILURE() << "accepted \"" << c.text << "\"";
    } catch (const kontena::Error& e) {
      std::string msg = e.what();
      EXPECT_EQ(kontena::ErrorKind::invalid, e.kind());
      EXPECT_EQ("master", e.field());
      EXPECT_NE(std::string::npos, msg.find(c.says)) << c.text << ": " << msg;
      EXPECT_NE(std::string::npos, msg.find("ws://192.168.1.10:9292")) << "no example in: " << msg;
    }
  }
}

// --- handshake headers

TEST(Handshake, ConnectedAtFormat) {
  // 2026-11-24 14:20:00.123 UTC
  EXPECT_EQ("2026-11-24 14:20:00.123Z", format_connected_at(1795530000123));
  EXPECT_EQ("1970-01-01 00:00:00.000Z", format_connected_at(0));
  EXPECT_EQ("2026-11-24 14:20:00.005Z", format_connected_at(1795530000005));
}

static std::string header(const Headers& h, const std::string& name) {
  for (const auto& [k, v] : h)
    if (k == name) return v;
  return "<absent>";
}

TEST(Handshake, GridTokenHeaders) {
  NodeIdentity id{"grid-secret", "", "ABCD:EFGH", "node-1", {"region=eu", "disk=ssd"}, "0.1.0"};
  Headers h = build_handshake_headers(id, 1795530000123);
  EXPECT_EQ("grid-secret", header(h, "Kontena-Grid-Token"));
  EXPECT_EQ("<absent>", header(h, "Kontena-Node-Token"));
  EXPECT_EQ("ABCD:EFGH", header(h, "Kontena-Node-Id"));
  EXPECT_EQ("node-1", header(h, "Kontena-Node-Name"));
  EXPECT_EQ("0.1.0", header(h, "Kontena-Version"));
  EXPECT_EQ("region=eu,disk=ssd", header(h, "Kontena-Node-Labels"));
  EXPECT_EQ("2026-11-24 14:20:00.123Z", header(h, "Kontena-Connected-At"));
}

TEST(Handshake, NodeTokenWinsAndEmptyLabels) {
  NodeIdentity id{"grid-secret", "node-secret", "X", "n", {}, "0.1.0"};
  Headers h = build_handshake_headers(id, 0);
  EXPECT_EQ("node-secret", header(h, "Kontena-Node-Token"));
  EXPECT_EQ("<absent>", header(h, "Kontena-Grid-Token"));
  EXPECT_EQ("", header(h, "Kontena-Node-Labels"));
  Headers r = redact_headers(h);
  EXPECT_EQ("***", header(r, "Kontena-Node-Token"));
  EXPECT_EQ("X", header(r, "Kontena-Node-Id"));
}
