// The process helpers and the supervisor with a stand-in etcd (a shell script named "etcd" that
// logs its arguments and sleeps) and FakeEtcd as the cluster: spawn, pid file, adoption, restart
// after SIGKILL, stop, and the "failed" state when the membership change has no majority.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "agent/etcd/member_process.h"
#include "agent/etcd/supervisor.h"
#include "etcd_test_util.h"

namespace kontena::agent::etcd {
namespace {

namespace fs = std::filesystem;
using namespace testing;
using kontena::etcd::FakeEtcd;
using kontena::etcd::Member;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class StandInEtcd : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = make_temp_dir("kontena-etcd-sup");
    fs::create_directories(root_ + "/bin");
    script_ = root_ + "/bin/etcd";
    std::ofstream(script_) << "#!/bin/sh\necho \"stand-in etcd $*\"\nwhile :; do sleep 0.2; done\n";
    ::chmod(script_.c_str(), 0755);
    fake_ = std::make_shared<FakeEtcd>();
    // The member answers healthy on its client URL (FakeEtcd's default member is node-1 at
    // 127.0.0.1:2379, which is what the single-node config below uses).
    timing_.restart_base = std::chrono::milliseconds(100);
    timing_.restart_max = std::chrono::milliseconds(400);
    timing_.poll = std::chrono::milliseconds(50);
    timing_.adopted_poll = std::chrono::milliseconds(100);
    timing_.health_interval = std::chrono::milliseconds(100);
    timing_.stop_grace = std::chrono::milliseconds(2000);
  }
  void TearDown() override {
    for (auto& supervisor : supervisors_) supervisor->stop(true);
    reaper_.track_pid_file(data_dir() + "/etcd.pid");
    reaper_.kill_all();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  std::string data_dir() const { return root_ + "/data"; }

  EtcdMemberConfig single_node() const {
    EtcdMemberConfig config;
    config.etcd_bin = script_;
    config.data_dir = data_dir();
    config.cluster_token = "test";
    config.node_number = 1;
    config.initial_peer_urls = {"http://127.0.0.1:2380"};
    config.initial_client_urls = {"http://127.0.0.1:2379"};
    config.listen_client_urls = {"http://127.0.0.1:2379"};
    return config;
  }
  EtcdMemberConfig third_of_three() const {
    EtcdMemberConfig config = single_node();
    config.node_number = 3;
    config.initial_peer_urls = {"http://127.0.0.1:12380", "http://127.0.0.1:22380", "http://127.0.0.1:32380"};
    config.initial_client_urls = {"http://127.0.0.1:12379", "http://127.0.0.1:22379", "http://127.0.0.1:32379"};
    config.listen_client_urls = {"http://127.0.0.1:32379"};
    return config;
  }

  EtcdSupervisor& make(const EtcdMemberConfig& config) {
    auto fake = fake_;
    supervisors_.push_back(std::make_unique<EtcdSupervisor>(
        config, [fake](std::vector<std::string>) { return std::make_unique<SharedFakeClient>(fake); }, timing_));
    return *supervisors_.back();
  }
  bool wait_state(EtcdSupervisor& supervisor, const std::string& state, std::chrono::milliseconds limit) {
    bool reached = wait_until([&] { return supervisor.status().state == state; }, limit);
    reaper_.track(supervisor.status().pid);
    return reached;
  }

  std::string root_;
  std::string script_;
  std::shared_ptr<FakeEtcd> fake_;
  EtcdSupervisorTiming timing_;
  std::vector<std::unique_ptr<EtcdSupervisor>> supervisors_;
  Reaper reaper_;
};

TEST(MemberProcess, PidFileRoundTripAndOwnStartTime) {
  auto dir = make_temp_dir("kontena-etcd-pid");
  write_pid_file(dir + "/etcd.pid", {1234, 5678});
  auto recorded = read_pid_file(dir + "/etcd.pid");
  ASSERT_TRUE(recorded);
  EXPECT_EQ(recorded->pid, 1234);
  EXPECT_EQ(recorded->start_time, 5678u);
  EXPECT_FALSE(read_pid_file(dir + "/missing"));
  std::ofstream(dir + "/bad") << "nonsense";
  EXPECT_FALSE(read_pid_file(dir + "/bad"));
  EXPECT_TRUE(process_start_time(::getpid()));
  EXPECT_FALSE(process_start_time(0));
  fs::remove_all(dir);
}

TEST(MemberProcess, TailAndRotate) {
  auto dir = make_temp_dir("kontena-etcd-log");
  auto log = dir + "/etcd.log";
  {
    std::ofstream out(log);
    for (int i = 1; i <= 20; ++i) out << "line " << i << "\n";
  }
  EXPECT_EQ(tail_lines(log, 2), "line 19\nline 20\n");
  rotate_log_if_large(log, 1024 * 1024);
  EXPECT_FALSE(fs::exists(log + ".1"));
  rotate_log_if_large(log, 10);
  EXPECT_TRUE(fs::exists(log + ".1"));
  EXPECT_EQ(fs::file_size(log), 0u);
  EXPECT_EQ(tail_lines(log + ".1", 1), "line 20\n");
  fs::remove_all(dir);
}

TEST(MemberProcess, DescribeExit) {
  EXPECT_EQ(describe_exit(0), "exited with status 0");
  EXPECT_EQ(describe_exit(1 << 8), "exited with status 1");
  EXPECT_NE(describe_exit(SIGKILL).find("killed by signal 9"), std::string::npos);
  EXPECT_NE(describe_exit(std::nullopt).find("unknown"), std::string::npos);
}

TEST(MemberProcess, SpawnFailsClearlyWhenTheBinaryIsMissing) {
  try {
    spawn_process({"/nonexistent/etcd", "--version"}, "/dev/null");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot run etcd (/nonexistent/etcd)"), std::string::npos) << e.what();
  }
}

TEST_F(StandInEtcd, SpawnsWritesPidFileAndAdoptionFindsIt) {
  fs::create_directories(data_dir());
  int pid = spawn_process({script_, "--data-dir", data_dir()}, data_dir() + "/etcd.log");
  reaper_.track(pid);
  auto start = process_start_time(pid);
  ASSERT_TRUE(start);
  write_pid_file(data_dir() + "/etcd.pid", {pid, *start});
  // posix_spawn returns while the kernel may still be setting up the new program's arguments.
  EXPECT_TRUE(wait_until([&] { return !process_cmdline(pid).empty(); }, std::chrono::seconds(2)));
  std::string cmdline;
  for (const auto& arg : process_cmdline(pid)) cmdline += "[" + arg + "]";
  EXPECT_EQ(find_adoptable(data_dir() + "/etcd.pid", script_, data_dir()), pid) << cmdline;
  // Another data dir, or a recorded start time that is not this process's: not ours.
  EXPECT_FALSE(find_adoptable(data_dir() + "/etcd.pid", script_, data_dir() + "-other"));
  write_pid_file(data_dir() + "/etcd.pid", {pid, *start + 1});
  EXPECT_FALSE(find_adoptable(data_dir() + "/etcd.pid", script_, data_dir()));
  // A live process that is not an etcd (this test binary).
  write_pid_file(data_dir() + "/other.pid", {::getpid(), *process_start_time(::getpid())});
  EXPECT_FALSE(find_adoptable(data_dir() + "/other.pid", script_, data_dir()));
  // Its own session: it outlives the agent's process group.
  EXPECT_EQ(::getsid(pid), pid);
  EXPECT_TRUE(terminate_process(pid, *start, std::chrono::milliseconds(2000)));
  EXPECT_FALSE(process_running(pid, *start));
}

TEST_F(StandInEtcd, BootstrapsAloneRestartsAfterKillAdoptsAndStops) {
  auto& first = make(single_node());
  first.start();
  ASSERT_TRUE(wait_state(first, "running", std::chrono::seconds(5))) << first.status().error;
  auto status = first.status();
  EXPECT_EQ(status.cluster_state, "new");
  EXPECT_FALSE(status.adopted);
  EXPECT_EQ(status.restarts, 0);
  int pid = status.pid;
  ASSERT_GT(pid, 0);
  EXPECT_EQ(read_pid_file(first.pid_file())->pid, pid);
  EXPECT_TRUE(wait_until([&] { return read_file(first.log_file()).find("--name node-1") != std::string::npos; },
                         std::chrono::seconds(2)));
  auto log = read_file(first.log_file());
  EXPECT_NE(log.find("--initial-cluster node-1=http://127.0.0.1:2380"), std::string::npos) << log;
  EXPECT_NE(log.find("--initial-cluster-state new"), std::string::npos) << log;
  EXPECT_NE(read_file(first.state_file()).find("node-1=http://127.0.0.1:2380"), std::string::npos);

  // SIGKILL: started again after the backoff, with a new pid.
  ::kill(pid, SIGKILL);
  ASSERT_TRUE(wait_until([&] { return first.status().pid > 0 && first.status().pid != pid; }, std::chrono::seconds(3)));
  reaper_.track(first.status().pid);
  EXPECT_EQ(first.status().restarts, 1);
  int second_pid = first.status().pid;

  // The agent goes away without stopping its member: the next one adopts it.
  first.stop(false);
  EXPECT_EQ(first.status().state, "stopped");
  EXPECT_TRUE(process_start_time(second_pid));
  auto& next = make(single_node());
  next.start();
  ASSERT_TRUE(wait_state(next, "running", std::chrono::seconds(5))) << next.status().error;
  EXPECT_TRUE(next.status().adopted);
  EXPECT_EQ(next.status().pid, second_pid);
  EXPECT_EQ(next.status().restarts, 0);

  // stop(true): the process is gone and so is the pid file.
  auto start = *process_start_time(second_pid);
  next.stop(true);
  EXPECT_FALSE(process_running(second_pid, start));
  EXPECT_FALSE(fs::exists(next.pid_file()));
  EXPECT_EQ(next.status().state, "stopped");
}

TEST_F(StandInEtcd, ReplacementWithoutMajorityFailsThenJoinsWhenItIsBack) {
  Member old;
  old.id = 0x33;
  old.name = "node-3";
  old.peer_urls = {"http://127.0.0.1:32380"};
  old.client_urls = {"http://127.0.0.1:32379"};
  Member first;
  first.id = 0x11;
  first.name = "node-1";
  first.peer_urls = {"http://127.0.0.1:12380"};
  first.client_urls = {"http://127.0.0.1:12379"};
  fake_->set_members({first, old});
  std::atomic<bool> no_majority = true;
  fake_->set_before_call([&](const std::string& op, const std::string&) {
    fake_->set_unavailable(no_majority && (op == "member_remove" || op == "member_add"));
  });
  auto& supervisor = make(third_of_three());
  supervisor.start();
  ASSERT_TRUE(wait_state(supervisor, "failed", std::chrono::seconds(3)));
  auto status = supervisor.status();
  EXPECT_EQ(status.pid, 0);
  EXPECT_NE(status.error.find("lost its majority"), std::string::npos) << status.error;
  EXPECT_NE(status.error.find("until a majority of the initial nodes (2 of 3) is back"), std::string::npos)
      << status.error;
  EXPECT_FALSE(fs::exists(supervisor.pid_file()));

  // The majority is back: the retry removes node-3's old member, adds this one, starts "existing".
  no_majority = false;
  ASSERT_TRUE(wait_until([&] { return supervisor.status().pid > 0; }, std::chrono::seconds(3)))
      << supervisor.status().error;
  reaper_.track(supervisor.status().pid);
  EXPECT_EQ(supervisor.status().cluster_state, "existing");
  fake_->set_before_call({});
  auto members = fake_->members();
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[0].id, 0x11u);
  EXPECT_NE(members[1].id, 0x33u);
  EXPECT_EQ(members[1].peer_urls, std::vector<std::string>{"http://127.0.0.1:32380"});
  EXPECT_TRUE(wait_until([&] { return read_file(supervisor.log_file()).find("--initial-cluster-state existing") != std::string::npos; },
                         std::chrono::seconds(2)));
  auto log = read_file(supervisor.log_file());
  EXPECT_NE(log.find("--initial-cluster node-1=http://127.0.0.1:12380,node-3=http://127.0.0.1:32380"), std::string::npos)
      << log;
}

// Data left by a "new" start that never answered while the cluster ran without it: moved aside,
// and the node replaces its old member. The same data after the member had answered is kept.
TEST_F(StandInEtcd, UnjoinedBootstrapDataIsMovedAsideAndTheNodeReplacesItsMember) {
  Member old;
  old.id = 0x33;
  old.name = "node-3";
  old.peer_urls = {"http://127.0.0.1:32380"};
  old.client_urls = {"http://127.0.0.1:32379"};
  Member first;
  first.id = 0x11;
  first.name = "node-1";
  first.peer_urls = {"http://127.0.0.1:12380"};
  first.client_urls = {"http://127.0.0.1:12379"};
  fake_->set_members({first, old});
  fs::create_directories(data_dir() + "/member/wal");
  std::ofstream(data_dir() + "/kontena-member.json")
      << R"({"initial_cluster": ["node-1=http://127.0.0.1:12380"], "plan": "bootstrap", "answered": false})";
  auto& supervisor = make(third_of_three());
  supervisor.start();
  ASSERT_TRUE(wait_until([&] { return supervisor.status().pid > 0; }, std::chrono::seconds(3))) << supervisor.status().error;
  reaper_.track(supervisor.status().pid);
  EXPECT_EQ(supervisor.status().cluster_state, "existing");
  EXPECT_FALSE(fs::exists(data_dir() + "/member"));
  bool aside = false;
  for (const auto& entry : fs::directory_iterator(data_dir()))
    if (entry.path().filename().string().rfind("member.unjoined-", 0) == 0) aside = fs::exists(entry.path() / "wal");
  EXPECT_TRUE(aside);
  auto members = fake_->members();
  ASSERT_EQ(members.size(), 2u);
  EXPECT_NE(members[1].id, 0x33u);
  EXPECT_EQ(members[1].peer_urls, std::vector<std::string>{"http://127.0.0.1:32380"});
}

TEST_F(StandInEtcd, DataOfAMemberThatAnsweredIsKept) {
  Member old;
  old.id = 0x33;
  old.name = "node-3";
  old.peer_urls = {"http://127.0.0.1:32380"};
  old.client_urls = {"http://127.0.0.1:32379"};
  fake_->set_members({old});
  fs::create_directories(data_dir() + "/member/wal");
  std::ofstream(data_dir() + "/kontena-member.json")
      << R"({"initial_cluster": ["node-3=http://127.0.0.1:32380"], "plan": "bootstrap", "answered": true})";
  auto& supervisor = make(third_of_three());
  supervisor.start();
  ASSERT_TRUE(wait_until([&] { return supervisor.status().pid > 0; }, std::chrono::seconds(3))) << supervisor.status().error;
  reaper_.track(supervisor.status().pid);
  EXPECT_EQ(supervisor.status().cluster_state, "existing");
  EXPECT_TRUE(fs::exists(data_dir() + "/member/wal"));
  EXPECT_EQ(fake_->members().size(), 1u);
  EXPECT_EQ(fake_->members()[0].id, 0x33u);
  EXPECT_TRUE(wait_until([&] { return read_file(supervisor.log_file()).find("--initial-cluster node-3=http://127.0.0.1:32380 ") != std::string::npos; },
                         std::chrono::seconds(2)))
      << read_file(supervisor.log_file());
}

TEST_F(StandInEtcd, MissingBinaryIsFailedWithTheReason) {
  auto config = single_node();
  config.etcd_bin = root_ + "/bin/no-such-etcd";
  auto& supervisor = make(config);
  supervisor.start();
  ASSERT_TRUE(wait_state(supervisor, "failed", std::chrono::seconds(3)));
  EXPECT_NE(supervisor.status().error.find("cannot run etcd"), std::string::npos) << supervisor.status().error;
}

}  // namespace
}  // namespace kontena::agent::etcd
