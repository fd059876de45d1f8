#include "cli/context.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>

namespace kontena::cli {

Error not_logged_in_error() {
  return Error(ErrorKind::unauthorized,
               "not logged in to a master: run 'kontena master login --code CODE URL' first");
}

Error no_grid_error() {
  return Error(ErrorKind::invalid, "no grid selected: use --grid NAME or 'kontena grid use NAME'", "grid");
}

Context::Context(ContextOptions options) : options_(std::move(options)) {
  if (options_.clock == nullptr) owned_clock_ = std::make_unique<SystemClock>();
  clock_ = options_.clock ? options_.clock : owned_clock_.get();
  if (!options_.stdin_is_terminal) options_.stdin_is_terminal = [] { return ::isatty(STDIN_FILENO) == 1; };
}

HttpTransport& Context::transport() {
  if (!options_.transport) {
    auto verify = options_.env("KONTENA_SSL_VERIFY");
    std::string value = verify.value_or("true");
    std::transform(value.begin(), value.end(), value.begin(), [](unsigned char c) { return std::tolower(c); });
    const bool disabled = value == "false" || value == "0" || value == "no" || value == "off";
    options_.transport = make_beast_transport(!disabled);
  }
  return *options_.transport;
}

const std::string& Context::config_path() {
  if (!config_path_) config_path_ = cli::config_path(options_.env);
  return *config_path_;
}

ClientConfig& Context::config() {
  if (!config_) config_ = load_config(config_path());
  return *config_;
}

void Context::save_config() {
  cli::save_config(config(), config_path());
}

std::optional<EffectiveServer> Context::configured_server() { return resolve_server(config(), options_.env); }

const EffectiveServer& Context::require_server() {
  if (!server_) {
    auto server = configured_server();
    if (!server || !server->token || server->token->access_token.empty()) throw not_logged_in_error();
    server_ = std::move(server);
  }
  return *server_;
}

ApiClient& Context::api() {
  if (!api_) {
    const EffectiveServer server = require_server();
    auto on_refreshed = [this, server](const StoredToken& token) {
      if (server.token_from_environment || !server.in_config) return;
      if (ServerEntry* entry = config().find_server(server.name)) {
        entry->token = token;
        save_config();
      }
    };
    api_ = std::make_unique<ApiClient>(transport(), server.url, server.token, clock(), on_refreshed);
  }
  return *api_;
}

ApiClient Context::public_api(const std::string& url) { return ApiClient(transport(), url, std::nullopt, clock()); }

std::string Context::require_grid() {
  const EffectiveServer& server = require_server();
  if (!grid_option.empty()) return grid_option;
  if (!server.grid.empty()) return server.grid;
  throw no_grid_error();
}

void Context::confirm(const std::string& action, bool force) {
  if (force) return;
  if (!options_.stdin_is_terminal())
    throw Error(ErrorKind::invalid,
                "refusing to " + action + " without confirmation: stdin is not a terminal, add --force");
  out() << "Are you sure you want to " << action << "? [y/N] " << std::flush;
  std::string answer;
  std::getline(in(), answer);
  std::transform(answer.begin(), answer.end(), answer.begin(), [](unsigned char c) { return std::tolower(c); });
  if (answer != "y" && answer != "yes") throw Error(ErrorKind::invalid, "aborted: did not " + action);
}

}  // namespace kontena::cli
