#include "agent/logs/log_sync.h"

#include <spdlog/spdlog.h>

#include <future>

#include "protocol/service_pod.h"

namespace kontena::agent::logs {

LogSync::LogSync(Agent& agent, asio::any_io_executor loop, docker::DockerClient& docker, const Clock& clock,
                 LogShipperOptions options)
    : agent_(agent),
      loop_(std::move(loop)),
      shipper_(std::make_unique<LogShipper>(docker, clock, options, [this](const Json& lines) { return send(lines); })) {
  agent_.on_session_open([this] {
    if (started_ || stopping_->load()) return;
    started_ = true;
    shipper_->start();
    spdlog::info("container log shipping started");
  });
  agent_.on_notification(std::string(protocol::kMethodServicePodsNotifyUpdate), [this](const Json&) {
    if (started_) shipper_->rescan();
  });
}

LogSync::~LogSync() { stop(); }

void LogSync::stop() {
  stopping_->store(true);
  shipper_->stop();
}

bool LogSync::send(const Json& lines) {
  auto done = std::make_shared<std::promise<bool>>();
  auto future = done->get_future();
  Agent* agent = &agent_;
  asio::post(loop_, [agent, done, lines] {
    if (!agent->connected()) {
      done->set_value(false);
      return;
    }
    agent->notify(kMethodLogBatch, Json::array({agent->node_id(), lines}));
    done->set_value(true);
  });
  // The loop answers at once unless it no longer runs (stopping).
  while (future.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready)
    if (stopping_->load()) return false;
  return future.get();
}

}  // namespace kontena::agent::logs
