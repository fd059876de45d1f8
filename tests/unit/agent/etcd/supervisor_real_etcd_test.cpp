// The supervisor with real etcd processes (/usr/bin/etcd, Debian's etcd-server) on 127.0.0.1 with
// free ports per member, and the real client (make_http_etcd_client): bootstrap of three members,
// replacement of a lost initial node, adoption after the agent went away, restart after SIGKILL.
// Every etcd a test saw is killed by PID in TearDown, whatever happened in the test.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "agent/etcd/supervisor.h"
#include "etcd_test_util.h"
#ifdef KONTENA_HAVE_HTTP_ETCD_CLIENT
#include "etcd/http_etcd_client.h"
#endif

namespace kontena::agent::etcd {
namespace {

namespace fs = std::filesystem;
using namespace testing;
using namespace std::chrono_literals;

constexpr const char* etcd_bin = "/usr/bin/etcd";

std::unique_ptr<kontena::etcd::EtcdClient> real_client(std::vector<std::string> endpoints,
                                                       std::chrono::milliseconds timeout = 1500ms) {
#ifdef KONTENA_HAVE_HTTP_ETCD_CLIENT
  return kontena::etcd::make_http_etcd_client(std::move(endpoints), timeout);
#else
  (void)endpoints;
  (void)timeout;
  return nullptr;
#endif
}

class RealEtcd : public ::testing::Test {
 protected:
  void SetUp() override {
#ifndef KONTENA_HAVE_HTTP_ETCD_CLIENT
    GTEST_SKIP() << "the real etcd client (src/etcd/http_etcd_client.h, library kontena_etcd) is not built in "
                    "this tree yet";
#endif
    if (!fs::exists(etcd_bin)) GTEST_SKIP() << etcd_bin << " is missing (Debian package etcd-server)";
    root_ = make_temp_dir("kontena-etcd-real");
  }
  void TearDown() override {
    for (auto& supervisor : supervisors_) {
      reaper_.track(supervisor->status().pid);
      supervisor->stop(false);
    }
    for (int n = 1; n <= size_; ++n) reaper_.track_pid_file(data_dir(n) + "/etcd.pid");
    reaper_.kill_all();
    supervisors_.clear();
    std::error_code ec;
    if (!root_.empty() && !HasFailure()) fs::remove_all(root_, ec);
    if (HasFailure()) std::fprintf(stderr, "etcd data and logs kept in %s\n", root_.c_str());
  }

  // A grid of `size` initial members on loopback.
  void grid(int size) {
    size_ = size;
    peers_.clear();
    clients_.clear();
    for (int n = 1; n <= size; ++n) {
      peers_.push_back("http://127.0.0.1:" + std::to_string(free_port()));
      clients_.push_back("http://127.0.0.1:" + std::to_string(free_port()));
    }
  }
  std::string data_dir(int n) const { return root_ + "/node-" + std::to_string(n); }
  EtcdMemberConfig config(int n) const {
    EtcdMemberConfig config;
    config.etcd_bin = etcd_bin;
    config.data_dir = data_dir(n);
    config.cluster_token = "test-grid";
    config.node_number = n;
    config.initial_peer_urls = peers_;
    config.initial_client_urls = clients_;
    config.listen_client_urls = {clients_[static_cast<std::size_t>(n - 1)]};
    return config;
  }
  EtcdSupervisor& supervise(int n) {
    EtcdSupervisorTiming timing;
    timing.health_interval = 300ms;
    // etcd refuses a member_add for 5 s after its members connected (a fresh test cluster): retry
    // often rather than with the agent's doubling delays.
    timing.restart_base = 500ms;
    timing.restart_max = 1000ms;
    timing.stop_grace = 5000ms;
    supervisors_.push_back(std::make_unique<EtcdSupervisor>(
        config(n), [](std::vector<std::string> endpoints) { return real_client(std::move(endpoints)); }, timing));
    return *supervisors_.back();
  }
  bool wait_running(EtcdSupervisor& supervisor, std::chrono::milliseconds limit = 20s) {
    bool running = wait_until([&] {
      reaper_.track(supervisor.status().pid);
      return supervisor.status().state == "running";
    }, limit);
    return running;
  }
  std::string client_url(int n) const { return clients_[static_cast<std::size_t>(n - 1)]; }
  std::string describe(EtcdSupervisor& supervisor) {
    auto status = supervisor.status();
    return "state=" + status.state + " pid=" + std::to_string(status.pid) + " error=" + status.error + "\n" +
           tail_lines(supervisor.log_file(), 15);
  }

  std::string root_;
  int size_ = 0;
  std::vector<std::string> peers_;
  std::vector<std::string> clients_;
  std::vector<std::unique_ptr<EtcdSupervisor>> supervisors_;
  Reaper reaper_;
};

TEST_F(RealEtcd, ThreeSupervisorsBootstrapOneCluster) {
  grid(3);
  std::vector<EtcdSupervisor*> nodes;
  for (int n = 1; n <= 3; ++n) nodes.push_back(&supervise(n));
  for (auto* node : nodes) node->start();
  for (auto* node : nodes) ASSERT_TRUE(wait_running(*node)) << describe(*node);
  for (auto* node : nodes) EXPECT_EQ(node->status().cluster_state, "new");

  auto members = real_client({client_url(1)})->members();
  ASSERT_EQ(members.size(), 3u);
  for (const auto& member : members) {
    EXPECT_FALSE(member.name.empty());
    EXPECT_FALSE(member.client_urls.empty());
  }
  real_client({client_url(1)})->put("/kontena/test/key", "through node-1");
  auto read = real_client({client_url(2)})->get("/kontena/test/key");
  ASSERT_TRUE(read);
  EXPECT_EQ(read->value, "through node-1");
}

TEST_F(RealEtcd, ReplacedInitialNodeTakesTheOldPlace) {
  grid(3);
  for (int n = 1; n <= 3; ++n) supervise(n).start();
  for (auto& node : supervisors_) ASSERT_TRUE(wait_running(*node)) << describe(*node);
  real_client({client_url(1)})->put("/kontena/test/key", "before the replacement");
  std::uint64_t old_id = 0;
  for (const auto& member : real_client({client_url(1)})->members())
    if (member.name == "node-3") old_id = member.id;
  ASSERT_NE(old_id, 0u);

  // Node 3 is lost with its data; a new node 3 comes up with an empty data dir.
  supervisors_[2]->stop(true);
  EXPECT_EQ(supervisors_[2]->status().pid, 0);
  fs::remove_all(data_dir(3));
  auto& replacement = supervise(3);
  replacement.start();
  ASSERT_TRUE(wait_running(replacement, 25s)) << describe(replacement);
  EXPECT_EQ(replacement.status().cluster_state, "existing");
  EXPECT_FALSE(replacement.status().adopted);

  auto members = real_client({client_url(1)})->members();
  ASSERT_EQ(members.size(), 3u);
  bool new_node3 = false;
  for (const auto& member : members) {
    EXPECT_NE(member.id, old_id);
    if (member.name == "node-3") new_node3 = true;
  }
  EXPECT_TRUE(new_node3);
  auto statuses = real_client({client_url(1), client_url(2), client_url(3)})->endpoint_status();
  ASSERT_EQ(statuses.size(), 3u);
  for (const auto& status : statuses) EXPECT_TRUE(status.healthy) << status.endpoint << ": " << status.error;
  auto read = real_client({client_url(3)})->get("/kontena/test/key");
  ASSERT_TRUE(read);
  EXPECT_EQ(read->value, "before the replacement");
}

TEST_F(RealEtcd, NextAgentAdoptsTheRunningMember) {
  grid(1);
  auto& first = supervise(1);
  first.start();
  ASSERT_TRUE(wait_running(first)) << describe(first);
  int pid = first.status().pid;
  real_client({client_url(1)})->put("/kontena/test/key", "kept");
  first.stop(false);
  ASSERT_TRUE(process_start_time(pid)) << "etcd stopped with the supervisor";

  auto& next = supervise(1);
  next.start();
  ASSERT_TRUE(wait_running(next)) << describe(next);
  auto status = next.status();
  EXPECT_TRUE(status.adopted);
  EXPECT_EQ(status.pid, pid);
  EXPECT_EQ(status.restarts, 0);
  auto read = real_client({client_url(1)})->get("/kontena/test/key");
  ASSERT_TRUE(read);
  EXPECT_EQ(read->value, "kept");
}

TEST_F(RealEtcd, KilledMemberIsStartedAgainWithItsData) {
  grid(1);
  auto& supervisor = supervise(1);
  supervisor.start();
  ASSERT_TRUE(wait_running(supervisor)) << describe(supervisor);
  real_client({client_url(1)})->put("/kontena/test/key", "survives");
  int pid = supervisor.status().pid;
  ::kill(pid, SIGKILL);
  ASSERT_TRUE(wait_until([&] { return supervisor.status().pid > 0 && supervisor.status().pid != pid; }, 5s))
      << describe(supervisor);
  reaper_.track(supervisor.status().pid);
  ASSERT_TRUE(wait_running(supervisor, 10s)) << describe(supervisor);
  EXPECT_EQ(supervisor.status().restarts, 1);
  // The member had answered: its data is its own (never moved aside as an unjoined bootstrap).
  std::ifstream state(supervisor.state_file());
  std::string saved((std::istreambuf_iterator<char>(state)), std::istreambuf_iterator<char>());
  EXPECT_NE(saved.find("\"answered\": true"), std::string::npos) << saved;
  // Restarted from its data: "existing", and the key is still there.
  EXPECT_EQ(supervisor.status().cluster_state, "existing");
  auto read = real_client({client_url(1)})->get("/kontena/test/key");
  ASSERT_TRUE(read);
  EXPECT_EQ(read->value, "survives");
}

}  // namespace
}  // namespace kontena::agent::etcd
