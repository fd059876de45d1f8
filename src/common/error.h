// The one error model of the codebase: every failure a caller must act on is a kontena::Error
// with a kind (which maps to an HTTP status) and a message written for the user: what is wrong
// and, where possible, how to fix it.
#pragma once
#include <stdexcept>
#include <string>

namespace kontena {

enum class ErrorKind {
  invalid,       // bad input: 422 (400 for unparsable bodies)
  bad_request,   // malformed request (unparsable JSON, wrong content): 400
  unauthorized,  // no or bad credentials: 401
  forbidden,     // authenticated, but not allowed: 403
  not_found,     // 404
  conflict,      // duplicate or state conflict: 409
  too_large,     // request body over the limit: 413
  rate_limited,  // too many requests from one source: 429
  unavailable,   // a dependency (store, node, etcd) cannot answer now: 503
  internal,      // a bug or an unexpected failure: 500
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string message, std::string field = {})
      : std::runtime_error(std::move(message)), kind_(kind), field_(std::move(field)) {}
  ErrorKind kind() const noexcept { return kind_; }
  // The input field the error is about, when there is one ("name", "initial_size").
  const std::string& field() const noexcept { return field_; }

 private:
  ErrorKind kind_;
  std::string field_;
};

int http_status(ErrorKind kind) noexcept;
const char* to_string(ErrorKind kind) noexcept;
// Maps an HTTP status received from a peer back to a kind (client side).
ErrorKind kind_from_http_status(int status) noexcept;

[[noreturn]] inline void fail(ErrorKind kind, std::string message, std::string field = {}) {
  throw Error(kind, std::move(message), std::move(field));
}
[[noreturn]] inline void invalid(std::string field, std::string message) {
  throw Error(ErrorKind::invalid, std::move(message), std::move(field));
}

}  // namespace kontena
