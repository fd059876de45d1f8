#include "master/api/validation.h"

#include <gtest/gtest.h>

#include "common/error.h"

using namespace kontena;
using namespace kontena::master;

namespace {
std::string invalid_message(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid);
    return e.what();
  }
  ADD_FAILURE() << "expected an invalid error";
  return "";
}
}  // namespace

TEST(Validation, GridNames) {
  const std::string longest(64, 'a');
  for (const std::string ok : {"abc", "my-grid", "grid_1", "ABC"}) EXPECT_NO_THROW(validate_grid_name(ok)) << ok;
  EXPECT_NO_THROW(validate_grid_name(longest));
  EXPECT_NE(invalid_message([] { validate_grid_name("ab"); }).find("too short"), std::string::npos);
  EXPECT_NE(invalid_message([] { validate_grid_name("my grid"); }).find("letters, digits"), std::string::npos);
  invalid_message([] { validate_grid_name("gr/id"); });
  invalid_message([] { validate_grid_name("grid.x"); });
  invalid_message([] { validate_grid_name(std::string(65, 'a')); });
}

TEST(Validation, NodeNames) {
  EXPECT_NO_THROW(validate_node_name("node-1"));
  EXPECT_NO_THROW(validate_node_name("n.example.com"));
  invalid_message([] { validate_node_name(""); });
  invalid_message([] { validate_node_name("-node"); });
  invalid_message([] { validate_node_name("no de"); });
}

TEST(Validation, Cidr) {
  auto c = parse_ipv4_cidr("10.81.3.7/16");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->to_string(), "10.81.0.0/16");
  EXPECT_FALSE(parse_ipv4_cidr("10.81.0.0"));
  EXPECT_FALSE(parse_ipv4_cidr("10.81.0.256/16"));
  EXPECT_FALSE(parse_ipv4_cidr("10.81.0.0/33"));
  EXPECT_FALSE(parse_ipv4_cidr("a.b.c.d/8"));
  EXPECT_FALSE(parse_ipv4_cidr(" 10.0.0.0/8"));
  EXPECT_TRUE(cidr_contains(*parse_ipv4_cidr("10.80.0.0/12"), *parse_ipv4_cidr("10.81.0.0/16")));
  EXPECT_FALSE(cidr_contains(*parse_ipv4_cidr("10.80.0.0/12"), *parse_ipv4_cidr("10.96.0.0/16")));
  EXPECT_FALSE(cidr_contains(*parse_ipv4_cidr("10.81.0.0/16"), *parse_ipv4_cidr("10.80.0.0/12")));
  EXPECT_NE(invalid_message([] { validate_cidr("subnet", "nope"); }).find("subnet"), std::string::npos);
}

TEST(Validation, Affinity) {
  for (auto ok : {"node==node-1", "label==az=a", "service!=db", "container==~web-%s", "label!=~/eu-.*/"})
    EXPECT_NO_THROW(validate_affinity("default_affinity", ok)) << ok;
  for (auto bad : {"node=node-1", "host==x", "label==", "label== a", ""})
    invalid_message([bad] { validate_affinity("default_affinity", bad); });
}

TEST(Validation, LabelsEmailsKeys) {
  EXPECT_NO_THROW(validate_label("labels", "az=a"));
  EXPECT_NO_THROW(validate_label("labels", "ephemeral"));
  invalid_message([] { validate_label("labels", "a=b,c=d"); });
  invalid_message([] { validate_label("labels", "a b"); });
  EXPECT_NO_THROW(validate_email("email", "jane@example.com"));
  invalid_message([] { validate_email("email", "jane"); });
  EXPECT_NO_THROW(validate_config_key("server.name"));
  invalid_message([] { validate_config_key("Server Name"); });
  invalid_message([] { validate_token_value("token", "short"); });
}

TEST(Validation, StatsAndLogs) {
  auto stats = validate_stats(nlohmann::json::parse(R"({"statsd":{"server":"127.0.0.1"}})"));
  EXPECT_EQ(stats["statsd"]["port"], 8125);
  invalid_message([] { validate_stats(nlohmann::json::parse(R"({"statsd":{"server":"x","port":70000}})")); });
  invalid_message([] { validate_stats(nlohmann::json::parse(R"({"carbon":{}})")); });
  auto logs = validate_logs(nlohmann::json::parse(R"({"forwarder":"fluentd","opts":{"fluentd-address":"10.0.0.1"}})"));
  EXPECT_EQ(logs["opts"]["fluentd-address"], "10.0.0.1");
  invalid_message([] { validate_logs(nlohmann::json::parse(R"({"forwarder":"splunk"})")); });
  invalid_message([] { validate_logs(nlohmann::json::parse(R"({"forwarder":"fluentd"})")); });
  EXPECT_EQ(validate_logs(nlohmann::json::parse(R"({"forwarder":"none"})"))["forwarder"], "none");
}
