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


// ---- stacks and services (issue 4; docs/api/stacks-services.md) ----

// A stack: a named set of services installed from a stack file. Each install/upgrade that changes
// the definition adds a StackRevision; `revision` is the latest one, `deployed_revision` the one
// last deployed (0 = never). The grid's stack-less services belong to no Stack row: their
// Service::stack_id is 0 and their stack name is "null" in every API.
struct Stack {
  std::int64_t id = 0;
  std::int64_t grid_id = 0;
  std::string name;          // unique within the grid, [a-z0-9-]+, never "null"
  std::string stack;         // the file's `stack:` ("user/name" or "name")
  std::string version;       // the file's version ("0.0.1")
  std::string parent_name;   // the stack that installed this one as a dependency; empty = none
  std::vector<std::string> labels;  // "key=value"
  std::string expose;        // the exposed service's name; empty = none
  int revision = 1;
  int deployed_revision = 0;
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
};

// One version of a stack's definition: the normalised stack JSON the CLI sent (docs/stack-file.md:
// services[], volumes[], dependencies[], variables, source, ...).
struct StackRevision {
  std::int64_t id = 0;
  std::int64_t stack_id = 0;
  int revision = 0;
  Json definition = Json::object();
  std::int64_t created_at = 0;
};

// A service (reference §3 GridService). `spec` is the normalised service JSON of
// docs/stack-file.md (image, instances, env, ports, deploy, health_check, hooks, ...), the same for
// stack services and stack-less ones. `revision` grows by one on every change of spec (and on a
// forced deploy): the agent recreates containers of an older service_revision.
struct Service {
  std::int64_t id = 0;
  std::int64_t grid_id = 0;
  std::int64_t stack_id = 0;   // 0 = the grid's null stack
  std::string stack_name = "null";  // the stack's name, filled by the store on reads
  std::string name;            // unique within the stack
  Json spec = Json::object();
  std::int64_t revision = 1;
  int stack_revision = 0;      // the stack revision that last wrote spec (0 for stack-less)
  std::string state = "initialized";  // initialized | running | stopped
  std::int64_t deployed_at = 0;       // last successful deploy; 0 = never
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
};

// One instance (1..N) of a service and the node it is on (reference §5.4, §13). The desired side
// is written by the master (deployer, stop/start, drain); the reported side by the agent through
// /node_service_pods/set_state and health results.
struct ServiceInstance {
  std::int64_t id = 0;
  std::int64_t service_id = 0;
  int instance_number = 0;
  std::int64_t node_id = 0;       // Node::id; 0 = not placed (node removed or not yet scheduled)
  std::string desired_state = "running";  // initialized | running | stopped | terminated
  std::string deploy_rev;         // the deploy that last placed it (opaque; ISO time of its start)
  std::string state;              // reported: running | restarting | stopped | missing; "" = none yet
  std::string error;              // reported error; "" = none
  std::string rev;                // the deploy_rev the agent last applied
  std::string health;             // "" (no check) | healthy | unhealthy
  std::int64_t reported_at = 0;   // when the agent last reported
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
};

// A deploy of one service (reference §5.4): created -> ongoing -> success | error | aborted.
// `instances` is the per-instance progress the CLI follows:
//   [{"instance_number": 1, "node": "node-1", "state": "pending|deploying|running|error|removed",
//     "error": "..."}]
struct ServiceDeploy {
  std::int64_t id = 0;
  std::int64_t service_id = 0;
  std::int64_t stack_deploy_id = 0;  // 0 = not part of a stack deploy
  std::string state = "created";
  std::string reason;         // "deploy", "scale", "reschedule", "force", ...
  bool force = false;
  std::string error;          // on error: which instance failed and why
  Json instances = Json::array();
  std::int64_t created_at = 0;
  std::int64_t started_at = 0;   // 0 = not started
  std::int64_t finished_at = 0;  // 0 = not finished
};

// A deploy of a whole stack: its services one after the other in link order.
struct StackDeploy {
  std::int64_t id = 0;
  std::int64_t stack_id = 0;
  int revision = 0;
  std::string state = "created";  // created | ongoing | success | error
  std::string error;
  std::int64_t created_at = 0;
  std::int64_t finished_at = 0;
};

// An event of a grid's event log (reference §12), bounded like the audit log.
struct EventLog {
  std::int64_t id = 0;
  std::int64_t grid_id = 0;
  std::string stack;          // "" or the stack's name ("null" for stack-less services)
  std::string service;        // "" or the service's name
  int instance_number = 0;    // 0 = not about one instance
  std::string node;           // "" or a node name
  std::string type;           // "service:deploy", "service:create_instance", "scheduler", ...
  int severity = 1;           // 0 debug, 1 info, 2 warn, 3 error
  std::string message;
  std::int64_t created_at = 0;
};

// One line a container wrote (reference §12), bounded.
struct ContainerLog {
  std::int64_t id = 0;
  std::int64_t grid_id = 0;
  std::string node;           // node name
  std::string stack;          // "null" for stack-less services
  std::string service;
  int instance_number = 0;
  std::string container;      // container name ("shop.web-1")
  std::string stream;         // stdout | stderr
  std::string data;
  std::int64_t created_at = 0;  // when the container wrote it (Docker's timestamp)
};

}  // namespace kontena::master
