// Shared by the benchmark programs: starting and stopping this build's kontena-server, reading a
// process's memory and CPU time from /proc, one-shot HTTP requests, percentiles and formatting.
#pragma once
#include "common/asio.h"

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace kontena::bench {

namespace fs = std::filesystem;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// ---- the server process

struct Server {
  pid_t pid = -1;
  std::string host = "127.0.0.1";
  unsigned short port = 0;
  fs::path dir;  // temporary directory: database and server.log
  fs::path log;
};

unsigned short pick_free_port(const std::string& host = "127.0.0.1");
std::string random_hex(std::size_t bytes);
// True while the child `pid` runs (reaps it when it has exited).
bool process_alive(pid_t pid);
// Starts `bin --listen HOST:PORT --db DIR/master.db EXTRA...` with INITIAL_ADMIN_CODE=code in a new
// temporary directory, output to DIR/server.log.
std::optional<Server> start_server(const std::string& bin, const std::string& code,
                                   const std::vector<std::string>& extra_args,
                                   const std::string& host = "127.0.0.1");
// SIGTERM (SIGKILL after 5 s) by PID; removes the temporary directory unless keep_dir.
void stop_server(Server& s, bool keep_dir = false);
void print_log_tail(const Server& s, std::size_t lines = 30);
// Polls GET /v1/ping until it answers 200 (false after `timeout` or if the process exits).
bool wait_for_ping(Server& s, std::chrono::seconds timeout);
// Default kontena-server: the one compiled in (KONTENA_SERVER_DEFAULT), else ../src/master/ of
// this program's build tree.
fs::path default_server_path(const char* argv0, const std::string& compiled);

// ---- /proc

// Resident and peak resident memory of a process, in MB, from /proc/PID/status (-1: unknown).
struct Memory {
  double rss_mb = -1;
  double hwm_mb = -1;
};
Memory read_memory(pid_t pid);
// CPU time (user + system) a process has used so far, in seconds, from /proc/PID/stat.
double cpu_seconds(pid_t pid);
// The same for one thread of this process (/proc/self/task/TID/stat).
double thread_cpu_seconds(pid_t tid);
std::string load_average();

// ---- HTTP

Request make_request(http::verb method, const std::string& target, const std::string& host,
                     unsigned short port, const std::string& token, const std::string& body = {});
// One request on a new connection, for set-up calls and polls. Throws on a network error.
Response sync_request(const std::string& host, unsigned short port, const Request& req,
                      std::chrono::seconds timeout = std::chrono::seconds(10));

// ---- figures

struct Percentiles {
  double p50 = 0, p90 = 0, p99 = 0, max = 0;
  std::size_t count = 0;
};
// Percentiles of samples in microseconds, returned in milliseconds.
Percentiles percentiles(std::vector<double> samples_us);
double seconds_between(Clock::time_point a, Clock::time_point b);
std::string fmt(const char* format, double v);
std::string pass(bool ok);

}  // namespace kontena::bench
