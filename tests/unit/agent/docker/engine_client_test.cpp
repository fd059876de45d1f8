// The Engine client against a scripted fake engine on a unix socket (no dockerd): requests as
// Docker expects them, chunked and split answers, error mapping, timeouts, and the streams
// (callbacks on their own thread, cancel() interrupting a blocked read).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <thread>

#include "agent/docker/engine_client.h"
#include "agent/docker/http_unix.h"
#include "common/error.h"
#include "docker_test_util.h"
#include "fake_engine.h"

using namespace kontena::agent::docker;
using namespace kontena::agent::docker::testing;
using namespace std::chrono_literals;
using kontena::Error;
using kontena::ErrorKind;

namespace {

template <class Pred>
bool eventually(Pred p, std::chrono::milliseconds timeout = 5s) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (p()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return p();
}

// Writes `wire` in pieces of `step` bytes with a short pause, so that the client sees splits.
void dribble(FakeConn& c, const std::string& wire, std::size_t step) {
  for (std::size_t i = 0; i < wire.size(); i += step) {
    if (!c.write(wire.substr(i, step))) return;
    std::this_thread::sleep_for(1ms);
  }
}

const std::string kTtyInspect = R"({"Id":"c1","Config":{"Tty":true}})";
const std::string kPlainInspect = R"({"Id":"c1","Config":{"Tty":false}})";

}  // namespace

// ---------------------------------------------------------------------------------------------
// pure helpers

TEST(EngineHelpers, CreateBodyFromSpec) {
  ContainerSpec s;
  s.name = "web-1";
  s.image = "local/busybox:latest";
  s.cmd = {"sleep", "1000"};
  s.env = {"A=1", "B=two"};
  s.labels = {{"io.kontena.service.name", "web"}, {"io.kontena.grid", "demo"}};
  s.ports = {{80, "tcp", "", 8080}, {53, "udp", "10.0.0.1", 0}, {80, "tcp", "127.0.0.1", 8081}};
  s.binds = {"data:/data", "/host:/mnt:ro"};
  s.memory_bytes = 64 * 1024 * 1024;
  s.memory_swap_bytes = 128 * 1024 * 1024;
  s.cpus = 0.5;
  s.cpu_shares = 512;
  s.init = true;
  s.stop_signal = "SIGINT";
  s.stop_timeout_seconds = 3;
  s.log_driver = "json-file";
  s.log_opts = {{"max-size", "10m"}};
  s.network_mode = "kontena";
  s.network_ips = {{"kontena", "10.81.1.5"}};
  s.cap_add = {"NET_ADMIN"};
  s.dns = {"10.81.0.1"};
  Json b = container_create_body(s);
  EXPECT_EQ(b["Image"], "local/busybox:latest");
  EXPECT_EQ(b["Cmd"], Json::array({"sleep", "1000"}));
  EXPECT_FALSE(b.contains("Entrypoint"));
  EXPECT_EQ(b["Env"], Json::array({"A=1", "B=two"}));
  EXPECT_EQ(b["Labels"]["io.kontena.service.name"], "web");
  EXPECT_EQ(b["StopSignal"], "SIGINT");
  EXPECT_EQ(b["StopTimeout"], 3);
  EXPECT_TRUE(b["ExposedPorts"].contains("80/tcp"));
  EXPECT_TRUE(b["ExposedPorts"].contains("53/udp"));
  const Json& h = b["HostConfig"];
  ASSERT_EQ(h["PortBindings"]["80/tcp"].size(), 2u);
  EXPECT_EQ(h["PortBindings"]["80/tcp"][0]["HostPort"], "8080");
  EXPECT_EQ(h["PortBindings"]["80/tcp"][1]["HostIp"], "127.0.0.1");
  EXPECT_EQ(h["PortBindings"]["53/udp"][0]["HostPort"], "");
  EXPECT_EQ(h["PortBindings"]["53/udp"][0]["HostIp"], "10.0.0.1");
  EXPECT_EQ(h["Binds"], Json::array({"data:/data", "/host:/mnt:ro"}));
  EXPECT_EQ(h["Memory"], 64 * 1024 * 1024);
  EXPECT_EQ(h["MemorySwap"], 128 * 1024 * 1024);
  EXPECT_EQ(h["CpuPeriod"], 100000);
  EXPECT_EQ(h["CpuQuota"], 50000);
  EXPECT_EQ(h["CpuShares"], 512);
  EXPECT_EQ(h["Init"], true);
  EXPECT_EQ(h["NetworkMode"], "kontena");
  EXPECT_EQ(h["LogConfig"]["Type"], "json-file");
  EXPECT_EQ(h["LogConfig"]["Config"]["max-size"], "10m");
  EXPECT_EQ(h["RestartPolicy"]["Name"], "no");
  EXPECT_EQ(h["CapAdd"], Json::array({"NET_ADMIN"}));
  EXPECT_EQ(h["Dns"], Json::array({"10.81.0.1"}));
  EXPECT_EQ(b["NetworkingConfig"]["EndpointsConfig"]["kontena"]["IPAMConfig"]["IPv4Address"], "10.81.1.5");

  ContainerSpec e;
  e.image = "x";
  e.entrypoint = std::vector<std::string>{};
  e.cpus = 1.25;
  Json eb = container_create_body(e);
  EXPECT_EQ(eb["Entrypoint"], Json::array({""}));
  EXPECT_EQ(eb["HostConfig"]["CpuQuota"], 125000);
  EXPECT_FALSE(eb["HostConfig"].contains("Init"));

  ContainerSpec bad;
  bad.image = "x";
  bad.ports = {{0, "tcp", "", 0}};
  EXPECT_EQ(catch_error([&] { container_create_body(bad); }).kind(), ErrorKind::invalid);
  bad.ports = {{80, "icmp", "", 0}};
  EXPECT_EQ(catch_error([&] { container_create_body(bad); }).kind(), ErrorKind::invalid);
  bad.ports.clear();
  bad.cpus = 0;
  EXPECT_EQ(catch_error([&] { container_create_body(bad); }).kind(), ErrorKind::invalid);
}

TEST(EngineHelpers, SplitImageReference) {
  using P = std::pair<std::string, std::string>;
  EXPECT_EQ(split_image_reference("busybox"), P("busybox", "latest"));
  EXPECT_EQ(split_image_reference("busybox:1.36"), P("busybox", "1.36"));
  EXPECT_EQ(split_image_reference("local/busybox:latest"), P("local/busybox", "latest"));
  EXPECT_EQ(split_image_reference("reg:5000/a/b"), P("reg:5000/a/b", "latest"));
  EXPECT_EQ(split_image_reference("reg:5000/a/b:2"), P("reg:5000/a/b", "2"));
  EXPECT_EQ(split_image_reference("a/b@sha256:abcd"), P("a/b", "sha256:abcd"));
}

TEST(EngineHelpers, ErrorMapping) {
  auto e = engine_error(404, R"({"message":"No such container: web"})", "GET /containers/web/json");
  EXPECT_EQ(e.kind(), ErrorKind::not_found);
  EXPECT_TRUE(contains(e.what(), "\"No such container: web\"")) << e.what();
  EXPECT_TRUE(contains(e.what(), "GET /containers/web/json")) << e.what();
  EXPECT_EQ(engine_error(409, R"({"message":"name in use"})", "x").kind(), ErrorKind::conflict);
  EXPECT_EQ(engine_error(400, R"({"message":"bad"})", "x").kind(), ErrorKind::invalid);
  EXPECT_EQ(engine_error(500, R"({"message":"oops"})", "x").kind(), ErrorKind::internal);
  EXPECT_EQ(engine_error(500, R"({"message":"oops"})", "x", ErrorKind::invalid).kind(), ErrorKind::invalid);
  EXPECT_EQ(engine_error(503, "", "x").kind(), ErrorKind::unavailable);
  EXPECT_EQ(engine_error(401, "", "x").kind(), ErrorKind::unauthorized);
  // A body that is not JSON is quoted as it is.
  e = engine_error(500, "  plain text failure\n", "x");
  EXPECT_TRUE(contains(e.what(), "\"plain text failure\"")) << e.what();
  EXPECT_EQ(engine_message(std::string(2000, 'a')).size(), 503u);
}

TEST(EngineHelpers, RegistryUnreachable) {
  EXPECT_TRUE(is_registry_unreachable(
      "Get \"https://registry-1.docker.io/v2/\": dial tcp: lookup registry-1.docker.io: no such host"));
  EXPECT_TRUE(is_registry_unreachable("Get https://x/v2/: dial tcp 1.2.3.4:443: connect: network is unreachable"));
  EXPECT_FALSE(is_registry_unreachable("manifest for busybox:nope not found: manifest unknown"));
}

TEST(EngineHelpers, SummaryAndFilters) {
  Json j = Json::parse(R"({"Id":"abc","Names":["/web-1"],"Image":"busybox","ImageID":"sha256:1",
    "State":"running","Status":"Up 2 minutes","Created":1700000000,"Labels":{"a":"b"}})");
  auto s = summary_from_json(j);
  EXPECT_EQ(s.id, "abc");
  EXPECT_EQ(s.name, "web-1");
  EXPECT_EQ(s.state, "running");
  EXPECT_EQ(s.created, 1700000000);
  EXPECT_EQ(s.labels["a"], "b");
  EXPECT_EQ(label_filters_query({"a=b", "c"}), "%7B%22label%22%3A%5B%22a%3Db%22%2C%22c%22%5D%7D");
  // Nulls and missing fields do not throw.
  auto empty = summary_from_json(Json::parse(R"({"Names":null,"Labels":null})"));
  EXPECT_EQ(empty.name, "");
}

TEST(HttpRequest, Serialization) {
  HttpRequest r;
  r.method = "POST";
  r.target = "/v1.41/containers/create?name=x";
  r.body = "{}";
  r.headers = {{"X-Registry-Auth", "abc"}};
  std::string w = serialize_request(r);
  EXPECT_EQ(w.substr(0, w.find("\r\n")), "POST /v1.41/containers/create?name=x HTTP/1.1");
  EXPECT_TRUE(contains(w, "\r\nContent-Length: 2\r\n"));
  EXPECT_TRUE(contains(w, "\r\nContent-Type: application/json\r\n"));
  EXPECT_TRUE(contains(w, "\r\nX-Registry-Auth: abc\r\n"));
  EXPECT_TRUE(contains(w, "\r\nConnection: close\r\n"));
  EXPECT_EQ(w.substr(w.size() - 6), "\r\n\r\n{}");
  HttpRequest post;
  post.method = "POST";
  post.target = "/x";
  EXPECT_TRUE(contains(serialize_request(post), "Content-Length: 0\r\n"));
}

// ---------------------------------------------------------------------------------------------
// calls against the fake engine

TEST(EngineClient, InfoOverChunkedAnswerSplitEverywhere) {
  FakeEngine fe;
  std::string body = R"({"Name":"node-1","ID":"ABCD:EFGH","Containers":3,"ServerVersion":"20.10.24"})";
  fe.on([&](const FakeRequest&, FakeConn& c) {
    std::string wire = chunked_head() + chunk(body.substr(0, 10)) + chunk(body.substr(10)) + kLastChunk;
    dribble(c, wire, 3);
  });
  auto client = make_engine_client(fe.socket_path(), 5s);
  Json info = client->info();
  EXPECT_EQ(info["Name"], "node-1");
  EXPECT_EQ(info["Containers"], 3);
  auto req = fe.last_request();
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.target, "/v1.41/info");
}

TEST(EngineClient, PingAndVersion) {
  FakeEngine fe;
  fe.on([](const FakeRequest& r, FakeConn& c) {
    if (r.target == "/_ping") {
      c.write(http_response(200, "OK", "text/plain"));
    } else {
      c.write(http_response(200, R"({"ApiVersion":"1.41","Version":"20.10.24"})"));
    }
  });
  auto client = make_engine_client(fe.socket_path(), 5s);
  EXPECT_TRUE(client->ping());
  EXPECT_EQ(client->version()["ApiVersion"], "1.41");
}

TEST(EngineClient, UnreachableSocketIsUnavailableWithAClearMessage) {
  auto client = make_engine_client("/tmp/kontena-no-such-dir/docker.sock", 2s);
  EXPECT_FALSE(client->ping());
  auto e = catch_error([&] { client->info(); });
  EXPECT_EQ(e.kind(), ErrorKind::unavailable);
  EXPECT_TRUE(contains(e.what(), "cannot reach the Docker Engine at /tmp/kontena-no-such-dir/docker.sock: ")) << e.what();
  EXPECT_TRUE(contains(e.what(), "(is dockerd running?)")) << e.what();
}

TEST(EngineClient, RequestTimeoutIsHonoured) {
  FakeEngine fe;
  fe.on([](const FakeRequest&, FakeConn& c) { c.wait_client_close(5s); });  // never answers
  auto client = make_engine_client(fe.socket_path(), 300ms);
  auto start = std::chrono::steady_clock::now();
  auto e = catch_error([&] { client->info(); });
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(e.kind(), ErrorKind::unavailable);
  EXPECT_TRUE(contains(e.what(), "did not answer GET /v1.41/info in time")) << e.what();
  EXPECT_GE(took, 280ms);
  EXPECT_LT(took, 3s);
  EXPECT_FALSE(client->ping());
}

TEST(EngineClient, TimeoutAlsoCoversASlowBody) {
  FakeEngine fe;
  fe.on([](const FakeRequest&, FakeConn& c) {
    c.write(chunked_head() + chunk("{\"a\":"));
    c.wait_client_close(5s);
  });
  auto client = make_engine_client(fe.socket_path(), 300ms);
  EXPECT_EQ(catch_error([&] { client->info(); }).kind(), ErrorKind::unavailable);
}

TEST(EngineClient, GarbageAnswersAreInternalErrors) {
  FakeEngine fe;
  fe.on([](const FakeRequest&, FakeConn& c) { c.write("this is not http\r\n\r\n"); });
  auto client = make_engine_client(fe.socket_path(), 2s);
  auto e = catch_error([&] { client->info(); });
  EXPECT_EQ(e.kind(), ErrorKind::internal);
  EXPECT_TRUE(contains(e.what(), "malformed HTTP response")) << e.what();
  fe.on([](const FakeRequest&, FakeConn& c) { c.write(http_response(200, "not json")); });
  e = catch_error([&] { client->info(); });
  EXPECT_TRUE(contains(e.what(), "not JSON")) << e.what();
  fe.on([](const FakeRequest&, FakeConn& c) { c.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"); });
  e = catch_error([&] { client->info(); });
  EXPECT_TRUE(contains(e.what(), "closed the connection")) << e.what();
  fe.on([](const FakeRequest&, FakeConn&) {});  // closes without a word
  e = catch_error([&] { client->info(); });
  EXPECT_TRUE(contains(e.what(), "without answering")) << e.what();
}

TEST(EngineClient, InspectNotFoundIsNullopt) {
  FakeEngine fe;
  fe.on([](const FakeRequest& r, FakeConn& c) {
    if (contains(r.target, "/containers/")) {
      c.write(http_response(404, R"({"message":"No such container: nope"})"));
    } else {
      c.write(http_response(404, R"({"message":"No such image: nope:latest"})"));
    }
  });
  auto client = make_engine_client(fe.socket_path(), 2s);
  EXPECT_FALSE(client->inspect_container("nope").has_value());
  EXPECT_EQ(fe.last_request().target, "/v1.41/containers/nope/json");
  EXPECT_FALSE(client->inspect_image("local/nope:1").has_value());
  EXPECT_EQ(fe.last_request().target, "/v1.41/images/local/nope:1/json");
}

TEST(EngineClient, CreateSendsTheSpecAndMapsConflict) {
  FakeEngine fe;
  fe.on([](const FakeRequest& r, FakeConn& c) {
    if (contains(r.target, "name=taken")) {
      c.write(http_response(409, R"({"message":"Conflict. The container name \"/taken\" is already in use"})"));
    } else if (contains(r.target, "name=noimage")) {
      c.write(http_response(404, R"({"message":"No such image: nope:latest"})"));
    } else if (contains(r.target, "name=badbind")) {
      c.write(http_response(400, R"({"message":"invalid mount config"})"));
    } else {
      c.write(http_response(201, R"({"Id":"0123abcd","Warnings":["memory limited without swap"]})"));
    }
  });
  auto client = make_engine_client(fe.socket_path(), 2s);
  ContainerSpec s;
  s.name = "web-1";
  s.image = "local/busybox:latest";
  s.labels = {{"k", "v"}};
  EXPECT_EQ(client->create_container(s), "0123abcd");
  auto req = fe.last_request();
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.target, "/v1.41/containers/create?name=web-1");
  EXPECT_TRUE(contains(req.headers, "Content-Type: application/json"));
  Json sent = Json::parse(req.body);
  EXPECT_EQ(sent["Image"], "local/busybox:latest");
  EXPECT_EQ(sent["Labels"]["k"], "v");

  s.name = "taken";
  auto e = catch_error([&] { client->create_container(s); });
  EXPECT_EQ(e.kind(), ErrorKind::conflict);
  EXPECT_TRUE(contains(e.what(), "already in use")) << e.what();
  s.name = "noimage";
  EXPECT_EQ(catch_error([&] { client->create_container(s); }).kind(), ErrorKind::not_found);
  s.name = "badbind";
  EXPECT_EQ(catch_error([&] { client->create_container(s); }).kind(), ErrorKind::invalid);
}

TEST(EngineClient, StartStopKillRemoveList) {
  FakeEngine fe;
  fe.on([](const FakeRequest& r, FakeConn& c) {
    if (contains(r.target, "/start")) {
      c.write("HTTP/1.1 304 Not Modified\r\n\r\n");  // already started: fine
    } else if (contains(r.target, "/stop")) {
      c.write("HTTP/1.1 204 No Content\r\n\r\n");
    } else if (contains(r.target, "/kill")) {
      c.write(http_response(409, R"({"message":"Container c1 is not running"})"));
    } else if (r.method == "DELETE") {
      c.write("HTTP/1.1 204 No Content\r\n\r\n");
    } else if (contains(r.target, "/containers/json")) {
      c.write(http_response(200, R"([{"Id":"c1","Names":["/web-1"],"State":"exited","Labels":{"k":"v"}}])"));
    } else if (contains(r.target, "/stats")) {
      c.write(http_response(200, R"({"read":"2026-11-25T21:00:00Z","memory_stats":{"usage":1234}})"));
    }
  });
  auto client = make_engine_client(fe.socket_path(), 2s);
  EXPECT_NO_THROW(client->start_container("c1"));
  EXPECT_EQ(fe.last_request().target, "/v1.41/containers/c1/start");
  EXPECT_NO_THROW(client->stop_container("c1", 7s));
  EXPECT_EQ(fe.last_request().target, "/v1.41/containers/c1/stop?t=7");
  auto e = catch_error([&] { client->kill_container("c1", "TERM"); });
  EXPECT_EQ(e.kind(), ErrorKind::conflict);
  EXPECT_EQ(fe.last_request().target, "/v1.41/containers/c1/kill?signal=TERM");
  EXPECT_NO_THROW(client->remove_container("c1", true, true));
  EXPECT_EQ(fe.last_request().method, "DELETE");
  EXPECT_EQ(fe.last_request().target, "/v1.41/containers/c1?force=1&v=1");
  auto list = client->list_containers({"io.kontena.grid=demo", "io.kontena.service"}, true);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].name, "web-1");
  EXPECT_EQ(list[0].labels["k"], "v");
  EXPECT_EQ(fe.last_request().target,
            "/v1.41/containers/json?all=1&filters=" + label_filters_query({"io.kontena.grid=demo", "io.kontena.service"}));
  EXPECT_EQ(client->container_stats("c1")["memory_stats"]["usage"], 1234);
  EXPECT_EQ(fe.last_request().target, "/v1.41/containers/c1/stats?stream=0");
}

TEST(EngineClient, StopWaitsLongerThanTheGrace) {
  FakeEngine fe;
  fe.on([](const FakeRequest&, FakeConn& c) {
    std::this_thread::sleep_for(700ms);  // the engine waits for the grace period
    c.write("HTTP/1.1 204 No Content\r\n\r\n");
  });
  auto client = make_engine_client(fe.socket_path(), 300ms);
  EXPECT_NO_THROW(client->stop_container("c1", 1s));
}

TEST(EngineClient, PullReportsProgressAndErrors) {
  FakeEngine fe;
  fe.on([](const FakeRequest& r, FakeConn& c) {
    std::string lines;
    if (contains(r.target, "fromImage=good")) {
      lines =
          "{\"status\":\"Pulling from library/good\",\"id\":\"1.0\"}\r\n"
          "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":5,\"total\":10},\"id\":\"aa\"}\r\n"
          "{\"status\":\"Pull complete\",\"id\":\"aa\"}\r\n";
    } else if (contains(r.target, "fromImage=offline")) {
      lines =
          "{\"errorDetail\":{\"message\":\"Get \\\"https://registry-1.docker.io/v2/\\\": dial tcp: lookup "
          "registry-1.docker.io on 10.99.0.1:53: connect: network is unreachable\"},\"error\":\"x\"}\r\n";
    } else if (contains(r.target, "fromImage=missing")) {
      c.write(http_response(404, R"({"message":"manifest for missing:latest not found: manifest unknown"})"));
      return;
    } else {
      c.write(http_response(500, R"({"message":"Get \"https://reg/v2/\": dial tcp 1.2.3.4:443: connect: network is unreachable"})"));
      return;
    }
    dribble(c, chunked_head() + chunk(lines.substr(0, 30)) + chunk(lines.substr(30)) + kLastChunk, 7);
  });
  auto client = make_engine_client(fe.socket_path(), 2s);
  std::vector<PullProgress> seen;
  client->pull_image("good:1.0", "", [&](const PullProgress& p) { seen.push_back(p); });
  EXPECT_EQ(fe.last_request().target, "/v1.41/images/create?fromImage=good&tag=1.0");
  EXPECT_EQ(fe.last_request().method, "POST");
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[1].status, "Downloading");
  EXPECT_EQ(seen[1].id, "aa");
  EXPECT_EQ(seen[1].current, 5);
  EXPECT_EQ(seen[1].total, 10);

  auto e = catch_error([&] { client->pull_image("offline/app", "", nullptr); });
  EXPECT_EQ(e.kind(), ErrorKind::unavailable);
  EXPECT_TRUE(contains(e.what(), "cannot pull image offline/app: the registry cannot be reached and the image is not present locally")) << e.what();
  EXPECT_EQ(fe.last_request().target, "/v1.41/images/create?fromImage=offline%2Fapp&tag=latest");

  e = catch_error([&] { client->pull_image("missing", "", nullptr); });
  EXPECT_EQ(e.kind(), ErrorKind::not_found);
  EXPECT_TRUE(contains(e.what(), "manifest unknown")) << e.what();

  e = catch_error([&] { client->pull_image("reg/x:1", "e30=", nullptr); });
  EXPECT_EQ(e.kind(), ErrorKind::unavailable);
  EXPECT_TRUE(contains(fe.last_request().headers, "X-Registry-Auth: e30="));
}

TEST(EngineClient, EnsureImageUsesTheLocalImageFirst) {
  FakeEngine fe;
  std::atomic<int> pulls{0};
  fe.on([&](const FakeRequest& r, FakeConn& c) {
    if (contains(r.target, "/images/local/here:latest/json")) {
      c.write(http_response(200, R"({"Id":"sha256:1"})"));
    } else if (contains(r.target, "/json")) {
      c.write(http_response(404, R"({"message":"No such image"})"));
    } else {
      ++pulls;
      c.write(chunked_head() + chunk("{\"status\":\"Status: Downloaded newer image\"}\n") + kLastChunk);
    }
  });
  auto client = make_engine_client(fe.socket_path(), 2s);
  client->ensure_image("local/here:latest", "", nullptr);
  EXPECT_EQ(pulls.load(), 0);
  client->ensure_image("remote/there:2", "", nullptr);
  EXPECT_EQ(pulls.load(), 1);
}

// ---------------------------------------------------------------------------------------------
// streams

TEST(EngineStreams, EventsArriveAndCancelInterruptsABlockedRead) {
  FakeEngine fe;
  std::atomic<bool> client_closed{false};
  fe.on([&](const FakeRequest&, FakeConn& c) {
    c.write(chunked_head());
    std::string e1 = R"({"Type":"container","Action":"start","Actor":{"ID":"c1"}})" "\n";
    std::string e2 = R"({"Type":"container","Action":"die","Actor":{"ID":"c1"}})" "\n";
    // An event split across two chunks, then one split inside a chunk size line.
    c.write(chunk(e1.substr(0, 20)));
    std::this_thread::sleep_for(5ms);
    c.write(chunk(e1.substr(20)));
    std::string w = chunk(e2);
    dribble(c, w, 2);
    client_closed = c.wait_client_close(10s);  // blocks: the events stream never ends by itself
  });
  auto client = make_engine_client(fe.socket_path(), 2s);
  std::mutex mu;
  std::vector<Json> events;
  auto stream = client->stream_events({{"type", {"container"}}}, [&](const Json& e) {
    std::lock_guard lock(mu);
    events.push_back(e);
  });
  EXPECT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    return events.size() == 2;
  }));
  EXPECT_EQ(fe.last_request().target, "/v1.41/events?filters=" + url_encode(R"({"type":["container"]})"));
  EXPECT_FALSE(stream->done());
  auto start = std::chrono::steady_clock::now();
  stream->cancel();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  EXPECT_TRUE(stream->done());
  EXPECT_EQ(stream->error(), "");
  EXPECT_TRUE(eventually([&] { return client_closed.load(); }));
  std::lock_guard lock(mu);
  EXPECT_EQ(events[0]["Action"], "start");
  EXPECT_EQ(events[1]["Action"], "die");
}

TEST(EngineStreams, DestroyingAStreamCancelsIt) {
  FakeEngine fe;
  fe.on([&](const FakeRequest&, FakeConn& c) {
    c.write(chunked_head());
    c.wait_client_close(10s);
  });
  auto client = make_engine_client(fe.socket_path(), 2s);
  auto stream = client->stream_events(Json::object(), [](const Json&) {});
  std::this_thread::sleep_for(50ms);
  auto start = std::chrono::steady_clock::now();
  stream.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

TEST(EngineStreams, CancelRightAfterOpeningWhileDataFlows) {
  FakeEngine fe;
  fe.on([&](const FakeRequest&, FakeConn& c) {
    c.write(chunked_head());
    for (int i = 0; i < 200 && c.write(chunk("{\"n\":1}\n")); ++i) {
    }
    c.wait_client_close(5s);
  });
  auto client = make_engine_client(fe.socket_path(), 2s);
  for (int i = 0; i < 30; ++i) {
    std::atomic<int> n{0};
    auto s = client->stream_events(Json::object(), [&](const Json&) { ++n; });
    if (i % 3 == 1) std::this_thread::sleep_for(1ms);
    s->cancel();
    int seen = n.load();
    EXPECT_TRUE(s->done());
    EXPECT_EQ(s->error(), "");
    std::this_thread::sleep_for(1ms);
    EXPECT_EQ(n.load(), seen) << "no callback after cancel() returned";
    s->cancel();  // twice is fine
  }
}

TEST(EngineStreams, CancelFromInsideTheCallback) {
  FakeEngine fe;
  fe.on([&](const FakeRequest&, FakeConn& c) {
    c.write(chunked_head());
    for (int i = 0; i < 50 && c.write(chunk("{\"n\":1}\n")); ++i) std::this_thread::sleep_for(2ms);
    c.wait_client_close(5s);
  });
  auto client = make_engine_client(fe.socket_path(), 2s);
  std::atomic<int> calls{0};
  std::unique_ptr<Stream> stream;
  std::mutex mu;
  std::unique_lock lock(mu);
  stream = client->stream_events(Json::object(), [&](const Json&) {
    if (++calls == 1) {
      std::lock_guard l(mu);
      stream->cancel();  // on the stream's own thread: must not deadlock
    }
  });
  lock.unlock();
  EXPECT_TRUE(eventually([&] { return stream->done(); }));
  EXPECT_EQ(calls.load(), 1);
}

TEST(EngineStreams, StreamEndingByItselfIsDoneAndErrorsAreReported) {
  FakeEngine fe;
  fe.on([&](const FakeRequest& r, FakeConn& c) {
    if (contains(r.target, "/containers/gone/stats")) {
      c.write(http_response(404, R"({"message":"No such container: gone"})"));
    } else if (contains(r.target, "/containers/bad/stats")) {
      c.write(chunked_head() + chunk("{\"ok\":1}\n") + chunk("garbage\n") + kLastChunk);
    } else if (contains(r.target, "/containers/cut/stats")) {
      c.write(chunked_head() + chunk("{\"ok\":1}\n") + "5\r\nab");  // then the engine dies
    } else {
      c.write(chunked_head() + chunk("{\"cpu_stats\":{}}\n{\"cpu_stats\":") + chunk("{}}\n") + kLastChunk);
    }
  });
  auto client = make_engine_client(fe.socket_path(), 2s);
  std::atomic<int> samples{0};
  auto s = client->stream_stats("c1", [&](const Json& j) {
    EXPECT_TRUE(j.contains("cpu_stats"));
    ++samples;
  });
  EXPECT_TRUE(eventually([&] { return s->done(); }));
  EXPECT_EQ(s->error(), "");
  EXPECT_EQ(samples.load(), 2);
  EXPECT_EQ(fe.last_request().target, "/v1.41/containers/c1/stats?stream=1");

  auto e = catch_error([&] { client->stream_stats("gone", [](const Json&) {}); });
  EXPECT_EQ(e.kind(), ErrorKind::not_found);

  auto bad = client->stream_stats("bad", [](const Json&) {});
  EXPECT_TRUE(eventually([&] { return bad->done(); }));
  EXPECT_TRUE(contains(bad->error(), "not JSON")) << bad->error();

  auto cut = client->stream_stats("cut", [](const Json&) {});
  EXPECT_TRUE(eventually([&] { return cut->done(); }));
  EXPECT_TRUE(contains(cut->error(), "closed the connection")) << cut->error();
}

TEST(EngineStreams, CallbackExceptionsEndTheStreamWithAnError) {
  FakeEngine fe;
  fe.on([&](const FakeRequest&, FakeConn& c) {
    c.write(chunked_head() + chunk("{\"a\":1}\n"));
    c.wait_client_close(5s);
  });
  auto client = make_engine_client(fe.socket_path(), 2s);
  auto s = client->stream_events(Json::object(), [](const Json&) { throw std::runtime_error("callback failed"); });
  EXPECT_TRUE(eventually([&] { return s->done(); }));
  EXPECT_EQ(s->error(), "callback failed");
}

TEST(EngineStreams, MultiplexedLogsSplitAcrossChunksAndReads) {
  FakeEngine fe;
  const std::string t = "2026-11-25T21:03:42.000000001Z";
  std::string payload = frame(1, t + " line one\n") + frame(2, t + " to stderr\n") + frame(1, t + " partial ") +
                        frame(1, "rest\n") + frame(1, t + " " + std::string(40000, 'x') + "\n");
  fe.on([&](const FakeRequest& r, FakeConn& c) {
    if (contains(r.target, "/json")) {
      c.write(http_response(200, kPlainInspect));
      return;
    }
    // Chunks of 13 bytes, so frame headers straddle chunk boundaries; written 5 bytes at a time.
    std::string wire = chunked_head(200, "");
    for (std::size_t i = 0; i < payload.size(); i += 13) wire += chunk(payload.substr(i, 13));
    wire += kLastChunk;
    dribble(c, wire.substr(0, 3000), 5);
    c.write(wire.substr(3000));
  });
  auto client = make_engine_client(fe.socket_path(), 2s);
  std::mutex mu;
  std::vector<LogLine> lines;
  LogOptions o;
  o.follow = true;
  o.tail = 10;
  auto s = client->stream_logs("c1", o, [&](const LogLine& l) {
    std::lock_guard lock(mu);
    lines.push_back(l);
  });
  EXPECT_TRUE(eventually([&] { return s->done(); }));
  EXPECT_EQ(s->error(), "");
  EXPECT_EQ(fe.last_request().target, "/v1.41/containers/c1/logs?follow=1&stdout=1&stderr=1&timestamps=1&tail=10");
  std::lock_guard lock(mu);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0].stream, "stdout");
  EXPECT_EQ(lines[0].data, "line one");
  EXPECT_EQ(lines[0].time, t);
  EXPECT_EQ(lines[1].stream, "stderr");
  EXPECT_EQ(lines[1].data, "to stderr");
  EXPECT_EQ(lines[2].data, "partial rest");
  EXPECT_EQ(lines[3].data, std::string(40000, 'x'));
}

TEST(EngineStreams, TtyLogsAreRaw) {
  FakeEngine fe;
  fe.on([&](const FakeRequest& r, FakeConn& c) {
    if (contains(r.target, "/json")) {
      c.write(http_response(200, kTtyInspect));
      return;
    }
    c.write(chunked_head(200, "application/vnd.docker.raw-stream") + chunk("hello from a tty\r\nsec") +
            chunk("ond\r\n") + kLastChunk);
  });
  auto client = make_engine_client(fe.socket_path(), 2s);
  std::mutex mu;
  std::vector<LogLine> lines;
  LogOptions o;
  o.timestamps = false;
  o.stderr_stream = false;
  auto s = client->stream_logs("c1", o, [&](const LogLine& l) {
    std::lock_guard lock(mu);
    lines.push_back(l);
  });
  EXPECT_TRUE(eventually([&] { return s->done(); }));
  EXPECT_EQ(s->error(), "");
  EXPECT_EQ(fe.last_request().target, "/v1.41/containers/c1/logs?follow=0&stdout=1&stderr=0&timestamps=0&tail=all");
  std::lock_guard lock(mu);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].data, "hello from a tty");
  EXPECT_EQ(lines[1].data, "second");
  EXPECT_EQ(lines[1].stream, "stdout");
}

TEST(EngineStreams, ContentTypeOfNewerEnginesDecidesTheFraming) {
  FakeEngine fe;
  std::atomic<bool> inspect_tty{false};
  fe.on([&](const FakeRequest& r, FakeConn& c) {
    if (contains(r.target, "/json")) {
      c.write(http_response(200, inspect_tty ? kTtyInspect : kPlainInspect));
    } else if (inspect_tty) {
      c.write(chunked_head(200, "application/vnd.docker.multiplexed-stream") + chunk(frame(2, "muxed\n")) + kLastChunk);
    } else {
      c.write(chunked_head(200, "application/vnd.docker.raw-stream") + chunk("raw\r\n") + kLastChunk);
    }
  });
  auto client = make_engine_client(fe.socket_path(), 2s);
  LogOptions o;
  o.timestamps = false;
  for (bool tty : {false, true}) {
    inspect_tty = tty;
    std::mutex mu;
    std::vector<LogLine> lines;
    auto s = client->stream_logs("c1", o, [&](const LogLine& l) {
      std::lock_guard lock(mu);
      lines.push_back(l);
    });
    EXPECT_TRUE(eventually([&] { return s->done(); }));
    EXPECT_EQ(s->error(), "");
    std::lock_guard lock(mu);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].data, tty ? "muxed" : "raw");
    EXPECT_EQ(lines[0].stream, tty ? "stderr" : "stdout");
  }
}

TEST(EngineStreams, LogsOfAMissingContainerThrowNotFound) {
  FakeEngine fe;
  fe.on([](const FakeRequest&, FakeConn& c) { c.write(http_response(404, R"({"message":"No such container: x"})")); });
  auto client = make_engine_client(fe.socket_path(), 2s);
  EXPECT_EQ(catch_error([&] { client->stream_logs("x", {}, [](const LogLine&) {}); }).kind(), ErrorKind::not_found);
}

TEST(EngineStreams, BadFrameInLogsEndsTheStreamWithAClearError) {
  FakeEngine fe;
  fe.on([&](const FakeRequest& r, FakeConn& c) {
    if (contains(r.target, "/json")) {
      c.write(http_response(200, kPlainInspect));
      return;
    }
    c.write(chunked_head() + chunk(frame(1, "ok\n") + "\x05garbage") + kLastChunk);
  });
  auto client = make_engine_client(fe.socket_path(), 2s);
  std::atomic<int> n{0};
  auto s = client->stream_logs("c1", {}, [&](const LogLine&) { ++n; });
  EXPECT_TRUE(eventually([&] { return s->done(); }));
  EXPECT_EQ(n.load(), 1);
  EXPECT_TRUE(contains(s->error(), "invalid frame header")) << s->error();
}

TEST(EngineStreams, StreamOpenTimesOutWhenNoHeadersCome) {
  FakeEngine fe;
  fe.on([](const FakeRequest&, FakeConn& c) { c.wait_client_close(5s); });
  auto client = make_engine_client(fe.socket_path(), 200ms);
  EXPECT_EQ(catch_error([&] { client->stream_events(Json::object(), [](const Json&) {}); }).kind(),
            ErrorKind::unavailable);
}

TEST(EngineClient, ConcurrentCallsFromManyThreads) {
  FakeEngine fe;
  fe.on([](const FakeRequest&, FakeConn& c) { c.write(http_response(200, R"({"Name":"n"})")); });
  auto client = make_engine_client(fe.socket_path(), 5s);
  std::atomic<int> ok{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 8; ++i) {
    ts.emplace_back([&] {
      for (int j = 0; j < 10; ++j) {
        if (client->info()["Name"] == "n") ++ok;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok.load(), 80);
}
