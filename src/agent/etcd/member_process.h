// The etcd process of a member as the operating system sees it: spawn it in its own session (it
// outlives the agent), find it again from data_dir/etcd.pid (adoption), stop it. Linux only
// (/proc). All functions are blocking and keep no state.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kontena::agent::etcd {

// /proc/<pid>/stat field 22 (start time in clock ticks since boot): with the pid it names one
// process, so a reused pid is never taken for our etcd. nullopt when there is no such process or it
// is a zombie (it has exited).
std::optional<std::uint64_t> process_start_time(int pid);
// /proc/<pid>/cmdline split at NULs; empty when the process is gone.
std::vector<std::string> process_cmdline(int pid);

struct PidFile {
  int pid = 0;
  std::uint64_t start_time = 0;
};
// "<pid> <start time>"; nullopt when missing or unreadable.
std::optional<PidFile> read_pid_file(const std::string& path);
// Written to a temporary file and renamed, so a reader never sees half of it.
void write_pid_file(const std::string& path, const PidFile& pid_file);

// The pid in pid_file when that process is alive, started at the recorded time, is an etcd
// (argv[0] or, for a script, argv[1] named like etcd_bin or "etcd") and runs with
// --data-dir data_dir. nullopt otherwise.
std::optional<int> find_adoptable(const std::string& pid_file, const std::string& etcd_bin, const std::string& data_dir);

// Copies log to log.1 and truncates it when it is over max_bytes. The member writes with O_APPEND,
// so truncating under a running etcd is safe (it goes on at the new end).
void rotate_log_if_large(const std::string& log, std::uintmax_t max_bytes);
// The last `lines` lines of a file (for the log when etcd exits quickly).
std::string tail_lines(const std::string& path, int lines);

// posix_spawn (no shell) of argv in a new session, stdin /dev/null, stdout and stderr appended to
// log_path, no other descriptors, default signal mask and dispositions. Throws Error(unavailable)
// when it cannot run (binary missing, ...). Returns the pid.
int spawn_process(const std::vector<std::string>& argv, const std::string& log_path);

// Whether pid (started at start_time) still runs. Reaps it when it is our child and has exited;
// exit_status is then its wait status.
bool process_running(int pid, std::uint64_t start_time, int* exit_status = nullptr);

// SIGTERM, wait up to grace, then SIGKILL (and wait a little more). true when it is gone.
bool terminate_process(int pid, std::uint64_t start_time, std::chrono::milliseconds grace);

// "exited with status 1", "killed by signal 9 (Killed)", "exited (status unknown)".
std::string describe_exit(std::optional<int> wait_status);

}  // namespace kontena::agent::etcd
