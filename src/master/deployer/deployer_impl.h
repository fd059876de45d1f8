// Internals of the Deployer (deployer.cpp, agent_rpc.cpp): not for other modules.
#pragma once
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <utility>

#include "master/deployer/convert.h"
#include "master/deployer/deployer.h"

namespace kontena::master {

using TimePoint = std::chrono::system_clock::time_point;

struct Deployer::Impl {
  Impl(Store& s, const Clock& c, AgentLink& a, DeployerOptions o);

  // One instance of a running deploy.
  struct Item {
    int number = 0;
    std::int64_t node = 0;
    std::string node_name;
    std::string state = "pending";  // pending | deploying | running | error | removed
    std::string error;
    TimePoint started{};
    // Counts against min_health: the instance runs now (the deploy may take it down), or the
    // service is stateful (its instances start in order, as clustered stores expect).
    bool throttled = true;
  };
  struct Run {
    std::vector<Item> items;
    std::string deploy_rev;
    int limit = 1;  // throttled items in flight at once (min_health)
  };
  // One read of a grid: what the scheduler needs.
  struct GridView {
    Grid grid;
    std::vector<Node> nodes;
    std::map<std::int64_t, Service> services;
    std::vector<ServiceInstance> instances;
    const Node* node(std::int64_t id) const;
    const Node* node_named(const std::string& name) const;
  };
  // The instance runs now: deploying it may take it down, so it counts against min_health.
  static bool serving(const GridView& gv, std::int64_t service, int number);

  Store& store;
  const Clock& clock;
  AgentLink& agents;
  DeployerOptions opt;

  std::mutex work_mu;  // one tick at a time; guards everything below up to hooks_mu
  scheduler::Rng rng;
  std::map<std::int64_t, Run> runs;  // by ServiceDeploy id
  std::optional<TimePoint> first_tick;
  TimePoint next_reschedule{};
  std::optional<TimePoint> last_watch;  // node polls: at most one per tick period
  std::map<std::int64_t, std::pair<bool, std::string>> node_snapshot;  // connected, availability
  std::map<std::pair<std::int64_t, int>, std::string> reported;         // scheduler notes already logged
  std::atomic<bool> reschedule_now{false};

  // Instances an ongoing deploy has not reached yet: their pods keep the container the agent runs
  // (service_revision 0: "not newer than yours") until the rolling deploy places them.
  std::mutex held_mu;
  std::map<std::int64_t, std::set<int>> held_back;  // service id -> instance numbers
  void hold_back(std::int64_t service, std::set<int> numbers);
  void release(std::int64_t service, std::optional<int> number = std::nullopt);
  bool held(std::int64_t service, int number);

  std::mutex hooks_mu;
  std::map<std::pair<std::int64_t, int>, std::set<std::string>> done_hooks;  // oneshot hooks run

  std::mutex wake_mu;
  std::condition_variable wake_cv;
  bool woken = false;
  bool stopping = false;
  std::thread thread;

  // deployer.cpp
  GridView load_grid(std::int64_t grid_id);
  std::vector<scheduler::SchedulerNode> scheduler_nodes(const GridView& gv, std::int64_t service_id, TimePoint now);
  std::vector<scheduler::CurrentInstance> current_of(const GridView& gv, std::int64_t service_id);
  void event(const Service& s, int instance, const std::string& node, const std::string& type, int severity,
             const std::string& message);
  void notify_nodes(const std::set<std::int64_t>& nodes, const std::string& reason);
  ServiceDeploy queue_deploy(std::int64_t service_id, bool force, const std::string& reason, std::int64_t stack_deploy);
  void remove_service_rows(const Service& s);

  void watch_nodes();
  void advance_stack_deploys(TimePoint now);
  void advance_service_deploys(TimePoint now);
  void start_run(Run& run, ServiceDeploy& d, const Service& svc, TimePoint now);
  // Returns true when the deploy row changed.
  bool step(Run& run, ServiceDeploy& d, const Service& svc, TimePoint now);
  void finish(ServiceDeploy& d, const Service& svc, const std::string& state, const std::string& error);
  void reschedule(TimePoint now);
  void reschedule_service(const GridView& gv, const Service& svc, TimePoint now);
  bool note_once(std::int64_t service, int instance, const std::string& text);

  // agent_rpc.cpp
  Json pods_of_node(std::int64_t node);
  void set_state(std::int64_t node, const Json& state);
  void health(std::int64_t node, const Json& params);
  void log_batch(std::int64_t node, std::int64_t grid, const std::string& node_name, const Json& params);
  void pod_event(std::int64_t node, std::int64_t grid, const std::string& node_name, const Json& params);
  void mark_oneshot_hook(std::int64_t node, const Json& params);
  std::set<std::string> hooks_done(std::int64_t service, int instance);

  void wake();
  static Json items_json(const std::vector<Item>& items);
};

// Helpers shared by the two files.
std::int64_t unix_ms(TimePoint t);
std::string format_duration(std::chrono::milliseconds d);

}  // namespace kontena::master
