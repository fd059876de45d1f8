#include "agent/pods/reconciler.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <set>
#include <system_error>

#include "common/error.h"

namespace kontena::agent::pods {

namespace {

using protocol::PodState;
using Json = nlohmann::json;
using Millis = std::chrono::milliseconds;

// Docker's RFC 3339 times ("2026-11-25T21:57:50.123456789Z"); nullopt for the zero time or junk.
std::optional<std::int64_t> docker_time_ms(const Json& j) {
  if (!j.is_string()) return std::nullopt;
  std::string s = j.get<std::string>();
  std::tm tm{};
  int frac_ms = 0;
  if (s.size() < 20 || std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                                   &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
    return std::nullopt;
  if (tm.tm_year < 1971) return std::nullopt;
  if (s[19] == '.') {
    int digits = 0;
    for (std::size_t i = 20; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])) && digits < 3; ++i, ++digits)
      frac_ms = frac_ms * 10 + (s[i] - '0');
    while (digits++ < 3) frac_ms *= 10;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<std::int64_t>(timegm(&tm)) * 1000 + frac_ms;
}

std::string what(const std::exception& e) {
  if (auto* k = dynamic_cast<const Error*>(&e)) return std::string(to_string(k->kind())) + ": " + k->what();
  return e.what();
}

const ServicePod* pod_at(const std::vector<ServicePod>& desired, int i) {
  return i >= 0 && i < static_cast<int>(desired.size()) ? &desired[i] : nullptr;
}

}  // namespace

PodReconciler::PodReconciler(docker::DockerClient& docker, const Clock& clock, ReconcilerOptions options,
                             StateReporter report, std::shared_ptr<Prober> prober,
                             std::shared_ptr<ContainerExec> exec)
    : docker_(docker),
      clock_(clock),
      options_(std::move(options)),
      report_(std::move(report)),
      prober_(prober ? std::move(prober) : std::shared_ptr<Prober>(make_socket_prober())),
      exec_(std::move(exec)) {
  if (!options_.sleep) options_.sleep = [](Millis d) { std::this_thread::sleep_for(d); };
}

PodReconciler::~PodReconciler() { stop(); }

std::optional<TimePoint> PodReconciler::next_due() const {
  std::lock_guard lock(pass_mu_);
  return next_due_;
}

std::map<PodKey, PodRuntime> PodReconciler::runtime() const {
  std::lock_guard lock(pass_mu_);
  return runtime_;
}

PassResult PodReconciler::reconcile(std::vector<ServicePod> desired) {
  std::lock_guard lock(pass_mu_);
  desired_ = std::move(desired);
  have_desired_ = true;
  return pass(true);
}

PassResult PodReconciler::tick() {
  std::lock_guard lock(pass_mu_);
  if (!have_desired_) return {};
  return pass(false);
}

void PodReconciler::due(TimePoint t) {
  if (!next_due_ || t < *next_due_) next_due_ = t;
}

std::vector<Observed> PodReconciler::observe() {
  std::vector<Observed> out;
  for (auto& c : docker_.list_containers({std::string(protocol::kLabelContainerType) + "=" +
                                          protocol::kContainerTypeContainer},
                                         true)) {
    Observed o{c.id, c.name, c.state, c.image_id, c.labels, c.created, std::nullopt};
    // A container newly seen down: how long did it run? (the "reset after 10 s up" rule)
    if (o.state == "exited" || o.state == "dead") {
      auto k = key_of(o.labels);
      auto rt = k ? runtime_.find(*k) : runtime_.end();
      bool known_down = rt != runtime_.end() && rt->second.container_id == o.id && rt->second.down_since;
      if (k && !known_down) {
        try {
          if (auto j = docker_.inspect_container(o.id)) {
            const Json& st = j->value("State", Json::object());
            auto started = docker_time_ms(st.value("StartedAt", Json()));
            auto finished = docker_time_ms(st.value("FinishedAt", Json()));
            if (started && finished && *finished >= *started) o.last_run = Millis(*finished - *started);
          }
        } catch (const std::exception& e) {
          spdlog::debug("pods: inspect failed container={} error={}", o.id, what(e));
        }
      }
    }
    out.push_back(std::move(o));
  }
  return out;
}

std::map<std::string, std::string> PodReconciler::check_images(const std::vector<Observed>& observed) {
  std::map<std::string, std::string> ids;
  std::map<PodKey, const Observed*> by_key;
  for (auto& o : observed)
    if (auto k = key_of(o.labels)) by_key.emplace(*k, &o);
  for (auto& pod : desired_) {
    if (pod.desired_state != "running") continue;
    auto it = by_key.find(key_of(pod));
    if (it == by_key.end()) continue;
    auto dr = it->second->labels.find(protocol::kLabelDeployRev);
    if (dr != it->second->labels.end() && dr->second == pod.deploy_rev) continue;
    if (ids.count(pod.image)) continue;
    auto& checked = checked_deploy_rev_[key_of(pod)];
    if (checked != pod.deploy_rev) {
      checked = pod.deploy_rev;
      // A new deploy: the tag may point to a new image in the registry.
      try {
        docker_.pull_image(pod.image, "", nullptr);
      } catch (const std::exception& e) {
        spdlog::info("pods: re-pull for a new deploy failed, using the local image image={} error={}", pod.image,
                     what(e));
      }
    }
    try {
      if (auto img = docker_.inspect_image(pod.image)) ids[pod.image] = img->value("Id", "");
    } catch (const std::exception& e) {
      spdlog::debug("pods: inspect image failed image={} error={}", pod.image, what(e));
    }
  }
  return ids;
}

void PodReconciler::run_health_checks(const std::vector<Observed>& observed) {
  TimePoint now = clock_.now();
  for (auto& pod : desired_) {
    if (pod.desired_state != "running" || !pod.health_check) continue;
    PodKey k = key_of(pod);
    auto rt = runtime_.find(k);
    if (rt == runtime_.end() || !rt->second.running_since || rt->second.port_wait_deadline) continue;
    auto c = std::find_if(observed.begin(), observed.end(),
                          [&](const Observed& o) { return o.id == rt->second.container_id; });
    if (c == observed.end() || c->state != "running") continue;
    PodRuntime& r = rt->second;
    const auto& hc = *pod.health_check;
    if (!r.next_health_check) r.next_health_check = *r.running_since + std::chrono::seconds(hc.initial_delay);
    if (now < *r.next_health_check) {
      due(*r.next_health_check);
      continue;
    }
    std::string ip = container_ip(c->id, pod);
    ProbeResult res = ip.empty() ? ProbeResult{false, "the container has no address"}
                                 : run_health_check(*prober_, hc, ip);
    r.next_health_check = clock_.now() + std::chrono::seconds(hc.interval);
    due(*r.next_health_check);
    r.unhealthy = !res.healthy;
    r.health_known = true;
    if (res.healthy) r.restarted_unhealthy = false;
    if (!res.healthy)
      spdlog::warn("pods: health check failed pod={} container={} check={}://{}:{}{} detail={}", k.str(), c->name,
                   hc.protocol, ip, hc.port, hc.protocol == "http" ? hc.uri : "", res.detail);
    if (health_reporter_) health_reporter_({k, c->id, res.healthy, res.detail});
  }
}

void PodReconciler::forget_ip(const std::string& id) {
  std::lock_guard lock(ip_mu_);
  ip_cache_.erase(id);
}

std::string PodReconciler::container_ip(const std::string& id, const ServicePod& pod) {
  if (pod.net == "host") return "127.0.0.1";
  {
    std::lock_guard lock(ip_mu_);
    if (auto it = ip_cache_.find(id); it != ip_cache_.end()) return it->second;
  }
  std::string ip;
  try {
    auto j = docker_.inspect_container(id);
    if (!j) return {};
    const Json& ns = j->value("NetworkSettings", Json::object());
    const Json& nets = ns.value("Networks", Json::object());
    if (pod.network && nets.contains(pod.network->name)) ip = nets[pod.network->name].value("IPAddress", "");
    if (ip.empty()) ip = ns.value("IPAddress", "");
    if (ip.empty() && nets.is_object())
      for (auto& [name, n] : nets.items())
        if (n.is_object() && !n.value("IPAddress", "").empty()) {
          ip = n.value("IPAddress", "");
          break;
        }
  } catch (const std::exception& e) {
    spdlog::debug("pods: inspect failed container={} error={}", id, what(e));
    return {};
  }
  if (!ip.empty()) {
    std::lock_guard lock(ip_mu_);
    ip_cache_[id] = ip;
  }
  return ip;
}

void PodReconciler::attach_network(const ServicePod& pod, docker::ContainerSpec& spec) {
  if (!pod.network || !pod.network->ip.empty()) return;
  if (network_) {
    network_->attach(pod, spec);
    return;
  }
  // No overlay on this node (kontena-agent --no-overlay): Docker's default network.
  spec.network_ips.erase(pod.network->name);
  if (spec.network_mode == pod.network->name) spec.network_mode.clear();
}

void PodReconciler::release_address(const std::string& container_name) {
  if (network_) network_->release(container_name);
}

std::vector<RunningInstance> PodReconciler::running_instances() const {
  std::lock_guard lock(instances_mu_);
  return instances_;
}

// After a pass: the running instances for service discovery; tells the listener when they changed.
void PodReconciler::update_instances() {
  std::vector<RunningInstance> now;
  for (const auto& pod : desired_) {
    if (pod.desired_state != "running") continue;
    auto rt = runtime_.find(key_of(pod));
    if (rt == runtime_.end() || rt->second.container_id.empty() || !rt->second.running_since ||
        rt->second.down_since)
      continue;
    RunningInstance ri;
    ri.pod = pod;
    ri.container_name = protocol::container_name(pod);
    ri.ip = container_ip(rt->second.container_id, pod);
    if (ri.ip.empty()) continue;
    if (pod.health_check && rt->second.restarted_unhealthy)
      ri.healthy = false;
    else if (pod.health_check && rt->second.health_known)
      ri.healthy = !rt->second.unhealthy;
    now.push_back(std::move(ri));
  }
  bool changed;
  {
    std::lock_guard lock(instances_mu_);
    changed = now != instances_;
    if (changed) instances_ = std::move(now);
  }
  if (changed && instances_changed_) {
    try {
      instances_changed_();
    } catch (const std::exception& e) {
      spdlog::warn("pods: instances listener failed error={}", what(e));
    }
  }
}

void PodReconciler::cleanup_hook_containers() {
  try {
    for (auto& c : docker_.list_containers({std::string(protocol::kLabelContainerType) + "=" +
                                            protocol::kContainerTypeHook},
                                           true))
      if (c.state != "running") docker_.remove_container(c.id, true);
  } catch (const std::exception& e) {
    spdlog::debug("pods: hook container cleanup failed error={}", what(e));
  }
}

void PodReconciler::run_pre_start_hooks(const ServicePod& pod, Outcome& out) {
  for (std::size_t i = 0; i < pod.hooks.pre_start.size(); ++i) {
    const auto& hook = pod.hooks.pre_start[i];
    docker::ContainerSpec spec = protocol::container_spec(pod, options_.node_name);
    spec.name += "-pre-start-" + std::to_string(i + 1);
    spec.entrypoint = std::vector<std::string>{"/bin/sh", "-c"};
    spec.cmd = {hook.cmd};
    spec.ports.clear();
    for (auto it = spec.labels.begin(); it != spec.labels.end();)
      it = it->first.rfind(protocol::kLabelHealthPrefix, 0) == 0 ? spec.labels.erase(it) : std::next(it);
    spec.labels[protocol::kLabelContainerType] = protocol::kContainerTypeHook;
    spec.labels[protocol::kLabelContainerName] = spec.name;
    attach_network(pod, spec);
    std::string label = "pre_start hook " + (hook.name.empty() ? std::to_string(i + 1) : "\"" + hook.name + "\"");
    try {
      docker_.remove_container(spec.name, true);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::not_found) throw;
    }
    std::string id = docker_.create_container(spec);
    int exit_code = -1;
    try {
      docker_.start_container(id);
      TimePoint deadline = clock_.now() + options_.hook_timeout;
      long max_polls = std::max<long>(1, options_.hook_timeout / std::max<Millis>(options_.hook_poll, Millis(1)));
      for (long n = 0;; ++n) {
        auto j = docker_.inspect_container(id);
        if (!j) fail(ErrorKind::internal, label + ": its container disappeared");
        const Json& st = j->value("State", Json::object());
        if (!st.value("Running", false) && st.value("Status", "") != "created") {
          exit_code = st.value("ExitCode", -1);
          break;
        }
        if (clock_.now() >= deadline || n >= max_polls)
          fail(ErrorKind::unavailable, label + " did not finish within " +
                                           std::to_string(options_.hook_timeout.count()) + " s");
        options_.sleep(options_.hook_poll);
      }
    } catch (...) {
      try {
        docker_.remove_container(id, true);
      } catch (...) {
      }
      release_address(spec.name);
      throw;
    }
    try {
      docker_.remove_container(id, true);
    } catch (const std::exception& e) {
      spdlog::debug("pods: hook container removal failed id={} error={}", id, what(e));
    }
    release_address(spec.name);
    if (exit_code != 0)
      fail(ErrorKind::invalid, label + " (" + hook.cmd + ") exited with code " + std::to_string(exit_code));
    spdlog::info("pods: hook done pod={} phase=pre_start hook={}", key_of(pod).str(), hook.name);
    if (hook.oneshot) out.oneshots.emplace_back(&pod, hook);
  }
}

void PodReconciler::run_exec_hooks(const ServicePod& pod, const std::vector<protocol::PodHook>& hooks,
                                   const std::string& id, const char* phase, bool must_succeed, Outcome& out) {
  for (const auto& hook : hooks) {
    if (!exec_) {
      spdlog::warn("pods: hook skipped (this reconciler has no exec) pod={} phase={} hook={}", key_of(pod).str(),
                   phase, hook.name);
      continue;
    }
    int code = -1;
    try {
      code = exec_->exec(id, {"/bin/sh", "-c", hook.cmd});
    } catch (const Error& e) {
      std::string msg = std::string(phase) + " hook \"" + hook.name + "\" (" + hook.cmd + ") could not run: " + e.what();
      if (must_succeed) fail(e.kind(), msg);
      spdlog::warn("pods: {}", msg);
      continue;
    }
    if (code != 0) {
      std::string msg = std::string(phase) + " hook \"" + hook.name + "\" (" + hook.cmd + ") exited with code " +
                        std::to_string(code);
      if (must_succeed) fail(ErrorKind::invalid, msg);
      spdlog::warn("pods: {}", msg);
      continue;
    }
    spdlog::info("pods: hook done pod={} phase={} hook={}", key_of(pod).str(), phase, hook.name);
    if (hook.oneshot) out.oneshots.emplace_back(&pod, hook);
  }
}

void PodReconciler::stop_container(const std::string& id, const ServicePod* pod, bool running,
                                   std::chrono::seconds grace, Outcome& out) {
  if (running && pod && !pod->hooks.pre_stop.empty()) {
    try {
      run_exec_hooks(*pod, pod->hooks.pre_stop, id, "pre_stop", false, out);
    } catch (const std::exception& e) {
      spdlog::warn("pods: pre_stop hook failed container={} error={}", id, what(e));
    }
  }
  if (running) docker_.stop_container(id, grace);
}

// Ensures the image, runs pre_start hooks, creates and starts; post_start hooks. Returns the id.
std::string PodReconciler::create_and_start(const ServicePod& pod, PodRuntime& rt, Outcome& out) {
  docker_.ensure_image(pod.image, "", nullptr);
  run_pre_start_hooks(pod, out);
  docker::ContainerSpec spec = protocol::container_spec(pod, options_.node_name);
  attach_network(pod, spec);
  std::string id;
  try {
    id = docker_.create_container(spec);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::conflict) throw;
    // The name is taken: by a leftover of this pod (no usable labels), remove it; else give up.
    auto other = docker_.inspect_container(spec.name);
    std::string owner;
    if (other) {
      const Json& labels = other->value("Config", Json::object()).value("Labels", Json::object());
      if (labels.is_object()) owner = labels.value(protocol::kLabelServiceId, "");
    }
    if (owner != pod.service_id)
      fail(ErrorKind::conflict, "the container name " + spec.name + " is taken by a container of another owner");
    docker_.remove_container(spec.name, true);
    id = docker_.create_container(spec);
  }
  rt = PodRuntime{};
  rt.container_id = id;
  forget_ip(id);
  docker_.start_container(id);
  rt.running_since = clock_.now();
  if (pod.wait_for_port) rt.port_wait_deadline = clock_.now() + options_.port_wait_timeout;
  run_exec_hooks(pod, pod.hooks.post_start, id, "post_start", true, out);
  return id;
}

// Runs on a worker thread (pod_concurrency > 1): reads desired_ and known_pods_ (not changed
// while actions run), writes only *rt (this pod's own entry) and `out`; the Docker calls are made
// without any lock.
void PodReconciler::apply(const Action& a, PodRuntime* rt, Outcome& out) {
  const ServicePod* pod = pod_at(desired_, a.pod);
  const ServicePod* hooks_of = pod;
  if (!hooks_of)
    if (auto k = known_pods_.find(a.key); k != known_pods_.end()) hooks_of = &k->second;
  spdlog::info("pods: {} pod={} container={} reason={}", to_string(a.kind), a.key.str(),
               a.container_name.empty() ? a.container_id : a.container_name, a.reason);
  auto set_state = [&](const std::string& state, const std::string& error) {
    if (!pod) return;
    out.state = PodState{pod->service_id, pod->instance_number, pod->deploy_rev, state, error};
  };
  try {
    switch (a.kind) {
      case ActionKind::remove:
        stop_container(a.container_id, hooks_of, a.running, a.grace, out);
        docker_.remove_container(a.container_id, true);
        forget_ip(a.container_id);
        // A container of this pod comes back under the same name only if the pod is still desired.
        if (!pod && !a.container_name.empty()) release_address(a.container_name);
        if (pod && pod->desired_state == "terminated") {
          if (!a.container_name.empty()) release_address(a.container_name);
          set_state("missing", "");
        }
        break;
      case ActionKind::stop:
        stop_container(a.container_id, pod, true, a.grace, out);
        set_state("stopped", "");
        break;
      case ActionKind::start: {
        rt->restarts += 1;
        rt->down_since.reset();
        forget_ip(a.container_id);  // a start may give it another address
        docker_.start_container(a.container_id);
        rt->running_since = clock_.now();
        rt->unhealthy = false;
        rt->health_known = false;
        rt->next_health_check.reset();
        rt->last_error.clear();
        if (pod->wait_for_port) rt->port_wait_deadline = clock_.now() + options_.port_wait_timeout;
        run_exec_hooks(*pod, pod->hooks.post_start, a.container_id, "post_start", true, out);
        set_state("running", "");
        break;
      }
      case ActionKind::restart: {
        rt->restarts += 1;
        stop_container(a.container_id, pod, true, a.grace, out);
        forget_ip(a.container_id);  // a start may give it another address
        docker_.start_container(a.container_id);
        rt->running_since = clock_.now();
        rt->down_since.reset();
        rt->unhealthy = false;
        rt->health_known = false;
        // Service discovery leaves it out until a check passes again.
        rt->restarted_unhealthy = true;
        rt->next_health_check.reset();
        rt->last_error.clear();
        if (pod->wait_for_port) rt->port_wait_deadline = clock_.now() + options_.port_wait_timeout;
        run_exec_hooks(*pod, pod->hooks.post_start, a.container_id, "post_start", true, out);
        set_state("running", "");
        break;
      }
      case ActionKind::recreate:
      case ActionKind::create: {
        int restarts = rt->restarts;
        bool crashed = a.kind == ActionKind::recreate && !a.running && a.reason.find("dead") != std::string::npos;
        if (a.kind == ActionKind::recreate) {
          // The new image first: when it cannot be had, the old container keeps running.
          docker_.ensure_image(pod->image, "", nullptr);
          stop_container(a.container_id, pod, a.running, a.grace, out);
          docker_.remove_container(a.container_id, true);
          forget_ip(a.container_id);
          rt->container_id.clear();
        }
        try {
          create_and_start(*pod, *rt, out);
        } catch (...) {
          rt->restarts = restarts + 1;
          rt->down_since = clock_.now();
          throw;
        }
        // A create after failed attempts, or a dead container's replacement, keeps the count so
        // that a crash loop still backs off; an outdated container's replacement starts afresh.
        rt->restarts = (a.kind == ActionKind::create || crashed) ? restarts : 0;
        set_state("running", "");
        break;
      }
    }
  } catch (const std::exception& e) {
    std::string msg = std::string(to_string(a.kind)) + " " +
                      (a.container_name.empty() ? a.key.str() : a.container_name) + " failed: " + what(e);
    spdlog::warn("pods: {}", msg);
    out.error = msg;
    if (rt) {
      rt->last_error = msg;
      if (!rt->down_since) rt->down_since = clock_.now();
      // The container of a failed create may exist (start failed): "restarting", else "missing".
      std::string state = "restarting";
      if (a.kind == ActionKind::stop) state = "running";
      if (a.kind == ActionKind::create || a.kind == ActionKind::recreate)
        state = rt->container_id.empty() ? "missing" : "restarting";
      if (a.kind == ActionKind::remove) state = "stopped";
      set_state(state, msg);
      out.due = *rt->down_since + backoff_delay(rt->restarts, options_.plan.backoff_cap);
    }
  }
}

void PodReconciler::apply_all(const std::vector<Action>& actions, PassResult& result,
                              std::map<PodKey, PodState>& states) {
  std::vector<Outcome> outcomes(actions.size());
  // Each pod's bookkeeping entry is made here, on the pass's thread: the workers only use their own.
  std::vector<PodRuntime*> rts(actions.size(), nullptr);
  for (std::size_t i = 0; i < actions.size(); ++i)
    if (pod_at(desired_, actions[i].pod)) rts[i] = &runtime_[actions[i].key];

  std::size_t workers = static_cast<std::size_t>(std::max(1, options_.pod_concurrency));
  if (workers <= 1 || actions.size() <= 1) {
    for (std::size_t i = 0; i < actions.size(); ++i) apply(actions[i], rts[i], outcomes[i]);
  } else {
    // The removals first (they may free names, ports, addresses the others need), then the rest.
    // Within each phase, actions on one pod, or on one container name, form a group applied in
    // the plan's order by one worker; the groups run concurrently.
    for (bool removals : {true, false}) {
      std::vector<std::size_t> phase;
      for (std::size_t i = 0; i < actions.size(); ++i)
        if ((actions[i].kind == ActionKind::remove) == removals) phase.push_back(i);
      apply_concurrently(actions, phase_groups(actions, phase), workers, rts, outcomes);
    }
  }

  // Merged on this thread in the plan's order: the same result, states and due times as applying
  // the actions one after the other.
  for (std::size_t i = 0; i < actions.size(); ++i) {
    const Action& a = actions[i];
    Outcome& out = outcomes[i];
    result.actions.push_back(a);
    if (!out.error.empty()) result.errors.push_back(out.error);
    if (out.state) states[a.key] = std::move(*out.state);
    if (out.due) due(*out.due);
  }
  if (!oneshot_reporter_) return;
  for (auto& out : outcomes) {
    for (auto& [pod, hook] : out.oneshots) {
      try {
        oneshot_reporter_(*pod, hook);
      } catch (const std::exception& e) {
        spdlog::warn("pods: oneshot hook report failed pod={} hook={} error={}", key_of(*pod).str(), hook.name,
                     e.what());
      }
    }
  }
}

std::vector<std::vector<std::size_t>> PodReconciler::phase_groups(const std::vector<Action>& actions,
                                                                  const std::vector<std::size_t>& phase) {
  // Union-find over the phase's actions: linked by the pod key and by the container name.
  std::vector<std::size_t> parent(phase.size());
  for (std::size_t j = 0; j < phase.size(); ++j) parent[j] = j;
  auto root = [&](std::size_t j) {
    while (parent[j] != j) j = parent[j] = parent[parent[j]];
    return j;
  };
  auto unite = [&](std::size_t x, std::size_t y) {
    x = root(x);
    y = root(y);
    if (x != y) parent[std::max(x, y)] = std::min(x, y);
  };
  std::map<PodKey, std::size_t> by_key;
  std::map<std::string, std::size_t> by_name;
  for (std::size_t j = 0; j < phase.size(); ++j) {
    const Action& a = actions[phase[j]];
    if (auto [it, fresh] = by_key.emplace(a.key, j); !fresh) unite(it->second, j);
    std::string name = a.container_name;
    if (!name.empty() && name.front() == '/') name.erase(0, 1);
    if (name.empty()) continue;
    if (auto [it, fresh] = by_name.emplace(name, j); !fresh) unite(it->second, j);
  }
  std::vector<std::vector<std::size_t>> groups;
  std::map<std::size_t, std::size_t> group_of_root;
  for (std::size_t j = 0; j < phase.size(); ++j) {
    auto [it, fresh] = group_of_root.emplace(root(j), groups.size());
    if (fresh) groups.emplace_back();
    groups[it->second].push_back(phase[j]);  // in the plan's order
  }
  return groups;
}

void PodReconciler::apply_concurrently(const std::vector<Action>& actions,
                                       const std::vector<std::vector<std::size_t>>& groups, std::size_t workers,
                                       const std::vector<PodRuntime*>& rts, std::vector<Outcome>& outcomes) {
  if (groups.empty()) return;
  std::atomic<std::size_t> next{0};
  std::mutex error_mu;
  std::exception_ptr error;
  auto work = [&] {
    for (;;) {
      std::size_t g = next.fetch_add(1);
      if (g >= groups.size()) return;
      for (std::size_t i : groups[g]) {
        try {
          apply(actions[i], rts[i], outcomes[i]);
        } catch (...) {
          std::lock_guard lock(error_mu);
          if (!error) error = std::current_exception();
        }
      }
    }
  };
  std::vector<std::thread> threads;
  std::size_t n = std::min(workers, groups.size());
  for (std::size_t t = 1; t < n; ++t) {
    try {
      threads.emplace_back(work);
    } catch (const std::system_error& e) {
      spdlog::warn("pods: cannot start a worker thread, applying with fewer workers={} error={}", threads.size() + 1,
                   e.what());
      break;
    }
  }
  work();  // this thread is a worker too
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
}

void PodReconciler::port_waits(std::map<PodKey, PodState>& states, std::map<PodKey, bool>& hold) {
  for (auto& pod : desired_) {
    PodKey k = key_of(pod);
    auto rt = runtime_.find(k);
    if (rt == runtime_.end() || !rt->second.port_wait_deadline || !pod.wait_for_port) continue;
    if (pod.desired_state != "running") {
      rt->second.port_wait_deadline.reset();
      continue;
    }
    std::string ip = container_ip(rt->second.container_id, pod);
    ProbeResult r = ip.empty() ? ProbeResult{false, "no address yet"}
                               : prober_->tcp_connect(ip, *pod.wait_for_port, options_.port_probe_timeout);
    TimePoint now = clock_.now();
    if (r.healthy) {
      spdlog::info("pods: port open pod={} port={}", k.str(), *pod.wait_for_port);
      rt->second.port_wait_deadline.reset();
      rt->second.running_since = now;
      states[k] = PodState{pod.service_id, pod.instance_number, pod.deploy_rev, "running", ""};
    } else if (now >= *rt->second.port_wait_deadline) {
      rt->second.port_wait_deadline.reset();
      std::string msg = "port " + std::to_string(*pod.wait_for_port) + " did not open within " +
                        std::to_string(options_.port_wait_timeout.count()) + " s (" + r.detail + ")";
      spdlog::warn("pods: {} pod={}", msg, k.str());
      states[k] = PodState{pod.service_id, pod.instance_number, pod.deploy_rev, "running", msg};
    } else {
      hold[k] = true;
      due(now + options_.port_wait_interval);
    }
  }
}

PassResult PodReconciler::pass(bool full) {
  PassResult result;
  passes_++;
  next_due_.reset();
  if (full) cleanup_hook_containers();
  std::vector<Observed> observed;
  try {
    observed = observe();
  } catch (const std::exception& e) {
    std::string msg = "cannot list the containers: " + what(e);
    spdlog::warn("pods: {}", msg);
    result.errors.push_back(msg);
    due(clock_.now() + std::chrono::seconds(5));
    return result;
  }
  // Forget the addresses of containers that are gone or not running: Docker may give a container
  // another address when it starts again.
  {
    std::set<std::string> running;
    for (auto& o : observed)
      if (o.state == "running") running.insert(o.id);
    std::lock_guard lock(ip_mu_);
    for (auto it = ip_cache_.begin(); it != ip_cache_.end();)
      it = running.count(it->first) ? std::next(it) : ip_cache_.erase(it);
  }
  run_health_checks(observed);
  // Addresses held in IPAM by containers that no longer exist (a crash between create and
  // record, a container removed by hand) go back to the pool, once a minute.
  if (network_ && full && (!next_address_cleanup_ || clock_.now() >= *next_address_cleanup_)) {
    std::set<std::string> names;
    for (auto& o : observed) names.insert(o.name);
    network_->cleanup(names);
    next_address_cleanup_ = clock_.now() + std::chrono::seconds(60);
  }

  PlanInput in;
  in.desired = desired_;
  in.observed = std::move(observed);
  in.runtime = runtime_;
  in.image_ids = check_images(in.observed);
  in.now = clock_.now();
  in.options = options_.plan;
  Plan p = plan(in);
  runtime_ = std::move(p.runtime);
  if (p.next_due) due(*p.next_due);

  std::map<PodKey, PodState> states;
  for (auto& st : p.statuses) {
    const ServicePod& pod = desired_[st.pod];
    auto rt = runtime_.find(st.key);
    std::string err = rt != runtime_.end() && st.state != "running" ? rt->second.last_error : "";
    states[st.key] = PodState{pod.service_id, pod.instance_number, pod.deploy_rev, st.state, err};
  }
  apply_all(p.actions, result, states);
  for (auto it = checked_deploy_rev_.begin(); it != checked_deploy_rev_.end();)
    it = runtime_.count(it->first) ? std::next(it) : checked_deploy_rev_.erase(it);

  std::map<PodKey, bool> hold;
  port_waits(states, hold);
  // Health checks due for containers started in this pass.
  for (auto& pod : desired_) {
    auto rt = runtime_.find(key_of(pod));
    if (pod.desired_state != "running" || !pod.health_check || rt == runtime_.end()) continue;
    if (!rt->second.running_since || rt->second.port_wait_deadline) continue;
    if (!rt->second.next_health_check)
      rt->second.next_health_check = *rt->second.running_since + std::chrono::seconds(pod.health_check->initial_delay);
    due(*rt->second.next_health_check);
  }
  // The last known spec of each pod, for the pre_stop hooks of a pod that left the desired list.
  for (auto& pod : desired_) known_pods_[key_of(pod)] = pod;
  for (auto it = known_pods_.begin(); it != known_pods_.end();)
    it = runtime_.count(it->first) ? std::next(it) : known_pods_.erase(it);

  // Report: every desired pod on a full pass, changes otherwise; a pod still waiting for its
  // port is not reported "running" yet.
  std::set<PodKey> desired_keys;
  for (auto& pod : desired_) {
    PodKey k = key_of(pod);
    desired_keys.insert(k);
    auto s = states.find(k);
    if (s == states.end() || hold.count(k)) continue;
    auto last = last_reported_.find(k);
    if (!full && last != last_reported_.end() && last->second == s->second) continue;
    last_reported_[k] = s->second;
    result.reported.push_back(s->second);
    if (report_) {
      try {
        report_(s->second);
      } catch (const std::exception& e) {
        spdlog::warn("pods: state report failed pod={} error={}", k.str(), e.what());
      }
    }
  }
  for (auto it = last_reported_.begin(); it != last_reported_.end();)
    it = desired_keys.count(it->first) ? std::next(it) : last_reported_.erase(it);
  update_instances();
  return result;
}

PassResult PodReconciler::restart_now(const PodKey& key) {
  PassResult result;
  bool need_pass = false;
  {
    std::lock_guard lock(pass_mu_);
    int index = -1;
    for (int i = 0; i < static_cast<int>(desired_.size()); ++i)
      if (key_of(desired_[i]) == key) index = i;
    if (index < 0 || desired_[index].desired_state != "running") {
      spdlog::info("pods: restart ignored, the pod is not desired running on this node pod={}", key.str());
      return result;
    }
    const ServicePod& pod = desired_[index];
    std::vector<Observed> observed;
    try {
      observed = observe();
    } catch (const std::exception& e) {
      std::string msg = "restart " + key.str() + " failed: cannot list the containers: " + what(e);
      spdlog::warn("pods: {}", msg);
      result.errors.push_back(msg);
      return result;
    }
    auto rt_it = runtime_.find(key);
    const Observed* c = nullptr;
    for (const auto& o : observed) {
      if (key_of(o.labels) != key) continue;
      bool remembered = rt_it != runtime_.end() && rt_it->second.container_id == o.id;
      if (!c || remembered || (o.name == protocol::container_name(pod) && c->name != o.name)) c = &o;
    }
    if (!c) {
      spdlog::info("pods: restart of a pod without a container, reconciling pod={}", key.str());
      need_pass = true;
    } else {
      PodRuntime& rt = runtime_[key];
      if (rt.container_id != c->id) {
        rt = PodRuntime{};
        rt.container_id = c->id;
      }
      bool running = c->state == "running" || c->state == "restarting" || c->state == "paused";
      Action a{running ? ActionKind::restart : ActionKind::start, key, index, c->id, c->name,
               std::chrono::seconds(pod.stop_grace_period), running, "restart requested by the master"};
      std::map<PodKey, PodState> states;
      apply_all({a}, result, states);
      for (auto& [k, st] : states) {
        auto r = runtime_.find(k);
        if (r != runtime_.end() && r->second.port_wait_deadline && st.state == "running") continue;  // reported when open
        auto last = last_reported_.find(k);
        if (last != last_reported_.end() && last->second == st) continue;
        last_reported_[k] = st;
        result.reported.push_back(st);
        if (report_) {
          try {
            report_(st);
          } catch (const std::exception& e) {
            spdlog::warn("pods: state report failed pod={} error={}", k.str(), e.what());
          }
        }
      }
      need_pass = true;  // health checks and port waits are scheduled by the next pass
    }
  }
  if (need_pass) poke();
  return result;
}

// --- background loop

void PodReconciler::start(DesiredSource source) {
  {
    std::lock_guard lock(loop_mu_);
    if (thread_.joinable()) return;
    stopping_ = false;
    trigger_pending_ = true;
  }
  thread_ = std::thread([this, source = std::move(source)] { loop(source); });
}

void PodReconciler::trigger() {
  {
    std::lock_guard lock(loop_mu_);
    trigger_pending_ = true;
  }
  loop_cv_.notify_all();
}

void PodReconciler::poke() {
  {
    std::lock_guard lock(loop_mu_);
    poke_pending_ = true;
  }
  loop_cv_.notify_all();
}

void PodReconciler::restart(PodKey key) {
  {
    std::lock_guard lock(loop_mu_);
    restart_pending_.push_back(std::move(key));
  }
  loop_cv_.notify_all();
}

void PodReconciler::stop() {
  {
    std::lock_guard lock(loop_mu_);
    stopping_ = true;
  }
  loop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PodReconciler::loop(DesiredSource source) {
  std::unique_ptr<docker::Stream> events;
  std::optional<TimePoint> next_fetch;
  for (;;) {
    if (options_.watch_events && (!events || events->done())) {
      try {
        Json filters = {{"type", {"container"}},
                        {"event", {"die", "destroy", "oom"}},
                        {"label", {std::string(protocol::kLabelContainerType) + "=" + protocol::kContainerTypeContainer}}};
        events = docker_.stream_events(filters, [this](const Json&) { poke(); });
      } catch (const std::exception& e) {
        spdlog::debug("pods: cannot watch Docker events error={}", what(e));
        events.reset();
      }
    }
    bool fetch = false;
    bool local = false;
    bool poked = false;
    std::vector<PodKey> restarts;
    // next_due() takes the pass lock: never while holding loop_mu_ (a pass's callbacks may call
    // trigger()).
    std::optional<TimePoint> wake = next_fetch;
    if (auto d = next_due(); d && (!wake || *d < *wake)) wake = d;
    {
      std::unique_lock lock(loop_mu_);
      TimePoint now = clock_.now();
      Millis wait = options_.interval;
      if (wake) wait = std::clamp(std::chrono::duration_cast<Millis>(*wake - now), Millis(10), options_.interval);
      if (!(stopping_ || trigger_pending_ || poke_pending_ || !restart_pending_.empty()) && (!wake || *wake > now))
        loop_cv_.wait_for(lock, wait,
                          [&] { return stopping_ || trigger_pending_ || poke_pending_ || !restart_pending_.empty(); });
      if (stopping_) break;
      if (trigger_pending_ && options_.trigger_settle.count() > 0) {
        // The master notifies once per change: let the rest of a burst arrive (e.g. the next
        // instances of a throttled rollout, released one report at a time) to fetch them all at once.
        loop_cv_.wait_for(lock, options_.trigger_settle, [&] { return stopping_; });
        if (stopping_) break;
      }
      restarts.swap(restart_pending_);
      fetch = trigger_pending_;
      poked = poke_pending_;
      trigger_pending_ = false;
      poke_pending_ = false;
    }
    for (const auto& key : restarts) {
      try {
        restart_now(key);
      } catch (const std::exception& e) {
        spdlog::warn("pods: restart failed pod={} error={}", key.str(), what(e));
      }
    }
    restarts.clear();
    TimePoint now = clock_.now();
    fetch = fetch || (next_fetch && now >= *next_fetch);
    auto d = next_due();
    local = poked || (d && now >= *d);
    if (fetch) {
      std::optional<std::vector<ServicePod>> desired;
      try {
        desired = source();
        next_fetch = clock_.now() + options_.interval;
      } catch (const std::exception& e) {
        spdlog::warn("pods: cannot get the desired pods, retrying error={}", what(e));
        next_fetch = clock_.now() + options_.fetch_retry;
        local = true;
      }
      if (desired) {
        try {
          reconcile(std::move(*desired));
        } catch (const std::exception& e) {
          spdlog::warn("pods: pass failed error={}", what(e));
        }
        continue;
      }
    }
    if (local) {
      try {
        tick();
      } catch (const std::exception& e) {
        spdlog::warn("pods: pass failed error={}", what(e));
      }
    }
  }
  if (events) events->cancel();
}

}  // namespace kontena::agent::pods
