// bench_api: starts a real kontena-server on a free loopback port with a temporary database and
// measures its idle memory, API latency under a fixed request rate (open loop), maximum API
// throughput (closed loop) and grid-create throughput. See bench/README.md.
#include "common/asio.h"
#include "bench_common.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef KONTENA_SERVER_DEFAULT
#define KONTENA_SERVER_DEFAULT ""
#endif

namespace {

using namespace kontena;
using namespace kontena::bench;

// ---------------------------------------------------------------------------------------------
// load generation

// One load run: `connections` keep-alive connections share a sequence of requests.
// Open loop: request i is due at t0 + i / rate, and its latency counts from that moment, so time
// spent waiting for a free connection is included (no coordinated omission).
// Closed loop: each connection sends its next request as soon as it has the previous answer,
// until the deadline or `total` requests.
struct Load {
  bool open_loop = false;
  double rate = 0;
  Clock::time_point t0;
  Clock::time_point deadline;
  uint64_t total = std::numeric_limits<uint64_t>::max();
  uint64_t next = 0;
  unsigned expect_status = 200;
  std::function<Request(uint64_t)> make;

  std::vector<double> latencies_us;
  uint64_t ok = 0;
  uint64_t errors = 0;
  uint64_t unsent = 0;
  std::string first_error;
  Clock::time_point finished;
};

void note_error(Load& load, const std::string& what) {
  ++load.errors;
  if (load.first_error.empty()) load.first_error = what;
}

asio::awaitable<void> connection(tcp::endpoint ep, Load& load) {
  auto ex = co_await asio::this_coro::executor;
  beast::tcp_stream stream(ex);
  beast::flat_buffer buffer;
  asio::steady_timer timer(ex);
  bool connected = false;
  for (;;) {
    uint64_t idx = load.next;
    if (idx >= load.total) break;
    auto now = Clock::now();
    if (!load.open_loop && now >= load.deadline) break;
    if (load.open_loop && now >= load.deadline + std::chrono::seconds(10)) {
      // The server fell far behind: stop, and count what was not sent.
      load.unsent += load.total - idx;
      load.next = load.total;
      break;
    }
    ++load.next;
    Clock::time_point scheduled = now;
    if (load.open_loop) {
      scheduled = load.t0 + std::chrono::nanoseconds(static_cast<int64_t>(
                                static_cast<double>(idx) * 1e9 / load.rate));
      if (now < scheduled) {
        timer.expires_at(scheduled);
        co_await timer.async_wait(asio::use_awaitable);
      }
    }
    Request req = load.make(idx);
    try {
      stream.expires_after(std::chrono::seconds(10));
      if (!connected) {
        co_await stream.async_connect(ep, asio::use_awaitable);
        stream.socket().set_option(tcp::no_delay(true));
        connected = true;
      }
      if (!load.open_loop) scheduled = Clock::now();
      co_await http::async_write(stream, req, asio::use_awaitable);
      Response res;
      co_await http::async_read(stream, buffer, res, asio::use_awaitable);
      auto latency = Clock::now() - scheduled;
      if (res.result_int() == load.expect_status) {
        ++load.ok;
        load.latencies_us.push_back(
            std::chrono::duration<double, std::micro>(latency).count());
      } else {
        note_error(load, "HTTP " + std::to_string(res.result_int()) + ": " + res.body());
      }
      if (!res.keep_alive()) {
        beast::error_code ec;
        stream.socket().shutdown(tcp::socket::shutdown_both, ec);
        stream.close();
        buffer.clear();
        connected = false;
      }
    } catch (const std::exception& e) {
      note_error(load, e.what());
      stream.close();
      buffer.clear();
      connected = false;
    }
  }
  load.finished = std::max(load.finished, Clock::now());
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
}

void run_load(unsigned short port, Load& load, unsigned connections) {
  asio::io_context ioc;
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
  load.latencies_us.reserve(load.total == std::numeric_limits<uint64_t>::max() ? 1 << 20 : load.total);
  for (unsigned i = 0; i < connections; ++i) asio::co_spawn(ioc, connection(ep, load), asio::detached);
  ioc.run();
}

// One load run: its latencies, achieved rate and the master's CPU time meanwhile.
struct LoadResult {
  Percentiles latency;
  double rate = 0;
  double master_cpu_seconds = 0;
};

LoadResult measure(pid_t master, unsigned short port, Load& load, unsigned connections, double seconds) {
  double cpu0 = cpu_seconds(master);
  load.t0 = Clock::now();
  load.deadline = load.t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  run_load(port, load, connections);
  LoadResult r;
  r.master_cpu_seconds = cpu_seconds(master) - cpu0;
  r.latency = percentiles(load.latencies_us);
  r.rate = static_cast<double>(load.ok) / seconds_between(load.t0, load.finished);
  return r;
}

void print_cpu_and_first_error(const Load& load, const LoadResult& r) {
  std::cout << "  master CPU: " << fmt("%.0f", r.master_cpu_seconds / seconds_between(load.t0, load.finished) * 100)
            << "% of one core, " << fmt("%.1f", r.master_cpu_seconds * 1e6 / std::max<double>(1, load.ok))
            << " us per request\n";
  if (!load.first_error.empty()) std::cout << "  first error: " << load.first_error.substr(0, 200) << "\n";
  std::cout << "\n";
}

// A closed-loop run's line: "<verb> N, errors E, R <unit>/s, p50 .. p99 .. max ..".
void print_closed(const char* verb, const char* unit, const Load& load, const LoadResult& r) {
  std::cout << "  " << verb << " " << load.ok << ", errors " << load.errors << ", " << fmt("%.0f", r.rate) << " "
            << unit << ", p50 " << fmt("%.3f", r.latency.p50) << " ms, p99 " << fmt("%.3f", r.latency.p99)
            << " ms, max " << fmt("%.3f", r.latency.max) << " ms\n";
  print_cpu_and_first_error(load, r);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Benchmarks the Kontena master (kontena-server) over loopback."};
  std::string server_bin;
  double rate = 1000;
  double duration = 10;
  unsigned connections = 16;
  double max_duration = 5;
  unsigned max_connections = 8;
  double create_duration = 5;
  uint64_t create_max = 2000;
  unsigned create_connections = 4;
  double idle_wait = 2;
  std::vector<std::string> server_args;
  app.add_option("--server", server_bin, "kontena-server binary (default: the one of this build tree)");
  app.add_option("--rate", rate, "open loop: GET /v1/grids requests per second")->capture_default_str();
  app.add_option("--duration", duration, "open loop: seconds")->capture_default_str();
  app.add_option("--connections", connections, "open loop: keep-alive connections")->capture_default_str();
  app.add_option("--max-duration", max_duration, "closed loop GET: seconds")->capture_default_str();
  app.add_option("--max-connections", max_connections, "closed loop GET: connections")->capture_default_str();
  app.add_option("--create-duration", create_duration, "grid create: seconds at most")->capture_default_str();
  app.add_option("--create-max", create_max, "grid create: grids at most")->capture_default_str();
  app.add_option("--create-connections", create_connections, "grid create: connections")->capture_default_str();
  app.add_option("--idle-wait", idle_wait, "seconds to let the master idle before reading its RSS")->capture_default_str();
  app.add_option("--server-arg", server_args, "extra argument for kontena-server (repeatable)");
  CLI11_PARSE(app, argc, argv);
  if (rate <= 0 || duration <= 0 || connections == 0 || max_connections == 0 || create_connections == 0) {
    std::cerr << "bench_api: rates, durations and connection counts must be positive\n";
    return 2;
  }
  if (server_bin.empty()) server_bin = default_server_path(argv[0], KONTENA_SERVER_DEFAULT).string();
  if (!fs::exists(server_bin)) {
    std::cerr << "bench_api: no kontena-server at " << server_bin << " (build it, or pass --server PATH)\n";
    return 1;
  }

  signal(SIGPIPE, SIG_IGN);
  const std::string code = random_hex(16);
  auto started = start_server(server_bin, code, server_args);
  if (!started) return 1;
  Server server = *started;
  const unsigned short port = server.port;

  auto give_up = [&](const std::string& why) {
    std::cerr << "bench_api: " << why << "\n";
    print_log_tail(server);
    stop_server(server);
    return 1;
  };

  std::cout << "kontena-server: " << server_bin << "\n"
            << "listening on 127.0.0.1:" << port << " (PID " << server.pid << "), database in "
            << server.dir.string() << "\n"
            << "load generator: this process, one thread; machine: "
            << std::thread::hardware_concurrency() << " cores, load average " << load_average()
            << " (other work on the machine skews the latencies)\n\n";

  // Wait for /v1/ping.
  auto start_time = Clock::now();
  bool up = false;
  while (Clock::now() - start_time < std::chrono::seconds(20)) {
    if (!process_alive(server.pid)) {
      server.pid = -1;
      return give_up("kontena-server exited at start");
    }
    try {
      if (sync_request("127.0.0.1", port, make_request(http::verb::get, "/v1/ping", "127.0.0.1", port, {})).result_int() == 200) {
        up = true;
        break;
      }
    } catch (const std::exception&) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!up) return give_up("kontena-server did not answer GET /v1/ping within 20 s");
  std::cout << "master answered /v1/ping after " << fmt("%.0f", seconds_between(start_time, Clock::now()) * 1000)
            << " ms\n";

  // (a) idle RSS
  std::this_thread::sleep_for(std::chrono::duration<double>(idle_wait));
  Memory idle = read_memory(server.pid);
  std::cout << "master idle RSS: " << fmt("%.1f", idle.rss_mb) << " MB (target < 20 MB)\n\n";

  // (b) log in and create a grid
  std::string token;
  try {
    nlohmann::json body = {{"grant_type", "authorization_code"}, {"code", code}, {"expires_in", 0}};
    auto res = sync_request("127.0.0.1", port, make_request(http::verb::post, "/oauth2/token", "127.0.0.1", port, {}, body.dump()));
    if (res.result_int() / 100 != 2)
      return give_up("POST /oauth2/token answered " + std::to_string(res.result_int()) + ": " + res.body());
    token = nlohmann::json::parse(res.body()).at("access_token").get<std::string>();
    nlohmann::json grid = {{"name", "bench"}};
    res = sync_request("127.0.0.1", port, make_request(http::verb::post, "/v1/grids", "127.0.0.1", port, token, grid.dump()));
    if (res.result_int() != 201)
      return give_up("POST /v1/grids answered " + std::to_string(res.result_int()) + ": " + res.body());
  } catch (const std::exception& e) {
    return give_up(std::string("log in / grid create failed: ") + e.what());
  }

  const Request get_grids = make_request(http::verb::get, "/v1/grids", "127.0.0.1", port, token);

  // (c) open loop at a fixed rate
  Load open;
  open.open_loop = true;
  open.rate = rate;
  open.total = static_cast<uint64_t>(rate * duration);
  open.make = [&](uint64_t) { return get_grids; };
  std::cout << "GET /v1/grids, open loop: " << fmt("%.0f", rate) << " req/s for " << fmt("%.0f", duration)
            << " s over " << connections << " keep-alive connections\n";
  LoadResult open_result = measure(server.pid, port, open, connections, duration);
  const Percentiles& op = open_result.latency;
  double open_rate = open_result.rate;
  std::cout << "  ok " << open.ok << ", errors " << open.errors << ", not sent " << open.unsent
            << ", achieved " << fmt("%.1f", open_rate) << " req/s\n"
            << "  latency from scheduled send: p50 " << fmt("%.3f", op.p50) << " ms, p90 " << fmt("%.3f", op.p90)
            << " ms, p99 " << fmt("%.3f", op.p99) << " ms, max " << fmt("%.3f", op.max) << " ms\n";
  print_cpu_and_first_error(open, open_result);

  // (d) closed loop, maximum throughput
  Load closed;
  closed.make = [&](uint64_t) { return get_grids; };
  std::cout << "GET /v1/grids, closed loop: " << max_connections << " connections for "
            << fmt("%.0f", max_duration) << " s\n";
  LoadResult closed_result = measure(server.pid, port, closed, max_connections, max_duration);
  const Percentiles& cp = closed_result.latency;
  double closed_rate = closed_result.rate;
  print_closed("ok", "req/s", closed, closed_result);

  // (e) grid create, closed loop
  Load create;
  create.expect_status = 201;
  create.total = create_max;
  const std::string prefix = "b" + random_hex(3) + "-";
  create.make = [&](uint64_t i) {
    nlohmann::json body = {{"name", prefix + std::to_string(i)}};
    return make_request(http::verb::post, "/v1/grids", "127.0.0.1", port, token, body.dump());
  };
  std::cout << "POST /v1/grids (create), closed loop: " << create_connections << " connections, at most "
            << create_max << " grids or " << fmt("%.0f", create_duration) << " s\n";
  LoadResult create_result = measure(server.pid, port, create, create_connections, create_duration);
  const Percentiles& gp = create_result.latency;
  double create_rate = create_result.rate;
  print_closed("created", "creates/s", create, create_result);

  // (f) memory after the load
  Memory after = read_memory(server.pid);
  std::cout << "master RSS after the load: " << fmt("%.1f", after.rss_mb) << " MB (peak "
            << fmt("%.1f", after.hwm_mb) << " MB)\n";
  bool alive = process_alive(server.pid);
  if (!alive) server.pid = -1;

  bool rss_ok = idle.rss_mb >= 0 && idle.rss_mb < 20.0;
  bool open_ok = open.errors == 0 && open.unsent == 0 && op.p99 < 5.0 && open_rate >= 0.95 * rate;
  std::cout << "\n==== summary (load average now " << load_average() << ") ====\n"
            << "master idle RSS                   " << fmt("%8.1f", idle.rss_mb) << " MB        target < 20 MB   "
            << pass(rss_ok) << "\n"
            << "GET /v1/grids p99 at " << fmt("%5.0f", rate) << " req/s  " << fmt("%8.3f", op.p99)
            << " ms        target < 5 ms    " << pass(open_ok) << "  (achieved " << fmt("%.0f", open_rate)
            << " req/s, p50 " << fmt("%.3f", op.p50) << " ms, errors " << open.errors << ")\n"
            << "GET /v1/grids max throughput      " << fmt("%8.0f", closed_rate) << " req/s     p50 "
            << fmt("%.3f", cp.p50) << " ms, p99 " << fmt("%.3f", cp.p99) << " ms\n"
            << "grid create throughput            " << fmt("%8.0f", create_rate) << " creates/s p50 "
            << fmt("%.3f", gp.p50) << " ms, p99 " << fmt("%.3f", gp.p99) << " ms\n"
            << "master RSS after load             " << fmt("%8.1f", after.rss_mb) << " MB        peak "
            << fmt("%.1f", after.hwm_mb) << " MB\n";
  if (!alive) {
    std::cout << "kontena-server died during the benchmark\n";
    print_log_tail(server);
  }
  stop_server(server);
  return 0;
}
