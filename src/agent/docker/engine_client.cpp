#include "agent/docker/engine_client.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <mutex>
#include <thread>

#include "agent/docker/http_unix.h"
#include "agent/docker/stream_decoder.h"
#include "common/json.h"

namespace kontena::agent::docker {
namespace {

using Clock = std::chrono::steady_clock;

// Percent-encodes a path segment (ids, names, image references keep '/', ':' and '@').
std::string path_escape(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || std::string_view("-_.~/:@").find(static_cast<char>(c)) != std::string_view::npos) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string api(const std::string& path) { return std::string("/") + kEngineApiVersion + path; }

Json parse_json_body(const HttpResult& r, const std::string& what) {
  Json j = Json::parse(r.body, nullptr, false);
  if (j.is_discarded()) {
    fail(ErrorKind::internal, "the Docker Engine answered " + what + " with something that is not JSON");
  }
  return j;
}


// ---------------------------------------------------------------------------------------------
// Streams: one thread reads the body of one exchange and feeds a decoder.

// The user's callback, not called any more once the stream is cancelled (a chunk may hold several
// lines: cancel() from inside the callback must stop the rest of them too).
template <class T>
std::shared_ptr<std::function<void(const T&)>> guarded(const UnixHttpExchange* ex, std::function<void(const T&)> f) {
  return std::make_shared<std::function<void(const T&)>>([ex, f = std::move(f)](const T& v) {
    if (!ex->cancelled()) f(v);
  });
}

class EngineStream final : public Stream {
 public:
  using OnData = std::function<void(std::string_view)>;
  using OnEnd = std::function<void()>;

  EngineStream(std::unique_ptr<UnixHttpExchange> ex, OnData on_data, OnEnd on_end, std::string name)
      : state_(std::make_shared<State>()) {
    state_->ex = std::move(ex);
    state_->on_data = std::move(on_data);
    state_->on_end = std::move(on_end);
    state_->name = std::move(name);
    thread_ = std::thread([s = state_] { run(*s); });
  }

  ~EngineStream() override {
    cancel();
    if (thread_.joinable()) thread_.detach();  // destroyed from its own callback: it ends by itself
  }

  void cancel() override {
    state_->ex->cancel();
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  }

  bool done() const override { return state_->done.load(); }

  std::string error() const override {
    std::lock_guard lock(state_->mu);
    return state_->error;
  }

 private:
  struct State {
    std::unique_ptr<UnixHttpExchange> ex;
    OnData on_data;
    OnEnd on_end;
    std::string name;
    std::atomic<bool> done{false};
    mutable std::mutex mu;
    std::string error;
  };

  static void run(State& s) {
    std::string err;
    try {
      std::string chunk;
      bool more = true;
      while (more) {
        chunk.clear();
        more = s.ex->read_body(chunk, std::nullopt);
        if (s.ex->cancelled()) break;
        if (!chunk.empty()) s.on_data(chunk);
      }
      if (!s.ex->cancelled()) s.on_end();
    } catch (const std::exception& e) {
      if (!s.ex->cancelled()) err = e.what();
    }
    if (!err.empty()) spdlog::warn("docker stream ended with an error stream={} error={}", s.name, err);
    {
      std::lock_guard lock(s.mu);
      s.error = err;
    }
    s.done = true;
  }

  std::shared_ptr<State> state_;
  std::thread thread_;
};

// ---------------------------------------------------------------------------------------------

class EngineClient final : public DockerClient {
 public:
  EngineClient(std::string socket_path, std::chrono::milliseconds timeout)
      : path_(std::move(socket_path)), timeout_(timeout) {}

  Json info() override { return parse_json_body(call("GET", "/info"), "GET /info"); }
  Json version() override { return parse_json_body(call("GET", "/version"), "GET /version"); }

  bool ping() override {
    try {
      HttpRequest req;
      req.target = "/_ping";
      auto r = http_call(path_, req, std::min<std::chrono::milliseconds>(timeout_, std::chrono::seconds(5)));
      return r.status == 200;
    } catch (const std::exception&) {
      return false;
    }
  }

  // --- images

  std::optional<Json> inspect_image(const std::string& image) override {
    if (image.empty()) invalid("image", "the image name is empty");
    auto r = call("GET", "/images/" + path_escape(image) + "/json", {}, {404});
    if (r.status == 404) return std::nullopt;
    return parse_json_body(r, "GET /images/" + image + "/json");
  }

  void pull_image(const std::string& image, const std::string& registry_auth_b64,
                  const std::function<void(const PullProgress&)>& progress) override {
    if (image.empty()) invalid("image", "the image name is empty");
    auto [from, tag] = split_image_reference(image);
    HttpRequest req;
    req.method = "POST";
    req.target = api("/images/create?fromImage=" + url_encode(from) + "&tag=" + url_encode(tag));
    if (!registry_auth_b64.empty()) req.headers.emplace_back("X-Registry-Auth", registry_auth_b64);
    spdlog::info("pulling image image={}", image);
    UnixHttpExchange ex(path_);
    ex.start(req, Clock::now() + timeout_);
    if (ex.status() >= 400) {
      std::string body = ex.read_all(Clock::now() + timeout_, 1024 * 1024);
      throw pull_error(image, engine_message(body), ex.status());
    }
    JsonLinesDecoder decoder;
    std::string error_message;
    auto on_json = [&](const Json& j) {
      if (!j.is_object()) return;
      if (j.contains("error") || j.contains("errorDetail")) {
        std::string msg = json_value_or<std::string>(j, "error", "");
        if (auto d = j.find("errorDetail"); d != j.end() && d->is_object()) {
          msg = json_value_or<std::string>(*d, "message", msg);
        }
        if (error_message.empty()) error_message = msg.empty() ? j.dump() : msg;
        return;
      }
      if (!progress) return;
      PullProgress p;
      p.status = json_value_or<std::string>(j, "status", "");
      p.id = json_value_or<std::string>(j, "id", "");
      if (auto d = j.find("progressDetail"); d != j.end() && d->is_object()) {
        p.current = json_value_or<std::int64_t>(*d, "current", 0);
        p.total = json_value_or<std::int64_t>(*d, "total", 0);
      }
      progress(p);
    };
    std::string chunk;
    bool more = true;
    while (more) {
      chunk.clear();
      // A pull may take long: the timeout applies to each wait for more progress.
      more = ex.read_body(chunk, Clock::now() + timeout_);
      decoder.feed(chunk, on_json);
    }
    decoder.finish(on_json);
    if (!error_message.empty()) throw pull_error(image, error_message, 0);
    spdlog::info("image pulled image={}", image);
  }

  void ensure_image(const std::string& image, const std::string& registry_auth_b64,
                    const std::function<void(const PullProgress&)>& progress) override {
    if (inspect_image(image)) return;
    pull_image(image, registry_auth_b64, progress);
  }

  // --- containers

  std::string create_container(const ContainerSpec& spec) override {
    if (spec.image.empty()) invalid("image", "the container's image is empty");
    std::string target = "/containers/create";
    if (!spec.name.empty()) target += "?name=" + url_encode(spec.name);
    auto r = call("POST", target, container_create_body(spec).dump(), {}, ErrorKind::invalid);
    Json j = parse_json_body(r, "POST /containers/create");
    std::string id = json_value_or<std::string>(j, "Id", "");
    if (id.empty()) fail(ErrorKind::internal, "the Docker Engine created a container but sent no Id");
    if (auto w = j.find("Warnings"); w != j.end() && w->is_array()) {
      for (const auto& warning : *w) {
        if (warning.is_string()) spdlog::warn("docker warning on create name={} warning={}", spec.name, warning.get<std::string>());
      }
    }
    return id;
  }

  void start_container(const std::string& id) override {
    call("POST", "/containers/" + path_escape(id) + "/start", {}, {304}, ErrorKind::invalid);
  }

  void stop_container(const std::string& id, std::chrono::seconds grace) override {
    auto t = std::max<std::int64_t>(0, grace.count());
    call("POST", "/containers/" + path_escape(id) + "/stop?t=" + std::to_string(t), {}, {304}, ErrorKind::internal,
         timeout_ + std::chrono::seconds(t));
  }

  void kill_container(const std::string& id, const std::string& signal) override {
    std::string target = "/containers/" + path_escape(id) + "/kill";
    if (!signal.empty()) target += "?signal=" + url_encode(signal);
    call("POST", target);
  }

  void remove_container(const std::string& id, bool force, bool remove_volumes) override {
    call("DELETE", "/containers/" + path_escape(id) + "?force=" + (force ? "1" : "0") + "&v=" +
                       (remove_volumes ? "1" : "0"));
  }

  std::optional<Json> inspect_container(const std::string& id) override {
    if (id.empty()) invalid("id", "the container id or name is empty");
    auto r = call("GET", "/containers/" + path_escape(id) + "/json", {}, {404});
    if (r.status == 404) return std::nullopt;
    return parse_json_body(r, "GET /containers/" + id + "/json");
  }

  std::vector<ContainerSummary> list_containers(const std::vector<std::string>& label_filters, bool all) override {
    std::string target = std::string("/containers/json?all=") + (all ? "1" : "0");
    if (!label_filters.empty()) target += "&filters=" + label_filters_query(label_filters);
    Json j = parse_json_body(call("GET", target), "GET /containers/json");
    std::vector<ContainerSummary> out;
    if (!j.is_array()) fail(ErrorKind::internal, "the Docker Engine answered GET /containers/json with a non-list");
    for (const auto& c : j) out.push_back(summary_from_json(c));
    return out;
  }

  ExecResult exec(const std::string& id, const std::vector<std::string>& cmd,
                  std::chrono::milliseconds timeout) override {
    if (id.empty()) invalid("container", "the container id or name is empty");
    if (cmd.empty() || cmd.front().empty()) invalid("cmd", "the command to run is empty");
    if (timeout.count() <= 0) invalid("timeout", "the exec timeout must be more than 0");
    const auto deadline = Clock::now() + timeout;
    auto left = [&] {
      return std::max(std::chrono::milliseconds(1),
                      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
    };
    auto timed_out = [&]() -> Error {
      return Error(ErrorKind::unavailable, "the command did not finish within " + std::to_string((timeout.count() + 999) / 1000) +
                                               " s in container " + id + " (it may still be running there)");
    };
    Json create = {{"AttachStdin", false}, {"AttachStdout", true}, {"AttachStderr", true}, {"Tty", false}, {"Cmd", cmd}};
    std::string exec_id;
    try {
      auto r = call("POST", "/containers/" + path_escape(id) + "/exec", create.dump(), {}, ErrorKind::internal,
                    std::min<std::chrono::milliseconds>(timeout_, left()));
      exec_id = json_value_or<std::string>(parse_json_body(r, "POST /containers/" + id + "/exec"), "Id", "");
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::not_found) fail(ErrorKind::not_found, "no such container: " + id);
      if (e.kind() == ErrorKind::unavailable && Clock::now() >= deadline) throw timed_out();
      throw;
    }
    if (exec_id.empty()) fail(ErrorKind::internal, "the Docker Engine created an exec but sent no Id");

    ExecResult result;
    auto keep = [](std::string& out, bool& truncated, std::string_view data) {
      std::size_t room = out.size() < kExecOutputCap ? kExecOutputCap - out.size() : 0;
      if (data.size() > room) truncated = true;
      out.append(data.substr(0, std::min(room, data.size())));
    };
    {
      // Attached start: the answer's body is the command's multiplexed output (the engine says
      // "raw-stream" on API 1.41, but without a TTY it is multiplexed), until the command ends.
      UnixHttpExchange ex(path_);
      HttpRequest req;
      req.method = "POST";
      req.target = api("/exec/" + path_escape(exec_id) + "/start");
      req.body = R"({"Detach":false,"Tty":false})";
      MuxDecoder mux;
      try {
        ex.start(req, deadline);
        if (ex.status() >= 400) {
          std::string body = ex.read_all(deadline, 1024 * 1024);
          throw engine_error(ex.status(), body, "POST /exec/" + exec_id + "/start");
        }
        std::string chunk;
        bool more = true;
        while (more) {
          chunk.clear();
          more = ex.read_body(chunk, deadline);
          mux.feed(chunk, [&](int stream, std::string_view payload) {
            if (stream == 2) keep(result.stderr_data, result.stderr_truncated, payload);
            else keep(result.stdout_data, result.stdout_truncated, payload);
          });
        }
        mux.finish();
      } catch (const Error& e) {
        if (e.kind() == ErrorKind::unavailable && Clock::now() >= deadline) throw timed_out();
        if (e.kind() == ErrorKind::conflict) fail(ErrorKind::conflict, "container " + id + " is not running: " + e.what());
        throw;
      }
    }
    // The output ends when the command closes it; its exit code is set a moment later.
    auto wait = std::chrono::milliseconds(5);
    for (;;) {
      Json j = parse_json_body(call("GET", "/exec/" + path_escape(exec_id) + "/json", {}, {}, ErrorKind::internal,
                                    std::min<std::chrono::milliseconds>(timeout_, left() + std::chrono::seconds(2))),
                               "GET /exec/" + exec_id + "/json");
      if (!json_value_or<bool>(j, "Running", false) && j.contains("ExitCode") && j["ExitCode"].is_number_integer()) {
        result.exit_code = j["ExitCode"].get<int>();
        break;
      }
      if (Clock::now() >= deadline) throw timed_out();
      std::this_thread::sleep_for(wait);
      wait = std::min(wait * 2, std::chrono::milliseconds(100));
    }
    spdlog::debug("docker exec done container={} cmd={} exit_code={}", id, cmd.front(), result.exit_code);
    return result;
  }

  Json container_stats(const std::string& id) override {
    auto r = call("GET", "/containers/" + path_escape(id) + "/stats?stream=0");
    return parse_json_body(r, "GET /containers/" + id + "/stats");
  }

  // --- networks

  std::optional<Json> inspect_network(const std::string& name) override {
    if (name.empty()) invalid("name", "the network name is empty");
    auto r = call("GET", "/networks/" + path_escape(name), {}, {404});
    if (r.status == 404) return std::nullopt;
    return parse_json_body(r, "GET /networks/" + name);
  }

  std::string create_network(const NetworkSpec& spec) override {
    Json body = network_create_body(spec);
    HttpResult r;
    try {
      r = call("POST", "/networks/create", body.dump(), {}, ErrorKind::invalid);
    } catch (const Error& e) {
      // Docker says 403 for settings it will not apply (a pool overlapping another network's).
      if (e.kind() == ErrorKind::forbidden) throw Error(ErrorKind::invalid, e.what());
      throw;
    }
    std::string id = json_value_or<std::string>(parse_json_body(r, "POST /networks/create"), "Id", "");
    if (id.empty()) fail(ErrorKind::internal, "the Docker Engine created network " + spec.name + " but sent no Id");
    spdlog::info("docker network created name={} id={}", spec.name, id.substr(0, 12));
    return id;
  }

  void remove_network(const std::string& name) override {
    if (name.empty()) invalid("name", "the network name is empty");
    try {
      call("DELETE", "/networks/" + path_escape(name));
    } catch (const Error& e) {
      // Docker says 403 while containers are attached ("has active endpoints").
      if (e.kind() == ErrorKind::forbidden) {
        throw Error(ErrorKind::conflict, std::string(e.what()) + " (remove or disconnect the containers on it first)");
      }
      throw;
    }
    spdlog::info("docker network removed name={}", name);
  }

  // --- streams

  std::unique_ptr<Stream> stream_events(const Json& filters, std::function<void(const Json&)> on_event) override {
    std::string target = "/events";
    if (!filters.is_null() && !filters.empty()) target += "?filters=" + url_encode(filters.dump());
    auto ex = open_stream(target);
    auto decoder = std::make_shared<JsonLinesDecoder>();
    auto sink = guarded<Json>(ex.get(), std::move(on_event));
    return std::make_unique<EngineStream>(
        std::move(ex), [decoder, sink](std::string_view d) { decoder->feed(d, *sink); },
        [decoder, sink] { decoder->finish(*sink); }, "events");
  }

  std::unique_ptr<Stream> stream_logs(const std::string& id, const LogOptions& o,
                                      std::function<void(const LogLine&)> on_line) override {
    auto c = inspect_container(id);
    if (!c) fail(ErrorKind::not_found, "no such container: " + id);
    bool tty = false;
    if (auto cfg = c->find("Config"); cfg != c->end() && cfg->is_object()) tty = json_value_or<bool>(*cfg, "Tty", false);
    std::string target = "/containers/" + path_escape(id) + "/logs?follow=" + (o.follow ? "1" : "0") +
                         "&stdout=" + (o.stdout_stream ? "1" : "0") + "&stderr=" + (o.stderr_stream ? "1" : "0") +
                         "&timestamps=" + (o.timestamps ? "1" : "0");
    if (o.since_unix) target += "&since=" + std::to_string(*o.since_unix);
    target += "&tail=" + (o.tail ? std::to_string(std::max(0, *o.tail)) : std::string("all"));
    auto ex = open_stream(target);
    // Engines of API 1.42+ say which framing they use; trust that over Config.Tty. (1.41 sends
    // no Content-Type here.)
    std::string ct = ex->response().header("content-type");
    if (ct.find("vnd.docker.multiplexed-stream") != std::string::npos) tty = false;
    if (ct.find("vnd.docker.raw-stream") != std::string::npos) tty = true;
    auto decoder = std::make_shared<LogDecoder>(tty, o.timestamps);
    auto sink = guarded<LogLine>(ex.get(), std::move(on_line));
    return std::make_unique<EngineStream>(
        std::move(ex), [decoder, sink](std::string_view d) { decoder->feed(d, *sink); },
        [decoder, sink] { decoder->finish(*sink); }, "logs " + id);
  }

  std::unique_ptr<Stream> stream_stats(const std::string& id, std::function<void(const Json&)> on_stats) override {
    auto ex = open_stream("/containers/" + path_escape(id) + "/stats?stream=1");
    auto decoder = std::make_shared<JsonLinesDecoder>();
    auto sink = guarded<Json>(ex.get(), std::move(on_stats));
    return std::make_unique<EngineStream>(
        std::move(ex), [decoder, sink](std::string_view d) { decoder->feed(d, *sink); },
        [decoder, sink] { decoder->finish(*sink); }, "stats " + id);
  }

 private:
  // One non-streaming call; throws engine_error() unless the status is < 400 or in `accept`.
  HttpResult call(const std::string& method, const std::string& path, std::string body = {},
                  std::initializer_list<int> accept = {}, ErrorKind server_error_kind = ErrorKind::internal,
                  std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
    HttpRequest req;
    req.method = method;
    req.target = api(path);
    req.body = std::move(body);
    auto r = http_call(path_, req, timeout.value_or(timeout_));
    spdlog::debug("docker request method={} path={} status={}", method, path, r.status);
    if (r.status >= 400 && std::find(accept.begin(), accept.end(), r.status) == accept.end()) {
      throw engine_error(r.status, r.body, method + " " + path, server_error_kind);
    }
    return r;
  }

  // Sends a GET and waits (request timeout) for the answer's headers; errors are thrown here.
  std::unique_ptr<UnixHttpExchange> open_stream(const std::string& path) {
    auto ex = std::make_unique<UnixHttpExchange>(path_);
    HttpRequest req;
    req.target = api(path);
    ex->start(req, Clock::now() + timeout_);
    if (ex->status() >= 400) {
      std::string body = ex->read_all(Clock::now() + timeout_, 1024 * 1024);
      throw engine_error(ex->status(), body, "GET " + path);
    }
    return ex;
  }

  Error pull_error(const std::string& image, const std::string& message, int status) const {
    if (is_registry_unreachable(message)) {
      return Error(ErrorKind::unavailable, "cannot pull image " + image +
                                               ": the registry cannot be reached and the image is not present "
                                               "locally (Docker: \"" + message + "\")");
    }
    if (status == 404 || message.find("not found") != std::string::npos ||
        message.find("manifest unknown") != std::string::npos ||
        message.find("pull access denied") != std::string::npos) {
      return Error(ErrorKind::not_found,
                   "cannot pull image " + image + ": the registry does not have it (Docker: \"" + message + "\")");
    }
    if (status == 401 || message.find("unauthorized") != std::string::npos) {
      return Error(ErrorKind::unauthorized,
                   "cannot pull image " + image + ": the registry refused the credentials (Docker: \"" + message + "\")");
    }
    return Error(status == 400 ? ErrorKind::invalid : ErrorKind::internal,
                 "cannot pull image " + image + " (Docker: \"" + message + "\")");
  }

  std::string path_;
  std::chrono::milliseconds timeout_;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// pure helpers

Json container_create_body(const ContainerSpec& s) {
  Json b = Json::object();
  b["Image"] = s.image;
  if (!s.cmd.empty()) b["Cmd"] = s.cmd;
  if (s.entrypoint) {
    // An empty entrypoint means "none" (the image's is dropped), as `docker run --entrypoint ""`.
    b["Entrypoint"] = s.entrypoint->empty() ? std::vector<std::string>{""} : *s.entrypoint;
  }
  b["Env"] = s.env;
  b["Labels"] = Json::object();
  for (const auto& [k, v] : s.labels) b["Labels"][k] = v;
  if (!s.hostname.empty()) b["Hostname"] = s.hostname;
  if (!s.domainname.empty()) b["Domainname"] = s.domainname;
  if (!s.user.empty()) b["User"] = s.user;
  if (!s.working_dir.empty()) b["WorkingDir"] = s.working_dir;
  if (!s.stop_signal.empty()) b["StopSignal"] = s.stop_signal;
  if (s.stop_timeout_seconds) b["StopTimeout"] = *s.stop_timeout_seconds;
  b["Tty"] = false;
  b["OpenStdin"] = false;
  b["AttachStdin"] = false;
  b["AttachStdout"] = false;
  b["AttachStderr"] = false;

  Json host = Json::object();
  if (!s.ports.empty()) {
    Json exposed = Json::object();
    Json bindings = Json::object();
    for (const auto& p : s.ports) {
      if (p.container_port <= 0 || p.container_port > 65535) {
        invalid("ports", "container port " + std::to_string(p.container_port) + " is not in 1-65535");
      }
      if (p.host_port < 0 || p.host_port > 65535) {
        invalid("ports", "host port " + std::to_string(p.host_port) + " is not in 0-65535");
      }
      std::string proto = p.protocol.empty() ? "tcp" : p.protocol;
      if (proto != "tcp" && proto != "udp" && proto != "sctp") {
        invalid("ports", "port protocol \"" + proto + "\" is not tcp or udp");
      }
      std::string key = std::to_string(p.container_port) + "/" + proto;
      exposed[key] = Json::object();
      Json binding = {{"HostIp", p.host_ip}, {"HostPort", p.host_port > 0 ? std::to_string(p.host_port) : ""}};
      if (!bindings.contains(key)) bindings[key] = Json::array();
      bindings[key].push_back(binding);
    }
    b["ExposedPorts"] = exposed;
    host["PortBindings"] = bindings;
  }
  if (!s.binds.empty()) host["Binds"] = s.binds;
  if (!s.network_mode.empty()) host["NetworkMode"] = s.network_mode;
  if (!s.dns.empty()) host["Dns"] = s.dns;
  if (!s.dns_search.empty()) host["DnsSearch"] = s.dns_search;
  if (!s.cap_add.empty()) host["CapAdd"] = s.cap_add;
  if (!s.cap_drop.empty()) host["CapDrop"] = s.cap_drop;
  if (s.memory_bytes) host["Memory"] = *s.memory_bytes;
  if (s.memory_swap_bytes) host["MemorySwap"] = *s.memory_swap_bytes;
  if (s.shm_size_bytes) host["ShmSize"] = *s.shm_size_bytes;
  if (s.cpus) {
    if (!(*s.cpus > 0) || *s.cpus > 1024) invalid("cpus", "cpus must be more than 0");
    host["CpuPeriod"] = 100000;
    host["CpuQuota"] = static_cast<std::int64_t>(std::llround(*s.cpus * 100000));
  }
  if (s.cpu_shares) host["CpuShares"] = *s.cpu_shares;
  host["Privileged"] = s.privileged;
  host["ReadonlyRootfs"] = s.read_only;
  if (s.init) host["Init"] = true;
  if (!s.pid_mode.empty()) host["PidMode"] = s.pid_mode;
  if (!s.log_driver.empty() || !s.log_opts.empty()) {
    Json cfg = Json::object();
    for (const auto& [k, v] : s.log_opts) cfg[k] = v;
    host["LogConfig"] = {{"Type", s.log_driver}, {"Config", cfg}};
  }
  host["RestartPolicy"] = {{"Name", s.restart_policy.empty() ? "no" : s.restart_policy}};
  b["HostConfig"] = host;

  if (!s.network_ips.empty()) {
    Json endpoints = Json::object();
    for (const auto& [net, ip] : s.network_ips) {
      Json ep = Json::object();
      if (!ip.empty()) ep["IPAMConfig"] = {{"IPv4Address", ip}};
      endpoints[net] = ep;
    }
    b["NetworkingConfig"] = {{"EndpointsConfig", endpoints}};
  }
  return b;
}

Json network_create_body(const NetworkSpec& s) {
  if (s.name.empty()) invalid("name", "the network name is empty");
  Json b = Json::object();
  b["Name"] = s.name;
  b["Driver"] = s.driver.empty() ? "bridge" : s.driver;
  b["CheckDuplicate"] = true;  // a second network of the same name would make names ambiguous
  b["Attachable"] = false;
  b["Internal"] = false;
  b["EnableIPv6"] = false;
  Json ipam = {{"Driver", "default"}, {"Config", Json::array()}, {"Options", Json::object()}};
  if (!s.subnet.empty()) {
    Json pool = {{"Subnet", s.subnet}};
    if (!s.gateway.empty()) pool["Gateway"] = s.gateway;
    if (!s.ip_range.empty()) pool["IPRange"] = s.ip_range;
    ipam["Config"].push_back(pool);
  } else if (!s.gateway.empty() || !s.ip_range.empty()) {
    invalid("subnet", "network " + s.name + ": a gateway or an IP range needs a subnet");
  }
  b["IPAM"] = ipam;
  b["Options"] = Json::object();
  for (const auto& [k, v] : s.options) b["Options"][k] = v;
  b["Labels"] = Json::object();
  for (const auto& [k, v] : s.labels) b["Labels"][k] = v;
  return b;
}

std::pair<std::string, std::string> split_image_reference(const std::string& image) {
  auto at = image.find('@');
  if (at != std::string::npos) return {image.substr(0, at), image.substr(at + 1)};
  auto slash = image.rfind('/');
  auto colon = image.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    return {image.substr(0, colon), image.substr(colon + 1)};
  }
  return {image, "latest"};
}

std::string engine_message(const std::string& body) {
  Json j = Json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object()) {
    if (auto m = j.find("message"); m != j.end() && m->is_string()) return m->get<std::string>();
  }
  std::string_view s(body);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  if (s.size() > 500) return std::string(s.substr(0, 500)) + "...";
  return std::string(s);
}

Error engine_error(int status, const std::string& body, const std::string& what, ErrorKind server_error_kind) {
  std::string msg = engine_message(body);
  ErrorKind kind;
  switch (status) {
    case 400: kind = ErrorKind::invalid; break;
    case 401: kind = ErrorKind::unauthorized; break;
    case 403: kind = ErrorKind::forbidden; break;
    case 404: kind = ErrorKind::not_found; break;
    case 409: kind = ErrorKind::conflict; break;
    case 503: kind = ErrorKind::unavailable; break;
    case 500: kind = server_error_kind; break;
    default: kind = status < 500 ? ErrorKind::invalid : ErrorKind::internal; break;
  }
  std::string text = "the Docker Engine refused " + what + " (HTTP " + std::to_string(status) + ")";
  if (!msg.empty()) text += ": \"" + msg + "\"";
  return Error(kind, text);
}

bool is_registry_unreachable(const std::string& message) {
  static const char* patterns[] = {"dial tcp",           "network is unreachable", "no such host",
                                   "connection refused", "i/o timeout",            "TLS handshake timeout",
                                   "Client.Timeout",     "no route to host",       "server misbehaving",
                                   "temporary failure in name resolution", "connection reset by peer",
                                   "dial unix"};
  return std::any_of(std::begin(patterns), std::end(patterns),
                     [&](const char* p) { return message.find(p) != std::string::npos; });
}

ContainerSummary summary_from_json(const Json& j) {
  ContainerSummary s;
  s.id = json_value_or<std::string>(j, "Id", "");
  if (auto names = j.find("Names"); names != j.end() && names->is_array() && !names->empty() &&
                                    names->front().is_string()) {
    s.name = names->front().get<std::string>();
    if (!s.name.empty() && s.name.front() == '/') s.name.erase(0, 1);
  }
  s.image = json_value_or<std::string>(j, "Image", "");
  s.image_id = json_value_or<std::string>(j, "ImageID", "");
  s.state = json_value_or<std::string>(j, "State", "");
  s.status = json_value_or<std::string>(j, "Status", "");
  s.created = json_value_or<std::int64_t>(j, "Created", 0);
  if (auto labels = j.find("Labels"); labels != j.end() && labels->is_object()) {
    for (auto it = labels->begin(); it != labels->end(); ++it) {
      if (it.value().is_string()) s.labels[it.key()] = it.value().get<std::string>();
    }
  }
  return s;
}

std::string label_filters_query(const std::vector<std::string>& label_filters) {
  Json f = {{"label", label_filters}};
  return url_encode(f.dump());
}

std::unique_ptr<DockerClient> make_engine_client(const std::string& socket_path,
                                                 std::chrono::milliseconds request_timeout) {
  return std::make_unique<EngineClient>(socket_path, request_timeout);
}

}  // namespace kontena::agent::docker
