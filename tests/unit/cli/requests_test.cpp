#include "cli/requests.h"

#include <gtest/gtest.h>

#include "common/error.h"

using namespace kontena;
using namespace kontena::cli;
using nlohmann::json;

TEST(Requests, KeyValue) {
  EXPECT_EQ(parse_key_value("a=b=c", "--log-opt"), (std::pair<std::string, std::string>{"a", "b=c"}));
  EXPECT_EQ(parse_key_value("a=", "--log-opt").second, "");
  EXPECT_THROW(parse_key_value("novalue", "--log-opt"), Error);
  EXPECT_THROW(parse_key_value("=v", "--log-opt"), Error);
}

TEST(Requests, StatsdServer) {
  EXPECT_EQ(parse_statsd_server("stats.local:9125"), (json{{"server", "stats.local"}, {"port", 9125}}));
  EXPECT_EQ(parse_statsd_server("stats.local"), (json{{"server", "stats.local"}, {"port", 8125}}));
  for (const char* bad : {"host:", "host:x", "host:0", "host:70000", ":8125"}) {
    EXPECT_THROW(parse_statsd_server(bad), Error) << bad;
  }
}

TEST(Requests, GridCreateMinimal) {
  GridCreateOptions options;
  options.name = "demo";
  EXPECT_EQ(grid_create_body(options), (json{{"name", "demo"}, {"initial_size", 1}}));
}

TEST(Requests, GridCreateWithEverything) {
  GridCreateOptions options;
  options.name = "demo";
  options.initial_size = 3;
  options.token = "secret";
  options.subnet = "10.81.0.0/16";
  options.supernet = "10.80.0.0/12";
  options.default_affinity = {"label==ssd", "node!=n3"};
  options.trusted_subnets = {"192.168.0.0/24"};
  options.statsd_server = "s:9000";
  options.log_forwarder = "fluentd";
  options.log_opts = {"fluentd-address=fd:24224", "tag=x"};
  const json expected = {{"name", "demo"},
                         {"initial_size", 3},
                         {"token", "secret"},
                         {"subnet", "10.81.0.0/16"},
                         {"supernet", "10.80.0.0/12"},
                         {"default_affinity", {"label==ssd", "node!=n3"}},
                         {"trusted_subnets", {"192.168.0.0/24"}},
                         {"stats", {{"statsd", {{"server", "s"}, {"port", 9000}}}}},
                         {"logs", {{"forwarder", "fluentd"}, {"opts", {{"fluentd-address", "fd:24224"}, {"tag", "x"}}}}}};
  EXPECT_EQ(grid_create_body(options), expected);
}

TEST(Requests, GridCreateLogOptNeedsForwarder) {
  GridCreateOptions options;
  options.name = "demo";
  options.log_opts = {"a=b"};
  EXPECT_THROW(grid_create_body(options), Error);
}

TEST(Requests, GridUpdate) {
  GridUpdateOptions clear;
  clear.no_default_affinity = true;
  clear.no_statsd_server = true;
  clear.no_log_forwarder = true;
  EXPECT_EQ(grid_update_body(clear, json::object()),
            (json{{"default_affinity", json::array()},
                  {"stats", json::object()},
                  {"logs", {{"forwarder", "none"}, {"opts", json::object()}}}}));

  GridUpdateOptions set;
  set.default_affinity = {"a==b"};
  set.statsd_server = "s:1";
  EXPECT_EQ(grid_update_body(set, json::object()),
            (json{{"default_affinity", {"a==b"}}, {"stats", {{"statsd", {{"server", "s"}, {"port", 1}}}}}}));

  EXPECT_THROW(grid_update_body(GridUpdateOptions{}, json::object()), Error) << "nothing to update";
}

TEST(Requests, GridUpdateLogOptKeepsTheCurrentForwarder) {
  GridUpdateOptions options;
  options.log_opts = {"tag=y"};
  const json grid = {{"logs", {{"forwarder", "fluentd"}, {"opts", {{"tag", "x"}}}}}};
  EXPECT_EQ(grid_update_body(options, grid), (json{{"logs", {{"forwarder", "fluentd"}, {"opts", {{"tag", "y"}}}}}}));
  EXPECT_THROW(grid_update_body(options, json::object()), Error) << "no forwarder to attach options to";
}

TEST(Requests, NodeBodies) {
  EXPECT_EQ(node_create_body("n1", "", {}), (json{{"name", "n1"}}));
  EXPECT_EQ(node_create_body("n1", "t", {"a=b"}), (json{{"name", "n1"}, {"token", "t"}, {"labels", {"a=b"}}}));

  NodeUpdateOptions drain;
  drain.availability = "drain";
  EXPECT_EQ(node_update_body(drain), (json{{"availability", "drain"}}));
  NodeUpdateOptions labels;
  labels.labels = {"x=1"};
  EXPECT_EQ(node_update_body(labels), (json{{"labels", {"x=1"}}}));
  NodeUpdateOptions clear;
  clear.clear_labels = true;
  EXPECT_EQ(node_update_body(clear), (json{{"labels", json::array()}}));
  EXPECT_THROW(node_update_body(NodeUpdateOptions{}), Error);
}

TEST(Requests, ListWithAndWithout) {
  EXPECT_EQ(list_with({"a=1", "b=2"}, {"b=2", "c=3"}), (std::vector<std::string>{"a=1", "b=2", "c=3"}));
  EXPECT_EQ(list_without({"a=1", "b=2", "c=3"}, {"b=2"}, "labels"), (std::vector<std::string>{"a=1", "c=3"}));
  try {
    list_without({"a=1"}, {"z=9"}, "labels of node n1");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "'z=9' is not among the labels of node n1");
  }
}

TEST(Requests, LoginAndTokenBodies) {
  EXPECT_EQ(authorization_code_body("abc", 7200),
            (json{{"grant_type", "authorization_code"}, {"code", "abc"}, {"expires_in", 7200}}));

  TokenCreateOptions token;
  token.description = "ci";
  EXPECT_EQ(token_create_body(token), (json{{"response_type", "token"}, {"expires_in", 0}, {"description", "ci"}}));

  TokenCreateOptions code;
  code.code = true;
  code.user = "bob@example.com";
  EXPECT_EQ(token_create_body(code), (json{{"response_type", "code"}, {"user", "bob@example.com"}}))
      << "a code's lifetime is the master's default unless given";
  code.expires_in = 60;
  code.expires_in_given = true;
  EXPECT_EQ(token_create_body(code)["expires_in"], 60);
  code.description = "x";
  EXPECT_THROW(token_create_body(code), Error);
}

TEST(Requests, ConfigBodies) {
  EXPECT_EQ(config_set_body({"a.b=1", "c=x=y"}), (json{{"a.b", "1"}, {"c", "x=y"}}));
  EXPECT_THROW(config_set_body({"novalue"}), Error);
  EXPECT_EQ(config_unset_body({"a", "b"}), (json{{"a", nullptr}, {"b", nullptr}}));
}

TEST(Requests, StringList) {
  EXPECT_EQ(string_list(json{{"labels", {"a", 1, "b"}}}, "labels"), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(string_list(json{{"labels", nullptr}}, "labels").empty());
  EXPECT_TRUE(string_list(json::array(), "labels").empty());
}
