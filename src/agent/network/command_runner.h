// Runs a program and collects its exit code and output: the seam between the overlay code and the
// node's `ip`, `bridge` and `iptables` (unit tests script a fake; the agent uses real processes).
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace kontena::agent::network {

struct CommandResult {
  int exit_code = -1;  // the program's exit status; 128+N when killed by signal N; 127 when it cannot be run
  std::string out;     // everything it wrote to stdout
  std::string err;     // everything it wrote to stderr
};

class CommandRunner {
 public:
  virtual ~CommandRunner() = default;
  // Runs argv[0] (looked up in PATH) with argv, no shell, stdin /dev/null, and waits for it.
  // Throws Error(invalid) for an empty argv, Error(unavailable) when the program does not end
  // within `timeout` (it is killed first). A program that is not installed is exit code 127 with
  // the reason in err, not an exception: callers check exit codes anyway.
  virtual CommandResult run(const std::vector<std::string>& argv,
                            std::chrono::milliseconds timeout = std::chrono::seconds(10)) = 0;
};

// Real processes (posix_spawn). Thread-safe.
std::unique_ptr<CommandRunner> make_process_runner();

// argv as one line for messages and logs ("ip link add kontena0 type bridge").
std::string command_line(const std::vector<std::string>& argv);

}  // namespace kontena::agent::network
