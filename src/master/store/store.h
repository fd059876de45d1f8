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
};

// Opens (creating and migrating as needed) the SQLite store in WAL mode.
std::unique_ptr<Store> open_sqlite_store(const SqliteOptions& options);

}  // namespace kontena::master
