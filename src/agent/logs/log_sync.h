// Wires the LogShipper (log_shipper.h) into the agent session: batches go out as the notification
// /containers/log_batch [node_id, [line...]] on the agent's session; while the agent is not
// connected the sender says no and the lines wait in the shipper's bounded queue. The shipper
// starts with the first session (the node id is known by then) and rescans the containers on each
// /service_pods/notify_update (new service containers are about to appear).
// Construct before Agent::run(); call stop() (or destroy) before the loop stops running.
#pragma once
#include "common/asio.h"

#include <atomic>
#include <memory>

#include "agent/agent.h"
#include "agent/logs/log_shipper.h"

namespace kontena::agent::logs {

inline constexpr const char* kMethodLogBatch = "/containers/log_batch";

class LogSync {
 public:
  LogSync(Agent& agent, asio::any_io_executor loop, docker::DockerClient& docker, const Clock& clock,
          LogShipperOptions options);
  ~LogSync();
  LogSync(const LogSync&) = delete;
  LogSync& operator=(const LogSync&) = delete;

  void stop();
  LogShipper& shipper() { return *shipper_; }

 private:
  bool send(const Json& lines);  // on the shipper's thread

  Agent& agent_;
  asio::any_io_executor loop_;
  std::shared_ptr<std::atomic<bool>> stopping_ = std::make_shared<std::atomic<bool>>(false);
  bool started_ = false;
  std::unique_ptr<LogShipper> shipper_;
};

}  // namespace kontena::agent::logs
