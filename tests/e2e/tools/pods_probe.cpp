// Drives the service-pod reconciler (kontena_pods) against a real dockerd, for
// tests/e2e/pods_reconcile_test.sh. Each stage is its own process (the agent may restart at any
// time: nothing but the containers carries over). Prints "ok: ..." per checked step; on the first
// failed check prints "FAIL: ..." and exits 1.
//
//   pods_probe SOCKET IMAGE up REV           2 pods (stack e2e, service web) at service_revision REV:
//                                            created, running, port open, reported; a second pass is a no-op
//   pods_probe SOCKET IMAGE crash REV        background loop; kills web-1 three times: restarted after
//                                            the backoff 0 s, 1 s, 4 s; web-2's health checks pass
//   pods_probe SOCKET IMAGE redeploy REV     a new deploy_rev with the same image: nothing recreated
//   pods_probe SOCKET IMAGE revision REV     the pods at a newer REV: both recreated
//   pods_probe SOCKET IMAGE unhealthy REV    a pod whose health check fails is restarted
//   pods_probe SOCKET IMAGE hooks REV        post_start hooks run in the container (docker exec), a oneshot
//                                            one is reported, a failing one fails the apply with its name and
//                                            exit code; a restart runs pre_stop, stops, starts, runs post_start
//   pods_probe SOCKET IMAGE logs REV         the log shipper (src/agent/logs) on a real engine: a new
//                                            service container's lines from its first one, stdout/stderr,
//                                            batches; lines queued while "disconnected" and a container
//                                            restart in between: every line shipped once; skip_logs honoured
//   pods_probe SOCKET IMAGE down             no pods desired: every managed container removed
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "agent/docker/docker_client.h"
#include "agent/logs/log_shipper.h"
#include "agent/pods/reconciler.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"

using namespace kontena;
using namespace kontena::agent;
using namespace kontena::agent::pods;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;
using Json = nlohmann::json;

namespace {

struct CheckFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

#define CHECK(cond, what)                                                                                  \
  do {                                                                                                     \
    if (!(cond)) throw CheckFailed(std::string(what) + " (" #cond ", line " + std::to_string(__LINE__) + ")"); \
  } while (0)

void ok(const std::string& what) { std::printf("ok: %s\n", what.c_str()), std::fflush(stdout); }

std::string fmt(double d) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", d);
  return b;
}

double since(Steady::time_point t) { return std::chrono::duration<double>(Steady::now() - t).count(); }

ServicePod web(int n, const std::string& image, std::int64_t rev, const std::string& deploy_rev = "d1") {
  ServicePod p;
  p.service_id = "svc-web";
  p.service_name = "web";
  p.stack_name = "e2e";
  p.grid_name = "kpod";
  p.instance_number = n;
  p.service_revision = rev;
  p.deploy_rev = deploy_rev;
  p.image = image;
  p.cmd = std::vector<std::string>{
      "sh", "-c", "mkdir -p /www && echo hello-$KONTENA_SERVICE_INSTANCE_NUMBER > /www/index.html && exec httpd -f -p 8080 -h /www"};
  p.env = {"GREETING=hi there"};
  p.secrets = {{"DB_PASSWORD", "s3cr3t", "env"}};
  p.labels = {{"e2e", "pods"}};
  p.init = true;
  p.stop_grace_period = 1;
  p.wait_for_port = 8080;
  p.health_check = protocol::PodHealthCheck{"http", 8080, "/index.html", 1, 1, 1};
  return p;
}

struct Reports {
  std::mutex mu;
  std::vector<protocol::PodState> all;
  void add(const protocol::PodState& s) {
    std::lock_guard l(mu);
    all.push_back(s);
    std::printf("report: %s\n", protocol::to_json(s).dump().c_str());
    std::fflush(stdout);
  }
  std::map<int, protocol::PodState> last() {
    std::lock_guard l(mu);
    std::map<int, protocol::PodState> m;
    for (auto& s : all) m[s.instance_number] = s;
    return m;
  }
};

ReconcilerOptions options() {
  ReconcilerOptions o;
  o.node_name = "kpode2e-n1";
  o.interval = 30s;
  o.port_wait_timeout = 20s;
  o.port_wait_interval = 200ms;
  o.watch_events = true;
  return o;
}

// Runs ticks until every pod in `want` was reported running (wait_for_port included).
void settle(PodReconciler& rec, Reports& reports, const std::vector<int>& want, std::chrono::seconds timeout) {
  auto t0 = Steady::now();
  for (;;) {
    auto last = reports.last();
    bool all = std::all_of(want.begin(), want.end(), [&](int n) {
      auto it = last.find(n);
      return it != last.end() && it->second.state == "running";
    });
    if (all) return;
    CHECK(Steady::now() - t0 < timeout, "pods reported running in time");
    std::this_thread::sleep_for(100ms);
    rec.tick();
  }
}

std::map<std::string, docker::ContainerSummary> managed(docker::DockerClient& d) {
  std::map<std::string, docker::ContainerSummary> m;
  for (auto& c : d.list_containers({"io.kontena.container.type=container"}, true)) m[c.name] = c;
  return m;
}

bool has_env(const Json& inspect, const std::string& kv) {
  for (auto& e : inspect["Config"]["Env"])
    if (e == kv) return true;
  return false;
}

void check_container(docker::DockerClient& d, int n, std::int64_t rev) {
  std::string name = "e2e.web-" + std::to_string(n);
  auto j = d.inspect_container(name);
  CHECK(j.has_value(), name + " exists");
  CHECK((*j)["State"]["Running"] == true, name + " runs");
  auto& labels = (*j)["Config"]["Labels"];
  CHECK(labels["io.kontena.service.id"] == "svc-web", "label service.id");
  CHECK(labels["io.kontena.service.name"] == "web", "label service.name");
  CHECK(labels["io.kontena.stack.name"] == "e2e", "label stack.name");
  CHECK(labels["io.kontena.grid.name"] == "kpod", "label grid.name");
  CHECK(labels["io.kontena.service.instance_number"] == std::to_string(n), "label instance_number");
  CHECK(labels["io.kontena.container.service_revision"] == std::to_string(rev), "label service_revision");
  CHECK(labels["io.kontena.container.type"] == "container", "label container.type");
  CHECK(labels["e2e"] == "pods", "user label");
  CHECK(has_env(*j, "KONTENA_SERVICE_INSTANCE_NUMBER=" + std::to_string(n)), "env instance number");
  CHECK(has_env(*j, "KONTENA_STACK_NAME=e2e"), "env stack");
  CHECK(has_env(*j, "KONTENA_NODE_NAME=kpode2e-n1"), "env node name");
  CHECK(has_env(*j, "GREETING=hi there"), "env GREETING");
  CHECK(has_env(*j, "DB_PASSWORD=s3cr3t"), "secret as env");
  CHECK((*j)["Config"]["Hostname"] == "web-" + std::to_string(n), "hostname");
  CHECK((*j)["Config"]["Domainname"] == "e2e.kpod.kontena.local", "domainname");
  CHECK((*j)["HostConfig"]["RestartPolicy"]["Name"] == "no", "no Docker restart policy");
  CHECK((*j)["HostConfig"]["Init"] == true, "init");
  ok(name + ": running, labels and env as expected");
}

int stage_up(docker::DockerClient& d, const std::string& image, std::int64_t rev) {
  SystemClock clock;
  Reports reports;
  PodReconciler rec(d, clock, options(), [&](const protocol::PodState& s) { reports.add(s); });
  auto t0 = Steady::now();
  auto r = rec.reconcile({web(1, image, rev), web(2, image, rev)});
  for (auto& e : r.errors) std::printf("error: %s\n", e.c_str());
  CHECK(r.errors.empty(), "no errors");
  CHECK(r.actions.size() == 2, "two creates");
  settle(rec, reports, {1, 2}, 30s);
  ok("2 pods created and reported running (port 8080 open) in " + fmt(since(t0)) + " s");
  check_container(d, 1, rev);
  check_container(d, 2, rev);
  auto again = rec.reconcile({web(1, image, rev), web(2, image, rev)});
  CHECK(again.actions.empty(), "second pass: no action");
  CHECK(again.errors.empty(), "second pass: no errors");
  ok("second pass: no action (idempotent)");
  return 0;
}

int stage_crash(docker::DockerClient& d, const std::string& image, std::int64_t rev) {
  SystemClock clock;
  Reports reports;
  std::atomic<int> healthy{0}, unhealthy{0};
  PodReconciler rec(d, clock, options(), [&](const protocol::PodState& s) { reports.add(s); });
  rec.on_health([&](const HealthResult& h) { (h.healthy ? healthy : unhealthy)++; });
  std::atomic<int> fetches{0};
  rec.start([&] {
    ++fetches;
    return std::vector<ServicePod>{web(1, image, rev), web(2, image, rev)};
  });
  auto t0 = Steady::now();
  while (rec.passes() < 1) {
    CHECK(since(t0) < 10, "first pass in time");
    std::this_thread::sleep_for(20ms);
  }
  CHECK(managed(d).size() == 2, "2 containers found");
  ok("loop started: the existing containers were taken over (" + std::to_string(fetches.load()) + " fetch)");
  std::vector<double> took;
  for (int i = 0; i < 3; ++i) {
    std::string id = managed(d).at("e2e.web-1").id;
    std::string started_before = d.inspect_container(id).value()["State"]["StartedAt"];
    d.kill_container(id, "KILL");
    auto t = Steady::now();
    // Wait until it runs again: a new StartedAt, same container.
    for (;;) {
      auto j = d.inspect_container(id);
      CHECK(j.has_value(), "web-1 still exists (restarted, not recreated)");
      if ((*j)["State"]["Running"] == true && (*j)["State"]["StartedAt"] != started_before) break;
      CHECK(since(t) < 20, "web-1 restarted within 20 s (kill " + std::to_string(i + 1) + ")");
      std::this_thread::sleep_for(50ms);
    }
    took.push_back(since(t));
    ok("kill " + std::to_string(i + 1) + ": web-1 running again after " + fmt(took.back()) + " s");
  }
  CHECK(took[0] < 3.0, "first restart at once (backoff 0 s)");
  CHECK(took[1] >= 0.9 && took[1] < 4.0, "second restart after about 1 s");
  CHECK(took[2] >= 3.9 && took[2] < 8.0, "third restart after about 4 s");
  ok("restart backoff 0 s, 1 s, 4 s: " + fmt(took[0]) + " " + fmt(took[1]) + " " + fmt(took[2]));
  // Health checks every 1 s after 1 s: by now several passed (web-2 is never killed).
  t0 = Steady::now();
  while (healthy < 2) {
    CHECK(since(t0) < 10, "health checks pass");
    std::this_thread::sleep_for(100ms);
  }
  ok("health checks: " + std::to_string(healthy.load()) + " healthy, " + std::to_string(unhealthy.load()) +
     " unhealthy");
  rec.stop();
  CHECK(managed(d).size() == 2, "still 2 containers");
  return 0;
}

int stage_redeploy(docker::DockerClient& d, const std::string& image, std::int64_t rev) {
  SystemClock clock;
  Reports reports;
  auto before = managed(d);
  PodReconciler rec(d, clock, options(), [&](const protocol::PodState& s) { reports.add(s); });
  auto r = rec.reconcile({web(1, image, rev, "d2"), web(2, image, rev, "d2")});
  CHECK(r.actions.empty(), "a new deploy with the same image recreates nothing");
  auto after = managed(d);
  CHECK(after.at("e2e.web-1").id == before.at("e2e.web-1").id, "same container web-1");
  auto last = reports.last();
  CHECK(last.at(1).rev == "d2" && last.at(1).state == "running", "reported rev d2 running");
  ok("new deploy_rev, same image id: kept, reported rev d2");
  return 0;
}

int stage_revision(docker::DockerClient& d, const std::string& image, std::int64_t rev) {
  SystemClock clock;
  Reports reports;
  auto before = managed(d);
  PodReconciler rec(d, clock, options(), [&](const protocol::PodState& s) { reports.add(s); });
  auto t0 = Steady::now();
  auto r = rec.reconcile({web(1, image, rev), web(2, image, rev)});
  for (auto& e : r.errors) std::printf("error: %s\n", e.c_str());
  CHECK(r.errors.empty(), "no errors");
  CHECK(r.actions.size() == 2 && r.actions[0].kind == ActionKind::recreate && r.actions[1].kind == ActionKind::recreate,
        "both recreated");
  settle(rec, reports, {1, 2}, 30s);
  auto after = managed(d);
  CHECK(after.size() == 2, "2 containers");
  CHECK(after.at("e2e.web-1").id != before.at("e2e.web-1").id, "web-1 is a new container");
  CHECK(after.at("e2e.web-2").id != before.at("e2e.web-2").id, "web-2 is a new container");
  ok("service_revision " + std::to_string(rev) + ": both recreated in " + fmt(since(t0)) + " s");
  check_container(d, 1, rev);
  check_container(d, 2, rev);
  return 0;
}

ServicePod sick_pod(const std::string& image, std::int64_t rev) {
  ServicePod sick = web(1, image, rev);
  sick.service_id = "svc-sick";
  sick.service_name = "sick";
  sick.wait_for_port.reset();
  sick.health_check = protocol::PodHealthCheck{"http", 8080, "/missing.html", 1, 1, 1};  // 404
  return sick;
}

int stage_unhealthy(docker::DockerClient& d, const std::string& image, std::int64_t rev) {
  SystemClock clock;
  Reports reports;
  ServicePod sick = sick_pod(image, rev);
  std::atomic<int> unhealthy{0};
  PodReconciler rec(d, clock, options(), [&](const protocol::PodState& s) { reports.add(s); });
  rec.on_health([&](const HealthResult& h) {
    if (!h.healthy) {
      std::printf("health: %s %s\n", h.key.str().c_str(), h.detail.c_str());
      unhealthy++;
    }
  });
  std::vector<ServicePod> desired = {web(1, image, rev), web(2, image, rev), sick};
  rec.start([&] { return desired; });
  auto t0 = Steady::now();
  std::string first_id;
  int starts_seen = 0;
  std::string last_started;
  while (since(t0) < 20) {
    auto j = d.inspect_container("e2e.sick-1");
    if (j) {
      if (first_id.empty()) first_id = (*j)["Id"];
      std::string started = (*j)["State"]["StartedAt"];
      if (started != last_started && (*j)["State"]["Running"] == true) {
        last_started = started;
        starts_seen++;
      }
    }
    if (starts_seen >= 2 && unhealthy >= 1) break;
    std::this_thread::sleep_for(50ms);
  }
  rec.stop();
  CHECK(unhealthy >= 1, "the failing health check was seen");
  CHECK(starts_seen >= 2, "the unhealthy container was restarted");
  CHECK(d.inspect_container("e2e.sick-1").value()["Id"] == first_id, "restarted, not recreated");
  ok("unhealthy (HTTP 404) -> restarted (" + std::to_string(unhealthy.load()) + " failed checks)");
  return 0;
}

int stage_hooks(docker::DockerClient& d, const std::string& image, std::int64_t rev) {
  SystemClock clock;
  Reports reports;
  ServicePod hooky = web(1, image, rev);
  hooky.service_id = "svc-hooky";
  hooky.service_name = "hooky";
  hooky.wait_for_port.reset();
  hooky.health_check.reset();
  hooky.hooks.post_start = {{"warm", "echo warmed-$KONTENA_SERVICE_INSTANCE_NUMBER > /tmp/warm", false},
                            {"register", "echo registered >> /tmp/oneshot", true}};
  hooky.hooks.pre_stop = {{"drain", "echo drained >> /tmp/drained", false}};
  ServicePod bad = hooky;
  bad.service_id = "svc-bad";
  bad.service_name = "bad";
  bad.hooks.post_start = {{"fail", "echo failing >&2; exit 4", false}};
  bad.hooks.pre_stop.clear();
  std::vector<std::string> oneshots;
  PodReconciler rec(d, clock, options(), [&](const protocol::PodState& s) { reports.add(s); }, nullptr,
                    make_docker_exec(d, 30s));
  rec.on_oneshot_hook([&](const ServicePod& p, const protocol::PodHook& h) { oneshots.push_back(p.service_name + "/" + h.name); });
  // The pods of the earlier stages stay (the last stage removes them).
  const std::vector<ServicePod> others = {web(1, image, rev), web(2, image, rev), sick_pod(image, rev)};
  std::vector<ServicePod> all = others;
  all.push_back(hooky);
  all.push_back(bad);
  auto r = rec.reconcile(all);
  for (auto& e : r.errors) std::printf("error: %s\n", e.c_str());
  CHECK(r.errors.size() == 1, "one failed apply (the failing post_start hook)");
  CHECK(r.errors[0].find("post_start hook \"fail\" (echo failing >&2; exit 4) exited with code 4") != std::string::npos,
        "the error names the hook and its exit code");
  std::optional<protocol::PodState> bad_state;
  for (auto& s : reports.all)
    if (s.service_id == "svc-bad") bad_state = s;
  CHECK(bad_state && bad_state->state != "running" && bad_state->error.find("exited with code 4") != std::string::npos,
        "the failing hook is reported with the pod's state");
  ok("failing post_start: reported \"" + bad_state->state + "\" with \"" + bad_state->error + "\"");
  auto warm = d.exec("e2e.hooky-1", {"cat", "/tmp/warm"}, 10s);
  CHECK(warm.exit_code == 0 && warm.stdout_data == "warmed-1\n", "post_start hook ran in the container: " + warm.stdout_data);
  CHECK(oneshots == std::vector<std::string>{"hooky/register"}, "the oneshot hook is reported once");
  ok("post_start hooks ran in e2e.hooky-1 (/tmp/warm: warmed-1); oneshot hook reported");

  std::string id = d.inspect_container("e2e.hooky-1").value()["Id"];
  std::string started = d.inspect_container("e2e.hooky-1").value()["State"]["StartedAt"];
  auto t0 = Steady::now();
  auto rr = rec.restart_now({"svc-hooky", 1});
  CHECK(rr.errors.empty(), "restart without errors");
  auto after = d.inspect_container("e2e.hooky-1").value();
  CHECK(after["Id"] == id, "restarted, not recreated");
  CHECK(after["State"]["Running"] == true && after["State"]["StartedAt"] != started, "started again");
  auto drained = d.exec("e2e.hooky-1", {"cat", "/tmp/drained"}, 10s);
  CHECK(drained.stdout_data == "drained\n", "pre_stop hook ran before the stop: " + drained.stdout_data);
  auto warm2 = d.exec("e2e.hooky-1", {"cat", "/tmp/oneshot"}, 10s);
  CHECK(warm2.stdout_data == "registered\nregistered\n", "post_start hooks ran again after the start");
  ok("restart: pre_stop, stop (grace 1 s), start, post_start in " + fmt(since(t0)) + " s; same container");

  auto down = rec.reconcile(others);
  CHECK(down.errors.empty(), "removed without errors");
  CHECK(!d.inspect_container("e2e.hooky-1") && !d.inspect_container("e2e.bad-1"), "both removed");
  CHECK(managed(d).size() == 3, "the other pods' containers kept");
  ok("hook pods removed");
  return 0;
}

int stage_logs(docker::DockerClient& d, const std::string& image, std::int64_t rev) {
  SystemClock clock;
  const std::vector<ServicePod> others = {web(1, image, rev), web(2, image, rev), sick_pod(image, rev)};
  ServicePod chatty = web(1, image, rev);
  chatty.service_id = "svc-chatty";
  chatty.service_name = "chatty";
  chatty.wait_for_port.reset();
  chatty.health_check.reset();
  // A counter kept in the container's file system: it goes on after a restart, so every line is
  // different from every other.
  chatty.cmd = std::vector<std::string>{
      "sh", "-c",
      "i=$(cat /tmp/n 2>/dev/null || echo 0); while true; do echo out-$i; echo err-$i >&2; i=$((i+1)); "
      "echo $i > /tmp/n; sleep 0.05; done"};
  ServicePod quiet = chatty;
  quiet.service_id = "svc-quiet";
  quiet.service_name = "quiet";
  quiet.labels["io.kontena.container.skip_logs"] = "1";

  std::mutex mu;
  bool connected = true;
  std::vector<Json> lines;
  int batches = 0;
  std::size_t largest = 0;
  logs::LogShipperOptions o;
  o.rescan_interval = 500ms;
  logs::LogShipper shipper(d, clock, o, [&](const Json& batch) {
    std::lock_guard l(mu);
    if (!connected) return false;
    for (auto& line : batch) lines.push_back(line);
    ++batches;
    largest = std::max(largest, batch.size());
    return true;
  });
  shipper.start();  // before the containers exist: they are new, read from their first line
  std::this_thread::sleep_for(700ms);
  PodReconciler rec(d, clock, options(), nullptr);
  std::vector<ServicePod> all = others;
  all.push_back(chatty);
  all.push_back(quiet);
  auto r = rec.reconcile(all);
  CHECK(r.errors.empty(), "chatty and quiet created");
  auto count = [&] {
    std::lock_guard l(mu);
    return lines.size();
  };
  auto t0 = Steady::now();
  while (count() < 20 && since(t0) < 15) std::this_thread::sleep_for(50ms);
  CHECK(count() >= 20, "lines shipped within 15 s");
  {
    std::lock_guard l(mu);
    const Json& first = lines.front();
    CHECK(first["service_id"] == "svc-chatty" && first["instance_number"] == 1 && first["container"] == "e2e.chatty-1",
          "the line names its service, instance and container: " + first.dump());
    bool first_out = false;
    for (auto& line : lines)
      if (line["stream"] == "stdout") {
        first_out = line["data"] == "out-0";
        break;
      }
    CHECK(first_out, "the first stdout line is out-0 (a new container is read from its start)");
    bool err_seen = std::any_of(lines.begin(), lines.end(), [](const Json& l) { return l["stream"] == "stderr" && l["data"] == "err-0"; });
    CHECK(err_seen, "stderr lines as stderr");
    std::string time = first["time"];
    CHECK(time.size() == 24 && time[10] == 'T' && time.back() == 'Z', "ISO time with milliseconds: " + time);
    ok("first lines shipped: " + first.dump());
  }

  // "Disconnected": lines wait; meanwhile the container is restarted (its log stream ends and is
  // followed again from where it was).
  {
    std::lock_guard l(mu);
    connected = false;
  }
  std::this_thread::sleep_for(500ms);
  d.stop_container("e2e.chatty-1", 1s);
  std::this_thread::sleep_for(300ms);
  d.start_container("e2e.chatty-1");
  std::this_thread::sleep_for(1500ms);
  std::size_t waiting = shipper.queued();
  CHECK(waiting > 10, "lines queued while disconnected: " + std::to_string(waiting));
  {
    std::lock_guard l(mu);
    connected = true;
  }
  t0 = Steady::now();
  while (shipper.queued() > 0 && since(t0) < 5) std::this_thread::sleep_for(50ms);
  std::this_thread::sleep_for(1s);
  shipper.stop();

  // Every line Docker has for chatty, up to the last one shipped, was shipped exactly once.
  docker::LogOptions lo;
  lo.follow = false;
  std::vector<std::string> shipped_keys, docker_keys;
  std::string last_time;
  {
    std::lock_guard l(mu);
    for (auto& line : lines) {
      CHECK(line["service_id"] != "svc-quiet", "nothing shipped of a skip_logs container");
      std::string key = line["stream"].get<std::string>() + " " + line["data"].get<std::string>() + " " +
                        line["time"].get<std::string>();
      shipped_keys.push_back(key);
      last_time = std::max(last_time, line["time"].get<std::string>());
    }
  }
  std::vector<std::string> sorted = shipped_keys;
  std::sort(sorted.begin(), sorted.end());
  CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end(), "no line shipped twice");
  // Compared up to (not including) the last shipped millisecond: lines after it came once the
  // shipper had stopped.
  sorted.erase(std::remove_if(sorted.begin(), sorted.end(),
                              [&](const std::string& k) { return k.substr(k.rfind(' ') + 1) >= last_time; }),
               sorted.end());
  std::mutex lmu;
  auto stream = d.stream_logs("e2e.chatty-1", lo, [&](const docker::LogLine& l) {
    std::lock_guard g(lmu);
    auto t = parse_time_ns(l.time);
    if (!t) return;
    std::string iso = logs::format_iso_ms(*t);
    if (iso < last_time) docker_keys.push_back(l.stream + " " + l.data + " " + iso);
  });
  t0 = Steady::now();
  while (!stream->done() && since(t0) < 10) std::this_thread::sleep_for(20ms);
  stream.reset();
  std::sort(docker_keys.begin(), docker_keys.end());
  std::vector<std::string> missing;
  std::set_difference(docker_keys.begin(), docker_keys.end(), sorted.begin(), sorted.end(), std::back_inserter(missing));
  CHECK(missing.empty(), std::to_string(missing.size()) + " lines not shipped, e.g. " + (missing.empty() ? "" : missing[0]));
  CHECK(docker_keys.size() == sorted.size(), "as many lines shipped as Docker has (" + std::to_string(sorted.size()) +
                                                 " vs " + std::to_string(docker_keys.size()) + ")");
  CHECK(largest <= 100, "batches of at most 100 lines");
  ok("after a restart while disconnected (" + std::to_string(waiting) + " lines queued): " +
     std::to_string(sorted.size()) + " lines in " + std::to_string(batches) +
     " batches, each line once, none missing; skip_logs container not shipped");
  auto gone = rec.reconcile(others);
  CHECK(gone.errors.empty() && !d.inspect_container("e2e.chatty-1") && !d.inspect_container("e2e.quiet-1"),
        "chatty and quiet removed");
  return 0;
}

int stage_down(docker::DockerClient& d) {
  SystemClock clock;
  Reports reports;
  PodReconciler rec(d, clock, options(), [&](const protocol::PodState& s) { reports.add(s); });
  auto t0 = Steady::now();
  auto r = rec.reconcile({});
  for (auto& e : r.errors) std::printf("error: %s\n", e.c_str());
  CHECK(r.errors.empty(), "no errors");
  CHECK(!r.actions.empty(), "removals");
  CHECK(managed(d).empty(), "no managed container left");
  ok("no pods desired: " + std::to_string(r.actions.size()) + " containers stopped and removed in " +
     fmt(since(t0)) + " s");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: pods_probe SOCKET IMAGE up|crash|redeploy|revision|unhealthy|hooks|logs|down [REV]\n");
    return 2;
  }
  kontena::init_logging("pods_probe", "info");
  std::string socket = argv[1], image = argv[2], stage = argv[3];
  std::int64_t rev = argc > 4 ? std::stoll(argv[4]) : 1;
  auto d = docker::make_engine_client(socket, 30s);
  try {
    if (stage == "up") return stage_up(*d, image, rev);
    if (stage == "crash") return stage_crash(*d, image, rev);
    if (stage == "redeploy") return stage_redeploy(*d, image, rev);
    if (stage == "revision") return stage_revision(*d, image, rev);
    if (stage == "unhealthy") return stage_unhealthy(*d, image, rev);
    if (stage == "hooks") return stage_hooks(*d, image, rev);
    if (stage == "logs") return stage_logs(*d, image, rev);
    if (stage == "down") return stage_down(*d);
    std::fprintf(stderr, "unknown stage %s\n", stage.c_str());
    return 2;
  } catch (const CheckFailed& e) {
    std::printf("FAIL: %s\n", e.what());
    return 1;
  } catch (const kontena::Error& e) {
    std::printf("FAIL: %s: %s\n", kontena::to_string(e.kind()), e.what());
    return 1;
  } catch (const std::exception& e) {
    std::printf("FAIL: %s\n", e.what());
    return 1;
  }
}
