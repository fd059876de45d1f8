// The client configuration file (~/.kontena_client.json, or $KONTENA_CONFIG), in the original
// CLI's format:
//   {"current_server": "name",
//    "servers": [{"name": "...", "url": "http://...", "username": "admin", "grid": "demo",
//                 "token": {"access_token": "...", "refresh_token": "...", "expires_at": 1234567890}}]}
// Keys this CLI does not know are kept as they are, so files shared with other tools survive.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace kontena::cli {

// Reads an environment variable; injectable so tests do not depend on the real environment.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
EnvLookup process_environment();

struct StoredToken {
  std::string access_token;
  std::string refresh_token;              // empty when the token cannot be refreshed
  std::optional<std::int64_t> expires_at;  // unix seconds; nullopt = never expires

  bool expired(std::int64_t now_unix, std::int64_t leeway_seconds = 0) const {
    return expires_at && *expires_at <= now_unix + leeway_seconds;
  }
};

struct ServerEntry {
  std::string name;
  std::string url;
  std::string username;
  std::string grid;  // empty = no grid selected
  std::optional<StoredToken> token;
  nlohmann::json unknown_keys = nlohmann::json::object();
};

struct ClientConfig {
  std::string current_server;  // empty = none
  std::vector<ServerEntry> servers;
  nlohmann::json unknown_keys = nlohmann::json::object();

  ServerEntry* find_server(const std::string& name);
  const ServerEntry* find_server(const std::string& name) const;
  ServerEntry* find_server_by_url(const std::string& url);
  ServerEntry* current();
  // Removes the entry; clears current_server when it was the current one. False if unknown.
  bool remove_server(const std::string& name);
};

// $KONTENA_CONFIG if set, else $HOME/.kontena_client.json.
std::string config_path(const EnvLookup& env);

nlohmann::json to_json(const ClientConfig& config);
// Throws kontena::Error(invalid) naming what is wrong in the document.
ClientConfig config_from_json(const nlohmann::json& document);

// A missing file is an empty config. A broken file is an error that names the file.
ClientConfig load_config(const std::string& path);
// Writes a temporary file with mode 0600 in the same directory, then renames it over the old one,
// so a crash never leaves a half-written config and the tokens are never readable by others.
void save_config(const ClientConfig& config, const std::string& path);

// The server a command talks to, after the environment overrides (KONTENA_MASTER selects by name;
// KONTENA_URL, KONTENA_TOKEN, KONTENA_GRID replace url, token and grid).
struct EffectiveServer {
  std::string name;
  std::string url;
  std::string username;
  std::string grid;
  std::optional<StoredToken> token;
  bool token_from_environment = false;  // a refreshed token must then not be written to the file
  bool in_config = false;               // false when it exists only through KONTENA_URL
};

// nullopt when no server is configured or selected. Throws when KONTENA_MASTER names an unknown one.
std::optional<EffectiveServer> resolve_server(const ClientConfig& config, const EnvLookup& env);

}  // namespace kontena::cli
