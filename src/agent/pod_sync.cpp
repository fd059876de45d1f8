#include "agent/pod_sync.h"

#include <future>
#include <spdlog/spdlog.h>

#include "agent/blocking.h"
#include "agent/docker/stream_decoder.h"
#include "common/error.h"
#include "protocol/service_pod.h"

namespace kontena::agent {

namespace {

// Free coroutines taking everything by value (g++ 12: no temporaries with destructors in the
// co_await full-expressions).
asio::awaitable<protocol::RpcResponse> list_pods(Agent* agent) {
  std::string method(protocol::kMethodServicePodsList);
  Json params = Json::array({agent->node_id()});
  auto response = co_await agent->request(std::move(method), std::move(params));
  co_return response;
}

asio::awaitable<void> send_state(Agent* agent, Json state) {
  std::string method(protocol::kMethodServicePodsSetState);
  Json params = Json::array({agent->node_id(), state});
  auto response = co_await agent->request(std::move(method), std::move(params));
  if (!response.ok())
    spdlog::warn("cannot report a service pod state service_id={} instance={} error=\"{}\"",
                 state.value("service_id", std::string()), state.value("instance_number", 0), response.error.dump());
}

asio::awaitable<void> send_oneshot(Agent* agent, Json hook) {
  std::string method(protocol::kMethodServicePodsMarkOneshotHook);
  Json params = Json::array({agent->node_id(), hook});
  auto response = co_await agent->request(std::move(method), std::move(params));
  if (!response.ok())
    spdlog::warn("cannot report a oneshot hook as done, it may run again service_id={} instance={} hook={} error=\"{}\"",
                 hook.value("service_id", std::string()), hook.value("instance_number", 0),
                 hook.value("hook", std::string()), response.error.dump());
}

// /containers/exec: params parsed here (inside the coroutine, so that bad params become an error
// response), the command run on the exec pool.
asio::awaitable<Json> run_exec(asio::any_io_executor pool, docker::DockerClient* docker, Json params) {
  ExecRequest req = parse_exec_request(params);
  spdlog::info("exec requested by the master container={} cmd=\"{}\" timeout={}", req.container, req.cmd.front(),
               format_duration(req.timeout));
  auto call = [docker, req] { return docker->exec(req.container, req.cmd, req.timeout); };
  auto result = co_await run_blocking(pool, std::move(call));
  if (!result.ok()) {
    spdlog::info("exec failed container={} error=\"{}\"", req.container, result.error_message());
    std::rethrow_exception(result.error);
  }
  co_return exec_result_json(result.value);
}

std::optional<pods::PodKey> restart_key(const Json& params) {
  const Json& p = params.is_array() && !params.empty() ? params[0] : params;
  if (!p.is_object()) return std::nullopt;
  pods::PodKey key;
  auto id = p.find("service_id");
  if (id == p.end()) return std::nullopt;
  if (id->is_string()) key.service_id = id->get<std::string>();
  else if (id->is_number_integer()) key.service_id = std::to_string(id->get<std::int64_t>());
  auto n = p.find("instance_number");
  if (n == p.end() || !n->is_number_integer() || n->get<std::int64_t>() < 1 || n->get<std::int64_t>() > 1'000'000)
    return std::nullopt;
  key.instance_number = n->get<int>();
  if (key.service_id.empty()) return std::nullopt;
  return key;
}

}  // namespace

ExecRequest parse_exec_request(const Json& params) {
  const Json* p = &params;
  if (params.is_array()) {
    if (params.size() != 1) invalid("params", "/containers/exec takes one parameter: {container, cmd, timeout}");
    p = &params[0];
  }
  if (!p->is_object()) invalid("params", "/containers/exec takes an object {container, cmd, timeout}");
  ExecRequest req;
  auto c = p->find("container");
  if (c == p->end() || !c->is_string() || c->get<std::string>().empty())
    invalid("container", "container must be a non-empty string (the container's name or id)");
  req.container = c->get<std::string>();
  auto cmd = p->find("cmd");
  if (cmd == p->end() || !cmd->is_array() || cmd->empty())
    invalid("cmd", "cmd must be a non-empty list of strings, e.g. [\"sh\", \"-c\", \"echo hi\"]");
  for (const auto& a : *cmd) {
    if (!a.is_string()) invalid("cmd", "cmd must be a list of strings");
    req.cmd.push_back(a.get<std::string>());
  }
  if (req.cmd.front().empty()) invalid("cmd", "cmd[0] (the program) is empty");
  if (auto t = p->find("timeout"); t != p->end() && !t->is_null()) {
    if (!t->is_number() || !(t->get<double>() > 0) || t->get<double>() > 86400)
      invalid("timeout", "timeout must be a number of seconds in (0, 86400]");
    req.timeout = Millis(static_cast<std::int64_t>(t->get<double>() * 1000));
    if (req.timeout.count() < 1) req.timeout = Millis(1);
  }
  return req;
}

Json exec_result_json(const docker::ExecResult& r) {
  return Json{{"exit_code", r.exit_code},
              {"stdout", docker::valid_utf8(r.stdout_data)},
              {"stderr", docker::valid_utf8(r.stderr_data)}};
}

std::vector<pods::RunningInstance> PodSync::running_instances() const {
  auto* r = running_reconciler_.load();
  return r ? r->running_instances() : std::vector<pods::RunningInstance>{};
}

PodSync::PodSync(Agent& agent, asio::any_io_executor loop, docker::DockerClient& docker, const Clock& clock,
                 PodSyncOptions options)
    : agent_(agent), loop_(std::move(loop)), docker_(docker) {
  // The node name (a label of the containers) is only known once the Docker engine answered, so
  // the reconciler starts with the first session.
  agent_.on_session_open([this, &docker, &clock, options] {
    {
      // Health results are sent again after a reconnect (some may have been lost).
      std::lock_guard lock(health_mu_);
      health_sent_.clear();
    }
    if (reconciler_) {
      reconciler_->trigger();
      return;
    }
    pods::ReconcilerOptions o;
    o.node_name = agent_.node_name();
    o.interval = options.interval;
    o.watch_events = options.watch_events;
    o.hook_timeout = std::chrono::duration_cast<std::chrono::seconds>(options.hook_timeout);
    o.pod_concurrency = options.pod_concurrency;
    reconciler_ = std::make_unique<pods::PodReconciler>(
        docker, clock, o, [this](const protocol::PodState& s) { report(s); }, nullptr,
        pods::make_docker_exec(docker, options.hook_timeout));
    reconciler_->on_health([this](const pods::HealthResult& h) { report_health(h); });
    reconciler_->on_oneshot_hook([this](const pods::ServicePod& p, const protocol::PodHook& h) { report_oneshot(p, h); });
    if (network_) reconciler_->set_network(network_);
    if (instances_changed_) reconciler_->on_instances_changed(instances_changed_);
    running_reconciler_.store(reconciler_.get());
    reconciler_->start([this] { return fetch(); });
    spdlog::info("service pod reconciler started interval={}", format_duration(options.interval));
  });
  agent_.on_notification(std::string(protocol::kMethodServicePodsNotifyUpdate), [this](const Json&) {
    spdlog::debug("service pods updated by the master, reconciling");
    if (reconciler_) reconciler_->trigger();
  });
  agent_.on_notification("/service_pods/restart", [this](const Json& params) {
    auto key = restart_key(params);
    if (!key) {
      spdlog::warn("ignoring /service_pods/restart without a service_id and instance_number params={}", params.dump());
      return;
    }
    if (!reconciler_) {
      spdlog::warn("ignoring /service_pods/restart before the reconciler started pod={}", key->str());
      return;
    }
    spdlog::info("restart requested by the master pod={}", key->str());
    reconciler_->restart(*key);
  });
  agent_.on_request("/containers/exec", [this](Json params) {
    asio::any_io_executor pool = exec_pool_->get_executor();
    return run_exec(std::move(pool), &docker_, std::move(params));
  });
}

PodSync::~PodSync() { stop(); }

void PodSync::stop() {
  stopping_->store(true);
  if (reconciler_) reconciler_->stop();
  exec_pool_->stop();
  exec_pool_->join();
}

std::vector<pods::ServicePod> PodSync::fetch() {
  auto done = std::make_shared<std::promise<protocol::RpcResponse>>();
  auto future = done->get_future();
  Agent* agent = &agent_;
  asio::post(loop_, [agent, done, loop = loop_] {
    asio::co_spawn(loop, list_pods(agent), [done](std::exception_ptr e, protocol::RpcResponse r) {
      if (e) done->set_exception(e);
      else done->set_value(std::move(r));
    });
  });
  // The request ends within request_timeout; stopping_ covers a loop that no longer runs.
  while (future.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready)
    if (stopping_->load()) fail(ErrorKind::unavailable, "the agent is stopping");
  protocol::RpcResponse response = future.get();
  if (!response.ok()) fail(ErrorKind::unavailable, "/node_service_pods/list failed: " + response.error.dump());
  return protocol::service_pods_from_list_result(response.result);
}

void PodSync::report(const protocol::PodState& state) {
  Json j = protocol::to_json(state);
  Agent* agent = &agent_;
  asio::post(loop_, [agent, j, loop = loop_] { asio::co_spawn(loop, send_state(agent, j), asio::detached); });
}

}  // namespace kontena::agent

namespace kontena::agent {

void PodSync::report_health(const pods::HealthResult& h) {
  {
    std::lock_guard lock(health_mu_);
    auto it = health_sent_.find(h.key);
    if (it != health_sent_.end() && it->second == h.healthy) return;
    health_sent_[h.key] = h.healthy;
  }
  Json health = {{"service_id", h.key.service_id},
                 {"instance_number", h.key.instance_number},
                 {"status", h.healthy ? "healthy" : "unhealthy"},
                 {"error", h.healthy ? Json() : Json(docker::valid_utf8(h.detail))}};
  spdlog::info("health changed pod={} status={} detail=\"{}\"", h.key.str(), h.healthy ? "healthy" : "unhealthy", h.detail);
  Agent* agent = &agent_;
  auto key = h.key;
  asio::post(loop_, [this, agent, health, key] {
    if (!agent->connected()) {
      // Not sent: send the next result again.
      std::lock_guard lock(health_mu_);
      health_sent_.erase(key);
      return;
    }
    agent->notify("/containers/health", Json::array({agent->node_id(), health}));
  });
}

void PodSync::report_oneshot(const pods::ServicePod& pod, const protocol::PodHook& hook) {
  Json j = {{"service_id", pod.service_id}, {"instance_number", pod.instance_number}, {"hook", hook.name},
            {"name", hook.name}};
  Agent* agent = &agent_;
  asio::post(loop_, [agent, j, loop = loop_] { asio::co_spawn(loop, send_oneshot(agent, j), asio::detached); });
}

}  // namespace kontena::agent
