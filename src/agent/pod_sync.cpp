#include "agent/pod_sync.h"

#include <future>
#include <spdlog/spdlog.h>

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

}  // namespace

PodSync::PodSync(Agent& agent, asio::any_io_executor loop, docker::DockerClient& docker, const Clock& clock,
                 PodSyncOptions options)
    : agent_(agent), loop_(std::move(loop)) {
  // The node name (a label of the containers) is only known once the Docker engine answered, so
  // the reconciler starts with the first session.
  agent_.on_session_open([this, &docker, &clock, options] {
    if (reconciler_) {
      reconciler_->trigger();
      return;
    }
    pods::ReconcilerOptions o;
    o.node_name = agent_.node_name();
    o.interval = options.interval;
    o.watch_events = options.watch_events;
    reconciler_ = std::make_unique<pods::PodReconciler>(docker, clock, o,
                                                        [this](const protocol::PodState& s) { report(s); });
    reconciler_->start([this] { return fetch(); });
    spdlog::info("service pod reconciler started interval={}", format_duration(options.interval));
  });
  agent_.on_notification(std::string(protocol::kMethodServicePodsNotifyUpdate), [this](const Json&) {
    spdlog::debug("service pods updated by the master, reconciling");
    if (reconciler_) reconciler_->trigger();
  });
  agent_.on_notification("/service_pods/restart", [](const Json& params) {
    // The reconciler has no per-instance restart yet.
    spdlog::warn("/service_pods/restart is not supported yet, ignored params={}", params.dump());
  });
}

PodSync::~PodSync() { stop(); }

void PodSync::stop() {
  stopping_->store(true);
  if (reconciler_) reconciler_->stop();
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
