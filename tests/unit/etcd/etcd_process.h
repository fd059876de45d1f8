// Real etcd members on loopback for tests (header-only): free high ports, a data dir under a temp
// dir, the process started with fork/exec and killed by its PID (also when the test binary dies:
// PR_SET_PDEATHSIG). Logs go to <dir>/<name>.log.
#pragma once
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "etcd/http_etcd_client.h"

namespace kontena::etcd::testing {

inline constexpr const char* kEtcdBinary = "/usr/bin/etcd";

inline bool etcd_installed() { return ::access(kEtcdBinary, X_OK) == 0; }

// A port nobody listens on now (the kernel's pick for 127.0.0.1:0).
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot pick a free port");
  }
  int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

struct EtcdMember {
  std::string name;
  std::string client_url;
  std::string peer_url;
  pid_t pid = -1;
  bool paused = false;
};

// A cluster of `size` members ("m1".."mN") started together; destroyed = every member killed and
// the data removed.
class EtcdCluster {
 public:
  explicit EtcdCluster(int size) {
    dir_ = std::filesystem::temp_directory_path() /
           ("kontena-etcd-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::string initial_cluster;
    for (int i = 1; i <= size; ++i) {
      EtcdMember member;
      member.name = "m" + std::to_string(i);
      member.client_url = "http://127.0.0.1:" + std::to_string(free_port());
      member.peer_url = "http://127.0.0.1:" + std::to_string(free_port());
      initial_cluster += (initial_cluster.empty() ? "" : ",") + member.name + "=" + member.peer_url;
      members_.push_back(member);
    }
    for (auto& member : members_) start(member, initial_cluster);
  }
  ~EtcdCluster() {
    for (auto& member : members_) kill(member);
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  std::vector<EtcdMember>& members() { return members_; }
  std::vector<std::string> client_urls() const {
    std::vector<std::string> urls;
    for (const auto& member : members_) urls.push_back(member.client_url);
    return urls;
  }

  // Waits until every running (not paused) member knows a leader; false after `limit`.
  bool wait_healthy(std::chrono::milliseconds limit = std::chrono::seconds(15)) {
    std::vector<std::string> running;
    for (const auto& member : members_)
      if (member.pid > 0 && !member.paused) running.push_back(member.client_url);
    auto client = make_http_etcd_client(running, std::chrono::milliseconds(500));
    auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
      bool all = true;
      for (const auto& status : client->endpoint_status()) all = all && status.healthy;
      if (all) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  // A paused member accepts connections (the kernel does) but never answers, as a hung one.
  void pause(EtcdMember& member) {
    ::kill(member.pid, SIGSTOP);
    member.paused = true;
  }
  void resume(EtcdMember& member) {
    ::kill(member.pid, SIGCONT);
    member.paused = false;
  }
  void kill(EtcdMember& member) {
    if (member.pid <= 0) return;
    ::kill(member.pid, SIGKILL);
    ::waitpid(member.pid, nullptr, 0);
    member.pid = -1;
  }

 private:
  static int& counter() {
    static int n = 0;
    return n;
  }

  void start(EtcdMember& member, const std::string& initial_cluster) {
    const std::string data_dir = (dir_ / member.name).string();
    const std::string log = (dir_ / (member.name + ".log")).string();
    std::vector<std::string> args = {kEtcdBinary,
                                     "--name", member.name,
                                     "--data-dir", data_dir,
                                     "--listen-client-urls", member.client_url,
                                     "--advertise-client-urls", member.client_url,
                                     "--listen-peer-urls", member.peer_url,
                                     "--initial-advertise-peer-urls", member.peer_url,
                                     "--initial-cluster", initial_cluster,
                                     "--initial-cluster-state", "new",
                                     "--initial-cluster-token", "kontena-test-" + std::to_string(::getpid()),
                                     "--heartbeat-interval", "100",
                                     "--election-timeout", "1000",
                                     "--log-level", "warn"};
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(1);
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        ::close(fd);
      }
      ::execv(kEtcdBinary, argv.data());
      ::_exit(127);
    }
    member.pid = pid;
  }

  std::filesystem::path dir_;
  std::vector<EtcdMember> members_;
};

}  // namespace kontena::etcd::testing
