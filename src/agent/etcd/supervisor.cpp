#include "agent/etcd/supervisor.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "agent/etcd/member_process.h"
#include "common/error.h"

namespace kontena::agent::etcd {

namespace fs = std::filesystem;
using Steady = std::chrono::steady_clock;

namespace {

std::string seconds_text(std::chrono::milliseconds d) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1fs", static_cast<double>(d.count()) / 1000.0);
  return text;
}

// kontena-member.json: how the member last started, and whether it ever answered since.
struct SavedState {
  std::vector<std::string> initial_cluster;
  std::string plan;
  bool answered = false;
};

SavedState read_state_file(const std::string& path) {
  SavedState out;
  std::ifstream in(path);
  if (!in) return out;
  try {
    auto saved = nlohmann::json::parse(in);
    out.initial_cluster = saved.value("initial_cluster", std::vector<std::string>{});
    out.plan = saved.value("plan", "");
    out.answered = saved.value("answered", false);
  } catch (const std::exception& e) {
    spdlog::warn("etcd member: ignoring an unreadable {} error=\"{}\"", path, e.what());
  }
  return out;
}

void write_state_file(const std::string& path, const SavedState& state) {
  nlohmann::json json = {
      {"initial_cluster", state.initial_cluster},
      {"initial_cluster_state", state.plan == to_string(BootstrapPlan::Kind::bootstrap) ? "new" : "existing"},
      {"plan", state.plan},
      {"answered", state.answered},
  };
  std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << json.dump(2) << '\n';
    if (!out) fail(ErrorKind::internal, "cannot write " + temporary + " (is the etcd data dir writable?)");
  }
  fs::rename(temporary, path);
}

}  // namespace

EtcdSupervisor::EtcdSupervisor(EtcdMemberConfig config, ClientFactory clients, EtcdSupervisorTiming timing)
    : config_(std::move(config)), clients_(std::move(clients)), timing_(timing) {
  validate_member_config(config_);
  if (!clients_) fail(ErrorKind::internal, "the etcd supervisor needs a client factory");
  data_dir_ = fs::absolute(config_.data_dir).lexically_normal().string();
  while (data_dir_.size() > 1 && data_dir_.back() == '/') data_dir_.pop_back();
  status_.state = "stopped";
}

EtcdSupervisor::~EtcdSupervisor() { stop(false); }

std::string EtcdSupervisor::pid_file() const { return data_dir_ + "/etcd.pid"; }
std::string EtcdSupervisor::log_file() const { return data_dir_ + "/etcd.log"; }
std::string EtcdSupervisor::state_file() const { return data_dir_ + "/kontena-member.json"; }

void EtcdSupervisor::start() {
  std::lock_guard lock(mutex_);
  if (started_) return;
  started_ = true;
  stopping_ = false;
  status_.state = "starting";
  thread_ = std::thread([this] { run(); });
}

void EtcdSupervisor::stop(bool stop_member) {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  Process process;
  {
    std::lock_guard lock(mutex_);
    process = process_;
  }
  if (stop_member && process.pid > 0) {
    spdlog::info("etcd member: stopping name={} pid={}", config_.member_name(), process.pid);
    bool gone = terminate_process(process.pid, process.start_time, timing_.stop_grace);
    if (gone) {
      std::error_code ec;
      fs::remove(pid_file(), ec);
      spdlog::info("etcd member: stopped name={} pid={}", config_.member_name(), process.pid);
    } else {
      spdlog::error("etcd member: did not stop after SIGKILL name={} pid={}", config_.member_name(), process.pid);
    }
    std::lock_guard lock(mutex_);
    if (gone) process_ = {};
  }
  std::lock_guard lock(mutex_);
  status_.state = "stopped";
  status_.pid = process_.pid;
}

EtcdMemberStatus EtcdSupervisor::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

void EtcdSupervisor::set_state(const std::string& state, const std::string& error) {
  std::lock_guard lock(mutex_);
  if (stopping_) return;
  status_.state = state;
  status_.error = error;
  status_.pid = process_.pid;
}

bool EtcdSupervisor::sleep_for(std::chrono::milliseconds d) {
  std::unique_lock lock(mutex_);
  return !wake_.wait_for(lock, d, [this] { return stopping_; });
}

std::chrono::milliseconds EtcdSupervisor::next_restart_delay() {
  // base, 2x, 4x, ... up to max; counts the failure.
  auto delay = timing_.restart_base;
  for (int i = 0; i < failures_ && delay < timing_.restart_max; ++i) delay *= 2;
  ++failures_;
  return std::min(delay, timing_.restart_max);
}

void EtcdSupervisor::run() {
  if (auto pid = find_adoptable(pid_file(), config_.etcd_bin, data_dir_)) {
    auto start_time = process_start_time(*pid);
    std::lock_guard lock(mutex_);
    process_ = {*pid, start_time.value_or(0), true};
    status_.adopted = true;
    status_.pid = *pid;
    status_.cluster_state.clear();
    spdlog::info("etcd member: adopted the running etcd name={} pid={} data_dir={}", config_.member_name(), *pid,
                 data_dir_);
  }
  bool had_process = process_.pid > 0;
  while (true) {
    if (process_.pid == 0) {
      bool launched = launch();
      if (launched && had_process) {
        std::lock_guard lock(mutex_);
        ++status_.restarts;
      }
      if (!launched) {
        if (!sleep_for(next_restart_delay())) return;
        continue;
      }
      had_process = true;
    }
    auto started_at = Steady::now();
    if (!watch()) return;
    auto up = std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - started_at);
    if (up >= timing_.stable_after) failures_ = 0;
    auto delay = next_restart_delay();
    set_state("restarting", status().error + "; starting it again in " + seconds_text(delay));
    if (!sleep_for(delay)) return;
  }
}

bool EtcdSupervisor::launch() {
  try {
    bool has_data = fs::exists(data_dir_ + "/member");
    auto saved = read_state_file(state_file());
    std::optional<std::vector<kontena::etcd::Member>> members;
    std::unique_ptr<kontena::etcd::EtcdClient> cluster;
    auto others = config_.other_client_urls();
    // Data from a "new" start that never answered may belong to a bootstrap the cluster never saw
    // (it was unreachable then): ask the cluster too.
    bool unproven_bootstrap = has_data && !saved.answered && saved.plan == to_string(BootstrapPlan::Kind::bootstrap);
    if ((!has_data || unproven_bootstrap) && !others.empty()) {
      try {
        cluster = clients_(others);
        members = cluster->members();
      } catch (const Error& e) {
        spdlog::info("etcd member: no other member answered name={} error=\"{}\"", config_.member_name(), e.what());
      }
    }
    if (unproven_bootstrap && members &&
        plan_bootstrap(config_, false, members).kind != BootstrapPlan::Kind::bootstrap) {
      // The cluster runs without this member's bootstrap: that data can never join it. Keep it aside
      // and start as a node without data (replace or join).
      auto aside = data_dir_ + "/member.unjoined-" +
                   std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count());
      fs::rename(data_dir_ + "/member", aside);
      spdlog::warn("etcd member: the data of a bootstrap that never joined the running cluster was moved aside "
                   "name={} path={}",
                   config_.member_name(), aside);
      has_data = false;
    }
    auto plan = plan_bootstrap(config_, has_data, has_data ? std::nullopt : members, saved.initial_cluster);
    spdlog::info("etcd member: starting name={} plan={} cluster_state={} reason=\"{}\"", config_.member_name(),
                 to_string(plan.kind), plan.cluster_state, plan.reason);
    if (plan.remove_member || plan.add_member) {
      apply_membership(config_, plan, *cluster);
      if (plan.remove_member)
        spdlog::info("etcd member: removed the lost predecessor name={} id={:x}", config_.member_name(), *plan.remove_member);
      spdlog::info("etcd member: added to the cluster name={} peer_url={}", config_.member_name(), config_.peer_url());
    }
    fs::create_directories(data_dir_);
    fs::permissions(data_dir_, fs::perms::owner_all, fs::perm_options::replace);
    // A restart with data keeps the record of how that data was made (and whether it answered).
    if (plan.kind != BootstrapPlan::Kind::restart_with_data || saved.plan.empty())
      write_state_file(state_file(), {plan.initial_cluster, to_string(plan.kind), false});
    rotate_log_if_large(log_file(), timing_.max_log_bytes);
    int pid = spawn_process(etcd_arguments(config_, plan, data_dir_), log_file());
    auto start_time = process_start_time(pid).value_or(0);
    write_pid_file(pid_file(), {pid, start_time});
    spdlog::info("etcd member: started name={} pid={} cluster_state={}", config_.member_name(), pid, plan.cluster_state);
    std::lock_guard lock(mutex_);
    process_ = {pid, start_time, false};
    status_.pid = pid;
    status_.adopted = false;
    status_.cluster_state = plan.cluster_state;
    if (!stopping_) {
      status_.state = "starting";
      status_.error.clear();
    }
    next_health_ = Steady::now();
    return true;
  } catch (const std::exception& e) {
    spdlog::error("etcd member: cannot start name={} error=\"{}\"", config_.member_name(), e.what());
    set_state("failed", e.what());
    return false;
  }
}

bool EtcdSupervisor::watch() {
  next_health_ = Steady::now();
  while (true) {
    int wait_status = -1;
    if (!process_running(process_.pid, process_.start_time, &wait_status)) {
      std::optional<int> exit_status;
      if (wait_status >= 0) exit_status = wait_status;
      std::string how = describe_exit(exit_status);
      std::string tail;
      if (status().state != "running") tail = tail_lines(log_file(), 8);
      if (tail.empty())
        spdlog::warn("etcd member: etcd {} name={} pid={}", how, config_.member_name(), process_.pid);
      else
        spdlog::warn("etcd member: etcd {} name={} pid={} log_tail=\n{}", how, config_.member_name(), process_.pid, tail);
      std::lock_guard lock(mutex_);
      status_.error = "etcd " + how + " (see " + log_file() + ")";
      process_ = {};
      status_.pid = 0;
      return true;
    }
    if (Steady::now() >= next_health_) check_health();
    if (!sleep_for(process_.adopted ? timing_.adopted_poll : timing_.poll)) return false;
  }
}

void EtcdSupervisor::check_health() {
  std::string error;
  bool healthy = false;
  try {
    auto local = clients_({config_.local_client_url()});
    auto statuses = local->endpoint_status();
    if (statuses.empty()) error = "the member's endpoint status is empty";
    for (const auto& endpoint : statuses) {
      healthy = endpoint.healthy;
      error = endpoint.healthy ? "" : endpoint.error;
    }
  } catch (const std::exception& e) {
    error = e.what();
  }
  bool was_running = status().state == "running";
  if (healthy) {
    if (!was_running) {
      spdlog::info("etcd member: running name={} pid={}", config_.member_name(), process_.pid);
      // Its data now belongs to the cluster (see launch()).
      auto saved = read_state_file(state_file());
      if (!saved.answered && !saved.plan.empty()) {
        saved.answered = true;
        try {
          write_state_file(state_file(), saved);
        } catch (const std::exception& e) {
          spdlog::warn("etcd member: cannot update {} error=\"{}\"", state_file(), e.what());
        }
      }
    }
    set_state("running", "");
  } else if (was_running) {
    // It ran; keep "running" (the process is there) and say what is wrong now.
    set_state("running", "not healthy: " + error);
  } else {
    set_state("starting", error.empty() ? "" : "waiting for the member to answer: " + error);
  }
  rotate_log_if_large(log_file(), timing_.max_log_bytes);
  next_health_ = Steady::now() + (healthy ? 5 * timing_.health_interval : timing_.health_interval);
}

}  // namespace kontena::agent::etcd
