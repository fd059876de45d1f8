#include "agent/etcd/member_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/error.h"

extern char** environ;

namespace kontena::agent::etcd {

namespace fs = std::filesystem;

std::optional<std::uint64_t> process_start_time(int pid) {
  if (pid <= 0) return std::nullopt;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Field 2 (comm) is in parentheses and may contain spaces: count fields after the last ')'.
  auto close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(close + 1));
  std::string field;
  std::string state;
  fields >> state;  // field 3
  if (state.empty() || state == "Z" || state == "X") return std::nullopt;
  for (int index = 4; index <= 22; ++index) {
    if (!(fields >> field)) return std::nullopt;
  }
  try {
    return std::stoull(field);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::vector<std::string> process_cmdline(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::vector<std::string> out;
  std::string arg;
  while (std::getline(in, arg, '\0')) out.push_back(arg);
  return out;
}

std::optional<PidFile> read_pid_file(const std::string& path) {
  std::ifstream in(path);
  PidFile out;
  if (!(in >> out.pid >> out.start_time) || out.pid <= 0) return std::nullopt;
  return out;
}

void write_pid_file(const std::string& path, const PidFile& pid_file) {
  std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << pid_file.pid << ' ' << pid_file.start_time << '\n';
    if (!out) fail(ErrorKind::internal, "cannot write the etcd pid file " + temporary + ": " + std::strerror(errno));
  }
  std::error_code ec;
  fs::rename(temporary, path, ec);
  if (ec) fail(ErrorKind::internal, "cannot write the etcd pid file " + path + ": " + ec.message());
}

std::optional<int> find_adoptable(const std::string& pid_file, const std::string& etcd_bin, const std::string& data_dir) {
  auto recorded = read_pid_file(pid_file);
  if (!recorded) return std::nullopt;
  auto start_time = process_start_time(recorded->pid);
  if (!start_time || *start_time != recorded->start_time) return std::nullopt;
  auto argv = process_cmdline(recorded->pid);
  auto etcd_name = fs::path(etcd_bin).filename().string();
  auto named_etcd = [&](const std::string& arg) {
    auto name = fs::path(arg).filename().string();
    return name == etcd_name || name == "etcd";
  };
  bool is_etcd = (!argv.empty() && named_etcd(argv[0])) || (argv.size() > 1 && named_etcd(argv[1]));
  if (!is_etcd) return std::nullopt;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    if ((argv[i] == "--data-dir" && i + 1 < argv.size() && argv[i + 1] == data_dir) ||
        argv[i] == "--data-dir=" + data_dir)
      return recorded->pid;
  }
  return std::nullopt;
}

void rotate_log_if_large(const std::string& log, std::uintmax_t max_bytes) {
  std::error_code ec;
  auto size = fs::file_size(log, ec);
  if (ec || size <= max_bytes) return;
  fs::copy_file(log, log + ".1", fs::copy_options::overwrite_existing, ec);
  fs::resize_file(log, 0, ec);
}

std::string tail_lines(const std::string& path, int lines) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  // Only the end of a big log matters.
  in.seekg(0, std::ios::end);
  auto size = static_cast<std::streamoff>(in.tellg());
  constexpr std::streamoff window = 64 * 1024;
  in.seekg(size > window ? size - window : 0);
  std::deque<std::string> last;
  std::string line;
  while (std::getline(in, line)) {
    last.push_back(line);
    if (static_cast<int>(last.size()) > lines) last.pop_front();
  }
  std::string out;
  for (const auto& item : last) out += item + "\n";
  return out;
}

int spawn_process(const std::vector<std::string>& argv, const std::string& log_path) {
  if (argv.empty()) fail(ErrorKind::internal, "no command to spawn");
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attributes);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0640);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  // The agent's sockets and files are not etcd's business.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  // The agent blocks and handles signals itself; etcd gets the defaults.
  sigset_t empty;
  sigset_t defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&attributes, &empty);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  // Its own session: the agent's process group or terminal going away does not take etcd along.
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], &actions, &attributes, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (rc != 0)
    fail(ErrorKind::unavailable, "cannot run etcd (" + argv[0] + "): " + std::strerror(rc) +
                                     "; install Debian's etcd-server or set the etcd binary's path");
  return pid;
}

bool process_running(int pid, std::uint64_t start_time, int* exit_status) {
  int status = 0;
  pid_t reaped = waitpid(pid, &status, WNOHANG);
  if (reaped == pid) {
    if (exit_status) *exit_status = status;
    return false;
  }
  if (reaped == 0) return true;  // our child, still running
  // Not our child (adopted): it runs while a process with that pid and start time exists.
  auto now = process_start_time(pid);
  return now && *now == start_time;
}

bool terminate_process(int pid, std::uint64_t start_time, std::chrono::milliseconds grace) {
  auto wait_gone = [&](std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (process_running(pid, start_time)) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return true;
  };
  if (!process_running(pid, start_time)) return true;
  kill(pid, SIGTERM);
  if (wait_gone(grace)) return true;
  if (process_running(pid, start_time)) kill(pid, SIGKILL);
  return wait_gone(std::chrono::milliseconds(5000));
}

std::string describe_exit(std::optional<int> wait_status) {
  if (!wait_status) return "exited (status unknown: not a child of this agent)";
  if (WIFEXITED(*wait_status)) return "exited with status " + std::to_string(WEXITSTATUS(*wait_status));
  if (WIFSIGNALED(*wait_status)) {
    int sig = WTERMSIG(*wait_status);
    return "killed by signal " + std::to_string(sig) + " (" + strsignal(sig) + ")";
  }
  return "stopped (wait status " + std::to_string(*wait_status) + ")";
}

}  // namespace kontena::agent::etcd
