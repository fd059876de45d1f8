// The agent's session under test: an Agent on a test-driven io_context against the in-process
// FakeMaster and a FakeDocker, with short real intervals. Shared by the session and pod-sync tests.
#pragma once
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include "agent/agent.h"
#include "common/clock.h"
#include "fake_docker.h"
#include "fake_master.h"

namespace kontena::agent::fakes {

class AgentHarness : public ::testing::Test {
 protected:
  using milliseconds = std::chrono::milliseconds;

  AgentHarness() : master(io), docker(std::make_shared<FakeDocker>()) {
    options.master_url = master.url();
    options.grid_token = "grid-token-1";
    options.private_ip = "10.1.2.3";
    options.ping_interval = milliseconds(200);
    options.ping_timeout = milliseconds(300);
    options.update_interval = milliseconds(60'000);
    options.backoff_base = milliseconds(20);
    options.backoff_max = milliseconds(100);
    options.connect_timeout = milliseconds(2'000);
    options.request_timeout = milliseconds(2'000);
  }

  ~AgentHarness() override {
    stop_agent();
    stop_master();
    pool.join();
  }

  void start_agent() {
    agent = std::make_unique<Agent>(io.get_executor(), pool.get_executor(), options, docker, clock);
  }
  void run_agent() {
    asio::co_spawn(io, agent->run(), [this](std::exception_ptr e, int code) { exit_code = e ? -1 : code; });
  }
  // Graceful stop of a running agent, waited for (bounded).
  void stop_agent() {
    if (agent && !exit_code) {
      agent->stop();
      run_until([&] { return exit_code.has_value(); }, milliseconds(3000));
    }
  }
  // Closes the fake master and lets the loop finish what it posted; idempotent.
  void stop_master() {
    if (master_stopped) return;
    master_stopped = true;
    master.stop();
    run_for(milliseconds(50));
  }

  bool run_until(const std::function<bool()>& done, milliseconds timeout = milliseconds(5000)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io.run_for(milliseconds(5));
      if (io.stopped()) io.restart();
    }
    return true;
  }
  void run_for(milliseconds d) {
    run_until([] { return false; }, d);
  }

  asio::io_context io;
  asio::thread_pool pool{1};
  FakeMaster master;
  std::shared_ptr<FakeDocker> docker;
  ManualClock clock{std::chrono::system_clock::time_point{milliseconds(1795530000123)}};
  AgentOptions options;
  std::unique_ptr<Agent> agent;
  std::optional<int> exit_code;
  bool master_stopped = false;
};

}  // namespace kontena::agent::fakes
