// Helpers of the etcd supervisor tests: temporary directories, free loopback ports, a client
// factory over one shared FakeEtcd, waiting for a condition, and a reaper that kills (by PID) every
// process a test saw, even when the test failed half-way.
#pragma once
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "agent/etcd/member_process.h"
#include "fake_etcd.h"

namespace kontena::agent::etcd::testing {

inline std::string make_temp_dir(const std::string& prefix) {
  std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
  char* made = ::mkdtemp(pattern.data());
  if (!made) throw std::runtime_error("mkdtemp failed for " + pattern);
  return made;
}

// A loopback port nobody listens on now (bound to port 0, then released).
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

inline bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return condition();
}

// Forwards to a FakeEtcd shared by every client the factory makes.
class SharedFakeClient : public kontena::etcd::EtcdClient {
 public:
  explicit SharedFakeClient(std::shared_ptr<kontena::etcd::FakeEtcd> fake) : fake_(std::move(fake)) {}
  std::optional<kontena::etcd::KeyValue> get(const std::string& key) override { return fake_->get(key); }
  std::vector<kontena::etcd::KeyValue> list(const std::string& prefix, std::int64_t limit) override {
    return fake_->list(prefix, limit);
  }
  std::int64_t revision(const std::string& prefix) override { return fake_->revision(prefix); }
  void put(const std::string& key, const std::string& value, std::int64_t lease) override { fake_->put(key, value, lease); }
  bool create(const std::string& key, const std::string& value, std::int64_t lease) override {
    return fake_->create(key, value, lease);
  }
  bool compare_and_swap(const std::string& key, std::int64_t mod_revision, const std::string& value,
                        std::int64_t lease) override {
    return fake_->compare_and_swap(key, mod_revision, value, lease);
  }
  bool compare_and_delete(const std::string& key, const std::string& value) override {
    return fake_->compare_and_delete(key, value);
  }
  std::int64_t remove(const std::string& key, bool prefix) override { return fake_->remove(key, prefix); }
  std::int64_t lease_grant(std::chrono::seconds ttl) override { return fake_->lease_grant(ttl); }
  bool lease_keepalive(std::int64_t lease) override { return fake_->lease_keepalive(lease); }
  void lease_revoke(std::int64_t lease) override { fake_->lease_revoke(lease); }
  std::vector<kontena::etcd::Member> members() override { return fake_->members(); }
  std::uint64_t member_add(const std::vector<std::string>& peer_urls) override { return fake_->member_add(peer_urls); }
  void member_remove(std::uint64_t id) override { fake_->member_remove(id); }
  std::vector<kontena::etcd::EndpointStatus> endpoint_status() override { return fake_->endpoint_status(); }

 private:
  std::shared_ptr<kontena::etcd::FakeEtcd> fake_;
};

// Remembers (pid, start time) of every process a test saw; kill_all() SIGKILLs those still running
// (the start time guards against a reused pid) and reaps them.
class Reaper {
 public:
  void track(int pid) {
    if (pid <= 0 || pid == ::getpid()) return;
    if (auto start = process_start_time(pid)) seen_.insert({pid, *start});
  }
  void track_pid_file(const std::string& path) {
    if (auto recorded = read_pid_file(path); recorded && recorded->pid != ::getpid()) seen_.insert({recorded->pid, recorded->start_time});
  }
  void kill_all() {
    for (auto [pid, start] : seen_) {
      auto now = process_start_time(pid);
      if (now && *now == start) ::kill(pid, SIGKILL);
      for (int i = 0; i < 100; ++i) {
        int status = 0;
        pid_t reaped = ::waitpid(pid, &status, WNOHANG);
        if (reaped == pid || reaped < 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    seen_.clear();
  }

 private:
  std::set<std::pair<int, std::uint64_t>> seen_;
};

}  // namespace kontena::agent::etcd::testing
