// The Engine client's network calls against the scripted fake engine: the request bodies Docker
// expects, 404 as "none", and the error mapping (name taken, overlapping pool, containers attached).
#include <gtest/gtest.h>

#include "agent/docker/engine_client.h"
#include "common/error.h"
#include "docker_test_util.h"
#include "fake_engine.h"

using namespace kontena::agent::docker;
using namespace kontena::agent::docker::testing;
using namespace std::chrono_literals;
using kontena::ErrorKind;

namespace {

NetworkSpec kontena_spec() {
  NetworkSpec s;
  s.name = "kontena";
  s.subnet = "10.81.0.0/16";
  s.gateway = "10.81.0.3";
  s.ip_range = "10.81.128.0/24";
  s.options = {{"com.docker.network.bridge.name", "kontena0"}, {"com.docker.network.driver.mtu", "1450"}};
  s.labels = {{"io.kontena.grid", "demo"}};
  return s;
}

}  // namespace

TEST(EngineHelpers, NetworkCreateBody) {
  Json b = network_create_body(kontena_spec());
  EXPECT_EQ(b["Name"], "kontena");
  EXPECT_EQ(b["Driver"], "bridge");
  EXPECT_EQ(b["CheckDuplicate"], true);
  EXPECT_EQ(b["IPAM"]["Driver"], "default");
  ASSERT_EQ(b["IPAM"]["Config"].size(), 1u);
  EXPECT_EQ(b["IPAM"]["Config"][0], Json({{"Subnet", "10.81.0.0/16"}, {"Gateway", "10.81.0.3"}, {"IPRange", "10.81.128.0/24"}}));
  EXPECT_EQ(b["Options"]["com.docker.network.bridge.name"], "kontena0");
  EXPECT_EQ(b["Options"]["com.docker.network.driver.mtu"], "1450");
  EXPECT_EQ(b["Labels"]["io.kontena.grid"], "demo");

  NetworkSpec plain;
  plain.name = "n";
  Json p = network_create_body(plain);
  EXPECT_EQ(p["IPAM"]["Config"], Json::array());  // Docker picks a pool
  plain.gateway = "10.0.0.1";
  EXPECT_EQ(catch_error([&] { network_create_body(plain); }).kind(), ErrorKind::invalid);
  EXPECT_EQ(catch_error([&] { network_create_body(NetworkSpec{}); }).kind(), ErrorKind::invalid);
}

TEST(EngineClient, NetworkCalls) {
  FakeEngine fe;
  fe.on([](const FakeRequest& r, FakeConn& c) {
    if (r.method == "GET" && contains(r.target, "/networks/missing")) {
      c.write(http_response(404, R"({"message":"network missing not found"})"));
    } else if (r.method == "GET") {
      c.write(http_response(200, R"({"Name":"kontena","Id":"abc","Containers":{}})"));
    } else if (r.method == "POST" && contains(r.body, "\"taken\"")) {
      c.write(http_response(409, R"({"message":"network with name taken already exists"})"));
    } else if (r.method == "POST" && contains(r.body, "\"overlap\"")) {
      c.write(http_response(403, R"({"message":"Pool overlaps with other one on this address space"})"));
    } else if (r.method == "POST") {
      c.write(http_response(201, R"({"Id":"0123456789abcdef","Warning":""})"));
    } else if (r.method == "DELETE" && contains(r.target, "busy")) {
      c.write(http_response(403, R"({"message":"error while removing network: network busy id x has active endpoints"})"));
    } else if (r.method == "DELETE" && contains(r.target, "missing")) {
      c.write(http_response(404, R"({"message":"network missing not found"})"));
    } else {
      c.write("HTTP/1.1 204 No Content\r\n\r\n");
    }
  });
  auto client = make_engine_client(fe.socket_path(), 2s);

  EXPECT_FALSE(client->inspect_network("missing").has_value());
  EXPECT_EQ(fe.last_request().target, "/v1.41/networks/missing");
  auto net = client->inspect_network("kontena");
  ASSERT_TRUE(net.has_value());
  EXPECT_EQ((*net)["Id"], "abc");

  EXPECT_EQ(client->create_network(kontena_spec()), "0123456789abcdef");
  auto req = fe.last_request();
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.target, "/v1.41/networks/create");
  EXPECT_EQ(Json::parse(req.body), network_create_body(kontena_spec()));

  auto spec = kontena_spec();
  spec.name = "taken";
  auto e = catch_error([&] { client->create_network(spec); });
  EXPECT_EQ(e.kind(), ErrorKind::conflict);
  EXPECT_TRUE(contains(e.what(), "already exists")) << e.what();
  spec.name = "overlap";
  e = catch_error([&] { client->create_network(spec); });
  EXPECT_EQ(e.kind(), ErrorKind::invalid);
  EXPECT_TRUE(contains(e.what(), "Pool overlaps")) << e.what();

  EXPECT_NO_THROW(client->remove_network("kontena"));
  EXPECT_EQ(fe.last_request().method, "DELETE");
  EXPECT_EQ(fe.last_request().target, "/v1.41/networks/kontena");
  e = catch_error([&] { client->remove_network("busy"); });
  EXPECT_EQ(e.kind(), ErrorKind::conflict);
  EXPECT_TRUE(contains(e.what(), "active endpoints")) << e.what();
  EXPECT_TRUE(contains(e.what(), "remove or disconnect the containers")) << e.what();
  EXPECT_EQ(catch_error([&] { client->remove_network("missing"); }).kind(), ErrorKind::not_found);
}
