// The agent's etcd member supervisor (DESIGN §5, reference §7): on each of the grid's first
// initial_size nodes the agent runs one member of the grid's etcd cluster (Debian's etcd as a
// process) and keeps it running. README.md in this directory has the rules; in short:
// - adoption: an etcd left running by an earlier agent (data_dir/etcd.pid, same start time, same
//   data dir) is kept, not restarted; it is polled every second and started again when gone;
// - before each start the member decides how to start (plan_bootstrap: its data, else the
//   cluster's member list) and makes the membership changes (replace a lost initial node: remove
//   it, add this one); when they fail for want of a majority the state is "failed" with an error
//   that says so, and it retries with backoff;
// - a started etcd that exits is started again after 1 s, doubling to 30 s (reset once it ran 60 s).
// All of it runs on the supervisor's own thread; status() may be called from any thread.
#pragma once
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/etcd/member_config.h"
#include "etcd/etcd_client.h"

namespace kontena::agent::etcd {

struct EtcdMemberStatus {
  std::string state;          // starting | running | restarting | failed | stopped
  int pid = 0;                // the etcd process (0 = none)
  std::string error;          // why it failed / restarts / is not healthy now
  int restarts = 0;           // starts after the first one
  bool adopted = false;       // the process was left running by an earlier agent
  std::string cluster_state;  // new | existing (how the running process was started; empty when adopted)
};

struct EtcdSupervisorTiming {
  std::chrono::milliseconds restart_base{1000};   // first restart delay, doubled per quick exit
  std::chrono::milliseconds restart_max{30000};
  std::chrono::milliseconds stable_after{60000};  // a run this long resets the delay
  std::chrono::milliseconds poll{200};            // exit checks of a spawned process
  std::chrono::milliseconds adopted_poll{1000};   // liveness checks of an adopted process
  std::chrono::milliseconds health_interval{1000};  // until it answers; then every 5x this
  std::chrono::milliseconds stop_grace{10000};    // TERM, then KILL
  std::uintmax_t max_log_bytes = 10 * 1024 * 1024;
};

class EtcdSupervisor {
 public:
  // endpoints -> a client of those endpoints with a short timeout (the member list before a
  // start, membership changes, the member's own health).
  using ClientFactory = std::function<std::unique_ptr<kontena::etcd::EtcdClient>(std::vector<std::string> endpoints)>;

  // Error(invalid) when the config is invalid.
  EtcdSupervisor(EtcdMemberConfig config, ClientFactory clients, EtcdSupervisorTiming timing = {});
  ~EtcdSupervisor();  // stop(false)
  EtcdSupervisor(const EtcdSupervisor&) = delete;
  EtcdSupervisor& operator=(const EtcdSupervisor&) = delete;

  void start();  // on its own thread; once
  // stop_member=true: TERM the etcd process (up to stop_grace, then KILL): the agent does this on
  // SIGTERM. stop_member=false: leave it running (the next agent adopts it).
  void stop(bool stop_member);
  EtcdMemberStatus status() const;

  // Paths in the data dir.
  std::string pid_file() const;
  std::string log_file() const;
  std::string state_file() const;  // kontena-member.json: what the member last started with

 private:
  struct Process {
    int pid = 0;
    std::uint64_t start_time = 0;
    bool adopted = false;
  };
  void run();
  // Decides, changes membership, spawns. false when it failed (status says why).
  bool launch();
  // Watches the process until it is gone (true) or the supervisor stops (false).
  bool watch();
  void check_health();
  // Waits up to d unless stopping; false when stopping.
  bool sleep_for(std::chrono::milliseconds d);
  std::chrono::milliseconds next_restart_delay();
  void set_state(const std::string& state, const std::string& error);

  EtcdMemberConfig config_;
  ClientFactory clients_;
  EtcdSupervisorTiming timing_;
  std::string data_dir_;  // absolute: what etcd gets and what adoption compares

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool started_ = false;
  EtcdMemberStatus status_;
  Process process_;  // guarded by mutex_ for stop()
  std::chrono::steady_clock::time_point next_health_{};
  int failures_ = 0;  // consecutive quick exits / failed launches
  std::thread thread_;
};

}  // namespace kontena::agent::etcd
