#include "cli/http_client.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/asio.h"
#include "common/log.h"

namespace kontena::cli {

using nlohmann::json;
using tcp = asio::ip::tcp;

std::string HttpRequest::display_url() const {
  return url.scheme + "://" + url.host_header() + target;
}

namespace {

// Which step failed decides the message: before a connection exists the master is unreachable.
enum class Stage { connect, tls, exchange };

struct Failure {
  Stage stage;
  boost::system::error_code code;
};

using Response = http::response<http::string_body>;

http::request<http::string_body> build_beast_request(const HttpRequest& request) {
  http::request<http::string_body> message;
  message.method(http::string_to_verb(request.method));
  message.target(request.target);
  message.version(11);
  message.set(http::field::host, request.url.host_header());
  message.set(http::field::user_agent, std::string("kontena-cli/") + KONTENA_VERSION);
  message.set(http::field::accept, "application/json");
  for (const auto& [name, value] : request.headers) message.set(name, value);
  if (!request.body.empty()) {
    message.set(http::field::content_type, "application/json");
    message.body() = request.body;
  }
  message.keep_alive(false);
  message.prepare_payload();
  return message;
}

// Reads the whole answer; generous limit because audit logs can be a few megabytes.
template <typename Stream>
asio::awaitable<Response> write_and_read(Stream& stream, const HttpRequest& request, Stage& stage) {
  stage = Stage::exchange;
  auto message = build_beast_request(request);
  co_await http::async_write(stream, message, asio::use_awaitable);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(256u * 1024 * 1024);
  co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
  co_return parser.release();
}

asio::awaitable<Response> exchange(const HttpRequest& request, asio::ssl::context* tls, Stage& stage) {
  auto executor = co_await asio::this_coro::executor;
  stage = Stage::connect;
  tcp::resolver resolver(executor);
  auto endpoints = co_await resolver.async_resolve(request.url.host, request.url.port, asio::use_awaitable);
  if (tls == nullptr) {
    beast::tcp_stream stream(executor);
    stream.expires_after(request.timeout);
    co_await stream.async_connect(endpoints, asio::use_awaitable);
    Response response = co_await write_and_read(stream, request, stage);
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    co_return response;
  }
  beast::ssl_stream<beast::tcp_stream> stream(executor, *tls);
  beast::get_lowest_layer(stream).expires_after(request.timeout);
  // SNI, so masters behind name-based TLS proxies answer with the right certificate.
  if (!SSL_set_tlsext_host_name(stream.native_handle(), request.url.host.c_str())) {
    throw boost::system::system_error(
        boost::system::error_code(static_cast<int>(::ERR_get_error()), asio::error::get_ssl_category()));
  }
  stream.set_verify_callback(asio::ssl::host_name_verification(request.url.host));
  co_await beast::get_lowest_layer(stream).async_connect(endpoints, asio::use_awaitable);
  stage = Stage::tls;
  co_await stream.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
  // No TLS close_notify exchange: the answer is complete and some servers never reply to it.
  co_return co_await write_and_read(stream, request, stage);
}

class BeastTransport final : public HttpTransport {
 public:
  explicit BeastTransport(bool verify_tls) : verify_tls_(verify_tls) {}

  HttpResponse send(const HttpRequest& request) override {
    std::optional<asio::ssl::context> tls;
    if (request.url.tls()) {
      tls.emplace(asio::ssl::context::tls_client);
      if (verify_tls_) {
        tls->set_default_verify_paths();
        tls->set_verify_mode(asio::ssl::verify_peer);
      } else {
        tls->set_verify_mode(asio::ssl::verify_none);
      }
    }
    // Declared before the io_context: coroutine frames still pending at a timeout refer to them
    // and are destroyed by the io_context's destructor.
    Stage stage = Stage::connect;
    std::optional<Response> response;
    std::exception_ptr failure;
    asio::io_context io;
    asio::co_spawn(io, exchange(request, tls ? &*tls : nullptr, stage),
                   [&](std::exception_ptr error, Response answer) {
                     failure = error;
                     if (!error) response = std::move(answer);
                   });
    // The resolver has no timeout of its own: bound the whole exchange as well.
    io.run_for(request.timeout + std::chrono::seconds(1));
    if (!response && !failure) {
      throw Error(ErrorKind::unavailable, "the master at " + request.display_url() + " did not answer within " +
                                              std::to_string(request.timeout.count()) + " s");
    }
    if (failure) {
      try {
        std::rethrow_exception(failure);
      } catch (const boost::system::system_error& e) {
        throw_transport_error(request, stage, e.code());
      }
    }
    HttpResponse answer;
    answer.status = static_cast<int>(response->result_int());
    answer.body = std::move(response->body());
    return answer;
  }

 private:
  [[noreturn]] static void throw_transport_error(const HttpRequest& request, Stage stage,
                                                 const boost::system::error_code& code) {
    const std::string master = request.url.scheme + "://" + request.url.host_header() + request.url.base_path;
    std::string reason = code.message();
    if (code == beast::error::timeout) reason = "no answer within " + std::to_string(request.timeout.count()) + " s";
    switch (stage) {
      case Stage::connect:
        throw Error(ErrorKind::unavailable,
                    "cannot reach the master at " + master + ": " + reason + ". Is kontena-server running?");
      case Stage::tls:
        throw Error(ErrorKind::unavailable, "TLS connection to the master at " + master + " failed: " + reason +
                                                " (for a self-signed certificate set KONTENA_SSL_VERIFY=false)");
      case Stage::exchange:
        break;
    }
    throw Error(ErrorKind::unavailable, request.method + " " + request.display_url() + " failed: " + reason);
  }

  bool verify_tls_;
};

}  // namespace

std::unique_ptr<HttpTransport> make_beast_transport(bool verify_tls) {
  return std::make_unique<BeastTransport>(verify_tls);
}

Error error_from_response(int status, const std::string& body) {
  const ErrorKind kind = kind_from_http_status(status);
  const json answer = json::parse(body, nullptr, false);
  if (answer.is_object()) {
    auto message = answer.find("error");
    if (message != answer.end() && message->is_string()) {
      std::string field;
      if (auto f = answer.find("field"); f != answer.end() && f->is_string()) field = f->get<std::string>();
      return Error(kind, message->get<std::string>(), field);
    }
  }
  std::string excerpt = body.substr(0, 200);
  for (char& c : excerpt)
    if (c == '\n' || c == '\r') c = ' ';
  std::string message = "the master answered HTTP " + std::to_string(status);
  if (!excerpt.empty()) message += ": " + excerpt;
  return Error(kind, message);
}

StoredToken stored_token_from_answer(const json& answer, std::int64_t now_unix) {
  if (!answer.is_object() || !answer.contains("access_token") || !answer["access_token"].is_string())
    throw Error(ErrorKind::internal, "the master's token answer has no access_token");
  StoredToken token;
  token.access_token = answer["access_token"].get<std::string>();
  if (auto r = answer.find("refresh_token"); r != answer.end() && r->is_string()) token.refresh_token = r->get<std::string>();
  if (auto e = answer.find("expires_in"); e != answer.end() && e->is_number() && e->get<double>() > 0)
    token.expires_at = now_unix + e->get<std::int64_t>();
  return token;
}

ApiClient::ApiClient(HttpTransport& transport, std::string master_url, std::optional<StoredToken> token,
                     const Clock& clock, TokenRefreshed on_refreshed)
    : transport_(transport),
      master_url_(std::move(master_url)),
      url_(parse_url(master_url_)),
      token_(std::move(token)),
      clock_(clock),
      on_refreshed_(std::move(on_refreshed)) {}

HttpResponse ApiClient::send_once(const std::string& method, const std::string& path, const std::optional<json>& body) {
  HttpRequest request;
  request.method = method;
  request.url = url_;
  request.target = url_.base_path + path;
  request.timeout = timeout_;
  if (body) request.body = body->dump();
  if (token_) request.headers.emplace_back("Authorization", "Bearer " + token_->access_token);
  spdlog::debug("http request method={} url={} body={}", method, request.display_url(), request.body);
  HttpResponse response = transport_.send(request);
  spdlog::debug("http response status={} body={}", response.status, response.body);
  return response;
}

void ApiClient::refresh_token() {
  HttpRequest request;
  json body = {{"grant_type", "refresh_token"}, {"refresh_token", token_->refresh_token}};
  spdlog::debug("refreshing the access token url={}", master_url_);
  std::optional<StoredToken> old = std::move(token_);
  token_.reset();  // the token route is public; do not send the expired token
  HttpResponse response;
  try {
    response = send_once("POST", "/oauth2/token", body);
  } catch (...) {
    token_ = std::move(old);
    throw;
  }
  if (response.status >= 400) {
    Error cause = error_from_response(response.status, response.body);
    throw Error(ErrorKind::unauthorized,
                std::string("the access token has expired and could not be refreshed: ") + cause.what());
  }
  token_ = stored_token_from_answer(json::parse(response.body, nullptr, false), clock_.now_unix_ms() / 1000);
  if (on_refreshed_) on_refreshed_(*token_);
}

json ApiClient::request(const std::string& method, const std::string& path, const std::optional<json>& body) {
  bool refreshed = false;
  // Refresh a little before the expiry so the token does not run out in flight.
  if (can_refresh() && token_->expired(clock_.now_unix_ms() / 1000, 10)) {
    refresh_token();
    refreshed = true;
  }
  HttpResponse response = send_once(method, path, body);
  if (response.status == 401 && can_refresh() && !refreshed) {
    refresh_token();
    response = send_once(method, path, body);
  }
  if (response.status >= 400) throw error_from_response(response.status, response.body);
  if (response.body.find_first_not_of(" \t\r\n") == std::string::npos) return json::object();
  json answer = json::parse(response.body, nullptr, false);
  if (answer.is_discarded())
    throw Error(ErrorKind::internal, "the master's answer to " + method + " " + path + " is not JSON");
  return answer;
}

}  // namespace kontena::cli
