// A DockerClient for the agent's unit tests: info() answers a canned object (or fails the first
// N calls, as an unreachable engine does); list_containers answers set_containers() (for the
// service-pod reconciler and the log shipper); exec answers set_exec(); stream_logs opens a fake
// stream the test writes lines into (emit_log) and ends (end_logs); networks live in a map
// (create/inspect/remove as Docker answers them, attach_to_network to make one busy); the rest is
// not faked.
#pragma once
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "agent/docker/docker_client.h"
#include "common/error.h"

namespace kontena::agent::fakes {

using Json = nlohmann::json;

class FakeDocker final : public docker::DockerClient {
 public:
  FakeDocker() {
    info_ = {{"ID", "QWER:TYUI:OPAS:DFGH:JKLZ:XCVB:NMQW:ERTY:UIOP:ASDF:GHJK:LZXC"},
             {"Name", "fake-node"},
             {"ServerVersion", "20.10.24"},
             {"OperatingSystem", "Debian GNU/Linux 12 (bookworm)"},
             {"KernelVersion", "6.1.0"},
             {"NCPU", 2},
             {"MemTotal", 4096LL * 1024 * 1024},
             {"Driver", "overlay2"},
             {"DockerRootDir", "/var/lib/docker"},
             {"ContainersRunning", 3},
             {"Labels", {"engine=label"}}};
  }

  void set_info(Json info) {
    std::lock_guard lock(mutex_);
    info_ = std::move(info);
  }
  void fail_next(int n) { failures_ = n; }
  int info_calls() const { return info_calls_; }

  Json info() override {
    ++info_calls_;
    if (failures_ > 0) {
      --failures_;
      fail(ErrorKind::unavailable, "cannot reach the Docker Engine at /fake.sock: Connection refused (is dockerd running?)");
    }
    std::lock_guard lock(mutex_);
    return info_;
  }
  Json version() override { return {{"Version", "20.10.24"}, {"ApiVersion", "1.41"}}; }
  bool ping() override { return failures_ == 0; }

  std::optional<Json> inspect_image(const std::string&) override { return std::nullopt; }
  void pull_image(const std::string&, const std::string&, const std::function<void(const docker::PullProgress&)>&) override {
    unused("pull_image");
  }
  void ensure_image(const std::string&, const std::string&, const std::function<void(const docker::PullProgress&)>&) override {
    unused("ensure_image");
  }
  std::string create_container(const docker::ContainerSpec&) override { unused("create_container"); }
  // start/stop only record the call ("start ID", "stop ID GRACE") and set the listed state.
  void start_container(const std::string& id) override { lifecycle("start " + id, id, "running"); }
  void stop_container(const std::string& id, std::chrono::seconds grace) override {
    lifecycle("stop " + id + " " + std::to_string(grace.count()), id, "exited");
  }
  std::vector<std::string> lifecycle_calls() {
    std::lock_guard lock(mutex_);
    return lifecycle_;
  }
  void kill_container(const std::string&, const std::string&) override { unused("kill_container"); }
  void remove_container(const std::string&, bool, bool) override { unused("remove_container"); }
  std::optional<Json> inspect_container(const std::string&) override { return std::nullopt; }
  // The containers list_containers answers (filters ignored); empty unless set.
  void set_containers(std::vector<docker::ContainerSummary> containers) {
    std::lock_guard lock(mutex_);
    containers_ = std::move(containers);
  }
  std::vector<docker::ContainerSummary> list_containers(const std::vector<std::string>&, bool) override {
    std::lock_guard lock(mutex_);
    return containers_;
  }
  Json container_stats(const std::string&) override { unused("container_stats"); }

  // --- exec
  struct ExecCall {
    std::string container;
    std::vector<std::string> cmd;
    std::chrono::milliseconds timeout{0};
  };
  void set_exec(std::function<docker::ExecResult(const ExecCall&)> f) {
    std::lock_guard lock(mutex_);
    exec_ = std::move(f);
  }
  std::vector<ExecCall> exec_calls() {
    std::lock_guard lock(mutex_);
    return exec_calls_;
  }
  docker::ExecResult exec(const std::string& container, const std::vector<std::string>& cmd,
                          std::chrono::milliseconds timeout) override {
    std::function<docker::ExecResult(const ExecCall&)> f;
    ExecCall call{container, cmd, timeout};
    {
      std::lock_guard lock(mutex_);
      exec_calls_.push_back(call);
      f = exec_;
    }
    if (!f) unused("exec");
    return f(call);
  }

  // --- logs: one fake stream per stream_logs call
  struct LogStreamState {
    std::string id;
    docker::LogOptions options;
    std::function<void(const docker::LogLine&)> on_line;
    std::mutex mu;  // held while a line is delivered; cancel() waits for it
    std::atomic<bool> cancelled{false};
    std::atomic<bool> ended{false};
  };
  class FakeLogStream final : public docker::Stream {
   public:
    explicit FakeLogStream(std::shared_ptr<LogStreamState> s) : s_(std::move(s)) {}
    ~FakeLogStream() override { cancel(); }
    void cancel() override {
      s_->cancelled = true;
      std::lock_guard lock(s_->mu);  // a line being delivered is finished first
    }
    bool done() const override { return s_->ended || s_->cancelled; }
    std::string error() const override { return {}; }

   private:
    std::shared_ptr<LogStreamState> s_;
  };
  // Containers for which stream_logs throws not_found.
  void set_logs_missing(const std::string& id) {
    std::lock_guard lock(mutex_);
    logs_missing_.push_back(id);
  }
  std::unique_ptr<docker::Stream> stream_logs(const std::string& id, const docker::LogOptions& options,
                                              std::function<void(const docker::LogLine&)> on_line) override {
    std::lock_guard lock(mutex_);
    for (const auto& m : logs_missing_)
      if (m == id) fail(ErrorKind::not_found, "no such container: " + id);
    auto s = std::make_shared<LogStreamState>();
    s->id = id;
    s->options = options;
    s->on_line = std::move(on_line);
    log_streams_.push_back(s);
    return std::make_unique<FakeLogStream>(s);
  }
  // Every stream_logs call so far (options as asked), oldest first.
  std::vector<std::shared_ptr<LogStreamState>> log_streams() {
    std::lock_guard lock(mutex_);
    return log_streams_;
  }
  std::size_t log_streams_of(const std::string& id) {
    std::lock_guard lock(mutex_);
    std::size_t n = 0;
    for (auto& s : log_streams_) n += s->id == id ? 1 : 0;
    return n;
  }
  // Delivers a line on the newest open stream of the container (false: none open).
  bool emit_log(const std::string& id, const std::string& stream, const std::string& data, const std::string& time) {
    std::shared_ptr<LogStreamState> target;
    {
      std::lock_guard lock(mutex_);
      for (auto it = log_streams_.rbegin(); it != log_streams_.rend(); ++it)
        if ((*it)->id == id) {
          target = *it;
          break;
        }
    }
    if (!target) return false;
    std::lock_guard lock(target->mu);
    if (target->cancelled || target->ended) return false;
    target->on_line(docker::LogLine{stream, data, time});
    return true;
  }
  // The container's open stream ends by itself (the container stopped).
  void end_logs(const std::string& id) {
    std::lock_guard lock(mutex_);
    for (auto& s : log_streams_)
      if (s->id == id) s->ended = true;
  }
  // --- networks, answered as Docker would (GET /networks/{name} shape)
  std::optional<Json> inspect_network(const std::string& name) override {
    std::lock_guard lock(mutex_);
    auto it = networks_.find(name);
    if (it == networks_.end()) return std::nullopt;
    return it->second;
  }
  std::string create_network(const docker::NetworkSpec& spec) override {
    std::lock_guard lock(mutex_);
    network_calls_.push_back("create " + spec.name);
    if (networks_.count(spec.name)) fail(ErrorKind::conflict, "network with name " + spec.name + " already exists");
    std::string id = "net" + std::to_string(++network_ids_);
    Json pool = {{"Subnet", spec.subnet}};
    if (!spec.gateway.empty()) pool["Gateway"] = spec.gateway;
    if (!spec.ip_range.empty()) pool["IPRange"] = spec.ip_range;
    Json net = {{"Name", spec.name},
                {"Id", id},
                {"Driver", spec.driver},
                {"IPAM", {{"Driver", "default"}, {"Config", Json::array({pool})}}},
                {"Options", Json::object()},
                {"Labels", Json::object()},
                {"Containers", Json::object()}};
    for (const auto& [k, v] : spec.options) net["Options"][k] = v;
    for (const auto& [k, v] : spec.labels) net["Labels"][k] = v;
    networks_[spec.name] = net;
    return id;
  }
  void remove_network(const std::string& name) override {
    std::lock_guard lock(mutex_);
    network_calls_.push_back("remove " + name);
    auto it = networks_.find(name);
    if (it == networks_.end()) fail(ErrorKind::not_found, "network " + name + " not found");
    if (!it->second["Containers"].empty()) fail(ErrorKind::conflict, "network " + name + " has active endpoints");
    networks_.erase(it);
  }
  // A network as inspect_network answers it (for states Docker could be found in).
  void set_network(const std::string& name, Json network) {
    std::lock_guard lock(mutex_);
    networks_[name] = std::move(network);
  }
  void attach_to_network(const std::string& network, const std::string& container_id, const std::string& container_name) {
    std::lock_guard lock(mutex_);
    networks_.at(network)["Containers"][container_id] = {{"Name", container_name}};
  }
  // "create NAME" / "remove NAME", oldest first.
  std::vector<std::string> network_calls() {
    std::lock_guard lock(mutex_);
    return network_calls_;
  }

  std::unique_ptr<docker::Stream> stream_events(const Json&, std::function<void(const Json&)>) override {
    unused("stream_events");
  }
  std::unique_ptr<docker::Stream> stream_stats(const std::string&, std::function<void(const Json&)>) override {
    unused("stream_stats");
  }

 private:
  void lifecycle(std::string call, const std::string& id, const std::string& state) {
    std::lock_guard lock(mutex_);
    lifecycle_.push_back(std::move(call));
    for (auto& c : containers_)
      if (c.id == id || c.name == id) c.state = state;
  }
  [[noreturn]] static void unused(const char* what) {
    fail(ErrorKind::internal, std::string("FakeDocker: ") + what + " is not faked");
  }

  std::mutex mutex_;
  Json info_;
  std::vector<docker::ContainerSummary> containers_;
  std::function<docker::ExecResult(const ExecCall&)> exec_;
  std::vector<std::string> lifecycle_;
  std::vector<ExecCall> exec_calls_;
  std::vector<std::string> logs_missing_;
  std::vector<std::shared_ptr<LogStreamState>> log_streams_;
  std::map<std::string, Json> networks_;
  std::vector<std::string> network_calls_;
  int network_ids_ = 0;
  std::atomic<int> failures_{0};
  std::atomic<int> info_calls_{0};
};

}  // namespace kontena::agent::fakes
