// Request bodies built from command-line options. Kept apart from the commands so tests can check
// exactly what each command sends. Everything the master validates itself (name rules, ranges)
// is left to the master; only what the CLI has to parse ("k=v", "host:port") is checked here.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace kontena::cli {

// "key=value" -> {key, value}; throws kontena::Error(invalid) naming the option when there is no
// '=' or the key is empty.
std::pair<std::string, std::string> parse_key_value(const std::string& text, const std::string& option);

// "host:port" -> {"server": host, "port": port}; the port defaults to 8125 (statsd's).
nlohmann::json parse_statsd_server(const std::string& text);

struct GridCreateOptions {
  std::string name;
  int initial_size = 1;
  std::string token;
  std::string subnet;
  std::string supernet;
  std::vector<std::string> default_affinity;
  std::vector<std::string> trusted_subnets;
  std::string statsd_server;
  std::string log_forwarder;
  std::vector<std::string> log_opts;
};
nlohmann::json grid_create_body(const GridCreateOptions& options);

struct GridUpdateOptions {
  std::vector<std::string> default_affinity;
  bool no_default_affinity = false;
  std::string statsd_server;
  bool no_statsd_server = false;
  std::string log_forwarder;
  bool no_log_forwarder = false;
  std::vector<std::string> log_opts;
};
// current_grid is the grid as the master has it; --log-opt without --log-forwarder keeps its
// forwarder. Throws when nothing would change.
nlohmann::json grid_update_body(const GridUpdateOptions& options, const nlohmann::json& current_grid);

nlohmann::json node_create_body(const std::string& name, const std::string& token,
                                const std::vector<std::string>& labels);

struct NodeUpdateOptions {
  std::vector<std::string> labels;
  bool clear_labels = false;
  std::string availability;  // "", "active" or "drain"
};
// Throws when nothing would change.
nlohmann::json node_update_body(const NodeUpdateOptions& options);

// A string list (labels, trusted subnets) after adding (keeps order, skips duplicates) or removing
// (throws for an item that is not there, so typos do not pass silently; `what` names the list in
// that message: "labels of node node-1").
std::vector<std::string> list_with(std::vector<std::string> current, const std::vector<std::string>& added);
std::vector<std::string> list_without(std::vector<std::string> current, const std::vector<std::string>& removed,
                                      const std::string& what);

// POST /oauth2/token with a login or invite code. expires_in 0 = a token that never expires.
nlohmann::json authorization_code_body(const std::string& code, std::int64_t expires_in);

struct TokenCreateOptions {
  std::int64_t expires_in = 0;
  bool expires_in_given = false;  // login codes have their own default lifetime on the master
  std::string description;
  std::string scopes;
  std::string user;
  bool code = false;  // a one-time login code instead of a token
};
nlohmann::json token_create_body(const TokenCreateOptions& options);

// master config set KEY=VALUE... -> {"KEY": "VALUE"}; unset KEY... -> {"KEY": null}.
nlohmann::json config_set_body(const std::vector<std::string>& assignments);
nlohmann::json config_unset_body(const std::vector<std::string>& keys);

// The strings of a JSON array field (labels, default_affinity); empty when missing.
std::vector<std::string> string_list(const nlohmann::json& object, const char* key);

}  // namespace kontena::cli
