// Drives the real Docker client (kontena_docker) against a real dockerd, for
// tests/e2e/docker_client_test.sh. Prints one "ok: ..." line per checked step; on the first
// failed check prints "FAIL: ..." and exits 1.
//
//   docker_client_probe SOCKET scenario IMAGE TTY_CONTAINER   the whole scenario (see main)
//   docker_client_probe SOCKET create-keep IMAGE NAME          a container left for `docker inspect`
//   docker_client_probe SOCKET remove NAME                     force-remove (with volumes)
//   docker_client_probe SOCKET pull IMAGE                      pull; prints a summary of the progress,
//                                                              or the error kind and message (exit 3)
//   docker_client_probe SOCKET exec CONTAINER TIMEOUT_S CMD... docker exec; prints {"exit_code", "stdout",
//                                                              "stderr", "stdout_bytes", "stdout_truncated",
//                                                              "seconds"}, or "KIND: message" (exit 3)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "agent/docker/docker_client.h"
#include "agent/docker/stream_decoder.h"
#include "common/error.h"
#include "common/log.h"

using namespace kontena::agent::docker;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

struct CheckFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

#define CHECK(cond, what)                                                                       \
  do {                                                                                          \
    if (!(cond)) throw CheckFailed(std::string(what) + " (" #cond ", line " + std::to_string(__LINE__) + ")"); \
  } while (0)

void ok(const std::string& what) { std::printf("ok: %s\n", what.c_str()), std::fflush(stdout); }

template <class F>
kontena::Error expect_error(F f, const std::string& what) {
  try {
    f();
  } catch (const kontena::Error& e) {
    return e;
  }
  throw CheckFailed(what + ": expected a kontena::Error, none was thrown");
}

template <class Pred>
bool wait_for(Pred p, std::chrono::milliseconds timeout) {
  auto end = Clock::now() + timeout;
  while (Clock::now() < end) {
    if (p()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return p();
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string fmt(double d) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", d);
  return b;
}

// Collects lines of a log stream until a predicate holds.
struct LogCollector {
  std::mutex mu;
  std::vector<LogLine> lines;
  void add(const LogLine& l) {
    std::lock_guard lock(mu);
    lines.push_back(l);
  }
  bool has(const std::string& stream, const std::string& data) {
    std::lock_guard lock(mu);
    for (const auto& l : lines) {
      if (l.stream == stream && l.data == data) return true;
    }
    return false;
  }
  bool has_prefix(const std::string& stream, const std::string& prefix) {
    std::lock_guard lock(mu);
    for (const auto& l : lines) {
      if (l.stream == stream && l.data.rfind(prefix, 0) == 0) return true;
    }
    return false;
  }
  std::string dump() {
    std::lock_guard lock(mu);
    std::ostringstream o;
    for (const auto& l : lines) o << "    [" << l.stream << "] [" << l.time << "] " << l.data << "\n";
    return o.str();
  }
};

ContainerSpec main_spec(const std::string& image) {
  ContainerSpec s;
  s.name = "kdc-main";
  s.image = image;
  s.cmd = {"sh", "-c",
           "echo out-$FOO; echo err-line >&2; i=0; while true; do echo tick $i; echo tock $i >&2; i=$((i+1)); "
           "sleep 0.2; done"};
  s.env = {"FOO=bar", "EMPTY="};
  s.labels = {{"kdc.e2e", "1"}, {"kdc.role", "main"}};
  s.ports = {{80, "tcp", "", 18080}};
  s.memory_bytes = 64 * 1024 * 1024;
  s.cpus = 0.5;
  s.init = true;  // tini as PID 1: SIGTERM reaches sh
  s.hostname = "kdc-main-host";
  return s;
}

void scenario(DockerClient& d, const std::string& image, const std::string& tty_container) {
  // --- engine
  CHECK(d.ping(), "ping");
  Json info = d.info();
  CHECK(info.contains("Name") && info["Name"].is_string() && !info["Name"].get<std::string>().empty(), "info has Name");
  CHECK(info.contains("ID"), "info has ID");
  ok("info Name=" + info["Name"].get<std::string>() + " ServerVersion=" + info.value("ServerVersion", ""));
  Json version = d.version();
  CHECK(version.value("ApiVersion", "") >= std::string("1.41"), "version ApiVersion >= 1.41");
  ok("version ApiVersion=" + version.value("ApiVersion", ""));

  // --- images
  auto img = d.inspect_image(image);
  CHECK(img.has_value(), "inspect_image finds " + image);
  CHECK(img->value("Id", "").rfind("sha256:", 0) == 0, "image Id is a sha256 digest");
  ok("inspect_image " + image + " Id=" + img->value("Id", ""));
  CHECK(!d.inspect_image("local/kdc-no-such-image:1").has_value(), "inspect_image of a missing image is nullopt");
  ok("inspect_image of a missing image is nullopt");
  auto t0 = Clock::now();
  d.ensure_image(image, "", [](const PullProgress&) { throw CheckFailed("ensure_image pulled a local image"); });
  ok("ensure_image uses the local image (" + fmt(seconds_since(t0)) + " s)");
  const std::string missing = "kontena-e2e/does-not-exist:1.0";
  auto pe = expect_error([&] { d.pull_image(missing, "", nullptr); }, "pull of a missing image");
  CHECK(pe.kind() == kontena::ErrorKind::unavailable, std::string("pull error kind is unavailable, got ") + kontena::to_string(pe.kind()) + ": " + pe.what());
  CHECK(std::string(pe.what()).find(missing) != std::string::npos, "pull error names the image");
  CHECK(std::string(pe.what()).find("registry cannot be reached") != std::string::npos, "pull error says why");
  ok(std::string("pull without a registry: unavailable: ") + pe.what());
  pe = expect_error([&] { d.ensure_image(missing, "", nullptr); }, "ensure_image of a missing image");
  CHECK(pe.kind() == kontena::ErrorKind::unavailable, "ensure_image error kind is unavailable");
  ok("ensure_image without a registry: unavailable");

  // --- events stream, opened before the containers start
  std::mutex ev_mu;
  std::vector<Json> events;
  auto ev_stream = d.stream_events({{"type", {"container"}}, {"label", {"kdc.e2e=1"}}}, [&](const Json& e) {
    std::lock_guard lock(ev_mu);
    events.push_back(e);
  });
  ok("events stream open");

  // --- create, start, inspect
  for (const char* n : {"kdc-main", "kdc-kill"}) {
    try {
      d.remove_container(n, true, true);
    } catch (const kontena::Error&) {
    }
  }
  ContainerSpec spec = main_spec(image);
  std::string id = d.create_container(spec);
  CHECK(id.size() == 64, "create returns a 64-hex id");
  ok("create_container kdc-main id=" + id.substr(0, 12));
  auto ce = expect_error([&] { d.create_container(spec); }, "create with a name in use");
  CHECK(ce.kind() == kontena::ErrorKind::conflict, std::string("name in use is conflict: ") + ce.what());
  ok(std::string("create with a name in use: conflict: ") + ce.what());
  ContainerSpec noimg;
  noimg.name = "kdc-noimg";
  noimg.image = "local/kdc-no-such-image:1";
  ce = expect_error([&] { d.create_container(noimg); }, "create with a missing image");
  CHECK(ce.kind() == kontena::ErrorKind::not_found, std::string("missing image is not_found: ") + ce.what());
  ok(std::string("create with a missing image: not_found: ") + ce.what());

  d.start_container(id);
  d.start_container("kdc-main");  // already running: 304, no error
  ok("start_container (twice)");
  auto c = d.inspect_container("kdc-main");
  CHECK(c.has_value(), "inspect finds kdc-main");
  CHECK((*c)["Id"] == id, "inspect Id");
  CHECK((*c)["State"]["Running"] == true, "running after start");
  CHECK((*c)["Config"]["Labels"]["kdc.role"] == "main", "label kdc.role");
  CHECK((*c)["Config"]["Hostname"] == "kdc-main-host", "hostname");
  bool has_env = false;
  for (const auto& e : (*c)["Config"]["Env"]) has_env = has_env || e == "FOO=bar";
  CHECK(has_env, "env FOO=bar");
  CHECK((*c)["HostConfig"]["Memory"] == 64 * 1024 * 1024, "memory limit");
  CHECK((*c)["HostConfig"]["CpuPeriod"] == 100000 && (*c)["HostConfig"]["CpuQuota"] == 50000, "cpu quota");
  CHECK((*c)["HostConfig"]["Init"] == true, "init");
  CHECK((*c)["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"] == "18080", "port binding");
  CHECK((*c)["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"] == "18080", "port published");
  ok("inspect_container: running, labels, env, memory, cpus, init, ports");
  CHECK(!d.inspect_container("kdc-no-such-container").has_value(), "inspect of a missing container is nullopt");
  ok("inspect_container of a missing container is nullopt");

  // --- list by labels
  auto list = d.list_containers({"kdc.e2e=1", "kdc.role"}, true);
  CHECK(list.size() == 1 && list[0].id == id && list[0].name == "kdc-main", "list by labels finds kdc-main");
  CHECK(list[0].state == "running" && list[0].labels["kdc.role"] == "main", "list row state and labels");
  CHECK(d.list_containers({"kdc.role=other"}, true).empty(), "list with another label value is empty");
  ok("list_containers by labels: " + list[0].name + " " + list[0].state + " \"" + list[0].status + "\"");

  // --- logs: one-shot (both streams, multiplexed), then follow + cancel
  LogCollector logs;
  LogOptions lo;
  lo.follow = false;
  lo.timestamps = true;
  CHECK(wait_for([&] {
          LogCollector tmp;
          auto s = d.stream_logs("kdc-main", lo, [&](const LogLine& l) { tmp.add(l); });
          wait_for([&] { return s->done(); }, 5s);
          return tmp.has("stdout", "out-bar") && tmp.has("stderr", "err-line") && tmp.has_prefix("stderr", "tock");
        }, 10s),
        "one-shot logs show stdout and stderr");
  {
    auto s = d.stream_logs("kdc-main", lo, [&](const LogLine& l) { logs.add(l); });
    CHECK(wait_for([&] { return s->done(); }, 5s), "one-shot logs end by themselves");
    CHECK(s->error().empty(), "one-shot logs without error: " + s->error());
  }
  {
    std::lock_guard lock(logs.mu);
    CHECK(!logs.lines.empty() && logs.lines[0].time.size() >= 20 && logs.lines[0].time[10] == 'T',
          "log lines carry Docker's timestamps");
  }
  ok("logs (multiplexed): stdout 'out-bar', stderr 'err-line', timestamps");

  LogCollector followed;
  LogOptions fo;
  fo.follow = true;
  fo.tail = 0;
  fo.timestamps = false;
  auto fs = d.stream_logs("kdc-main", fo, [&](const LogLine& l) { followed.add(l); });
  CHECK(wait_for([&] { return followed.has_prefix("stdout", "tick ") && followed.has_prefix("stderr", "tock "); }, 10s),
        "followed logs see new lines on both streams");
  CHECK(!fs->done(), "a followed log stream stays open");
  t0 = Clock::now();
  fs->cancel();
  CHECK(seconds_since(t0) < 1.0, "cancel of a followed log stream is quick");
  ok("logs follow: new lines on stdout and stderr; cancel took " + fmt(seconds_since(t0)) + " s");

  // --- TTY container (started by the test with docker run -t): raw stream
  if (!tty_container.empty()) {
    auto tc = d.inspect_container(tty_container);
    CHECK(tc.has_value() && (*tc)["Config"]["Tty"] == true, "the TTY container exists and has a TTY");
    LogCollector tl;
    CHECK(wait_for([&] {
            LogCollector tmp;
            auto s = d.stream_logs(tty_container, lo, [&](const LogLine& l) { tmp.add(l); });
            wait_for([&] { return s->done(); }, 5s);
            if (!s->error().empty()) throw CheckFailed("TTY logs error: " + s->error());
            if (tmp.has("stdout", "tty-hello") && tmp.has("stdout", "tty-err")) {
              std::lock_guard lock(tmp.mu);
              tl.lines = tmp.lines;
              return true;
            }
            return false;
          }, 10s),
          "TTY logs show both lines (as stdout, no \\r)");
    ok("logs (TTY, raw): 'tty-hello' and 'tty-err' as stdout");
  }

  // --- stats: one-shot and stream
  t0 = Clock::now();
  Json st = d.container_stats("kdc-main");
  CHECK(st.contains("memory_stats") && st.contains("cpu_stats"), "one-shot stats has memory and cpu");
  ok("container_stats one-shot in " + fmt(seconds_since(t0)) + " s, memory usage " +
     std::to_string(st["memory_stats"].value("usage", 0LL)));
  std::atomic<int> samples{0};
  std::mutex st_mu;
  Json last_sample;
  auto ss = d.stream_stats("kdc-main", [&](const Json& j) {
    std::lock_guard lock(st_mu);
    last_sample = j;
    ++samples;
  });
  CHECK(wait_for([&] { return samples.load() >= 2; }, 10s), "stats stream gives samples");
  t0 = Clock::now();
  ss->cancel();
  CHECK(seconds_since(t0) < 1.0, "cancel of the stats stream is quick");
  {
    std::lock_guard lock(st_mu);
    CHECK(last_sample.contains("cpu_stats") && last_sample.contains("memory_stats"), "a stats sample has cpu and memory");
  }
  ok("stats stream: " + std::to_string(samples.load()) + " samples; cancel took " + fmt(seconds_since(t0)) + " s");

  // --- stop with grace (init forwards SIGTERM: sh stops at once)
  t0 = Clock::now();
  d.stop_container("kdc-main", 5s);
  double stop_took = seconds_since(t0);
  c = d.inspect_container("kdc-main");
  CHECK((*c)["State"]["Running"] == false, "stopped");
  CHECK(stop_took < 4.5, "stop with init ends before the grace runs out (took " + fmt(stop_took) + " s)");
  d.stop_container("kdc-main", 1s);  // already stopped: 304, no error
  ok("stop_container with grace 5 s took " + fmt(stop_took) + " s, ExitCode " +
     std::to_string((*c)["State"].value("ExitCode", -1)) + "; stopping again is fine");

  // --- kill: a container without init ignores SIGTERM, KILL ends it
  ContainerSpec ks;
  ks.name = "kdc-kill";
  ks.image = image;
  ks.cmd = {"sleep", "1000"};
  ks.labels = {{"kdc.e2e", "1"}, {"kdc.role", "kill"}};
  std::string kid = d.create_container(ks);
  d.start_container(kid);
  d.kill_container(kid, "KILL");
  CHECK(wait_for([&] { return (*d.inspect_container(kid))["State"]["Running"] == false; }, 5s), "killed");
  auto kc = d.inspect_container(kid);
  CHECK((*kc)["State"]["ExitCode"] == 137, "exit code 137 after KILL");
  auto ke = expect_error([&] { d.kill_container(kid, "KILL"); }, "kill of a stopped container");
  CHECK(ke.kind() == kontena::ErrorKind::conflict, std::string("kill of a stopped container is conflict: ") + ke.what());
  ok(std::string("kill_container: ExitCode 137; killing it again: conflict: ") + ke.what());
  auto all = d.list_containers({"kdc.e2e=1"}, true);
  auto running = d.list_containers({"kdc.e2e=1"}, false);
  CHECK(all.size() == 2 && running.empty(), "list all=true sees both stopped containers, all=false none");
  ok("list_containers all=true: 2, all=false: 0");

  // --- events seen: start and die of both containers
  CHECK(wait_for([&] {
          std::lock_guard lock(ev_mu);
          bool start = false, die = false, kdie = false;
          for (const auto& e : events) {
            std::string a = e.value("Action", e.value("status", ""));
            std::string who = e.contains("Actor") ? e["Actor"].value("ID", "") : e.value("id", "");
            if (who == id && a == "start") start = true;
            if (who == id && a == "die") die = true;
            if (who == kid && a == "die") kdie = true;
          }
          return start && die && kdie;
        }, 5s),
        "events stream saw start and die");
  CHECK(!ev_stream->done(), "events stream still open");
  t0 = Clock::now();
  ev_stream->cancel();
  CHECK(seconds_since(t0) < 1.0, "cancel of the events stream is quick");
  {
    std::lock_guard lock(ev_mu);
    ok("events stream: start and die seen (" + std::to_string(events.size()) + " events); cancel took " +
       fmt(seconds_since(t0)) + " s");
  }

  // --- remove
  auto re = expect_error([&] { d.remove_container("kdc-no-such-container", true); }, "remove of a missing container");
  CHECK(re.kind() == kontena::ErrorKind::not_found, "remove of a missing container is not_found");
  d.remove_container("kdc-main", false, true);
  d.remove_container(kid, true, true);
  CHECK(!d.inspect_container("kdc-main").has_value() && !d.inspect_container(kid).has_value(), "removed");
  CHECK(d.list_containers({"kdc.e2e=1"}, true).empty(), "nothing left");
  ok("remove_container: both gone; a missing one is not_found");
}

int run(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: docker_client_probe SOCKET scenario IMAGE [TTY_CONTAINER] | create-keep IMAGE NAME | "
                 "remove NAME | pull IMAGE | exec CONTAINER TIMEOUT_S CMD...\n";
    return 2;
  }
  std::string sock = argv[1], cmd = argv[2];
  auto d = make_engine_client(sock, 30s);
  if (cmd == "scenario" && argc >= 4) {
    scenario(*d, argv[3], argc >= 5 ? argv[4] : "");
    std::printf("probe: all steps passed\n");
    return 0;
  }
  if (cmd == "create-keep" && argc >= 5) {
    ContainerSpec s = main_spec(argv[3]);
    s.name = argv[4];
    s.labels = {{"kdc.keep", "1"}, {"io.kontena.test", "a b=c"}};
    s.ports = {{8080, "tcp", "", 18081}, {53, "udp", "", 0}};
    s.memory_swap_bytes = 128 * 1024 * 1024;
    s.cpu_shares = 256;
    s.stop_signal = "SIGINT";
    s.stop_timeout_seconds = 3;
    s.working_dir = "/tmp";
    s.binds = {"kdc-vol:/data"};
    s.dns = {"10.99.0.1"};
    s.entrypoint = std::vector<std::string>{"/bin/sh"};
    std::printf("%s\n", d->create_container(s).c_str());
    return 0;
  }
  if (cmd == "remove" && argc >= 4) {
    d->remove_container(argv[3], true, true);
    return 0;
  }
  if (cmd == "pull" && argc >= 4) {
    try {
      int updates = 0;
      std::vector<std::string> statuses;
      std::int64_t max_total = 0;
      d->pull_image(argv[3], "", [&](const PullProgress& p) {
        ++updates;
        if (std::find(statuses.begin(), statuses.end(), p.status) == statuses.end()) statuses.push_back(p.status);
        if (p.current > p.total && p.total > 0) throw CheckFailed("progress current > total");
        max_total = std::max(max_total, p.total);
      });
      std::string joined;
      for (const auto& st : statuses) joined += (joined.empty() ? "" : "|") + st;
      std::printf("progress: %d updates, largest total %lld bytes, statuses: %s\n", updates,
                  static_cast<long long>(max_total), joined.c_str());
      std::printf("pulled\n");
      return 0;
    } catch (const kontena::Error& e) {
      std::printf("%s: %s\n", kontena::to_string(e.kind()), e.what());
      return 3;
    }
  }
  if (cmd == "exec" && argc >= 6) {
    std::vector<std::string> command(argv + 5, argv + argc);
    auto t0 = Clock::now();
    try {
      ExecResult r = d->exec(argv[3], command, std::chrono::milliseconds(std::stoll(argv[4]) * 1000));
      kontena::agent::docker::Json j = {
          {"exit_code", r.exit_code},
          {"stdout", r.stdout_data.size() > 4096 ? std::string("(large)") : valid_utf8(r.stdout_data)},
          {"stderr", valid_utf8(r.stderr_data)},
          {"stdout_bytes", r.stdout_data.size()},
          {"stdout_truncated", r.stdout_truncated},
          {"seconds", seconds_since(t0)}};
      std::printf("%s\n", j.dump().c_str());
      return 0;
    } catch (const kontena::Error& e) {
      std::printf("%s: %s\n", kontena::to_string(e.kind()), e.what());
      std::printf("seconds: %s\n", fmt(seconds_since(t0)).c_str());
      return 3;
    }
  }
  std::cerr << "docker_client_probe: unknown command " << cmd << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  kontena::init_logging("docker_client_probe", "info");  // to stderr; stdout is the probe's report
  try {
    return run(argc, argv);
  } catch (const CheckFailed& e) {
    std::printf("FAIL: %s\n", e.what());
  } catch (const kontena::Error& e) {
    std::printf("FAIL: unexpected error (%s): %s\n", kontena::to_string(e.kind()), e.what());
  } catch (const std::exception& e) {
    std::printf("FAIL: unexpected exception: %s\n", e.what());
  }
  return 1;
}
