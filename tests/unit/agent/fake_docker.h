// A DockerClient for the agent's unit tests: info() answers a canned object (or fails the first
// N calls, as an unreachable engine does); list_containers answers set_containers() (for the
// service-pod reconciler); everything else is not used by the session logic yet.
#pragma once
#include <atomic>
#include <mutex>

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
  void start_container(const std::string&) override { unused("start_container"); }
  void stop_container(const std::string&, std::chrono::seconds) override { unused("stop_container"); }
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
  std::unique_ptr<docker::Stream> stream_events(const Json&, std::function<void(const Json&)>) override {
    unused("stream_events");
  }
  std::unique_ptr<docker::Stream> stream_logs(const std::string&, const docker::LogOptions&,
                                              std::function<void(const docker::LogLine&)>) override {
    unused("stream_logs");
  }
  std::unique_ptr<docker::Stream> stream_stats(const std::string&, std::function<void(const Json&)>) override {
    unused("stream_stats");
  }

 private:
  [[noreturn]] static void unused(const char* what) {
    fail(ErrorKind::internal, std::string("FakeDocker: ") + what + " is not faked");
  }

  std::mutex mutex_;
  Json info_;
  std::vector<docker::ContainerSummary> containers_;
  std::atomic<int> failures_{0};
  std::atomic<int> info_calls_{0};
};

}  // namespace kontena::agent::fakes
