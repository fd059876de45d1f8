// What every command needs: output streams, the environment, the client config, the selected
// master and grid, and an authenticated API client. Commands get it by reference; tests build one
// with string streams, a fake environment, a fake HTTP transport and a manual clock.
#pragma once
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "cli/config.h"
#include "cli/http_client.h"
#include "common/clock.h"

namespace kontena::cli {

struct ContextOptions {
  std::ostream* out = &std::cout;
  std::ostream* err = &std::cerr;
  std::istream* in = &std::cin;
  EnvLookup env = process_environment();
  // nullptr: a Beast transport (TLS verification unless KONTENA_SSL_VERIFY=false).
  std::shared_ptr<HttpTransport> transport;
  const Clock* clock = nullptr;  // nullptr: the system clock
  std::function<bool()> stdin_is_terminal;  // empty: isatty(0)
};

class Context {
 public:
  explicit Context(ContextOptions options = {});

  std::ostream& out() { return *options_.out; }
  std::ostream& err() { return *options_.err; }
  std::istream& in() { return *options_.in; }
  bool stdin_is_terminal() const { return options_.stdin_is_terminal(); }
  const EnvLookup& env() const { return options_.env; }
  const Clock& clock() const { return *clock_; }
  std::int64_t now_unix() const { return clock_->now_unix_ms() / 1000; }
  HttpTransport& transport();

  // The client config, read on first use.
  ClientConfig& config();
  void save_config();
  const std::string& config_path();

  // The master commands talk to; throws "not logged in" when there is none or it has no token.
  const EffectiveServer& require_server();
  // Like require_server but without the token requirement; nullopt when no master is configured.
  std::optional<EffectiveServer> configured_server();
  // An authenticated client for require_server(); refreshed tokens are saved to the config.
  ApiClient& api();
  // A client without a token for the public routes (login).
  ApiClient public_api(const std::string& url);

  // --grid of the running command (set by the option), else KONTENA_GRID, else the config.
  std::string grid_option;  // empty = not given
  // Throws "no grid selected" when none is set.
  std::string require_grid();

  // For destructive commands ("remove grid demo"): passes with --force; otherwise asks on a
  // terminal and throws unless the answer is yes; throws when stdin is not a terminal, because a
  // script must say --force explicitly.
  void confirm(const std::string& action, bool force);

 private:
  ContextOptions options_;
  std::unique_ptr<Clock> owned_clock_;
  const Clock* clock_;
  std::optional<std::string> config_path_;
  std::optional<ClientConfig> config_;
  std::optional<EffectiveServer> server_;
  std::unique_ptr<ApiClient> api_;
};

// The messages of the two most common setup mistakes, shared with tests.
Error not_logged_in_error();
Error no_grid_error();

}  // namespace kontena::cli
