// The master's state store (DESIGN §4). One interface; SQLite is the default implementation.
// Implementations are thread-safe. Errors are kontena::Error: not_found for missing rows on
// update/delete, conflict for duplicates (message names the duplicate), unavailable when the
// database cannot be read or written.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "master/store/model.h"

namespace kontena::master {

class Store {
 public:
  virtual ~Store() = default;

  // Runs fn in one transaction: all of its writes land or none do (fn throwing rolls back and
  // rethrows). A call made inside fn on the same thread joins the outer transaction.
  virtual void transaction(const std::function<void()>& fn) = 0;
  // Schema version after migrations (migrations run when the store is opened).
  virtual int schema_version() = 0;

  // --- users
  virtual std::vector<User> users() = 0;
  virtual std::optional<User> user_by_id(std::int64_t id) = 0;
  virtual std::optional<User> user_by_email(std::string_view email) = 0;
  virtual User insert_user(const User& user) = 0;               // returns it with its id
  virtual void update_user(const User& user) = 0;               // name and roles
  virtual void delete_user(std::int64_t id) = 0;                // with its tokens, codes, memberships

  // --- access tokens and one-time codes
  virtual AccessToken insert_token(const AccessToken& token) = 0;
  virtual void update_token(const AccessToken& token) = 0;      // hashes, expiry, last_used_at
  virtual std::optional<AccessToken> token_by_id(std::int64_t id) = 0;
  virtual std::optional<AccessToken> token_by_hash(std::string_view token_hash) = 0;
  virtual std::optional<AccessToken> token_by_refresh_hash(std::string_view refresh_hash) = 0;
  virtual std::vector<AccessToken> tokens_of_user(std::int64_t user_id) = 0;
  virtual void delete_token(std::int64_t id) = 0;
  virtual void insert_code(const AuthCode& code) = 0;
  // Removes the code and returns it; nullopt when there is no such code. One use only.
  virtual std::optional<AuthCode> take_code(std::string_view code_hash) = 0;
  virtual std::vector<AuthCode> codes_of_user(std::int64_t user_id) = 0;

  // --- grids and membership
  virtual std::vector<Grid> grids() = 0;
  virtual std::vector<Grid> grids_of_user(std::int64_t user_id) = 0;
  virtual std::optional<Grid> grid_by_id(std::int64_t id) = 0;
  virtual std::optional<Grid> grid_by_name(std::string_view name) = 0;
  virtual std::optional<Grid> grid_by_token(std::string_view token) = 0;
  virtual Grid insert_grid(const Grid& grid) = 0;
  virtual void update_grid(const Grid& grid) = 0;
  virtual void delete_grid(std::int64_t id) = 0;               // with its nodes and memberships
  virtual void add_grid_user(std::int64_t grid_id, std::int64_t user_id) = 0;     // idempotent
  virtual void remove_grid_user(std::int64_t grid_id, std::int64_t user_id) = 0;  // idempotent
  virtual std::vector<User> grid_users(std::int64_t grid_id) = 0;
  virtual bool is_grid_member(std::int64_t grid_id, std::int64_t user_id) = 0;

  // --- nodes
  virtual std::vector<Node> nodes_of_grid(std::int64_t grid_id) = 0;  // ordered by node_number
  virtual std::optional<Node> node_by_id(std::int64_t id) = 0;
  virtual std::optional<Node> node_by_name(std::int64_t grid_id, std::string_view name) = 0;
  virtual std::optional<Node> node_by_node_id(std::int64_t grid_id, std::string_view node_id) = 0;
  virtual std::optional<Node> node_by_token(std::string_view token) = 0;
  // node_number 0 = lowest free number in 1..254; invalid when the grid has 254 nodes already.
  virtual Node insert_node(const Node& node) = 0;
  virtual void update_node(const Node& node) = 0;
  virtual void delete_node(std::int64_t id) = 0;

  // --- stacks (deleting a grid deletes its stacks, services, instances, deploys and logs)
  virtual std::vector<Stack> stacks_of_grid(std::int64_t grid_id) = 0;  // ordered by name
  virtual std::optional<Stack> stack_by_id(std::int64_t id) = 0;
  virtual std::optional<Stack> stack_by_name(std::int64_t grid_id, std::string_view name) = 0;
  // Inserts the stack with revision 1 and its first StackRevision (definition); conflict when the
  // name is taken in the grid.
  virtual Stack insert_stack(const Stack& stack, const Json& definition) = 0;
  // Writes name-independent fields (stack, version, parent_name, labels, expose, revision,
  // deployed_revision, updated_at).
  virtual void update_stack(const Stack& stack) = 0;
  // Adds revision stack.revision + 1 with this definition, bumps Stack::revision; returns it.
  virtual StackRevision add_stack_revision(std::int64_t stack_id, const Json& definition) = 0;
  virtual std::optional<StackRevision> stack_revision(std::int64_t stack_id, int revision) = 0;
  virtual std::vector<StackRevision> stack_revisions(std::int64_t stack_id) = 0;  // oldest first
  // With its revisions, services (and their instances and deploys) and stack deploys.
  virtual void delete_stack(std::int64_t id) = 0;

  // --- services
  // stack_id: nullopt = every service of the grid; 0 = the null stack's. Ordered by stack, name.
  virtual std::vector<Service> services_of_grid(std::int64_t grid_id,
                                                std::optional<std::int64_t> stack_id = std::nullopt) = 0;
  virtual std::optional<Service> service_by_id(std::int64_t id) = 0;
  // stack_id 0 = the null stack.
  virtual std::optional<Service> service_by_name(std::int64_t grid_id, std::int64_t stack_id, std::string_view name) = 0;
  virtual Service insert_service(const Service& service) = 0;  // conflict when the name is taken
  virtual void update_service(const Service& service) = 0;     // spec, revision, stack_revision, state, deployed_at, updated_at
  virtual void delete_service(std::int64_t id) = 0;            // with its instances and deploys

  // --- service instances
  virtual std::vector<ServiceInstance> instances_of_service(std::int64_t service_id) = 0;  // by number
  virtual std::vector<ServiceInstance> instances_on_node(std::int64_t node_id) = 0;
  virtual std::vector<ServiceInstance> instances_of_grid(std::int64_t grid_id) = 0;
  virtual std::optional<ServiceInstance> instance(std::int64_t service_id, int instance_number) = 0;
  // Inserts or replaces the row of (service_id, instance_number); returns it with its id.
  virtual ServiceInstance upsert_instance(const ServiceInstance& instance) = 0;
  virtual void delete_instance(std::int64_t service_id, int instance_number) = 0;  // idempotent
  // Deleting a node sets node_id = 0 on its instances (the scheduler then places them anew).

  // --- deploys
  virtual ServiceDeploy insert_service_deploy(const ServiceDeploy& deploy) = 0;
  virtual void update_service_deploy(const ServiceDeploy& deploy) = 0;
  virtual std::optional<ServiceDeploy> service_deploy(std::int64_t id) = 0;
  // Deploys in state created or ongoing, oldest first (every grid).
  virtual std::vector<ServiceDeploy> pending_service_deploys() = 0;
  virtual std::vector<ServiceDeploy> deploys_of_service(std::int64_t service_id, int limit) = 0;  // newest first
  virtual std::vector<ServiceDeploy> deploys_of_stack_deploy(std::int64_t stack_deploy_id) = 0;   // oldest first
  virtual StackDeploy insert_stack_deploy(const StackDeploy& deploy) = 0;
  virtual void update_stack_deploy(const StackDeploy& deploy) = 0;
  virtual std::optional<StackDeploy> stack_deploy(std::int64_t id) = 0;
  virtual std::vector<StackDeploy> pending_stack_deploys() = 0;  // created or ongoing, oldest first

  // --- event log and container logs: bounded (oldest go first past max_event_logs /
  // max_container_logs). Queries return oldest first, at most `limit`, ids > after_id, created_at
  // >= since (0 = no bound); empty filter strings match everything.
  struct LogFilter {
    std::int64_t grid_id = 0;
    std::string stack;
    std::string service;
    int instance_number = 0;  // 0 = all
    std::string node;
    std::int64_t after_id = 0;
    std::int64_t since = 0;
    int limit = 100;
    bool tail = true;  // true: the newest `limit` matching (still returned oldest first)
  };
  virtual void append_events(const std::vector<EventLog>& events) = 0;
  virtual std::vector<EventLog> events(const LogFilter& filter) = 0;
  virtual void append_container_logs(const std::vector<ContainerLog>& lines) = 0;
  virtual std::vector<ContainerLog> container_logs(const LogFilter& filter) = 0;

  // --- master configuration (flat key/value)
  virtual std::map<std::string, std::string> config() = 0;
  virtual void set_config(const std::string& key, const std::string& value) = 0;
  virtual void unset_config(const std::string& key) = 0;  // idempotent

  // --- audit log, bounded: the oldest entries go once max_audit_entries is reached
  virtual void append_audit(const AuditEntry& entry) = 0;
  // Newest first; grid empty = all grids.
  virtual std::vector<AuditEntry> audit_entries(std::string_view grid, int limit) = 0;
};

struct SqliteOptions {
  std::string path;                     // database file; created with its directory if missing
  std::size_t max_audit_entries = 100000;
  std::size_t max_event_logs = 100000;
  std::size_t max_container_logs = 500000;
};

// Opens (creating and migrating as needed) the SQLite store in WAL mode.
std::unique_ptr<Store> open_sqlite_store(const SqliteOptions& options);

}  // namespace kontena::master
