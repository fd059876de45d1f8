// The deployer on a real SQLite store in a temp dir, a ManualClock and fake agents (an AgentLink
// that records notifications; reports are sent with Deployer::set_state as agents would).
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <future>
#include <set>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "master/deployer/deployer.h"
#include "master/store/store.h"

namespace kontena::master::testing {

using Json = nlohmann::json;
using namespace std::chrono_literals;

class FakeLink final : public AgentLink {
 public:
  bool connected(std::int64_t node) const override {
    std::lock_guard lock(mu);
    return online.count(node) > 0;
  }
  bool notify(std::int64_t node, const std::string& method, nlohmann::json params) override {
    std::lock_guard lock(mu);
    sent.push_back({node, method, std::move(params)});
    return online.count(node) > 0;
  }
  std::future<protocol::RpcResponse> call(std::int64_t node, const std::string& method, nlohmann::json params,
                                          std::chrono::milliseconds timeout) override {
    std::promise<protocol::RpcResponse> p;
    {
      std::lock_guard lock(mu);
      calls.push_back({node, method, params, timeout});
    }
    p.set_value(answer ? answer(node, method, params) : protocol::rpc_error(1, 503, "not connected"));
    return p.get_future();
  }
  struct Sent {
    std::int64_t node;
    std::string method;
    Json params;
  };
  struct Call {
    std::int64_t node;
    std::string method;
    Json params;
    std::chrono::milliseconds timeout;
  };
  // Nodes that got a notification of this method since the last clear.
  std::set<std::int64_t> notified(const std::string& method = "/service_pods/notify_update") {
    std::lock_guard lock(mu);
    std::set<std::int64_t> out;
    for (auto& s : sent)
      if (s.method == method) out.insert(s.node);
    return out;
  }
  std::vector<Sent> of(const std::string& method) {
    std::lock_guard lock(mu);
    std::vector<Sent> out;
    for (auto& s : sent)
      if (s.method == method) out.push_back(s);
    return out;
  }
  void clear() {
    std::lock_guard lock(mu);
    sent.clear();
  }

  mutable std::mutex mu;
  std::set<std::int64_t> online;
  std::vector<Sent> sent;
  std::vector<Call> calls;
  std::function<protocol::RpcResponse(std::int64_t, const std::string&, const Json&)> answer;
};

class DeployerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() / ("kontena-deployer-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(dir_);
    store_ = open_sqlite_store({(dir_ / "master.db").string()});
    Grid g;
    g.name = "demo";
    g.token = "grid-token";
    g.created_at = g.updated_at = clock_.now_unix_ms();
    grid_ = store_->insert_grid(g);
    deployer_ = make_deployer();
  }
  void TearDown() override {
    deployer_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  DeployerOptions options() {
    DeployerOptions o;
    o.reschedule_interval = 5s;
    o.instance_timeout = 60s;
    o.random_seed = 42;
    return o;
  }
  std::unique_ptr<Deployer> make_deployer() { return std::make_unique<Deployer>(*store_, clock_, link_, options()); }

  Node add_node(const std::string& name, std::vector<std::string> labels = {}, bool online = true) {
    Node n;
    n.grid_id = grid_.id;
    n.name = name;
    n.node_id = name + "-engine";
    n.labels = std::move(labels);
    n.connected = online;
    n.connected_at = n.last_seen_at = clock_.now_unix_ms();
    n.info = {{"cpus", 4}, {"mem_total", 8LL << 30}};
    n.created_at = n.updated_at = clock_.now_unix_ms();
    auto out = store_->insert_node(n);
    if (online) link_.online.insert(out.id);
    return out;
  }
  void set_online(Node& n, bool online) {
    n = *store_->node_by_id(n.id);
    n.connected = online;
    n.last_seen_at = clock_.now_unix_ms();
    store_->update_node(n);
    std::lock_guard lock(link_.mu);
    if (online) link_.online.insert(n.id);
    else link_.online.erase(n.id);
  }
  void set_availability(Node& n, const std::string& availability) {
    n = *store_->node_by_id(n.id);
    n.availability = availability;
    store_->update_node(n);
    deployer_->node_availability_changed(n);
  }

  static Json spec(int instances, Json extra = Json::object()) {
    Json s = {{"image", "local/busybox:latest"},
              {"instances", instances},
              {"stateful", false},
              {"command", nullptr},
              {"environment", Json::array()},
              {"ports", Json::array()},
              {"volumes", Json::array()},
              {"affinity", Json::array()},
              {"links", Json::array()},
              {"secrets", Json::array()},
              {"deploy", {{"strategy", "ha"}, {"wait_for_port", nullptr}, {"min_health", 0.8}, {"interval", nullptr}}},
              {"hooks", {{"pre_start", Json::array()}, {"post_start", Json::array()}, {"pre_stop", Json::array()}}},
              {"health_check", nullptr},
              {"stop_grace_period", 10}};
    for (auto it = extra.begin(); it != extra.end(); ++it) s[it.key()] = it.value();
    return s;
  }
  Service add_service(const std::string& name, Json sp, std::int64_t stack_id = 0) {
    Service s;
    s.grid_id = grid_.id;
    s.stack_id = stack_id;
    s.name = name;
    s.spec = std::move(sp);
    s.created_at = s.updated_at = clock_.now_unix_ms();
    return store_->insert_service(s);
  }
  Service service(std::int64_t id) { return *store_->service_by_id(id); }
  ServiceDeploy last_deploy(std::int64_t service_id) {
    auto all = store_->deploys_of_service(service_id, 1);
    EXPECT_FALSE(all.empty());
    return all.empty() ? ServiceDeploy{} : all.front();
  }
  std::vector<ServiceInstance> instances(std::int64_t service_id) { return store_->instances_of_service(service_id); }

  void tick() { deployer_->tick(clock_.now()); }
  void advance(std::chrono::milliseconds d) {
    clock_.advance(d);
    tick();
  }

  // What an agent does: report every placed instance of the service running at its deploy_rev.
  // Returns how many reports were sent.
  int report_running(std::int64_t service_id) {
    int n = 0;
    for (const auto& i : instances(service_id)) {
      if (i.node_id == 0 || (i.rev == i.deploy_rev && i.state == "running")) continue;
      report(i, "running");
      ++n;
    }
    return n;
  }
  void report(const ServiceInstance& i, const std::string& state, const std::string& error = "") {
    deployer_->set_state(i.node_id, {{"service_id", std::to_string(i.service_id)},
                                     {"instance_number", i.instance_number},
                                     {"rev", i.deploy_rev},
                                     {"state", state},
                                     {"error", error.empty() ? Json() : Json(error)}});
  }
  // Drives a deploy to its end with agents that report at once. Returns the deploy.
  ServiceDeploy run_deploy(std::int64_t service_id, int max_rounds = 200) {
    for (int i = 0; i < max_rounds; ++i) {
      tick();
      auto d = last_deploy(service_id);
      if (d.state != "created" && d.state != "ongoing") return d;
      report_running(service_id);
      clock_.advance(10ms);
    }
    return last_deploy(service_id);
  }
  std::string node_name(std::int64_t id) {
    auto n = store_->node_by_id(id);
    return n ? n->name : "";
  }
  std::vector<EventLog> events(const std::string& service = "") {
    Store::LogFilter f;
    f.grid_id = grid_.id;
    f.service = service;
    f.limit = 1000;
    return store_->events(f);
  }
  bool has_event(const std::string& type, const std::string& contains) {
    for (const auto& e : events())
      if (e.type == type && e.message.find(contains) != std::string::npos) return true;
    return false;
  }

  std::filesystem::path dir_;
  ManualClock clock_;
  FakeLink link_;
  std::unique_ptr<Store> store_;
  Grid grid_;
  std::unique_ptr<Deployer> deployer_;
};

}  // namespace kontena::master::testing
