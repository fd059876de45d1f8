// The agent hub on a real SQLite store in a temp dir, a ManualClock and fake channels: no sockets.
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/ostream_sink.h>

#include "common/clock.h"
#include "common/log.h"
#include "master/agents/agent_hub.h"
#include "master/agents/handshake.h"
#include "master/store/store.h"
#include "protocol/agent_protocol.h"

namespace kontena::master::testing {

using Json = nlohmann::json;
using namespace std::chrono_literals;

// Records what the hub sends.
class FakeChannel final : public NodeChannel {
 public:
  void send_text(std::string text) override {
    std::lock_guard lock(mu);
    if (!closed) texts.push_back(std::move(text));
  }
  void ping(std::string payload) override {
    std::lock_guard lock(mu);
    if (!closed) pings.push_back(std::move(payload));
  }
  void close(std::uint16_t code, std::string reason) override {
    std::lock_guard lock(mu);
    if (closed) return;
    closed = true;
    close_code = code;
    close_reason = std::move(reason);
  }
  std::string remote_address() const override { return "192.0.2.1:40000"; }

  // The sent messages, parsed.
  std::vector<Json> messages() {
    std::lock_guard lock(mu);
    std::vector<Json> out;
    for (const auto& t : texts) out.push_back(Json::parse(t));
    return out;
  }
  Json last() {
    auto all = messages();
    return all.empty() ? Json() : all.back();
  }
  // Messages of one notification method.
  std::vector<Json> notifications(std::string_view method) {
    std::vector<Json> out;
    for (auto& m : messages())
      if (m.is_array() && m.size() == 3 && m[0] == 2 && m[1] == method) out.push_back(m[2]);
    return out;
  }
  // The response with this id (null when none).
  Json response(std::int64_t id) {
    for (auto& m : messages())
      if (m.is_array() && m.size() == 4 && m[0] == 1 && m[1] == id) return m;
    return Json();
  }
  void clear() {
    std::lock_guard lock(mu);
    texts.clear();
    pings.clear();
  }

  std::mutex mu;
  std::vector<std::string> texts;
  std::vector<std::string> pings;
  bool closed = false;
  std::optional<std::uint16_t> close_code;
  std::string close_reason;
};

struct Agent {
  std::shared_ptr<FakeChannel> channel;
  std::shared_ptr<ChannelListener> listener;
  bool admitted() const { return listener != nullptr; }
  std::uint16_t close_code() const { return channel->close_code.value_or(0); }
  void say(const Json& message) { listener->on_text(message.dump()); }
};

// Captures log lines for the duration of a test.
class LogCapture {
 public:
  LogCapture() {
    previous_ = spdlog::default_logger();
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    auto logger = std::make_shared<spdlog::logger>("capture", sink);
    logger->set_level(spdlog::level::debug);
    logger->set_pattern("%l %v");
    spdlog::set_default_logger(logger);
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

class HubFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() / ("kontena-hub-test-" + std::to_string(rd()) + std::to_string(rd()));
    store_ = open_sqlite_store({(dir_ / "master.db").string()});
    grid_ = make_grid("demo", "grid-token-demo");
    hub_ = std::make_unique<AgentHub>(*store_, clock_, options());
  }
  void TearDown() override {
    hub_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  virtual AgentHubOptions options() { return {}; }

  Grid make_grid(const std::string& name, const std::string& token, int initial_size = 3) {
    Grid g;
    g.name = name;
    g.token = token;
    g.initial_size = initial_size;
    g.created_at = g.updated_at = clock_.now_unix_ms();
    return store_->insert_grid(g);
  }
  // A node pre-created with a node token (as POST /v1/grids/:grid/nodes does).
  Node precreate(const std::string& name, const std::string& token, std::vector<std::string> labels = {}) {
    Node n;
    n.grid_id = grid_.id;
    n.name = name;
    n.token = token;
    n.labels = std::move(labels);
    n.created_at = n.updated_at = clock_.now_unix_ms();
    return store_->insert_node(n);
  }

  std::string now_header(std::chrono::milliseconds offset = 0ms) {
    return agents::format_connected_at(clock_.now() + offset);
  }
  std::map<std::string, std::string> grid_headers(const std::string& node_id, const std::string& name,
                                                  const std::string& token = "grid-token-demo") {
    return {{"kontena-grid-token", token},
            {"kontena-node-id", node_id},
            {"kontena-node-name", name},
            {"kontena-version", KONTENA_VERSION},
            {"kontena-connected-at", now_header()}};
  }
  std::map<std::string, std::string> node_token_headers(const std::string& node_id, const std::string& token) {
    return {{"kontena-node-token", token},
            {"kontena-node-id", node_id},
            {"kontena-node-name", "host-" + node_id.substr(0, 4)},
            {"kontena-version", KONTENA_VERSION},
            {"kontena-connected-at", now_header()}};
  }
  Agent connect(const std::map<std::string, std::string>& headers) {
    HttpRequest req;
    req.method = "GET";
    req.path = "/";
    req.headers = headers;
    req.source_ip = "192.0.2.1";
    Agent a;
    a.channel = std::make_shared<FakeChannel>();
    a.listener = hub_->open(req, a.channel);
    return a;
  }
  Agent connect_grid(const std::string& node_id, const std::string& name) {
    return connect(grid_headers(node_id, name));
  }

  std::optional<Node> node(const std::string& name) { return store_->node_by_name(grid_.id, name); }
  // Everything about the grid's nodes, to compare before and after a rejected handshake.
  std::string snapshot() {
    Json all = Json::array();
    for (const auto& n : store_->nodes_of_grid(grid_.id))
      all.push_back({n.id, n.name, n.node_id, n.node_number, n.token, n.labels, n.connected, n.connected_at,
                     n.last_seen_at, n.info, n.updated_at});
    return all.dump();
  }

  static std::string id(char c) {  // a Docker-style engine ID made of one character
    std::string s;
    for (int i = 0; i < 12; ++i) {
      if (i) s += ':';
      s += std::string(4, c);
    }
    return s;
  }

  std::filesystem::path dir_;
  ManualClock clock_;
  std::unique_ptr<Store> store_;
  Grid grid_;
  std::unique_ptr<AgentHub> hub_;
};

}  // namespace kontena::master::testing
