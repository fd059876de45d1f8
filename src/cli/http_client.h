// Talking to the master: a synchronous HTTP(S) transport (Boost.Beast) behind a small interface,
// and ApiClient, which adds JSON, the bearer token, error mapping and the one-time token refresh.
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cli/config.h"
#include "cli/url.h"
#include "common/clock.h"
#include "common/error.h"

namespace kontena::cli {

struct HttpRequest {
  std::string method;  // GET, POST, PUT, PATCH, DELETE
  Url url;             // the master
  std::string target;  // path and query, already including url.base_path
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::seconds timeout{30};

  std::string display_url() const;  // for messages: scheme://host[:port]/target
};

struct HttpResponse {
  int status = 0;
  std::string body;
};

// One request, one answer. Throws kontena::Error(unavailable) when the master cannot be reached.
class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  virtual HttpResponse send(const HttpRequest& request) = 0;
};

// verify_tls=false accepts any certificate (KONTENA_SSL_VERIFY=false), for self-signed masters.
std::unique_ptr<HttpTransport> make_beast_transport(bool verify_tls);

// The kontena::Error for an HTTP error answer: the server's {"error","field"} when the body has
// them, otherwise the status and the start of the body.
Error error_from_response(int status, const std::string& body);

// Turns a token answer ({"access_token","refresh_token","expires_in",...}) into what the config
// stores; expires_at is computed locally from expires_in so clock skew does not matter.
StoredToken stored_token_from_answer(const nlohmann::json& answer, std::int64_t now_unix);

class ApiClient {
 public:
  using TokenRefreshed = std::function<void(const StoredToken&)>;

  // token: nullopt for the public routes (login). on_refreshed is called after a refresh, so the
  // caller can save the new token.
  ApiClient(HttpTransport& transport, std::string master_url, std::optional<StoredToken> token, const Clock& clock,
            TokenRefreshed on_refreshed = {});

  nlohmann::json get(const std::string& path) { return request("GET", path); }
  nlohmann::json post(const std::string& path, const nlohmann::json& body) { return request("POST", path, body); }
  nlohmann::json put(const std::string& path, const nlohmann::json& body) { return request("PUT", path, body); }
  nlohmann::json patch(const std::string& path, const nlohmann::json& body) { return request("PATCH", path, body); }
  nlohmann::json del(const std::string& path) { return request("DELETE", path); }

  // path is relative to the master URL ("/v1/grids"). Returns the answer's JSON ({} when empty).
  // With a stored refresh token, an expired token is refreshed first, and a 401 answer leads to
  // one refresh and one retry.
  nlohmann::json request(const std::string& method, const std::string& path,
                         const std::optional<nlohmann::json>& body = std::nullopt);

  const std::string& master_url() const { return master_url_; }
  const std::optional<StoredToken>& token() const { return token_; }
  void set_timeout(std::chrono::seconds timeout) { timeout_ = timeout; }

 private:
  HttpResponse send_once(const std::string& method, const std::string& path, const std::optional<nlohmann::json>& body);
  bool can_refresh() const { return token_ && !token_->refresh_token.empty(); }
  void refresh_token();

  HttpTransport& transport_;
  std::string master_url_;
  Url url_;
  std::optional<StoredToken> token_;
  const Clock& clock_;
  TokenRefreshed on_refreshed_;
  std::chrono::seconds timeout_{30};
};

}  // namespace kontena::cli
