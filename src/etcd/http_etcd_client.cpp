#include "etcd/http_etcd_client.h"

#include <atomic>
#include <exception>
#include <optional>

#include "common/asio.h"
#include "common/error.h"
#include "common/log.h"
#include "etcd/etcd_wire.h"

namespace kontena::etcd {

namespace {

using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using wire::Json;

// Larger than any answer the agent expects (a list of every IPAM address of a big grid).
constexpr std::size_t kMaxBody = 64u * 1024 * 1024;
// The resolver has no deadline of its own: the whole exchange is cut off this long after the
// deadline at the latest.
constexpr auto kResolveGrace = std::chrono::milliseconds(200);

struct Answer {
  int status = 0;
  std::string body;
};

// One exchange with one endpoint. The parameters live in the caller's frame, which outlives the
// io_context running this coroutine.
asio::awaitable<Answer> post(const wire::Endpoint& endpoint, const std::string& path, const std::string& body,
                             Clock::time_point deadline, bool first_line_only) {
  auto executor = co_await asio::this_coro::executor;
  beast::tcp_stream stream(executor);
  stream.expires_at(deadline);
  boost::system::error_code not_an_address;
  auto address = asio::ip::make_address(endpoint.host, not_an_address);
  if (!not_an_address) {
    const tcp::endpoint target(address, static_cast<unsigned short>(std::stoi(endpoint.port)));
    co_await stream.async_connect(target, asio::use_awaitable);
  } else {
    tcp::resolver resolver(executor);
    auto results = co_await resolver.async_resolve(endpoint.host, endpoint.port, asio::use_awaitable);
    co_await stream.async_connect(results, asio::use_awaitable);
  }

  http::request<http::string_body> request{http::verb::post, path, 11};
  request.set(http::field::host, endpoint.host + ":" + endpoint.port);
  request.set(http::field::content_type, "application/json");
  request.set(http::field::user_agent, std::string("kontena-agent/") + KONTENA_VERSION);
  request.keep_alive(false);
  request.body() = body;
  request.prepare_payload();
  co_await http::async_write(stream, request, asio::use_awaitable);

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxBody);
  co_await http::async_read_header(stream, buffer, parser, asio::use_awaitable);
  // Streamed answers (lease keepalive) stay open: one line is one message.
  while (!parser.is_done()) {
    if (first_line_only && parser.get().body().find('\n') != std::string::npos) break;
    co_await http::async_read_some(stream, buffer, parser, asio::use_awaitable);
  }
  Answer answer;
  answer.status = static_cast<int>(parser.get().result_int());
  answer.body = std::move(parser.get().body());
  if (first_line_only) {
    auto newline = answer.body.find('\n');
    if (newline != std::string::npos) answer.body.resize(newline);
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  co_return answer;
}

std::string describe(std::chrono::milliseconds duration) {
  if (duration.count() % 1000 == 0) return std::to_string(duration.count() / 1000) + " s";
  return std::to_string(duration.count()) + " ms";
}

// How one exchange ended: an answer, or why the endpoint could not give one.
struct Outcome {
  std::optional<Answer> answer;
  std::string failure;
};

std::string transport_failure(const std::exception_ptr& error, std::chrono::milliseconds budget) {
  try {
    std::rethrow_exception(error);
  } catch (const boost::system::system_error& e) {
    if (e.code() == beast::error::timeout) return "no answer within " + describe(budget);
    return e.code().message();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "unknown failure";
}

class HttpEtcdClient final : public EtcdClient {
 public:
  HttpEtcdClient(std::vector<std::string> urls, std::chrono::milliseconds timeout) : timeout_(timeout) {
    if (urls.empty()) fail(ErrorKind::invalid, "no etcd endpoint given (expected e.g. http://10.81.0.1:2379)");
    if (timeout.count() <= 0) fail(ErrorKind::invalid, "the etcd timeout must be positive");
    for (const auto& url : urls) endpoints_.push_back(wire::parse_endpoint(url));
  }

  std::optional<KeyValue> get(const std::string& key) override {
    check_key(key);
    const Json answer = call("/v3/kv/range", wire::range_request(key, false, 0, false));
    auto kvs = answer.find("kvs");
    if (kvs == answer.end() || !kvs->is_array() || kvs->empty()) return std::nullopt;
    return wire::parse_key_value(kvs->front());
  }

  std::vector<KeyValue> list(const std::string& prefix, std::int64_t limit) override {
    if (limit < 0) fail(ErrorKind::invalid, "an etcd list limit must not be negative");
    const Json answer = call("/v3/kv/range", wire::range_request(prefix, true, limit, false));
    std::vector<KeyValue> out;
    auto kvs = answer.find("kvs");
    if (kvs != answer.end() && kvs->is_array())
      for (const auto& kv : *kvs) out.push_back(wire::parse_key_value(kv));
    return out;
  }

  std::int64_t revision(const std::string& prefix) override {
    const Json answer = call("/v3/kv/range", wire::range_request(prefix, true, 0, true));
    return wire::int_field(answer.value("header", Json::object()), "revision");
  }

  void put(const std::string& key, const std::string& value, std::int64_t lease) override {
    check_key(key);
    call("/v3/kv/put", wire::put_request(key, value, lease));
  }

  bool create(const std::string& key, const std::string& value, std::int64_t lease) override {
    check_key(key);
    return txn(wire::txn_request(key, wire::Compare::create_revision, 0, "", wire::put_op(key, value, lease)));
  }

  bool compare_and_swap(const std::string& key, std::int64_t mod_revision, const std::string& value,
                        std::int64_t lease) override {
    check_key(key);
    return txn(
        wire::txn_request(key, wire::Compare::mod_revision, mod_revision, "", wire::put_op(key, value, lease)));
  }

  bool compare_and_delete(const std::string& key, const std::string& value) override {
    check_key(key);
    return txn(wire::txn_request(key, wire::Compare::value, 0, value, wire::delete_op(key)));
  }

  std::int64_t remove(const std::string& key, bool prefix) override {
    check_key(key);
    const Json answer = call("/v3/kv/deleterange", wire::delete_request(key, prefix));
    return wire::int_field(answer, "deleted");
  }

  std::int64_t lease_grant(std::chrono::seconds ttl) override {
    if (ttl.count() <= 0) fail(ErrorKind::invalid, "an etcd lease needs a TTL of at least 1 s");
    const Json answer = call("/v3/lease/grant", Json{{"TTL", std::to_string(ttl.count())}});
    std::int64_t id = wire::int_field(answer, "ID");
    if (id == 0) fail(ErrorKind::internal, "etcd granted no lease: " + wire::error_text(answer));
    return id;
  }

  bool lease_keepalive(std::int64_t lease) override {
    // The gateway streams keepalive answers; the first one is all a single refresh needs.
    const Json answer = call("/v3/lease/keepalive", Json{{"ID", std::to_string(lease)}}, true);
    // An unknown or expired lease answers TTL 0, which proto3 JSON leaves out.
    return wire::int_field(answer.value("result", Json::object()), "TTL") > 0;
  }

  void lease_revoke(std::int64_t lease) override {
    try {
      call("/v3/lease/revoke", Json{{"ID", std::to_string(lease)}});
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::not_found) throw;  // already gone: what revoke wants
    }
  }

  std::vector<Member> members() override {
    const Json answer = call("/v3/cluster/member/list", Json::object());
    std::vector<Member> out;
    auto list = answer.find("members");
    if (list != answer.end() && list->is_array())
      for (const auto& member : *list) out.push_back(wire::parse_member(member));
    return out;
  }

  std::uint64_t member_add(const std::vector<std::string>& peer_urls) override {
    if (peer_urls.empty()) fail(ErrorKind::invalid, "a new etcd member needs at least one peer URL");
    for (const auto& url : peer_urls) wire::parse_endpoint(url);
    const Json answer = call("/v3/cluster/member/add", Json{{"peerURLs", peer_urls}});
    std::uint64_t id = wire::uint_field(answer.value("member", Json::object()), "ID");
    if (id == 0) fail(ErrorKind::internal, "etcd added a member without an id: " + wire::error_text(answer));
    spdlog::info("etcd: member added id={:x} peer_urls={}", id, Json(peer_urls).dump());
    return id;
  }

  void member_remove(std::uint64_t id) override {
    call("/v3/cluster/member/remove", Json{{"ID", std::to_string(id)}});
    spdlog::info("etcd: member removed id={:x}", id);
  }

  std::vector<EndpointStatus> endpoint_status() override {
    // Every endpoint at once, so that dead ones cost one timeout in all, not one each.
    const std::string path = "/v3/maintenance/status";
    const std::string body = "{}";
    const auto deadline = Clock::now() + timeout_;
    std::vector<Outcome> outcomes(endpoints_.size());
    asio::io_context io;
    for (std::size_t i = 0; i < endpoints_.size(); ++i) {
      auto on_done = [&outcomes, i, this](std::exception_ptr error, Answer answer) {
        if (error)
          outcomes[i].failure = transport_failure(error, timeout_);
        else
          outcomes[i].answer = std::move(answer);
      };
      asio::co_spawn(io, post(endpoints_[i], path, body, deadline, false), on_done);
    }
    io.run_until(deadline + kResolveGrace);

    std::vector<EndpointStatus> out;
    for (std::size_t i = 0; i < endpoints_.size(); ++i) {
      EndpointStatus status;
      status.endpoint = endpoints_[i].url;
      if (outcomes[i].answer) {
        try {
          fill_status(status, *outcomes[i].answer);
        } catch (const std::exception& e) {
          status.healthy = false;
          status.error = e.what();
        }
      } else {
        status.error = outcomes[i].failure.empty() ? "no answer within " + describe(timeout_) : outcomes[i].failure;
      }
      out.push_back(std::move(status));
    }
    return out;
  }

 private:
  static void check_key(const std::string& key) {
    if (key.empty()) fail(ErrorKind::invalid, "an etcd key must not be empty");
  }

  static void fill_status(EndpointStatus& status, const Answer& answer) {
    Json body = Json::parse(answer.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
      status.error = "HTTP " + std::to_string(answer.status) + " with an answer that is not JSON";
      return;
    }
    if (answer.status != 200) {
      status.error = wire::error_text(body);
      return;
    }
    status.member_id = wire::uint_field(body.value("header", Json::object()), "member_id");
    status.leader = wire::uint_field(body, "leader");
    status.raft_term = wire::int_field(body, "raftTerm");
    status.db_size = wire::int_field(body, "dbSize");
    status.version = body.value("version", "");
    std::string errors;
    if (auto it = body.find("errors"); it != body.end() && it->is_array())
      for (const auto& e : *it) errors += (errors.empty() ? "" : "; ") + (e.is_string() ? e.get<std::string>() : e.dump());
    status.healthy = status.leader != 0 && errors.empty();
    if (!status.healthy) status.error = errors.empty() ? "no leader" : errors;
  }

  bool txn(const Json& request) {
    const Json answer = call("/v3/kv/txn", request);
    auto succeeded = answer.find("succeeded");
    return succeeded != answer.end() && succeeded->is_boolean() && succeeded->get<bool>();
  }

  // One exchange with one endpoint, bounded by `budget`.
  Outcome exchange(const wire::Endpoint& endpoint, const std::string& path, const std::string& body,
                   std::chrono::milliseconds budget, bool first_line_only) {
    Outcome outcome;
    const auto deadline = Clock::now() + budget;
    asio::io_context io;
    auto on_done = [&outcome, budget](std::exception_ptr error, Answer answer) {
      if (error)
        outcome.failure = transport_failure(error, budget);
      else
        outcome.answer = std::move(answer);
    };
    asio::co_spawn(io, post(endpoint, path, body, deadline, first_line_only), on_done);
    io.run_until(deadline + kResolveGrace);
    if (!outcome.answer && outcome.failure.empty()) outcome.failure = "no answer within " + describe(budget);
    return outcome;
  }

  // Sends request to the endpoints in turn, from the one that answered last, until one answers.
  // The whole call gets timeout_; each attempt an equal share of what is left, so that one hung
  // member leaves time for the others.
  Json call(const std::string& path, const Json& request, bool first_line_only = false) {
    const std::string body = request.dump();
    const auto deadline = Clock::now() + timeout_;
    const std::size_t count = endpoints_.size();
    const std::size_t start = preferred_.load();
    std::string tried;
    std::size_t attempts = 0;
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t index = (start + i) % count;
      const wire::Endpoint& endpoint = endpoints_[index];
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) break;
      const std::chrono::milliseconds budget = left / static_cast<long>(count - i);
      ++attempts;
      Outcome outcome = exchange(endpoint, path, body, budget, first_line_only);
      std::string failure = outcome.failure;
      if (outcome.answer) {
        Json answer = Json::parse(outcome.answer->body, nullptr, false);
        // A keepalive line wraps its message: {"result": {...}} or {"error": {...}}.
        if (first_line_only && answer.is_object() && answer.contains("error") && answer["error"].is_object()) {
          Json inner = answer["error"];
          answer = Json{{"error", inner.value("message", "")}, {"code", inner.value("grpc_code", 2)}};
          outcome.answer->status = inner.value("http_code", 500);
        }
        if (outcome.answer->status == 200 && !answer.is_discarded()) {
          if (index != start) {
            preferred_ = index;
            spdlog::info("etcd: switched endpoint endpoint={} path={}", endpoint.url, path);
          }
          return answer;
        }
        if (answer.is_discarded()) answer = Json(outcome.answer->body);
        switch (wire::classify_error(outcome.answer->status, answer)) {
          case wire::Verdict::endpoint_failed:
            failure = wire::error_text(answer);
            break;
          case wire::Verdict::not_found:
            fail(ErrorKind::not_found, "etcd at " + endpoint.url + ": " + wire::error_text(answer));
          case wire::Verdict::invalid:
            fail(ErrorKind::invalid, "etcd at " + endpoint.url + " rejected " + path + ": " + wire::error_text(answer));
          case wire::Verdict::conflict:
            fail(ErrorKind::conflict, "etcd at " + endpoint.url + " refused " + path + ": " + wire::error_text(answer));
          case wire::Verdict::internal:
            fail(ErrorKind::internal, "etcd at " + endpoint.url + " failed " + path + " (HTTP " +
                                          std::to_string(outcome.answer->status) + "): " + wire::error_text(answer));
        }
      }
      spdlog::debug("etcd: endpoint failed endpoint={} path={} error={}", endpoint.url, path, failure);
      tried += (tried.empty() ? "" : "; ") + endpoint.url + ": " + failure;
    }
    for (std::size_t i = attempts; i < count; ++i)
      tried += (tried.empty() ? "" : "; ") + endpoints_[(start + i) % count].url + ": not tried, out of time";
    fail(ErrorKind::unavailable, "the grid's etcd could not serve " + path + " within " + describe(timeout_) + " (" + tried +
                                     "): a majority of the grid's initial nodes must be online to change the "
                                     "grid's network state; see `kontena grid health`");
  }

  std::vector<wire::Endpoint> endpoints_;
  std::chrono::milliseconds timeout_;
  std::atomic<std::size_t> preferred_{0};  // the endpoint that answered last
};

}  // namespace

std::unique_ptr<EtcdClient> make_http_etcd_client(std::vector<std::string> endpoints,
                                                  std::chrono::milliseconds timeout) {
  return std::make_unique<HttpEtcdClient>(std::move(endpoints), timeout);
}

}  // namespace kontena::etcd
