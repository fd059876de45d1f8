// bench_agents: N simulated agents against a real kontena-server. Each speaks the agent protocol
// (src/protocol/agent_protocol.h) over its own WebSocket on loopback: grid-token handshake with a
// unique node id and name, /nodes/update right after open, answers to the master's RPC requests,
// automatic pongs. Measures how long all N take to come online, the master's memory per connected
// node, WebSocket ping round trips and the master's CPU while all N are connected, and the same
// figures against a trivial in-process Beast WebSocket server as a baseline. See bench/README.md.
#include "common/asio.h"

#include <boost/beast/websocket.hpp>

#include "bench_common.h"
#include "protocol/agent_protocol.h"
#include "protocol/rpc.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <deque>
#include <functional>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#ifndef KONTENA_SERVER_DEFAULT
#define KONTENA_SERVER_DEFAULT ""
#endif

namespace {

using namespace kontena;
using namespace kontena::bench;
namespace websocket = beast::websocket;
namespace proto = kontena::protocol;
using Json = nlohmann::json;
using WsStream = websocket::stream<beast::tcp_stream>;

// Beast 1.74 takes boost::string_view.
beast::string_view bsv(std::string_view s) { return {s.data(), s.size()}; }

int64_t ns_since(Clock::time_point epoch, Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t - epoch).count();
}

// UTC wall clock: "%F %T.%3NZ" (Kontena-Connected-At) or RFC 3339 with milliseconds.
std::string utc_now(bool rfc3339) {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, rfc3339 ? "%Y-%m-%dT%H:%M:%S" : "%Y-%m-%d %H:%M:%S", &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms % 1000));
  return out;
}

// A Docker Engine ID: 12 groups of 4 [A-Z0-9] separated by ':'. A random per-run prefix and the
// agent index in base 36 make it unique.
std::string node_id(const std::string& run_prefix, std::size_t index) {
  static const char* digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  std::string tail(16, '0');
  for (int i = 15; i >= 0 && index > 0; --i, index /= 36) tail[static_cast<std::size_t>(i)] = digits[index % 36];
  std::string raw = run_prefix.substr(0, 32) + tail;
  std::string out;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (i > 0 && i % 4 == 0) out += ':';
    out += raw[i];
  }
  return out;
}

std::string random_engine_chars(std::size_t n) {
  static const char* digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  std::random_device rd;
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += digits[rd() % 36];
  return out;
}

// The /nodes/update parameter: a `docker info` object as Docker 20.10 returns it, plus the
// fields the agent adds (agent_protocol.h). About 2.5 KB as JSON.
Json node_info(const std::string& id, const std::string& name, std::size_t index, const std::string& version) {
  const std::string ip = "10." + std::to_string(100 + (index >> 16) % 100) + "." + std::to_string((index >> 8) & 0xff) +
                         "." + std::to_string(index & 0xff);
  return Json{
      {"ID", id},
      {"Containers", 4},
      {"ContainersRunning", 3},
      {"ContainersPaused", 0},
      {"ContainersStopped", 1},
      {"Images", 7},
      {"Driver", "overlay2"},
      {"DriverStatus", Json::array({Json::array({"Backing Filesystem", "extfs"}), Json::array({"Supports d_type", "true"}),
                                    Json::array({"Native Overlay Diff", "true"}), Json::array({"userxattr", "false"})})},
      {"Plugins",
       {{"Volume", Json::array({"local"})},
        {"Network", Json::array({"bridge", "host", "ipvlan", "macvlan", "null", "overlay"})},
        {"Authorization", nullptr},
        {"Log", Json::array({"awslogs", "fluentd", "gcplogs", "gelf", "journald", "json-file", "local", "logentries",
                             "splunk", "syslog"})}}},
      {"MemoryLimit", true},
      {"SwapLimit", false},
      {"KernelMemory", true},
      {"KernelMemoryTCP", true},
      {"CpuCfsPeriod", true},
      {"CpuCfsQuota", true},
      {"CPUShares", true},
      {"CPUSet", true},
      {"PidsLimit", true},
      {"IPv4Forwarding", true},
      {"BridgeNfIptables", true},
      {"BridgeNfIp6tables", true},
      {"Debug", false},
      {"NFd", 38},
      {"OomKillDisable", true},
      {"NGoroutines", 47},
      {"SystemTime", utc_now(true)},
      {"LoggingDriver", "json-file"},
      {"CgroupDriver", "systemd"},
      {"CgroupVersion", "2"},
      {"NEventsListener", 1},
      {"KernelVersion", "6.1.0-27-amd64"},
      {"OperatingSystem", "Debian GNU/Linux 12 (bookworm)"},
      {"OSVersion", "12"},
      {"OSType", "linux"},
      {"Architecture", "x86_64"},
      {"IndexServerAddress", "https://index.docker.io/v1/"},
      {"RegistryConfig",
       {{"AllowNondistributableArtifactsCIDRs", Json::array()},
        {"AllowNondistributableArtifactsHostnames", Json::array()},
        {"InsecureRegistryCIDRs", Json::array({"127.0.0.0/8"})},
        {"IndexConfigs",
         {{"docker.io", {{"Name", "docker.io"}, {"Mirrors", Json::array()}, {"Secure", true}, {"Official", true}}}}},
        {"Mirrors", Json::array()}}},
      {"NCPU", 2},
      {"MemTotal", 25275658240LL},
      {"GenericResources", nullptr},
      {"DockerRootDir", "/var/lib/docker"},
      {"HttpProxy", ""},
      {"HttpsProxy", ""},
      {"NoProxy", ""},
      {"Name", name},
      {"ExperimentalBuild", false},
      {"ServerVersion", "20.10.24+dfsg1"},
      {"Runtimes", {{"io.containerd.runc.v2", {{"path", "runc"}}}, {"runc", {{"path", "runc"}}}}},
      {"DefaultRuntime", "runc"},
      {"Swarm",
       {{"NodeID", ""},
        {"NodeAddr", ""},
        {"LocalNodeState", "inactive"},
        {"ControlAvailable", false},
        {"Error", ""},
        {"RemoteManagers", nullptr}}},
      {"LiveRestoreEnabled", false},
      {"Isolation", ""},
      {"InitBinary", "docker-init"},
      {"ContainerdCommit", {{"ID", "1.6.20~ds1-1+b1"}, {"Expected", "1.6.20~ds1-1+b1"}}},
      {"RuncCommit", {{"ID", "1.1.5+ds1-1+deb12u1"}, {"Expected", "1.1.5+ds1-1+deb12u1"}}},
      {"InitCommit", {{"ID", ""}, {"Expected", ""}}},
      {"SecurityOptions", Json::array({"name=apparmor", "name=seccomp,profile=default", "name=cgroupns"})},
      {"Warnings", Json::array()},
      {"PublicIp", ip},
      {"PrivateIp", ip},
      {"AgentVersion", version},
      {"Labels", Json::array({"bench=true", "region=bench-" + std::to_string(index % 4)})},
      {"Drivers", {{"Volume", Json::array({{{"name", "local"}}})}, {"Network", Json::array({{{"name", "bridge"}}})}}}};
}

// ---------------------------------------------------------------------------------------------
// the simulated agents

// Settings and progress counters shared by all worker threads.
struct Shared {
  tcp::endpoint endpoint;
  std::string host_header;
  std::string path = std::string(proto::kAgentPath);
  std::vector<std::string> grid_tokens;  // agent i joins grid i % size
  std::string version = KONTENA_VERSION;
  std::string id_prefix = random_engine_chars(32);
  std::string name_prefix = "bench-";
  Clock::time_point epoch = Clock::now();  // ping payloads carry nanoseconds since this
  int retries = 3;
  bool without_ips = false;  // leave PublicIp/PrivateIp out of /nodes/update

  std::atomic<bool> closing{false};
  std::atomic<uint64_t> open{0};      // connections open now
  std::atomic<uint64_t> answered{0};  // /nodes/update answered (ok or error), once per agent
  std::atomic<uint64_t> updated{0};   // ... with a result
  std::atomic<uint64_t> failed{0};    // gave up before /nodes/update was answered
  std::atomic<uint64_t> dropped{0};   // closed by the master or broken after /nodes/update
  std::atomic<uint64_t> finished{0};  // agents whose connection has ended for good
  std::atomic<uint64_t> retried{0};
};

class Agent;

// One thread, one io_context, many agents.
struct Worker {
  explicit Worker(Shared& s) : shared(s) {}
  Shared& shared;
  asio::io_context ioc{1};
  std::vector<std::shared_ptr<Agent>> agents;
  std::thread thread;
  pid_t tid = 0;

  // joining: at most `parallel` agents between connect and their /nodes/update answer
  std::size_t parallel = 0;  // 0: no limit
  std::size_t next_start = 0;
  std::size_t in_flight = 0;
  void start_more();

  // samples and counts, touched only on this thread
  std::vector<double> handshake_us, update_us, rtt_us;
  uint64_t pings_sent = 0, pongs = 0, ping_skipped = 0;
  uint64_t master_pings = 0, master_pings_steady = 0;
  bool steady = false;
  std::map<std::string, uint64_t> requests, notifications, errors, close_codes;
  std::string server_version, server_connected_at;

  // steady-phase ping scheduler: ping k is due at t0 + k / rate, sent to the next open agent
  asio::steady_timer ping_timer{ioc};
  bool pinging = false;
  double ping_rate = 0;
  Clock::time_point ping_t0;
  uint64_t ping_k = 0;
  std::size_t ping_rr = 0;
  void start_pings(double rate, Clock::time_point t0);
  void schedule_ping();
};

class Agent : public std::enable_shared_from_this<Agent> {
 public:
  Agent(Worker& w, std::size_t index)
      : w_(w), s_(w.shared), index_(index), retry_timer_(w.ioc) {
    node_id_ = node_id(s_.id_prefix, index);
    char name[32];
    std::snprintf(name, sizeof name, "%05zu", index + 1);
    node_name_ = s_.name_prefix + name;
  }

  void connect() {
    state_ = State::connecting;
    ++attempts_;
    ws_.emplace(w_.ioc);
    buf_.clear();
    out_.clear();
    res_ = {};
    t_connect_ = Clock::now();
    beast::get_lowest_layer(*ws_).expires_after(std::chrono::seconds(30));
    beast::get_lowest_layer(*ws_).async_connect(
        s_.endpoint, [self = shared_from_this()](beast::error_code ec) { self->on_connect(ec); });
  }

  // Queues a WebSocket ping whose payload is its due time; false if not open.
  bool send_ping(int64_t due_ns) {
    if (state_ != State::open) return false;
    send(Out{Out::ping, "k" + std::to_string(due_ns)});
    return true;
  }

  void close() {
    switch (state_) {
      case State::idle:
        state_ = State::done;
        ++s_.finished;
        break;
      case State::retry_wait:
        retry_timer_.cancel();
        break;
      case State::connecting: {
        beast::error_code ec;
        beast::get_lowest_layer(*ws_).socket().close(ec);
        break;
      }
      case State::open:
        state_ = State::closing;
        send(Out{Out::close, {}});
        break;
      default:
        break;
    }
  }

  bool is_open() const { return state_ == State::open; }

  // the master's WebSocket pings to this agent
  uint64_t master_pings = 0;
  Clock::time_point opened_at, ended_at, first_master_ping, last_master_ping;

 private:
  enum class State { idle, connecting, retry_wait, open, closing, ending, done };
  struct Out {
    enum Kind { text, ping, close } kind;
    std::string data;
  };

  void on_connect(beast::error_code ec) {
    if (ec) return end_attempt("connect: " + ec.message());
    auto& tcp_stream = beast::get_lowest_layer(*ws_);
    tcp_stream.expires_never();
    beast::error_code ignored;
    tcp_stream.socket().set_option(tcp::no_delay(true), ignored);
    websocket::stream_base::timeout timeout{};
    timeout.handshake_timeout = std::chrono::seconds(30);
    timeout.idle_timeout = websocket::stream_base::none();
    timeout.keep_alive_pings = false;
    ws_->set_option(timeout);
    // Connected-At is taken when the upgrade request is written.
    ws_->set_option(websocket::stream_base::decorator([this](websocket::request_type& req) {
      req.set(http::field::user_agent, "kontena-bench-agent");
      req.set(bsv(proto::kHeaderGridToken), s_.grid_tokens[index_ % s_.grid_tokens.size()]);
      req.set(bsv(proto::kHeaderNodeId), node_id_);
      req.set(bsv(proto::kHeaderNodeName), node_name_);
      req.set(bsv(proto::kHeaderVersion), s_.version);
      req.set(bsv(proto::kHeaderNodeLabels), "bench=true");
      req.set(bsv(proto::kHeaderConnectedAt), utc_now(false));
    }));
    ws_->control_callback([this](websocket::frame_type kind, beast::string_view payload) {
      on_control(kind, payload);
    });
    ws_->async_handshake(res_, s_.host_header, s_.path,
                         [self = shared_from_this()](beast::error_code ec) { self->on_handshake(ec); });
  }

  void on_handshake(beast::error_code ec) {
    if (ec) {
      if (ec == websocket::error::upgrade_declined) {
        std::string body = res_.body().substr(0, 120);
        return end_attempt("handshake declined: HTTP " + std::to_string(res_.result_int()) + " " + body);
      }
      return end_attempt("handshake: " + ec.message());
    }
    if (s_.closing) {  // the close phase began while we were connecting
      state_ = State::open;
      ++s_.open;
      reading_ = true;
      read();
      close();
      return;
    }
    state_ = State::open;
    opened_at = Clock::now();
    ++s_.open;
    w_.handshake_us.push_back(std::chrono::duration<double, std::micro>(opened_at - t_connect_).count());
    if (w_.server_version.empty()) {
      w_.server_version = std::string(res_[bsv(proto::kHeaderVersion)]);
      w_.server_connected_at = std::string(res_[bsv(proto::kHeaderConnectedAt)]);
    }
    reading_ = true;
    read();
    // /nodes/update right after open, as the agent does.
    update_id_ = static_cast<int64_t>(1 + (index_ * 7919 + static_cast<std::size_t>(attempts_)) % 2147483647);
    proto::RpcRequest req;
    req.id = update_id_;
    req.method = std::string(proto::kMethodNodesUpdate);
    Json info = node_info(node_id_, node_name_, index_, s_.version);
    if (s_.without_ips) {
      info.erase("PublicIp");
      info.erase("PrivateIp");
    }
    req.params = Json::array({std::move(info)});
    t_update_sent_ = Clock::now();
    send(Out{Out::text, proto::encode(req)});
  }

  void read() {
    ws_->async_read(buf_, [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) {
      reading_ = false;
      if (state_ == State::open) {
        state_ = State::ending;
        if (ec == websocket::error::closed) {
          auto reason = ws_->reason();
          std::string what = "closed by the server, code " + std::to_string(reason.code);
          if (!reason.reason.empty()) what += " (" + std::string(reason.reason.data(), reason.reason.size()) + ")";
          end_reason_ = what;
          ++w_.close_codes[std::to_string(reason.code)];
        } else {
          end_reason_ = "read: " + ec.message();
        }
        if (writing_) beast::get_lowest_layer(*ws_).cancel();
      }
      maybe_finish();
      return;
    }
    auto data = buf_.cdata();
    handle(std::string_view(static_cast<const char*>(data.data()), data.size()));
    buf_.consume(buf_.size());
    if (state_ == State::open || state_ == State::closing) {
      read();
    } else {
      reading_ = false;
      maybe_finish();
    }
  }

  void handle(std::string_view text) {
    proto::RpcMessage msg;
    try {
      msg = proto::parse_rpc(text);
    } catch (const std::exception& e) {
      ++w_.errors["unparseable frame from the server: " + std::string(e.what()).substr(0, 100)];
      return;
    }
    if (auto* res = std::get_if<proto::RpcResponse>(&msg)) {
      if (res->id != update_id_ || answered_) {
        ++w_.errors["response to an unknown request id"];
        return;
      }
      answered_ = true;
      ++s_.answered;
      if (res->ok()) {
        ++s_.updated;
        w_.update_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t_update_sent_).count());
      } else {
        ++w_.errors["/nodes/update error: " + res->error.dump().substr(0, 100)];
      }
      --w_.in_flight;
      w_.start_more();
    } else if (auto* req = std::get_if<proto::RpcRequest>(&msg)) {
      ++w_.requests[req->method];
      if (state_ != State::open) return;
      proto::RpcResponse answer = req->method == proto::kMethodAgentPing
                                      ? proto::rpc_result(req->id, Json{{"time", utc_now(true)}})
                                      : proto::rpc_error(req->id, 501, "not implemented by the benchmark agent");
      send(Out{Out::text, proto::encode(answer)});
    } else if (auto* note = std::get_if<proto::RpcNotification>(&msg)) {
      ++w_.notifications[note->method];
    }
  }

  void on_control(websocket::frame_type kind, beast::string_view payload) {
    auto now = Clock::now();
    if (kind == websocket::frame_type::ping) {
      ++w_.master_pings;
      if (w_.steady) ++w_.master_pings_steady;
      if (master_pings++ == 0) first_master_ping = now;
      last_master_ping = now;
    } else if (kind == websocket::frame_type::pong && payload.size() > 1 && payload[0] == 'k') {
      int64_t due = std::stoll(std::string(payload.substr(1)));
      w_.rtt_us.push_back(static_cast<double>(ns_since(s_.epoch, now) - due) / 1000.0);
      ++w_.pongs;
    }
  }

  void send(Out out) {
    out_.push_back(std::move(out));
    if (!writing_) write_next();
  }

  void write_next() {
    writing_ = true;
    Out& o = out_.front();
    auto done = [self = shared_from_this()](beast::error_code ec, std::size_t = 0) { self->on_written(ec); };
    switch (o.kind) {
      case Out::text:
        ws_->text(true);
        ws_->async_write(asio::buffer(o.data), done);
        break;
      case Out::ping:
        ws_->async_ping(websocket::ping_data(o.data.data(), o.data.size()), done);
        break;
      case Out::close:
        ws_->async_close(websocket::close_code::normal, done);
        break;
    }
  }

  void on_written(beast::error_code ec) {
    bool was_close = !out_.empty() && out_.front().kind == Out::close;
    if (!out_.empty()) out_.pop_front();
    if (ec || was_close) {
      writing_ = false;
      out_.clear();
      if (ec && state_ == State::open) {
        state_ = State::ending;
        end_reason_ = "write: " + ec.message();
        if (reading_) beast::get_lowest_layer(*ws_).cancel();
      }
      if (was_close && reading_) beast::get_lowest_layer(*ws_).cancel();
      maybe_finish();
      return;
    }
    if (!out_.empty() && (state_ == State::open || state_ == State::closing)) {
      write_next();
    } else {
      writing_ = false;
      if (state_ != State::open && state_ != State::closing) maybe_finish();
    }
  }

  // After the connection ended (read loop and writes done): our own close, a retry, or a drop.
  void maybe_finish() {
    if (reading_ || writing_) return;
    if (state_ == State::closing) {
      --s_.open;
      state_ = State::done;
      ended_at = Clock::now();
      ++s_.finished;
      return;
    }
    if (state_ != State::ending) return;
    --s_.open;
    ended_at = Clock::now();
    if (!answered_) return end_attempt(end_reason_);
    ++s_.dropped;
    ++w_.errors["dropped after /nodes/update: " + end_reason_];
    state_ = State::done;
    ++s_.finished;
  }

  // A connection attempt that ended before /nodes/update was answered: retry with backoff (as the
  // agent does), or give up.
  void end_attempt(const std::string& why) {
    ++w_.errors[s_.closing ? "still joining when the close phase began" : why];
    if (attempts_ <= s_.retries && !s_.closing) {
      ++s_.retried;
      state_ = State::retry_wait;
      std::mt19937 rng(static_cast<unsigned>(index_ * 31 + static_cast<std::size_t>(attempts_)));
      auto delay = std::chrono::milliseconds(500 * attempts_ + static_cast<int>(rng() % 500));
      retry_timer_.expires_after(delay);
      retry_timer_.async_wait([self = shared_from_this()](beast::error_code) {
        if (self->s_.closing) return self->give_up();
        self->connect();
      });
      return;
    }
    give_up();
  }

  void give_up() {
    state_ = State::done;
    ++s_.failed;
    ++s_.finished;
    --w_.in_flight;
    w_.start_more();
  }

  Worker& w_;
  Shared& s_;
  std::size_t index_;
  std::string node_id_, node_name_;
  std::optional<WsStream> ws_;
  websocket::response_type res_;
  beast::flat_buffer buf_;
  std::deque<Out> out_;
  bool writing_ = false, reading_ = false;
  State state_ = State::idle;
  int attempts_ = 0;
  asio::steady_timer retry_timer_;
  Clock::time_point t_connect_, t_update_sent_;
  int64_t update_id_ = 0;
  bool answered_ = false;
  std::string end_reason_;
};

void Worker::start_more() {
  while (!shared.closing && (parallel == 0 || in_flight < parallel) && next_start < agents.size()) {
    ++in_flight;
    agents[next_start++]->connect();
  }
}

void Worker::start_pings(double rate, Clock::time_point t0) {
  pinging = true;
  ping_rate = rate;
  ping_t0 = t0;
  ping_k = 0;
  schedule_ping();
}

void Worker::schedule_ping() {
  auto due = ping_t0 + std::chrono::nanoseconds(static_cast<int64_t>(static_cast<double>(ping_k) * 1e9 / ping_rate));
  ping_timer.expires_at(due);
  ping_timer.async_wait([this](beast::error_code ec) {
    if (ec || !pinging) return;
    auto now = Clock::now();
    for (;;) {
      auto due_k =
          ping_t0 + std::chrono::nanoseconds(static_cast<int64_t>(static_cast<double>(ping_k) * 1e9 / ping_rate));
      if (due_k > now) break;
      bool sent = false;
      for (std::size_t tries = 0; tries < agents.size() && !sent; ++tries) {
        auto& a = agents[ping_rr++ % agents.size()];
        sent = a->send_ping(ns_since(shared.epoch, due_k));
      }
      if (sent) ++pings_sent; else ++ping_skipped;
      ++ping_k;
    }
    schedule_ping();
  });
}

// Runs f(worker) on each worker's thread, one worker after the other (so f may update the
// caller's variables), and waits.
void on_each_worker(std::vector<std::unique_ptr<Worker>>& workers, const std::function<void(Worker&)>& f) {
  for (auto& w : workers) {
    std::promise<void> done;
    asio::post(w->ioc, [&done, &f, wp = w.get()] {
      f(*wp);
      done.set_value();
    });
    done.get_future().wait();
  }
}

// ---------------------------------------------------------------------------------------------
// the baseline: a trivial WebSocket server in this process (one thread) that answers every RPC
// request with an empty result and lets Beast answer pings

class BaselineSession : public std::enable_shared_from_this<BaselineSession> {
 public:
  explicit BaselineSession(tcp::socket socket) : ws_(std::move(socket)) {}
  void run() {
    websocket::stream_base::timeout timeout{};
    timeout.handshake_timeout = std::chrono::seconds(30);
    timeout.idle_timeout = websocket::stream_base::none();
    timeout.keep_alive_pings = false;
    ws_.set_option(timeout);
    ws_.async_accept([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->read();
    });
  }

 private:
  void read() {
    ws_.async_read(buf_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return;
      auto data = self->buf_.cdata();
      std::string_view text(static_cast<const char*>(data.data()), data.size());
      try {
        auto msg = proto::parse_rpc(text);
        if (auto* req = std::get_if<proto::RpcRequest>(&msg)) self->send(proto::encode(proto::rpc_result(req->id, Json::object())));
      } catch (const std::exception&) {
      }
      self->buf_.consume(self->buf_.size());
      self->read();
    });
  }
  void send(std::string text) {
    out_.push_back(std::move(text));
    if (!writing_) write_next();
  }
  void write_next() {
    writing_ = true;
    ws_.text(true);
    ws_.async_write(asio::buffer(out_.front()), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->out_.pop_front();
      if (ec || self->out_.empty()) {
        self->writing_ = false;
        return;
      }
      self->write_next();
    });
  }
  WsStream ws_;
  beast::flat_buffer buf_;
  std::deque<std::string> out_;
  bool writing_ = false;
};

class BaselineServer {
 public:
  BaselineServer() : acceptor_(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    port = acceptor_.local_endpoint().port();
    accept();
    std::promise<pid_t> tid;
    auto f = tid.get_future();
    thread_ = std::thread([this, &tid] {
      tid.set_value(gettid());
      ioc_.run();
    });
    this->tid = f.get();
  }
  ~BaselineServer() {
    ioc_.stop();
    if (thread_.joinable()) thread_.join();
  }
  unsigned short port = 0;
  pid_t tid = 0;

 private:
  void accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec) return;
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      std::make_shared<BaselineSession>(std::move(socket))->run();
      accept();
    });
  }
  asio::io_context ioc_{1};
  tcp::acceptor acceptor_;
  std::thread thread_;
};

// ---------------------------------------------------------------------------------------------
// one run: connect N agents, hold them while pinging, close them

struct Options {
  std::size_t agents = 2000;
  double duration = 30;
  double ping_rate = 200;
  unsigned threads = 1;
  std::size_t parallel = 100;
  int retries = 3;
  double connect_timeout = 120;
  double settle = 2;
  double poll_interval = 0.5;
  bool without_ips = false;
};

// The master's REST API, to watch the grid's nodes.
struct Api {
  std::string host;
  unsigned short port = 0;
  std::string token;
  std::vector<std::string> grids;
};

struct NodeCounts {
  std::size_t total = 0, online = 0;
  double request_ms = 0;
  bool ok = false;
};

// GET /v1/grids/:grid/nodes of every grid; request_ms is the slowest of them.
NodeCounts poll_nodes(const Api& api) {
  NodeCounts c;
  try {
    for (const auto& grid : api.grids) {
      auto t = Clock::now();
      auto res = sync_request(api.host, api.port,
                              make_request(http::verb::get, "/v1/grids/" + grid + "/nodes", api.host, api.port, api.token),
                              std::chrono::seconds(30));
      c.request_ms = std::max(c.request_ms, seconds_between(t, Clock::now()) * 1000);
      if (res.result_int() != 200) return c;
      auto body = Json::parse(res.body());
      for (auto& n : body.at("nodes")) {
        ++c.total;
        if (n.value("status", "") == "online") ++c.online;
      }
    }
    c.ok = true;
  } catch (const std::exception&) {
  }
  return c;
}

struct RunResult {
  std::size_t agents = 0;
  double t_open_all = -1, t_answered_all = -1, t_api_online = -1, t_closed_all = -1, t_api_offline = -1;
  uint64_t open_at_rss = 0, open_max = 0, updated = 0, answered = 0, failed = 0, dropped = 0, retried = 0, dropped_steady = 0;
  std::size_t api_online = 0, api_total = 0, api_polls = 0;
  double api_poll_ms_max = 0;
  Percentiles handshake, update_rtt, rtt;
  uint64_t pings_sent = 0, pongs = 0, ping_skipped = 0;
  double steady_seconds = 0;
  double server_cpu = -1;  // seconds, steady phase
  double self_cpu = 0;
  uint64_t master_pings = 0, master_pings_steady = 0;
  double master_ping_interval = -1;   // median per-agent interval (agents with >= 2 pings)
  double master_ping_every = -1;      // connected agent-seconds per master ping
  double master_first_ping = -1;      // median delay from open to the first master ping
  Memory server_connected, server_after;
  std::map<std::string, uint64_t> requests, notifications, errors, close_codes;
  std::string server_version, server_connected_at;
};

// Error kinds: digits replaced by '#', so that messages with times, ports and node numbers count
// as one kind.
std::string error_kind(const std::string& what) {
  std::string out;
  for (char c : what) {
    if (c >= '0' && c <= '9') {
      if (out.empty() || out.back() != '#') out += '#';
    } else {
      out += c;
    }
  }
  return out;
}

template <class T>
void merge_counts(std::map<std::string, T>& into, const std::map<std::string, T>& from) {
  for (auto& [k, v] : from) into[k] += v;
}

// Runs the three phases against `endpoint`. `server_pid` (> 0) gives the master's RSS and CPU;
// `server_cpu` is used instead when set (the baseline's thread); `api` polls the node list.
RunResult run_agents(const Options& opt, const tcp::endpoint& endpoint, const std::vector<std::string>& grid_tokens,
                     pid_t server_pid,
                     std::function<double()> server_cpu, const Api* api, const std::string& label) {
  RunResult r;
  r.agents = opt.agents;
  Shared shared;
  shared.endpoint = endpoint;
  shared.host_header = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  shared.grid_tokens = grid_tokens;
  shared.retries = opt.retries;
  shared.without_ips = opt.without_ips;
  if (!server_cpu && server_pid > 0) server_cpu = [server_pid] { return cpu_seconds(server_pid); };

  std::vector<std::unique_ptr<Worker>> workers;
  for (unsigned t = 0; t < opt.threads; ++t) {
    workers.push_back(std::make_unique<Worker>(shared));
    workers.back()->parallel = opt.parallel == 0 ? 0 : std::max<std::size_t>(1, opt.parallel / opt.threads);
  }
  for (std::size_t i = 0; i < opt.agents; ++i) {
    auto& w = *workers[i % workers.size()];
    w.agents.push_back(std::make_shared<Agent>(w, i));
  }
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (auto& w : workers) {
    guards.push_back(asio::make_work_guard(w->ioc));
    std::promise<pid_t> tid;
    auto f = tid.get_future();
    w->thread = std::thread([wp = w.get(), &tid] {
      tid.set_value(gettid());
      wp->ioc.run();
    });
    w->tid = f.get();
  }

  // ---- phase 1: connect, /nodes/update, wait until the master's API shows all online
  std::cout << label << ": connecting " << opt.agents << " agents ("
            << (opt.parallel == 0 ? std::string("all at once") : std::to_string(opt.parallel) + " joining at a time")
            << ", " << opt.threads << " thread" << (opt.threads > 1 ? "s" : "") << ")\n"
            << std::flush;
  const auto t0 = Clock::now();
  for (auto& w : workers) asio::post(w->ioc, [wp = w.get()] { wp->start_more(); });
  const auto connect_deadline = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.connect_timeout));
  // The API poller has its own thread: a slow poll must not delay the other measurements.
  struct PollState {
    std::mutex mu;
    std::size_t online = 0, total = 0, polls = 0;
    double slowest_ms = 0, t_all_online = -1;
    bool stop = false;
  } poll;
  std::thread poller;
  if (api) {
    poller = std::thread([&] {
      for (;;) {
        {
          std::lock_guard lock(poll.mu);
          if (poll.stop) return;
        }
        auto c = poll_nodes(*api);
        auto done = Clock::now();
        {
          std::lock_guard lock(poll.mu);
          ++poll.polls;
          poll.slowest_ms = std::max(poll.slowest_ms, c.request_ms);
          if (c.ok) {
            poll.online = c.online;
            poll.total = c.total;
            if (c.online >= opt.agents) {
              poll.t_all_online = seconds_between(t0, done);
              return;
            }
          }
        }
        std::this_thread::sleep_for(std::chrono::duration<double>(opt.poll_interval));
      }
    });
  }
  auto next_progress = t0 + std::chrono::seconds(5);
  bool answered_all = false;
  while (Clock::now() < connect_deadline) {
    auto now = Clock::now();
    r.open_max = std::max<uint64_t>(r.open_max, shared.open);
    // The times count only when no agent gave up; the wait ends either way.
    if (r.t_open_all < 0 && shared.open >= opt.agents) r.t_open_all = seconds_between(t0, now);
    if (!answered_all && shared.answered + shared.failed >= opt.agents) {
      answered_all = true;
      if (shared.failed == 0) r.t_answered_all = seconds_between(t0, now);
      if (r.t_open_all < 0 && shared.failed == 0) r.t_open_all = r.t_answered_all;
    }
    std::size_t api_online = 0, api_total = 0;
    bool api_done = true;
    if (api) {
      std::lock_guard lock(poll.mu);
      api_online = poll.online;
      api_total = poll.total;
      api_done = poll.t_all_online >= 0 || poll.online + shared.failed >= opt.agents;
    }
    if (answered_all && api_done) break;
    if (now >= next_progress) {
      std::cout << "  " << fmt("%.0f", seconds_between(t0, now)) << " s: open " << shared.open << ", /nodes/update answered "
                << shared.answered << ", failed " << shared.failed << ", retries " << shared.retried;
      if (api) std::cout << ", API online " << api_online << "/" << api_total;
      std::cout << "\n" << std::flush;
      next_progress = now + std::chrono::seconds(5);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (api) {
    {
      std::lock_guard lock(poll.mu);
      poll.stop = true;
    }
    poller.join();
    r.api_online = poll.online;
    r.api_total = poll.total;
    r.api_polls = poll.polls;
    r.api_poll_ms_max = poll.slowest_ms;
    r.t_api_online = poll.t_all_online;
  }
  r.failed = shared.failed;
  r.retried = shared.retried;
  r.answered = shared.answered;
  r.updated = shared.updated;

  // ---- phase 2: all connected; memory, then pings at a steady rate
  std::this_thread::sleep_for(std::chrono::duration<double>(opt.settle));
  if (server_pid > 0) r.server_connected = read_memory(server_pid);
  r.open_at_rss = shared.open;
  uint64_t dropped_before = shared.dropped;
  on_each_worker(workers, [](Worker& w) { w.steady = true; });
  double cpu0 = server_cpu ? server_cpu() : -1;
  double self0 = cpu_seconds(getpid());
  auto ts0 = Clock::now();
  const auto ping_t0 = ts0 + std::chrono::milliseconds(10);
  for (auto& w : workers)
    asio::post(w->ioc, [wp = w.get(), rate = opt.ping_rate / opt.threads, ping_t0] { wp->start_pings(rate, ping_t0); });
  std::this_thread::sleep_for(std::chrono::duration<double>(opt.duration));
  on_each_worker(workers, [](Worker& w) {
    w.pinging = false;
    w.steady = false;
    w.ping_timer.cancel();
  });
  auto ts1 = Clock::now();
  if (server_cpu) r.server_cpu = server_cpu() - cpu0;
  r.self_cpu = cpu_seconds(getpid()) - self0;
  r.steady_seconds = seconds_between(ts0, ts1);
  r.dropped_steady = shared.dropped - dropped_before;
  // late pongs: wait up to 5 s for the last ones
  for (int i = 0; i < 500; ++i) {
    uint64_t sent = 0, got = 0;
    on_each_worker(workers, [&](Worker& w) {
      sent += w.pings_sent;
      got += w.pongs;
    });
    if (got >= sent) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (server_pid > 0) r.server_after = read_memory(server_pid);

  // ---- phase 3: close every connection; the master should mark the nodes offline
  auto tc0 = Clock::now();
  shared.closing = true;
  on_each_worker(workers, [](Worker& w) {
    for (auto& a : w.agents) a->close();
  });
  while (shared.finished < opt.agents && Clock::now() - tc0 < std::chrono::seconds(20))
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (shared.finished >= opt.agents) r.t_closed_all = seconds_between(tc0, Clock::now());
  if (api) {
    while (Clock::now() - tc0 < std::chrono::seconds(30)) {
      auto c = poll_nodes(*api);
      if (c.ok && c.online == 0) {
        r.t_api_offline = seconds_between(tc0, Clock::now());
        break;
      }
      std::this_thread::sleep_for(std::chrono::duration<double>(opt.poll_interval));
    }
  }

  // ---- gather
  std::vector<double> handshake, update, rtt, intervals, first_pings;
  double connected_seconds = 0;
  uint64_t agent_pings = 0;
  on_each_worker(workers, [&](Worker& w) {
    handshake.insert(handshake.end(), w.handshake_us.begin(), w.handshake_us.end());
    update.insert(update.end(), w.update_us.begin(), w.update_us.end());
    rtt.insert(rtt.end(), w.rtt_us.begin(), w.rtt_us.end());
    r.pings_sent += w.pings_sent;
    r.pongs += w.pongs;
    r.ping_skipped += w.ping_skipped;
    r.master_pings += w.master_pings;
    r.master_pings_steady += w.master_pings_steady;
    merge_counts(r.requests, w.requests);
    merge_counts(r.notifications, w.notifications);
    for (auto& [k, v] : w.errors) r.errors[error_kind(k)] += v;
    merge_counts(r.close_codes, w.close_codes);
    if (r.server_version.empty()) {
      r.server_version = w.server_version;
      r.server_connected_at = w.server_connected_at;
    }
    for (auto& a : w.agents) {
      if (a->opened_at == Clock::time_point{}) continue;
      auto end = a->ended_at == Clock::time_point{} ? tc0 : std::min(a->ended_at, tc0);
      connected_seconds += std::max(0.0, seconds_between(a->opened_at, end));
      agent_pings += a->master_pings;
      if (a->master_pings >= 1) first_pings.push_back(seconds_between(a->opened_at, a->first_master_ping));
      if (a->master_pings >= 2)
        intervals.push_back(seconds_between(a->first_master_ping, a->last_master_ping) /
                            static_cast<double>(a->master_pings - 1));
    }
  });
  r.dropped = shared.dropped;
  r.handshake = percentiles(handshake);
  r.update_rtt = percentiles(update);
  r.rtt = percentiles(rtt);
  if (agent_pings > 0) r.master_ping_every = connected_seconds / static_cast<double>(agent_pings);
  if (!intervals.empty()) {
    std::sort(intervals.begin(), intervals.end());
    r.master_ping_interval = intervals[intervals.size() / 2];
  }
  if (!first_pings.empty()) {
    std::sort(first_pings.begin(), first_pings.end());
    r.master_first_ping = first_pings[first_pings.size() / 2];
  }

  for (auto& g : guards) g.reset();
  for (auto& w : workers) w->ioc.stop();
  for (auto& w : workers) w->thread.join();
  return r;
}

std::string secs(double s) { return s < 0 ? std::string("n/a") : fmt("%.2f", s) + " s"; }

std::string ms(double v) { return fmt("%.3f", v) + " ms"; }

std::string ratio(double a, double b) { return (a < 0 || b <= 0) ? std::string("") : " (" + fmt("%.1f", a / b) + "x)"; }

void print_run(const RunResult& r, const Options& opt, bool master) {
  std::cout << "  connected: open " << r.open_max << " at most, /nodes/update answered " << r.answered << " (ok "
            << r.updated << "), failed " << r.failed << ", retries " << r.retried << "\n"
            << "  all " << r.agents << " open after " << secs(r.t_open_all) << "; all /nodes/update answered after "
            << secs(r.t_answered_all);
  if (master)
    std::cout << "; API showed " << r.api_online << "/" << r.api_total << " online, all online after "
              << secs(r.t_api_online) << " (" << r.api_polls << " polls, slowest " << fmt("%.0f", r.api_poll_ms_max)
              << " ms)";
  std::cout << "\n"
            << "  handshake (TCP connect to open): p50 " << ms(r.handshake.p50) << ", p99 " << ms(r.handshake.p99)
            << ", max " << ms(r.handshake.max) << "\n"
            << "  /nodes/update round trip: p50 " << ms(r.update_rtt.p50) << ", p99 " << ms(r.update_rtt.p99) << ", max "
            << ms(r.update_rtt.max) << "\n";
  if (master && r.server_connected.rss_mb >= 0)
    std::cout << "  master RSS with " << r.open_at_rss << " connected: " << fmt("%.1f", r.server_connected.rss_mb) << " MB (peak "
              << fmt("%.1f", r.server_connected.hwm_mb) << " MB); after the steady phase "
              << fmt("%.1f", r.server_after.rss_mb) << " MB (peak " << fmt("%.1f", r.server_after.hwm_mb) << " MB)\n";
  std::cout << "  steady phase " << fmt("%.1f", r.steady_seconds) << " s, WebSocket pings at "
            << fmt("%.0f", opt.ping_rate) << "/s spread over the agents: sent " << r.pings_sent << ", pongs " << r.pongs
            << ", skipped (no open agent) " << r.ping_skipped << "\n"
            << "  ping round trip (from the due time): p50 " << ms(r.rtt.p50) << ", p90 " << ms(r.rtt.p90) << ", p99 "
            << ms(r.rtt.p99) << ", max " << ms(r.rtt.max) << "\n";
  if (r.server_cpu >= 0)
    std::cout << "  " << (master ? "master" : "baseline server thread") << " CPU in the steady phase: "
              << fmt("%.2f", r.server_cpu) << " s (" << fmt("%.1f", r.server_cpu / r.steady_seconds * 100)
              << "% of one core); load generator " << fmt("%.2f", r.self_cpu) << " s\n";
  if (master) {
    std::cout << "  master's WebSocket pings: " << r.master_pings << " in all, " << r.master_pings_steady
              << " in the steady phase (" << fmt("%.1f", static_cast<double>(r.master_pings_steady) / r.steady_seconds)
              << "/s)";
    if (r.master_ping_every > 0) std::cout << "; one per " << fmt("%.1f", r.master_ping_every) << " s per agent on average";
    if (r.master_first_ping >= 0)
      std::cout << "; first one " << fmt("%.1f", r.master_first_ping) << " s after open (median)";
    if (r.master_ping_interval > 0)
      std::cout << "; median interval " << fmt("%.1f", r.master_ping_interval) << " s (agents with 2 or more)";
    std::cout << "\n";
    std::cout << "  from the master: requests";
    if (r.requests.empty()) std::cout << " none";
    for (auto& [k, v] : r.requests) std::cout << " " << k << " x" << v;
    std::cout << "; notifications";
    if (r.notifications.empty()) std::cout << " none";
    for (auto& [k, v] : r.notifications) std::cout << " " << k << " x" << v;
    std::cout << "\n";
    std::cout << "  handshake answer headers: " << proto::kHeaderVersion << "=" << r.server_version << ", "
              << proto::kHeaderConnectedAt << "=" << r.server_connected_at << "\n";
  }
  std::cout << "  close: all " << r.agents << " closed after " << secs(r.t_closed_all);
  if (master) std::cout << "; API showed none online after " << secs(r.t_api_offline);
  std::cout << "\n";
  if (r.dropped > 0 || !r.close_codes.empty()) {
    std::cout << "  dropped by the server: " << r.dropped << " (" << r.dropped_steady << " in the steady phase); close codes:";
    for (auto& [k, v] : r.close_codes) std::cout << " " << k << " x" << v;
    std::cout << "\n";
  }
  if (!r.errors.empty()) {
    std::cout << "  errors:\n";
    std::size_t shown = 0;
    for (auto& [k, v] : r.errors) {
      if (++shown > 10) {
        std::cout << "    ... " << r.errors.size() - 10 << " more kinds\n";
        break;
      }
      std::cout << "    " << v << " x " << k << "\n";
    }
  }
  std::cout << "\n" << std::flush;
}

struct Url {
  std::string host;
  unsigned short port = 0;
};

std::optional<Url> parse_url(std::string url) {
  for (const char* scheme : {"http://", "ws://"})
    if (url.rfind(scheme, 0) == 0) url = url.substr(std::string(scheme).size());
  if (url.find("://") != std::string::npos) return std::nullopt;
  while (!url.empty() && url.back() == '/') url.pop_back();
  auto colon = url.rfind(':');
  if (colon == std::string::npos) return Url{url, 80};
  try {
    return Url{url.substr(0, colon), static_cast<unsigned short>(std::stoi(url.substr(colon + 1)))};
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Simulates N Kontena agents (WebSocket, agent protocol) against a kontena-server over loopback."};
  Options opt;
  std::string server_bin, url, token;
  pid_t pid = -1;
  bool keep = false, no_baseline = false, print_update = false;
  double idle_wait = 2;
  std::size_t grid_size = 254;
  std::vector<std::string> server_args;
  app.add_option("--agents", opt.agents, "simulated agents (WebSocket connections)")->capture_default_str();
  app.add_option("--duration", opt.duration, "steady phase: seconds of pings with all agents connected")->capture_default_str();
  app.add_option("--ping-rate", opt.ping_rate, "steady phase: WebSocket pings per second, over all agents")->capture_default_str();
  app.add_option("--threads", opt.threads, "load generator threads (io_contexts)")->capture_default_str()->check(CLI::Range(1, 16));
  app.add_option("--parallel", opt.parallel, "agents joining at a time (connect .. /nodes/update answered); 0: all at once")
      ->capture_default_str();
  app.add_option("--retries", opt.retries, "reconnects of an agent whose join failed")->capture_default_str();
  app.add_option("--connect-timeout", opt.connect_timeout, "seconds to wait for all agents to be online")->capture_default_str();
  app.add_option("--poll-interval", opt.poll_interval, "seconds between polls of GET /v1/grids/:grid/nodes")->capture_default_str();
  app.add_option("--grid-size", grid_size, "agents per grid at most (a grid holds 254 nodes)")
      ->capture_default_str()
      ->check(CLI::Range(1, 254));
  app.add_option("--idle-wait", idle_wait, "seconds to let the master idle before reading its RSS")->capture_default_str();
  app.add_option("--server", server_bin, "kontena-server binary (default: the one of this build tree)");
  app.add_option("--server-arg", server_args, "extra argument for kontena-server (repeatable)");
  app.add_option("--url", url, "use a running master at http://HOST:PORT instead (needs --token)");
  app.add_option("--token", token, "with --url: an access token allowed to create a grid");
  app.add_option("--pid", pid, "with --url: the master's PID, for its memory and CPU figures");
  app.add_flag("--without-ips", opt.without_ips,
               "leave PublicIp and PrivateIp out of /nodes/update (the master then has no peer addresses to announce)");
  app.add_flag("--keep", keep, "keep the temporary directory (database, server log) and print its path");
  app.add_flag("--no-baseline", no_baseline, "skip the in-process baseline server run");
  app.add_flag("--print-update", print_update, "print one agent's /nodes/update frame and exit");
  CLI11_PARSE(app, argc, argv);
  if (print_update) {
    proto::RpcRequest req{1, std::string(proto::kMethodNodesUpdate),
                          Json::array({node_info(node_id(random_engine_chars(32), 0), "bench-00001", 0, KONTENA_VERSION)})};
    std::cout << proto::encode(req) << "\n";
    return 0;
  }
  if (opt.agents == 0 || opt.duration <= 0 || opt.ping_rate <= 0) {
    std::cerr << "bench_agents: --agents, --duration and --ping-rate must be positive\n";
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);

  // One socket per agent here, one per agent in the server (which inherits the limit).
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
  getrlimit(RLIMIT_NOFILE, &lim);
  std::size_t need = 2 * opt.agents + 100;
  std::cout << "bench_agents: " << opt.agents << " agents, " << std::thread::hardware_concurrency()
            << " cores, load average " << load_average() << ", open files limit " << lim.rlim_cur
            << (lim.rlim_cur < need ? " (TOO LOW for the baseline run: raise ulimit -n)" : "") << "\n";
  {
    auto sample = proto::RpcRequest{1, std::string(proto::kMethodNodesUpdate),
                                    Json::array({node_info(node_id("X", 0), "bench-00001", 0, KONTENA_VERSION)})};
    std::cout << "/nodes/update frame: " << proto::encode(sample).size() << " bytes; agent version "
              << KONTENA_VERSION << "\n\n";
  }

  // ---- baseline
  RunResult base;
  bool have_base = false;
  if (!no_baseline) {
    BaselineServer baseline;
    std::cout << "==== baseline: trivial Beast WebSocket server in this process (one thread), 127.0.0.1:" << baseline.port
              << " ====\n";
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), baseline.port);
    pid_t tid = baseline.tid;
    base = run_agents(opt, ep, {"baseline"}, -1, [tid] { return thread_cpu_seconds(tid); }, nullptr, "baseline");
    print_run(base, opt, false);
    have_base = true;
  }

  // ---- the master
  Server server;
  bool own_server = url.empty();
  std::string code;
  if (own_server) {
    if (server_bin.empty()) server_bin = default_server_path(argv[0], KONTENA_SERVER_DEFAULT).string();
    if (!fs::exists(server_bin)) {
      std::cerr << "bench_agents: no kontena-server at " << server_bin << " (build it, or pass --server PATH)\n";
      return 1;
    }
    code = random_hex(16);
    auto started = start_server(server_bin, code, server_args);
    if (!started) return 1;
    server = *started;
  } else {
    auto u = parse_url(url);
    if (!u || token.empty()) {
      std::cerr << "bench_agents: --url needs http://HOST:PORT and --token\n";
      return 2;
    }
    server.host = u->host;
    server.port = u->port;
    server.pid = pid;
  }
  auto give_up = [&](const std::string& why) {
    std::cerr << "bench_agents: " << why << "\n";
    if (own_server) {
      print_log_tail(server);
      stop_server(server, keep);
    }
    return 1;
  };
  auto t_start = Clock::now();
  if (!wait_for_ping(server, std::chrono::seconds(20)))
    return give_up("kontena-server did not answer GET /v1/ping within 20 s");
  std::cout << "==== kontena-server " << (own_server ? server_bin : url) << " on " << server.host << ":" << server.port;
  if (server.pid > 0) std::cout << " (PID " << server.pid << ")";
  std::cout << " ====\n";
  if (own_server)
    std::cout << "answered /v1/ping after " << fmt("%.0f", seconds_between(t_start, Clock::now()) * 1000) << " ms; "
              << (keep ? "kept" : "temporary") << " directory " << server.dir.string() << "\n";

  Api api{server.host, server.port, token, {}};
  std::vector<std::string> grid_tokens;
  try {
    if (own_server) {
      Json body = {{"grant_type", "authorization_code"}, {"code", code}, {"expires_in", 0}};
      auto res = sync_request(server.host, server.port,
                              make_request(http::verb::post, "/oauth2/token", server.host, server.port, {}, body.dump()));
      if (res.result_int() / 100 != 2)
        return give_up("POST /oauth2/token answered " + std::to_string(res.result_int()) + ": " + res.body());
      api.token = Json::parse(res.body()).at("access_token").get<std::string>();
    }
    // A grid holds at most 254 nodes (node numbers 1..254): ceil(N / --grid-size) grids.
    const std::size_t grids = (opt.agents + grid_size - 1) / grid_size;
    const std::string prefix = "bench-agents-" + random_hex(3) + "-";
    for (std::size_t g = 1; g <= grids; ++g) {
      api.grids.push_back(prefix + std::to_string(g));
      Json grid = {{"name", api.grids.back()}};
      auto res = sync_request(server.host, server.port,
                              make_request(http::verb::post, "/v1/grids", server.host, server.port, api.token, grid.dump()));
      if (res.result_int() != 201)
        return give_up("POST /v1/grids answered " + std::to_string(res.result_int()) + ": " + res.body());
      grid_tokens.push_back(Json::parse(res.body()).at("token").get<std::string>());
    }
  } catch (const std::exception& e) {
    return give_up(std::string("log in / grid create failed: ") + e.what());
  }

  std::this_thread::sleep_for(std::chrono::duration<double>(idle_wait));
  Memory idle;
  if (server.pid > 0) {
    idle = read_memory(server.pid);
    std::cout << "master RSS idle (" << api.grids.size() << " grids created: " << api.grids.front() << ".."
              << api.grids.size() << "): " << fmt("%.1f", idle.rss_mb) << " MB\n";
  }
  tcp::endpoint ep;
  try {
    ep = tcp::endpoint(asio::ip::make_address(server.host), server.port);
  } catch (const std::exception& e) {
    return give_up("--url host must be an IP address: " + std::string(e.what()));
  }
  std::cout << "agents spread round-robin over the " << grid_tokens.size() << " grids (up to " << grid_size
            << " nodes each)\n";
  RunResult m = run_agents(opt, ep, grid_tokens, server.pid, nullptr, &api, "master");
  print_run(m, opt, true);
  bool alive = server.pid <= 0 || !own_server || process_alive(server.pid);

  // ---- summary: name (36 columns), value (10), unit (6), target, verdict, details
  double per_node_kb = -1;
  if (idle.rss_mb >= 0 && m.server_connected.rss_mb >= 0)
    per_node_kb = (m.server_connected.rss_mb - idle.rss_mb) * 1024.0 / static_cast<double>(std::max<uint64_t>(1, m.open_at_rss));
  bool all_online = m.t_api_online >= 0 && m.failed == 0;
  auto line = [](const std::string& name, const char* f, double v, const std::string& unit) {
    char head[40];
    std::snprintf(head, sizeof head, "%-36s", name.c_str());
    char value[24];
    if (v < 0)
      std::snprintf(value, sizeof value, "%10s", "n/a");
    else
      std::snprintf(value, sizeof value, f, v);
    char tail[16];
    std::snprintf(tail, sizeof tail, " %-6s", unit.c_str());
    std::cout << head << value << tail;
  };
  std::cout << "==== summary: " << opt.agents << " agents (load average now " << load_average() << ") ====\n";
  line("time to all online: /nodes/update", "%10.2f", m.t_answered_all, "s");
  std::cout << "                          ";
  if (have_base) std::cout << "baseline " << secs(base.t_answered_all) << ratio(m.t_answered_all, base.t_answered_all);
  std::cout << "\n";
  line("time to all online: API", "%10.2f", m.t_api_online, "s");
  std::cout << "target < 30 s      " << pass(all_online && m.t_api_online < 30) << "\n";
  if (per_node_kb >= 0) {
    line("master RSS idle", "%10.1f", idle.rss_mb, "MB");
    std::cout << "\n";
    line("master RSS, " + std::to_string(m.open_at_rss) + " connected", "%10.1f", m.server_connected.rss_mb, "MB");
    std::cout << "\n";
    line("master RSS per connected node", "%10.1f", per_node_kb, "KB");
    std::cout << "target < 64 KB     " << pass(per_node_kb < 64) << "\n";
  }
  line("ping RTT p99 (" + fmt("%.0f", opt.ping_rate) + "/s, " + std::to_string(m.open_at_rss) + " open)", "%10.3f",
       m.rtt.count ? m.rtt.p99 : -1, "ms");
  std::cout << "target < 10 ms     " << pass(m.rtt.count > 0 && m.rtt.p99 < 10 && m.pongs >= m.pings_sent) << "  p50 "
            << fmt("%.3f", m.rtt.p50) << " ms, max " << fmt("%.3f", m.rtt.max) << " ms";
  if (have_base)
    std::cout << "; baseline p50 " << fmt("%.3f", base.rtt.p50) << " ms, p99 " << fmt("%.3f", base.rtt.p99) << " ms"
              << ratio(m.rtt.p99, base.rtt.p99);
  std::cout << "\n";
  if (m.server_cpu >= 0) {
    line("master CPU in the steady phase", "%10.2f", m.server_cpu, "s");
    std::cout << fmt("%.1f", m.server_cpu / m.steady_seconds * 100) << "% of one core over " << fmt("%.0f", m.steady_seconds)
              << " s";
    if (have_base && base.server_cpu >= 0) std::cout << "; baseline server " << fmt("%.2f", base.server_cpu) << " s";
    std::cout << "\n";
  }
  // The median interval needs agents that saw two pings; otherwise connected agent-seconds per
  // ping (too long when the run is not much longer than the master's ping interval).
  if (m.master_ping_interval > 0) {
    line("master ping interval, per agent", "%10.1f", m.master_ping_interval, "s");
    std::cout << "median over agents with 2 or more pings\n";
  } else if (m.master_first_ping >= 0) {
    line("master ping interval, per agent", "%10.1f", m.master_first_ping, "s");
    std::cout << "median delay from open to the first ping\n";
  } else {
    line("master ping interval, per agent", "%10.1f", m.master_ping_every, "s");
    std::cout << (m.master_ping_every < 0 ? "no master ping seen" : "upper bound: connected agent-seconds per ping") << "\n";
  }
  line("master pings in the steady phase", "%10.1f", static_cast<double>(m.master_pings_steady) / m.steady_seconds, "/s");
  std::cout << "\n";
  line("agents dropped / failed to join", "%10.0f", static_cast<double>(m.dropped), "");
  std::cout << "/ " << m.failed << "\n";
  if (!alive) {
    std::cout << "kontena-server died during the benchmark\n";
    server.pid = -1;
    print_log_tail(server);
  }
  if (own_server) {
    stop_server(server, keep);
    if (keep) std::cout << "kept " << server.dir.string() << " (master.db, server.log)\n";
  }
  return 0;
}
