// Shared by `kontena stack ...` and `kontena service ...` (docs/api/stacks-services.md): API paths,
// service references, following deploys by polling, and container/event logs.
#pragma once
#include <CLI/CLI.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>

#include "cli/context.h"

namespace kontena::cli {

// How often a deploy being followed is polled (the master's deploys are fast: a 20-instance
// install is benchmarked against `docker run`), and how often `logs -f` / `events -f` poll.
inline constexpr std::chrono::milliseconds kDeployPollInterval{200};
inline constexpr std::chrono::milliseconds kLogPollInterval{1000};
// Following gives up after this long (the master's own deploy timeout is 30 minutes).
inline constexpr std::chrono::minutes kFollowLimit{40};
// Consecutive "master unreachable" answers tolerated while following (a master restart).
inline constexpr int kFollowRetries = 25;

// The stack name "null" is the grid's stack-less services.
inline constexpr const char* kNullStack = "null";

// Throws Error(invalid, field) unless `name` is a valid stack or service name: [a-z0-9-]+, not
// starting with '-', at most 63 characters ("null" is not a stack name).
void check_name(const std::string& name, const std::string& what);

std::string stack_path(const std::string& grid, const std::string& stack);  // /v1/stacks/:grid/:stack

// "svc" (stack-less), "stack/svc" or "grid/stack/svc" (reference §2).
struct ServiceRef {
  std::string grid;
  std::string stack = kNullStack;
  std::string name;
  // "svc" or "stack/svc", as the user writes it.
  std::string display() const;
};
// default_grid is used when the reference does not name one; throws Error(invalid) for bad refs.
ServiceRef parse_service_ref(const std::string& text, const std::string& default_grid);
std::string service_path(const ServiceRef& ref);  // /v1/services/:grid/:stack/:service

// "stack/svc" from a ServiceDeploy's or Service's "service"/"stack" fields: the display form.
std::string service_display_name(const nlohmann::json& service);

// Sleeping between polls. Tests replace it (an empty function restores the real sleep, which
// wakes early on Ctrl-C).
using PollSleeper = std::function<void(std::chrono::milliseconds)>;
void set_poll_sleeper(PollSleeper sleeper);
void poll_sleep(std::chrono::milliseconds duration);

// Ctrl-C while following: the first SIGINT only sets a flag (the follow loop stops, tells that
// the deploy goes on, and exits 130); a FollowScope installs the handler for its lifetime.
class FollowScope {
 public:
  FollowScope();
  ~FollowScope();
  FollowScope(const FollowScope&) = delete;
  FollowScope& operator=(const FollowScope&) = delete;
};
bool follow_interrupted();
void request_follow_interrupt();  // what the SIGINT handler does (tests call it)

// Polls GET .../deploys/:id until the deploy ends, printing progress lines to `progress`
// (instances as their state changes). Returns the final deploy on success; throws Error naming the
// failing instance on error; on Ctrl-C prints that the deploy continues and throws ExitStatus(130).
nlohmann::json follow_stack_deploy(Context& ctx, std::ostream& progress, const std::string& grid,
                                   const std::string& stack, const nlohmann::json& deploy);
nlohmann::json follow_service_deploy(Context& ctx, std::ostream& progress, const ServiceRef& ref,
                                     const nlohmann::json& deploy);

// Tracks what was already printed for a deploy's instances (for the follow loops).
class DeployPrinter {
 public:
  explicit DeployPrinter(std::ostream& out) : out_(out) {}
  // Prints a line for each instance or service deploy whose state (or node) changed.
  void service_deploy(const nlohmann::json& service_deploy);

 private:
  std::ostream& out_;
  std::map<std::string, std::string> seen_;
};

// --tail, --since, -f (and -i for a service) for `logs` and `events`.
struct LogOptions {
  int tail = 100;
  std::string since;
  bool follow = false;
  int instance = 0;  // 0: all
  bool json = false;
};
void add_log_options(CLI::App* command, LogOptions& options);
// path: .../container_logs or .../event_logs; events=true prints the event format.
void print_logs(Context& ctx, const std::string& path, const LogOptions& options, bool events);

}  // namespace kontena::cli
