// Records the master keeps. Times are unix milliseconds (UTC). Plain values: no behaviour here.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace kontena::master {

using Json = nlohmann::json;

inline constexpr const char* kRoleMasterAdmin = "master_admin";
inline constexpr const char* kRoleGridAdmin = "grid_admin";
inline constexpr const char* kRoleUserAdmin = "user_admin";

struct User {
  std::int64_t id = 0;
  std::string email;  // unique, the user's handle in every API
  std::string name;
  std::vector<std::string> roles;  // subset of the kRole* names, sorted
  std::int64_t created_at = 0;
};

// A bearer access token. Only digests are stored: the clear token is shown once, at creation.
struct AccessToken {
  std::int64_t id = 0;
  std::int64_t user_id = 0;
  std::string token_hash;          // sha256 hex of the bearer token
  std::string token_last4;         // last four characters, to help users tell tokens apart
  std::string refresh_token_hash;  // sha256 hex of the refresh token; empty when none
  std::string description;
  std::string scopes;              // space separated; "user" by default
  std::optional<std::int64_t> expires_at;  // none = never expires
  std::int64_t created_at = 0;
  std::int64_t last_used_at = 0;
  bool internal = false;  // created by a login (CLI session) rather than `master token create`
};

// A one-time code exchanged for an access token (login code, invite code).
struct AuthCode {
  std::string code_hash;  // sha256 hex of the code; primary key
  std::int64_t user_id = 0;
  std::string kind;       // "login" | "invite"
  std::optional<std::int64_t> expires_at;
  std::int64_t created_at = 0;
};

struct Grid {
  std::int64_t id = 0;
  std::string name;  // unique, [\w-]+, >= 3 chars
  std::string token; // agents join with it; shown by `grid env`
  int initial_size = 1;
  std::string subnet = "10.81.0.0/16";
  std::string supernet = "10.80.0.0/12";
  std::vector<std::string> default_affinity;
  std::vector<std::string> trusted_subnets;
  Json stats = Json::object();  // {"statsd": {"server": host, "port": n}} or {}
  Json logs = Json::object();   // {"forwarder": "fluentd"|"none", "opts": {...}}
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
};

struct Node {
  std::int64_t id = 0;
  std::int64_t grid_id = 0;
  std::string name;     // unique within the grid
  std::string node_id;  // the agent's Docker engine ID; empty until an agent binds to the node
  int node_number = 0;  // 1..254 within the grid; 0 asks the store to pick the lowest free one
  std::string token;    // node token (shown by `node env`); empty when the node has none
  std::vector<std::string> labels;
  std::string availability = "active";  // active | drain
  bool connected = false;
  std::int64_t connected_at = 0;
  std::int64_t last_seen_at = 0;
  Json info = Json::object();  // what the agent reported: docker info, IPs, cpus, memory, agent version
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
};

// One audited call: who did what, when, from where, and how it ended.
struct AuditEntry {
  std::int64_t id = 0;
  std::int64_t created_at = 0;
  std::optional<std::int64_t> user_id;  // none when the caller was not authenticated
  std::string user_email;
  std::string grid;           // grid name the call was about, if any
  std::string resource_type;  // "grid", "node", "user", "access_token", "config", ...
  std::string resource_id;
  std::string resource_name;
  std::string event_name;     // create, update, delete, ...
  std::string event_status;   // "success" or "error"
  int http_status = 0;
  std::string error;          // the error message when event_status is "error"
  std::string source_ip;
  std::string user_agent;
  std::string request_method;
  std::string request_path;
  Json request_body = nullptr;  // with secrets (tokens, codes) redacted
};

}  // namespace kontena::master
