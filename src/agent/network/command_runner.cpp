#include "agent/network/command_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "common/error.h"

extern char** environ;

namespace kontena::agent::network {
namespace {

using Clock = std::chrono::steady_clock;

// More than any `ip -j` answer of a node; a runaway program is not buffered without bound.
constexpr std::size_t kOutputCap = 64 * 1024 * 1024;

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  Fd read;
  Fd write;
};

void open_pipe(Pipe& p) {
  int fds[2];
  // O_CLOEXEC: a pipe must not leak into children spawned at the same time by other threads,
  // or their reader would wait for EOF until those children end.
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    fail(ErrorKind::internal, std::string("cannot create a pipe: ") + std::strerror(errno));
  }
  p.read.reset(fds[0]);
  p.write.reset(fds[1]);
}

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

class ProcessRunner final : public CommandRunner {
 public:
  CommandResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) override {
    if (argv.empty() || argv.front().empty()) invalid("argv", "the command to run is empty");
    Pipe out, err;
    open_pipe(out);
    open_pipe(err);

    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out.write.get(), 1);
    posix_spawn_file_actions_adddup2(&actions, err.write.get(), 2);
    pid_t pid = -1;
    int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    out.write.reset();
    err.write.reset();
    if (rc != 0) {
      return CommandResult{127, "", "cannot run " + argv.front() + ": " + std::strerror(rc)};
    }

    CommandResult result;
    const auto deadline = Clock::now() + timeout;
    std::array<pollfd, 2> fds{pollfd{out.read.get(), POLLIN, 0}, pollfd{err.read.get(), POLLIN, 0}};
    std::array<std::string*, 2> sinks{&result.out, &result.err};
    int open_fds = 2;
    bool timed_out = false;
    char buf[65536];
    while (open_fds > 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) {
        timed_out = true;
        break;
      }
      int n = ::poll(fds.data(), fds.size(), static_cast<int>(std::min<long long>(left, 1000)));
      if (n < 0 && errno != EINTR) break;
      for (std::size_t i = 0; i < fds.size(); ++i) {
        if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
        ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
        if (got > 0) {
          auto room = kOutputCap - std::min(kOutputCap, sinks[i]->size());
          sinks[i]->append(buf, std::min(room, static_cast<std::size_t>(got)));
        } else if (got == 0 || errno != EINTR) {
          fds[i].fd = -1;  // EOF: poll ignores negative fds
          --open_fds;
        }
      }
    }

    int status = 0;
    if (timed_out) {
      // The program itself may have ended while something it started still holds the pipes.
      pid_t done = ::waitpid(pid, &status, WNOHANG);
      if (done == pid) {
        result.exit_code = exit_code_of(status);
        return result;
      }
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      fail(ErrorKind::unavailable, "`" + command_line(argv) + "` did not finish within " +
                                       std::to_string(timeout.count()) + " ms and was killed");
    }
    while (::waitpid(pid, &status, 0) < 0) {
      if (errno != EINTR) fail(ErrorKind::internal, "cannot wait for `" + command_line(argv) + "`: " + std::strerror(errno));
    }
    result.exit_code = exit_code_of(status);
    return result;
  }
};

}  // namespace

std::unique_ptr<CommandRunner> make_process_runner() { return std::make_unique<ProcessRunner>(); }

std::string command_line(const std::vector<std::string>& argv) {
  std::string line;
  for (const auto& a : argv) {
    if (!line.empty()) line += ' ';
    line += a;
  }
  return line;
}

}  // namespace kontena::agent::network
