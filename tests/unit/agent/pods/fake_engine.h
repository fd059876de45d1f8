// An in-memory Docker Engine for the reconciler's unit tests: containers with names, labels,
// states and images; a call log; injectable failures. Containers "run" until the test crashes
// them. One-off hook containers (label io.kontena.container.type=hook) exit as soon as they
// start, with the code given by a trailing "exit N" in their command (0 otherwise). Thread-safe
// (the reconciler applies the actions of different pods concurrently); an optional latency makes
// create/start/stop/remove take time, and the most such calls seen in flight at once is kept.
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/docker/docker_client.h"
#include "common/error.h"
#include "protocol/service_pod.h"

namespace kontena::agent::pods::testing {

using Json = nlohmann::json;

struct FakeContainer {
  std::string id;
  docker::ContainerSpec spec;
  std::string image_id;
  std::string state = "created";  // created | running | exited | dead
  int exit_code = 0;
  std::string ip;
  std::string started_at = "0001-01-01T00:00:00Z";
  std::string finished_at = "0001-01-01T00:00:00Z";
  std::int64_t created = 0;
  int starts = 0;
};

class FakeEngine final : public docker::DockerClient {
 public:
  // --- test controls
  void add_image(const std::string& name, const std::string& id) {
    std::lock_guard l(mu_);
    images_[name] = id;
  }
  void set_registry_image(const std::string& name, const std::string& id) {
    std::lock_guard l(mu_);
    registry_[name] = id;
  }
  // The next call of `method` throws kind/message (once per entry).
  void fail_next(const std::string& method, ErrorKind kind = ErrorKind::invalid, std::string message = "injected") {
    std::lock_guard l(mu_);
    failures_[method].push_back({kind, std::move(message)});
  }
  // The container stops by itself (a crash), having run `ran_ms` (for Docker's Started/FinishedAt).
  void crash(const std::string& id_or_name, int exit_code = 1, long ran_ms = 500, const std::string& state = "exited") {
    std::lock_guard l(mu_);
    auto* c = find(id_or_name);
    if (!c) throw std::runtime_error("crash: no container " + id_or_name);
    c->state = state;
    c->exit_code = exit_code;
    c->started_at = "2026-01-01T00:00:00Z";
    char buf[64];
    std::snprintf(buf, sizeof buf, "2026-01-01T00:%02ld:%02ld.%03ldZ", ran_ms / 60000, (ran_ms / 1000) % 60, ran_ms % 1000);
    c->finished_at = buf;
  }
  // A container made by someone else (e.g. an older agent), as Docker would list it.
  std::string add_container(docker::ContainerSpec spec, const std::string& state = "running") {
    std::lock_guard l(mu_);
    FakeContainer c;
    c.id = next_id();
    c.spec = std::move(spec);
    c.image_id = images_.count(c.spec.image) ? images_[c.spec.image] : "sha256:unknown";
    c.state = state;
    c.created = ++created_;
    c.ip = "172.17.0." + std::to_string(10 + containers_.size());
    containers_.push_back(c);
    return c.id;
  }
  // From now on every start gives the container a new address (as Docker may after a stop).
  void new_address_on_start(bool on = true) {
    std::lock_guard l(mu_);
    new_address_on_start_ = on;
  }
  // create/start/stop/remove take this long (outside the engine's lock, as a real engine's
  // calls run side by side).
  void set_latency(std::chrono::milliseconds d) { latency_ms_ = d.count(); }
  int max_in_flight() const { return max_in_flight_.load(); }
  std::vector<FakeContainer> containers() const {
    std::lock_guard l(mu_);
    return containers_;
  }
  std::optional<FakeContainer> container(const std::string& id_or_name) const {
    std::lock_guard l(mu_);
    for (auto& c : containers_)
      if (c.id == id_or_name || c.spec.name == id_or_name) return c;
    return std::nullopt;
  }
  std::vector<std::string> calls() const {
    std::lock_guard l(mu_);
    return calls_;
  }
  // Calls that change something (create/start/stop/remove/pull/kill), for idempotency checks.
  std::vector<std::string> mutations() const {
    std::lock_guard l(mu_);
    std::vector<std::string> out;
    for (auto& c : calls_)
      if (c.rfind("create ", 0) == 0 || c.rfind("start ", 0) == 0 || c.rfind("stop ", 0) == 0 ||
          c.rfind("remove ", 0) == 0 || c.rfind("kill ", 0) == 0 || c.rfind("pull ", 0) == 0)
        out.push_back(c);
    return out;
  }
  void clear_calls() {
    std::lock_guard l(mu_);
    calls_.clear();
  }
  std::vector<docker::ContainerSpec> hook_specs() const {
    std::lock_guard l(mu_);
    return hook_specs_;
  }
  int events_opened() const {
    std::lock_guard l(mu_);
    return events_opened_;
  }

  // --- DockerClient
  Json info() override { return Json::object(); }
  Json version() override { return Json::object(); }
  bool ping() override { return true; }

  std::optional<Json> inspect_image(const std::string& image) override {
    std::lock_guard l(mu_);
    record("inspect_image " + image);
    auto it = images_.find(image);
    if (it == images_.end()) return std::nullopt;
    return Json{{"Id", it->second}};
  }
  void pull_image(const std::string& image, const std::string&,
                  const std::function<void(const docker::PullProgress&)>&) override {
    std::lock_guard l(mu_);
    record("pull " + image);
    maybe_fail("pull");
    auto it = registry_.find(image);
    if (it == registry_.end())
      fail(ErrorKind::unavailable, "cannot pull image " + image + ": the registry cannot be reached");
    images_[image] = it->second;
  }
  void ensure_image(const std::string& image, const std::string& auth,
                    const std::function<void(const docker::PullProgress&)>& progress) override {
    {
      std::lock_guard l(mu_);
      record("ensure_image " + image);
      maybe_fail("ensure_image");
      if (images_.count(image)) return;
    }
    pull_image(image, auth, progress);
  }

  std::string create_container(const docker::ContainerSpec& spec) override {
    Busy busy(*this);
    std::lock_guard l(mu_);
    record("create " + spec.name);
    maybe_fail("create");
    if (find(spec.name)) fail(ErrorKind::conflict, "Conflict. The container name \"/" + spec.name + "\" is already in use");
    if (!images_.count(spec.image)) fail(ErrorKind::not_found, "No such image: " + spec.image);
    FakeContainer c;
    c.id = next_id();
    c.spec = spec;
    c.image_id = images_[spec.image];
    c.created = ++created_;
    c.ip = "172.17.0." + std::to_string(10 + containers_.size());
    auto t = spec.labels.find(protocol::kLabelContainerType);
    if (t != spec.labels.end() && t->second == protocol::kContainerTypeHook) hook_specs_.push_back(spec);
    containers_.push_back(c);
    return c.id;
  }
  void start_container(const std::string& id) override {
    Busy busy(*this);
    std::lock_guard l(mu_);
    auto* c = must(id);
    record("start " + c->spec.name);
    maybe_fail("start");
    if (c->state == "dead") fail(ErrorKind::invalid, "container is marked for removal and cannot be started");
    c->starts++;
    auto t = c->spec.labels.find(protocol::kLabelContainerType);
    if (t != c->spec.labels.end() && t->second == protocol::kContainerTypeHook) {
      c->state = "exited";
      c->exit_code = 0;
      std::string cmd = c->spec.cmd.empty() ? "" : c->spec.cmd.back();
      auto p = cmd.rfind("exit ");
      if (p != std::string::npos) c->exit_code = std::atoi(cmd.c_str() + p + 5);
      return;
    }
    c->state = "running";
    if (new_address_on_start_) c->ip = "172.18.0." + std::to_string(++addresses_);
  }
  void stop_container(const std::string& id, std::chrono::seconds grace) override {
    Busy busy(*this);
    std::lock_guard l(mu_);
    auto* c = must(id);
    record("stop " + c->spec.name + " " + std::to_string(grace.count()));
    maybe_fail("stop");
    if (c->state == "running") {
      c->state = "exited";
      c->exit_code = 143;
    }
  }
  void kill_container(const std::string& id, const std::string&) override {
    std::lock_guard l(mu_);
    auto* c = must(id);
    record("kill " + c->spec.name);
    c->state = "exited";
  }
  void remove_container(const std::string& id, bool force, bool) override {
    Busy busy(*this);
    std::lock_guard l(mu_);
    auto* c = find(id);
    record("remove " + (c ? c->spec.name : id));
    maybe_fail("remove");
    if (!c) fail(ErrorKind::not_found, "No such container: " + id);
    if (c->state == "running" && !force) fail(ErrorKind::conflict, "container is running");
    std::string cid = c->id;
    containers_.erase(std::remove_if(containers_.begin(), containers_.end(),
                                     [&](const FakeContainer& x) { return x.id == cid; }),
                      containers_.end());
  }
  std::optional<Json> inspect_container(const std::string& id) override {
    std::lock_guard l(mu_);
    record("inspect " + id);
    auto* c = find(id);
    if (!c) return std::nullopt;
    return Json{{"Id", c->id},
                {"Name", "/" + c->spec.name},
                {"Config", {{"Labels", c->spec.labels}}},
                {"State",
                 {{"Status", c->state},
                  {"Running", c->state == "running"},
                  {"ExitCode", c->exit_code},
                  {"StartedAt", c->started_at},
                  {"FinishedAt", c->finished_at}}},
                {"NetworkSettings", {{"IPAddress", c->ip}, {"Networks", {{"bridge", {{"IPAddress", c->ip}}}}}}}};
  }
  std::vector<docker::ContainerSummary> list_containers(const std::vector<std::string>& filters, bool all) override {
    std::lock_guard l(mu_);
    record("list");
    maybe_fail("list");
    std::vector<docker::ContainerSummary> out;
    for (auto& c : containers_) {
      if (!all && c.state != "running") continue;
      bool match = true;
      for (auto& f : filters) {
        auto eq = f.find('=');
        auto it = c.spec.labels.find(f.substr(0, eq));
        if (it == c.spec.labels.end() || (eq != std::string::npos && it->second != f.substr(eq + 1))) match = false;
      }
      if (!match) continue;
      out.push_back({c.id, c.spec.name, c.spec.image, c.image_id, c.state, "", c.spec.labels, c.created});
    }
    return out;
  }
  // Runs "in" a running container: the exit code is a trailing "exit N" of the last argument
  // (0 otherwise), stdout echoes that argument.
  docker::ExecResult exec(const std::string& id, const std::vector<std::string>& cmd, std::chrono::milliseconds) override {
    std::lock_guard l(mu_);
    auto* c = must(id);
    record("exec " + c->spec.name + " " + (cmd.empty() ? "" : cmd.back()));
    maybe_fail("exec");
    if (c->state != "running") fail(ErrorKind::conflict, "Container " + id + " is not running");
    docker::ExecResult r;
    r.exit_code = 0;
    std::string last = cmd.empty() ? "" : cmd.back();
    if (auto p = last.rfind("exit "); p != std::string::npos) r.exit_code = std::atoi(last.c_str() + p + 5);
    r.stdout_data = last + "\n";
    return r;
  }
  Json container_stats(const std::string&) override { return Json::object(); }
  std::unique_ptr<docker::Stream> stream_events(const Json&, std::function<void(const Json&)>) override {
    std::lock_guard l(mu_);
    events_opened_++;
    fail(ErrorKind::unavailable, "no events in the fake");
  }
  std::unique_ptr<docker::Stream> stream_logs(const std::string&, const docker::LogOptions&,
                                              std::function<void(const docker::LogLine&)>) override {
    fail(ErrorKind::internal, "not faked");
  }
  std::unique_ptr<docker::Stream> stream_stats(const std::string&, std::function<void(const Json&)>) override {
    fail(ErrorKind::internal, "not faked");
  }

 private:
  // One slow call in flight.
  struct Busy {
    explicit Busy(FakeEngine& e) : e(e) {
      int n = ++e.in_flight_;
      for (int m = e.max_in_flight_.load(); n > m && !e.max_in_flight_.compare_exchange_weak(m, n);) {
      }
      if (long ms = e.latency_ms_.load(); ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    }
    ~Busy() { --e.in_flight_; }
    FakeEngine& e;
  };
  struct Failure {
    ErrorKind kind;
    std::string message;
  };
  std::string next_id() {
    char buf[32];
    std::snprintf(buf, sizeof buf, "c%04d", ++ids_);
    return std::string(buf) + std::string(60, '0');
  }
  FakeContainer* find(const std::string& id_or_name) {
    for (auto& c : containers_)
      if (c.id == id_or_name || c.spec.name == id_or_name) return &c;
    return nullptr;
  }
  FakeContainer* must(const std::string& id) {
    auto* c = find(id);
    if (!c) fail(ErrorKind::not_found, "No such container: " + id);
    return c;
  }
  void record(std::string s) { calls_.push_back(std::move(s)); }
  void maybe_fail(const std::string& method) {
    auto it = failures_.find(method);
    if (it == failures_.end() || it->second.empty()) return;
    Failure f = it->second.front();
    it->second.erase(it->second.begin());
    fail(f.kind, f.message);
  }

  mutable std::mutex mu_;
  std::vector<FakeContainer> containers_;
  std::map<std::string, std::string> images_;
  std::map<std::string, std::string> registry_;
  std::map<std::string, std::vector<Failure>> failures_;
  std::vector<std::string> calls_;
  std::vector<docker::ContainerSpec> hook_specs_;
  int ids_ = 0;
  std::int64_t created_ = 0;
  int events_opened_ = 0;
  bool new_address_on_start_ = false;
  std::atomic<long> latency_ms_{0};
  std::atomic<int> in_flight_{0};
  std::atomic<int> max_in_flight_{0};
  int addresses_ = 0;
};

// An instance of service `name` (stack shop, grid demo) that sleeps in local/busybox:latest:
// revision 1, deploy d1, 1 s stop grace. What the reconciler tests start from and change.
inline protocol::ServicePod sleeping_pod(const std::string& name, int n) {
  protocol::ServicePod p;
  p.service_id = "id-" + name;
  p.service_name = name;
  p.stack_name = "shop";
  p.grid_name = "demo";
  p.instance_number = n;
  p.service_revision = 1;
  p.deploy_rev = "d1";
  p.image = "local/busybox:latest";
  p.cmd = std::vector<std::string>{"sleep", "1000"};
  p.stop_grace_period = 1;
  return p;
}

}  // namespace kontena::agent::pods::testing
