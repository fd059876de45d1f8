#include "bench_common.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace kontena::bench {

unsigned short pick_free_port(const std::string& host) {
  asio::io_context ioc;
  tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address(host), 0));
  return acceptor.local_endpoint().port();
}

std::string random_hex(std::size_t bytes) {
  std::random_device rd;
  std::string out;
  static const char* digits = "0123456789abcdef";
  for (std::size_t i = 0; i < bytes; ++i) {
    auto b = static_cast<unsigned>(rd() & 0xff);
    out += digits[b >> 4];
    out += digits[b & 0xf];
  }
  return out;
}

bool process_alive(pid_t pid) {
  int status = 0;
  return waitpid(pid, &status, WNOHANG) == 0;
}

std::optional<Server> start_server(const std::string& bin, const std::string& code,
                                   const std::vector<std::string>& extra_args, const std::string& host) {
  Server s;
  s.host = host;
  std::string tmpl = (fs::temp_directory_path() / "kontena-bench.XXXXXX").string();
  if (!mkdtemp(tmpl.data())) {
    std::perror("mkdtemp");
    return std::nullopt;
  }
  s.dir = tmpl;
  s.log = s.dir / "server.log";
  s.port = pick_free_port(host);
  std::string listen = host + ":" + std::to_string(s.port);
  std::string db = (s.dir / "master.db").string();

  std::vector<std::string> args = {bin, "--listen", listen, "--db", db};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_t pid = fork();
  if (pid < 0) {
    std::perror("fork");
    return std::nullopt;
  }
  if (pid == 0) {
    int fd = open(s.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    setenv("INITIAL_ADMIN_CODE", code.c_str(), 1);
    execv(bin.c_str(), argv.data());
    std::perror("execv");
    _exit(127);
  }
  s.pid = pid;
  return s;
}

void stop_server(Server& s, bool keep_dir) {
  if (s.pid > 0) {
    kill(s.pid, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100; ++i) {
      if (waitpid(s.pid, &status, WNOHANG) == s.pid) {
        s.pid = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (s.pid > 0) {
      kill(s.pid, SIGKILL);
      waitpid(s.pid, &status, 0);
      s.pid = -1;
    }
  }
  std::error_code ec;
  if (!s.dir.empty() && !keep_dir) fs::remove_all(s.dir, ec);
}

void print_log_tail(const Server& s, std::size_t count) {
  std::ifstream in(s.log);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::size_t from = lines.size() > count ? lines.size() - count : 0;
  std::cerr << "---- end of the server log (" << s.log.string() << ") ----\n";
  for (std::size_t i = from; i < lines.size(); ++i) std::cerr << lines[i] << "\n";
}

bool wait_for_ping(Server& s, std::chrono::seconds timeout) {
  auto start = Clock::now();
  while (Clock::now() - start < timeout) {
    if (s.pid > 0 && !process_alive(s.pid)) {
      s.pid = -1;
      return false;
    }
    try {
      auto req = make_request(http::verb::get, "/v1/ping", s.host, s.port, {});
      if (sync_request(s.host, s.port, req).result_int() == 200) return true;
    } catch (const std::exception&) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

fs::path default_server_path(const char* argv0, const std::string& compiled) {
  if (!compiled.empty() && fs::exists(compiled)) return compiled;
  std::error_code ec;
  fs::path self = fs::canonical("/proc/self/exe", ec);
  if (ec) self = fs::absolute(argv0);
  // build/bench/bench_x -> build/src/master/kontena-server
  fs::path guess = self.parent_path().parent_path() / "src" / "master" / "kontena-server";
  if (fs::exists(guess)) return guess;
  return compiled.empty() ? guess : fs::path(compiled);
}

Memory read_memory(pid_t pid) {
  Memory m;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    std::istringstream ls(line);
    std::string key;
    double kb = 0;
    ls >> key >> kb;
    if (key == "VmRSS:") m.rss_mb = kb / 1024.0;
    if (key == "VmHWM:") m.hwm_mb = kb / 1024.0;
  }
  return m;
}

namespace {
double stat_cpu_seconds(const std::string& path) {
  std::ifstream in(path);
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 > stat.size()) return 0;
  std::istringstream fields(stat.substr(paren + 2));
  std::string field;
  double utime = 0, stime = 0;
  // Fields after the command name start at field 3 (state); utime and stime are fields 14 and 15.
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}
}  // namespace

double cpu_seconds(pid_t pid) { return stat_cpu_seconds("/proc/" + std::to_string(pid) + "/stat"); }

double thread_cpu_seconds(pid_t tid) { return stat_cpu_seconds("/proc/self/task/" + std::to_string(tid) + "/stat"); }

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one;
  in >> one;
  return one.empty() ? "?" : one;
}

Request make_request(http::verb method, const std::string& target, const std::string& host, unsigned short port,
                     const std::string& token, const std::string& body) {
  Request req{method, target, 11};
  req.set(http::field::host, host + ":" + std::to_string(port));
  req.set(http::field::user_agent, "kontena-bench");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  req.keep_alive(true);
  req.prepare_payload();
  return req;
}

Response sync_request(const std::string& host, unsigned short port, const Request& req, std::chrono::seconds timeout) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(timeout);
  stream.connect(tcp::endpoint(asio::ip::make_address(host), port));
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  http::read(stream, buffer, parser);
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  return parser.release();
}

Percentiles percentiles(std::vector<double> v) {
  Percentiles p;
  p.count = v.size();
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    auto i = static_cast<std::size_t>(q * static_cast<double>(v.size()));
    return v[std::min(i, v.size() - 1)];
  };
  p.p50 = at(0.50) / 1000.0;
  p.p90 = at(0.90) / 1000.0;
  p.p99 = at(0.99) / 1000.0;
  p.max = v.back() / 1000.0;
  return p;
}

double seconds_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string pass(bool ok) { return ok ? "PASS" : "MISS"; }

}  // namespace kontena::bench
