// The SQLite implementation of Store: one connection in WAL mode, guarded by a recursive mutex
// (a transaction holds it throughout, so calls made inside one join it).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <system_error>

#include "master/store/sqlite_db.h"
#include "master/store/sqlite_schema.h"
#include "master/store/store.h"

namespace kontena::master {

namespace {

using sqlite::ConstraintViolation;
using sqlite::Database;
using sqlite::NullIfEmpty;
using sqlite::Statement;
using Lock = std::lock_guard<std::recursive_mutex>;

constexpr int kMaxNodeNumber = 254;

std::string in_quotes(std::string_view text) { return "\"" + std::string(text) + "\""; }

[[noreturn]] void conflict(std::string message) { throw Error(ErrorKind::conflict, std::move(message)); }
[[noreturn]] void not_found(std::string message) { throw Error(ErrorKind::not_found, std::move(message)); }

std::vector<std::string> sorted_unique(std::vector<std::string> values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  return values;
}

// Column lists, in the order the read_* functions below expect. Tables are aliased so the same
// list serves joins.
constexpr std::string_view kUserColumns = "u.id, u.email, u.name, u.roles, u.created_at";
constexpr std::string_view kTokenColumns =
    "t.id, t.user_id, t.token_hash, t.token_last4, t.refresh_token_hash, t.description, t.scopes, t.expires_at, "
    "t.created_at, t.last_used_at, t.internal";
constexpr std::string_view kCodeColumns = "c.code_hash, c.user_id, c.kind, c.expires_at, c.created_at";
constexpr std::string_view kGridColumns =
    "g.id, g.name, g.token, g.initial_size, g.subnet, g.supernet, g.default_affinity, g.trusted_subnets, g.stats, "
    "g.logs, g.created_at, g.updated_at";
constexpr std::string_view kNodeColumns =
    "n.id, n.grid_id, n.name, n.node_id, n.node_number, n.token, n.labels, n.availability, n.connected, "
    "n.connected_at, n.last_seen_at, n.info, n.created_at, n.updated_at";
constexpr std::string_view kAuditColumns =
    "id, created_at, user_id, user_email, grid, resource_type, resource_id, resource_name, event_name, event_status, "
    "http_status, error, source_ip, user_agent, request_method, request_path, request_body";

constexpr std::string_view kStackColumns =
    "k.id, k.grid_id, k.name, k.stack, k.version, k.parent_name, k.labels, k.expose, k.revision, "
    "k.deployed_revision, k.created_at, k.updated_at";
constexpr std::string_view kRevisionColumns = "r.id, r.stack_id, r.revision, r.definition, r.created_at";
// Column 4 is the stack's name ("null" for the null stack): services order by it.
constexpr std::string_view kServiceColumns =
    "v.id, v.grid_id, ifnull(v.stack_id, 0), ifnull(k.name, 'null'), v.name, v.spec, v.revision, v.stack_revision, "
    "v.state, v.deployed_at, v.created_at, v.updated_at";
const std::string kServiceFrom = "FROM services v LEFT JOIN stacks k ON k.id = v.stack_id";
constexpr std::string_view kInstanceColumns =
    "i.id, i.service_id, i.instance_number, ifnull(i.node_id, 0), i.desired_state, i.deploy_rev, i.state, i.error, "
    "i.rev, i.health, i.reported_at, i.created_at, i.updated_at";
constexpr std::string_view kServiceDeployColumns =
    "d.id, d.service_id, ifnull(d.stack_deploy_id, 0), d.state, d.reason, d.force, d.error, d.instances, "
    "d.created_at, d.started_at, d.finished_at";
constexpr std::string_view kStackDeployColumns =
    "d.id, d.stack_id, d.revision, d.state, d.error, d.created_at, d.finished_at";
constexpr std::string_view kEventColumns =
    "id, grid_id, stack, service, instance_number, node, type, severity, message, created_at";
constexpr std::string_view kContainerLogColumns =
    "id, grid_id, node, stack, service, instance_number, container, stream, data, created_at";

// "SELECT <columns> <rest>", built once per call site (the result is the statement cache key).
std::string select_sql(std::string_view columns, std::string_view rest) {
  return "SELECT " + std::string(columns) + " " + std::string(rest);
}

User read_user(const Statement& row) {
  User user;
  user.id = row.int64(0);
  user.email = row.text(1);
  user.name = row.text(2);
  user.roles = sorted_unique(row.strings(3));
  user.created_at = row.int64(4);
  return user;
}

AccessToken read_token(const Statement& row) {
  AccessToken token;
  token.id = row.int64(0);
  token.user_id = row.int64(1);
  token.token_hash = row.text(2);
  token.token_last4 = row.text(3);
  token.refresh_token_hash = row.text(4);
  token.description = row.text(5);
  token.scopes = row.text(6);
  token.expires_at = row.optional_int64(7);
  token.created_at = row.int64(8);
  token.last_used_at = row.int64(9);
  token.internal = row.boolean(10);
  return token;
}

AuthCode read_code(const Statement& row) {
  AuthCode code;
  code.code_hash = row.text(0);
  code.user_id = row.int64(1);
  code.kind = row.text(2);
  code.expires_at = row.optional_int64(3);
  code.created_at = row.int64(4);
  return code;
}

Grid read_grid(const Statement& row) {
  Grid grid;
  grid.id = row.int64(0);
  grid.name = row.text(1);
  grid.token = row.text(2);
  grid.initial_size = row.int32(3);
  grid.subnet = row.text(4);
  grid.supernet = row.text(5);
  grid.default_affinity = row.strings(6);
  grid.trusted_subnets = row.strings(7);
  grid.stats = row.json(8);
  grid.logs = row.json(9);
  grid.created_at = row.int64(10);
  grid.updated_at = row.int64(11);
  return grid;
}

Node read_node(const Statement& row) {
  Node node;
  node.id = row.int64(0);
  node.grid_id = row.int64(1);
  node.name = row.text(2);
  node.node_id = row.text(3);
  node.node_number = row.int32(4);
  node.token = row.text(5);
  node.labels = row.strings(6);
  node.availability = row.text(7);
  node.connected = row.boolean(8);
  node.connected_at = row.int64(9);
  node.last_seen_at = row.int64(10);
  node.info = row.json(11);
  node.created_at = row.int64(12);
  node.updated_at = row.int64(13);
  return node;
}

AuditEntry read_audit(const Statement& row) {
  AuditEntry entry;
  entry.id = row.int64(0);
  entry.created_at = row.int64(1);
  entry.user_id = row.optional_int64(2);
  entry.user_email = row.text(3);
  entry.grid = row.text(4);
  entry.resource_type = row.text(5);
  entry.resource_id = row.text(6);
  entry.resource_name = row.text(7);
  entry.event_name = row.text(8);
  entry.event_status = row.text(9);
  entry.http_status = row.int32(10);
  entry.error = row.text(11);
  entry.source_ip = row.text(12);
  entry.user_agent = row.text(13);
  entry.request_method = row.text(14);
  entry.request_path = row.text(15);
  entry.request_body = row.json(16);
  return entry;
}

Stack read_stack(const Statement& row) {
  Stack stack;
  stack.id = row.int64(0);
  stack.grid_id = row.int64(1);
  stack.name = row.text(2);
  stack.stack = row.text(3);
  stack.version = row.text(4);
  stack.parent_name = row.text(5);
  stack.labels = row.strings(6);
  stack.expose = row.text(7);
  stack.revision = row.int32(8);
  stack.deployed_revision = row.int32(9);
  stack.created_at = row.int64(10);
  stack.updated_at = row.int64(11);
  return stack;
}

StackRevision read_revision(const Statement& row) {
  StackRevision revision;
  revision.id = row.int64(0);
  revision.stack_id = row.int64(1);
  revision.revision = row.int32(2);
  revision.definition = row.json(3);
  revision.created_at = row.int64(4);
  return revision;
}

Service read_service(const Statement& row) {
  Service service;
  service.id = row.int64(0);
  service.grid_id = row.int64(1);
  service.stack_id = row.int64(2);
  service.stack_name = row.text(3);
  service.name = row.text(4);
  service.spec = row.json(5);
  service.revision = row.int64(6);
  service.stack_revision = row.int32(7);
  service.state = row.text(8);
  service.deployed_at = row.int64(9);
  service.created_at = row.int64(10);
  service.updated_at = row.int64(11);
  return service;
}

ServiceInstance read_instance(const Statement& row) {
  ServiceInstance instance;
  instance.id = row.int64(0);
  instance.service_id = row.int64(1);
  instance.instance_number = row.int32(2);
  instance.node_id = row.int64(3);
  instance.desired_state = row.text(4);
  instance.deploy_rev = row.text(5);
  instance.state = row.text(6);
  instance.error = row.text(7);
  instance.rev = row.text(8);
  instance.health = row.text(9);
  instance.reported_at = row.int64(10);
  instance.created_at = row.int64(11);
  instance.updated_at = row.int64(12);
  return instance;
}

ServiceDeploy read_service_deploy(const Statement& row) {
  ServiceDeploy deploy;
  deploy.id = row.int64(0);
  deploy.service_id = row.int64(1);
  deploy.stack_deploy_id = row.int64(2);
  deploy.state = row.text(3);
  deploy.reason = row.text(4);
  deploy.force = row.boolean(5);
  deploy.error = row.text(6);
  deploy.instances = row.json(7);
  deploy.created_at = row.int64(8);
  deploy.started_at = row.int64(9);
  deploy.finished_at = row.int64(10);
  return deploy;
}

StackDeploy read_stack_deploy(const Statement& row) {
  StackDeploy deploy;
  deploy.id = row.int64(0);
  deploy.stack_id = row.int64(1);
  deploy.revision = row.int32(2);
  deploy.state = row.text(3);
  deploy.error = row.text(4);
  deploy.created_at = row.int64(5);
  deploy.finished_at = row.int64(6);
  return deploy;
}

EventLog read_event(const Statement& row) {
  EventLog event;
  event.id = row.int64(0);
  event.grid_id = row.int64(1);
  event.stack = row.text(2);
  event.service = row.text(3);
  event.instance_number = row.int32(4);
  event.node = row.text(5);
  event.type = row.text(6);
  event.severity = row.int32(7);
  event.message = row.text(8);
  event.created_at = row.int64(9);
  return event;
}

ContainerLog read_container_log(const Statement& row) {
  ContainerLog line;
  line.id = row.int64(0);
  line.grid_id = row.int64(1);
  line.node = row.text(2);
  line.stack = row.text(3);
  line.service = row.text(4);
  line.instance_number = row.int32(5);
  line.container = row.text(6);
  line.stream = row.text(7);
  line.data = row.text(8);
  line.created_at = row.int64(9);
  return line;
}

// A reference that is 0 when absent is stored as NULL, so that foreign keys ignore it.
std::optional<std::int64_t> null_if_zero(std::int64_t id) {
  if (id == 0) return std::nullopt;
  return id;
}

// LIMIT ? takes -1 for "no limit".
std::int64_t row_limit(int limit) { return limit > 0 ? limit : -1; }

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A log query and its parameters. Every query binds the same eight numbered parameters (the
// LIMIT is ?8, so all are in range) and names only those its filter uses: one cached statement
// per combination of filters.
struct LogQuery {
  std::string sql;
  std::int64_t grid_id, instance_number, after_id, since, limit;
  std::string_view stack, service, node;
};

LogQuery log_query(std::string_view columns, std::string_view table, const Store::LogFilter& filter) {
  std::vector<std::string> conditions;
  if (filter.grid_id != 0) conditions.emplace_back("grid_id = ?1");
  if (!filter.stack.empty()) conditions.emplace_back("stack = ?2");
  if (!filter.service.empty()) conditions.emplace_back("service = ?3");
  if (filter.instance_number != 0) conditions.emplace_back("instance_number = ?4");
  if (!filter.node.empty()) conditions.emplace_back("node = ?5");
  if (filter.after_id > 0) conditions.emplace_back("id > ?6");
  if (filter.since > 0) conditions.emplace_back("created_at >= ?7");
  std::string sql = "SELECT " + std::string(columns) + " FROM " + std::string(table);
  for (std::size_t i = 0; i < conditions.size(); ++i) sql += (i == 0 ? " WHERE " : " AND ") + conditions[i];
  sql += filter.tail ? " ORDER BY id DESC LIMIT ?8" : " ORDER BY id LIMIT ?8";
  return LogQuery{std::move(sql), filter.grid_id, filter.instance_number, filter.after_id, filter.since,
                  row_limit(filter.limit), filter.stack, filter.service, filter.node};
}

template <class Record>
std::optional<Record> first_row(Statement& query, Record (*read)(const Statement&)) {
  if (!query.next()) return std::nullopt;
  return read(query);
}

template <class Record>
std::vector<Record> all_rows(Statement& query, Record (*read)(const Statement&)) {
  std::vector<Record> records;
  while (query.next()) records.push_back(read(query));
  return records;
}

void check_node_number(int number) {
  if (number < 1 || number > kMaxNodeNumber) {
    invalid("node_number", "node number " + std::to_string(number) + " is out of range: it must be 1..254");
  }
}

class SqliteStore final : public Store {
 public:
  SqliteStore(std::unique_ptr<Database> db, const SqliteOptions& options)
      : db_(std::move(db)),
        max_audit_entries_(options.max_audit_entries),
        max_event_logs_(options.max_event_logs),
        max_container_logs_(options.max_container_logs) {}

  void transaction(const std::function<void()>& fn) override { db_->transaction(fn); }

  int schema_version() override {
    Lock lock(db_->mutex());
    return sqlite::current_schema_version(*db_);
  }

  // ------------------------------------------------------------------------------------ users

  std::vector<User> users() override {
    static const std::string sql = select_sql(kUserColumns, "FROM users u ORDER BY u.email");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    return all_rows(query, read_user);
  }

  std::optional<User> user_by_id(std::int64_t id) override {
    static const std::string sql = select_sql(kUserColumns, "FROM users u WHERE u.id = ?");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    query.bind(id);
    return first_row(query, read_user);
  }

  std::optional<User> user_by_email(std::string_view email) override {
    static const std::string sql = select_sql(kUserColumns, "FROM users u WHERE u.email = ?");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    query.bind(email);
    return first_row(query, read_user);
  }

  User insert_user(const User& user) override {
    Lock lock(db_->mutex());
    User inserted = user;
    inserted.roles = sorted_unique(user.roles);
    try {
      db_->prepare("INSERT INTO users (email, name, roles, created_at) VALUES (?, ?, ?, ?)")
          .bind(inserted.email, inserted.name, inserted.roles, inserted.created_at)
          .run();
    } catch (const ConstraintViolation& violation) {
      if (violation.is_unique("users.email")) conflict("user " + in_quotes(user.email) + " already exists");
      throw;
    }
    inserted.id = db_->last_insert_id();
    return inserted;
  }

  void update_user(const User& user) override {
    Lock lock(db_->mutex());
    db_->prepare("UPDATE users SET name = ?, roles = ? WHERE id = ?")
        .bind(user.name, sorted_unique(user.roles), user.id)
        .run();
    if (db_->changes() == 0) not_found("user " + std::to_string(user.id) + " not found");
  }

  void delete_user(std::int64_t id) override {
    Lock lock(db_->mutex());
    // Tokens, codes and memberships go with it (ON DELETE CASCADE).
    db_->prepare("DELETE FROM users WHERE id = ?").bind(id).run();
    if (db_->changes() == 0) not_found("user " + std::to_string(id) + " not found");
  }

  // ------------------------------------------------------------------- access tokens and codes

  AccessToken insert_token(const AccessToken& token) override {
    Lock lock(db_->mutex());
    try {
      db_->prepare(
             "INSERT INTO access_tokens (user_id, token_hash, token_last4, refresh_token_hash, description, scopes, "
             "expires_at, created_at, last_used_at, internal) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
          .bind(token.user_id, token.token_hash, token.token_last4, NullIfEmpty{token.refresh_token_hash},
                token.description, token.scopes, token.expires_at, token.created_at, token.last_used_at,
                token.internal)
          .run();
    } catch (const ConstraintViolation& violation) {
      throw_token_conflict(violation, token.user_id);
    }
    AccessToken inserted = token;
    inserted.id = db_->last_insert_id();
    return inserted;
  }

  // Updates what changes over a token's life: the hashes (and last4) when it is refreshed, its
  // expiry and last use. Owner, description, scopes and kind stay as created.
  void update_token(const AccessToken& token) override {
    Lock lock(db_->mutex());
    try {
      db_->prepare(
             "UPDATE access_tokens SET token_hash = ?, token_last4 = ?, refresh_token_hash = ?, expires_at = ?, "
             "last_used_at = ? WHERE id = ?")
          .bind(token.token_hash, token.token_last4, NullIfEmpty{token.refresh_token_hash}, token.expires_at,
                token.last_used_at, token.id)
          .run();
    } catch (const ConstraintViolation& violation) {
      throw_token_conflict(violation, token.user_id);
    }
    if (db_->changes() == 0) not_found("access token " + std::to_string(token.id) + " not found");
  }

  std::optional<AccessToken> token_by_id(std::int64_t id) override {
    static const std::string sql = select_sql(kTokenColumns, "FROM access_tokens t WHERE t.id = ?");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    query.bind(id);
    return first_row(query, read_token);
  }

  std::optional<AccessToken> token_by_hash(std::string_view token_hash) override {
    static const std::string sql = select_sql(kTokenColumns, "FROM access_tokens t WHERE t.token_hash = ?");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    query.bind(token_hash);
    return first_row(query, read_token);
  }

  std::optional<AccessToken> token_by_refresh_hash(std::string_view refresh_hash) override {
    static const std::string sql = select_sql(kTokenColumns, "FROM access_tokens t WHERE t.refresh_token_hash = ?");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    query.bind(refresh_hash);  // '' never matches: an absent refresh token is stored as NULL
    return first_row(query, read_token);
  }

  std::vector<AccessToken> tokens_of_user(std::int64_t user_id) override {
    static const std::string sql = select_sql(kTokenColumns, "FROM access_tokens t WHERE t.user_id = ? ORDER BY t.id");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    query.bind(user_id);
    return all_rows(query, read_token);
  }

  void delete_token(std::int64_t id) override {
    Lock lock(db_->mutex());
    db_->prepare("DELETE FROM access_tokens WHERE id = ?").bind(id).run();
    if (db_->changes() == 0) not_found("access token " + std::to_string(id) + " not found");
  }

  void insert_code(const AuthCode& code) override {
    Lock lock(db_->mutex());
    try {
      db_->prepare("INSERT INTO auth_codes (code_hash, user_id, kind, expires_at, created_at) VALUES (?, ?, ?, ?, ?)")
          .bind(code.code_hash, code.user_id, code.kind, code.expires_at, code.created_at)
          .run();
    } catch (const ConstraintViolation& violation) {
      if (violation.is_foreign_key()) not_found("user " + std::to_string(code.user_id) + " not found");
      if (violation.is_unique("auth_codes.code_hash")) conflict("this " + code.kind + " code already exists");
      throw;
    }
  }

  std::optional<AuthCode> take_code(std::string_view code_hash) override {
    static const std::string sql = select_sql(kCodeColumns, "FROM auth_codes c WHERE c.code_hash = ?");
    std::optional<AuthCode> taken;
    db_->transaction([&] {
      {
        auto query = db_->prepare(sql);
        query.bind(code_hash);
        taken = first_row(query, read_code);
      }
      if (taken) db_->prepare("DELETE FROM auth_codes WHERE code_hash = ?").bind(code_hash).run();
    });
    return taken;
  }

  std::vector<AuthCode> codes_of_user(std::int64_t user_id) override {
    static const std::string sql =
        select_sql(kCodeColumns, "FROM auth_codes c WHERE c.user_id = ? ORDER BY c.created_at, c.code_hash");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    query.bind(user_id);
    return all_rows(query, read_code);
  }

  // ------------------------------------------------------------------- grids and membership

  std::vector<Grid> grids() override {
    static const std::string sql = select_sql(kGridColumns, "FROM grids g ORDER BY g.name");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    return all_rows(query, read_grid);
  }

  std::vector<Grid> grids_of_user(std::int64_t user_id) override {
    static const std::string sql = select_sql(
        kGridColumns, "FROM grid_users m JOIN grids g ON g.id = m.grid_id WHERE m.user_id = ? ORDER BY g.name");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    query.bind(user_id);
    return all_rows(query, read_grid);
  }

  std::optional<Grid> grid_by_id(std::int64_t id) override {
    static const std::string sql = select_sql(kGridColumns, "FROM grids g WHERE g.id = ?");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    query.bind(id);
    return first_row(query, read_grid);
  }

  std::optional<Grid> grid_by_name(std::string_view name) override {
    static const std::string sql = select_sql(kGridColumns, "FROM grids g WHERE g.name = ?");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    query.bind(name);
    return first_row(query, read_grid);
  }

  std::optional<Grid> grid_by_token(std::string_view token) override {
    static const std::string sql = select_sql(kGridColumns, "FROM grids g WHERE g.token = ?");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    query.bind(token);  // '' never matches: a grid without a token stores NULL
    return first_row(query, read_grid);
  }

  Grid insert_grid(const Grid& grid) override {
    Lock lock(db_->mutex());
    try {
      db_->prepare(
             "INSERT INTO grids (name, token, initial_size, subnet, supernet, default_affinity, trusted_subnets, "
             "stats, logs, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
          .bind(grid.name, NullIfEmpty{grid.token}, grid.initial_size, grid.subnet, grid.supernet,
                grid.default_affinity, grid.trusted_subnets, grid.stats, grid.logs, grid.created_at, grid.updated_at)
          .run();
    } catch (const ConstraintViolation& violation) {
      Grid attempted = grid;
      attempted.id = 0;  // not in the table yet
      throw_grid_conflict(violation, attempted);
    }
    Grid inserted = grid;
    inserted.id = db_->last_insert_id();
    return inserted;
  }

  void update_grid(const Grid& grid) override {
    Lock lock(db_->mutex());
    try {
      db_->prepare(
             "UPDATE grids SET name = ?, token = ?, initial_size = ?, subnet = ?, supernet = ?, "
             "default_affinity = ?, trusted_subnets = ?, stats = ?, logs = ?, updated_at = ? WHERE id = ?")
          .bind(grid.name, NullIfEmpty{grid.token}, grid.initial_size, grid.subnet, grid.supernet,
                grid.default_affinity, grid.trusted_subnets, grid.stats, grid.logs, grid.updated_at, grid.id)
          .run();
    } catch (const ConstraintViolation& violation) {
      throw_grid_conflict(violation, grid);
    }
    if (db_->changes() == 0) not_found("grid " + std::to_string(grid.id) + " not found");
  }

  void delete_grid(std::int64_t id) override {
    db_->transaction([&] {
      // Nodes, memberships, stacks, services, instances and deploys go with it (ON DELETE
      // CASCADE); the logs hold no foreign key and are deleted here.
      db_->prepare("DELETE FROM grids WHERE id = ?").bind(id).run();
      if (db_->changes() == 0) not_found("grid " + std::to_string(id) + " not found");
      db_->prepare("DELETE FROM event_logs WHERE grid_id = ?").bind(id).run();
      db_->prepare("DELETE FROM container_logs WHERE grid_id = ?").bind(id).run();
    });
  }

  void add_grid_user(std::int64_t grid_id, std::int64_t user_id) override {
    Lock lock(db_->mutex());
    try {
      db_->prepare("INSERT OR IGNORE INTO grid_users (grid_id, user_id) VALUES (?, ?)").bind(grid_id, user_id).run();
    } catch (const ConstraintViolation& violation) {
      if (!violation.is_foreign_key()) throw;
      if (!grid_exists(grid_id)) not_found("grid " + std::to_string(grid_id) + " not found");
      not_found("user " + std::to_string(user_id) + " not found");
    }
  }

  void remove_grid_user(std::int64_t grid_id, std::int64_t user_id) override {
    Lock lock(db_->mutex());
    db_->prepare("DELETE FROM grid_users WHERE grid_id = ? AND user_id = ?").bind(grid_id, user_id).run();
  }

  std::vector<User> grid_users(std::int64_t grid_id) override {
    static const std::string sql = select_sql(
        kUserColumns, "FROM grid_users m JOIN users u ON u.id = m.user_id WHERE m.grid_id = ? ORDER BY u.email");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    query.bind(grid_id);
    return all_rows(query, read_user);
  }

  bool is_grid_member(std::int64_t grid_id, std::int64_t user_id) override {
    Lock lock(db_->mutex());
    auto query = db_->prepare("SELECT 1 FROM grid_users WHERE grid_id = ? AND user_id = ?");
    query.bind(grid_id, user_id);
    return query.next();
  }

  // ------------------------------------------------------------------------------------ nodes

  std::vector<Node> nodes_of_grid(std::int64_t grid_id) override {
    static const std::string sql = select_sql(kNodeColumns, "FROM nodes n WHERE n.grid_id = ? ORDER BY n.node_number");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    query.bind(grid_id);
    return all_rows(query, read_node);
  }

  std::optional<Node> node_by_id(std::int64_t id) override {
    static const std::string sql = select_sql(kNodeColumns, "FROM nodes n WHERE n.id = ?");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    query.bind(id);
    return first_row(query, read_node);
  }

  std::optional<Node> node_by_name(std::int64_t grid_id, std::string_view name) override {
    static const std::string sql = select_sql(kNodeColumns, "FROM nodes n WHERE n.grid_id = ? AND n.name = ?");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    query.bind(grid_id, name);
    return first_row(query, read_node);
  }

  std::optional<Node> node_by_node_id(std::int64_t grid_id, std::string_view node_id) override {
    static const std::string sql = select_sql(kNodeColumns, "FROM nodes n WHERE n.grid_id = ? AND n.node_id = ?");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    query.bind(grid_id, node_id);  // '' never matches an unbound node (NULL)
    return first_row(query, read_node);
  }

  std::optional<Node> node_by_token(std::string_view token) override {
    static const std::string sql = select_sql(kNodeColumns, "FROM nodes n WHERE n.token = ?");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    query.bind(token);  // '' never matches a node without a token (NULL)
    return first_row(query, read_node);
  }

  Node insert_node(const Node& node) override {
    Node inserted = node;
    if (node.node_number != 0) check_node_number(node.node_number);
    try {
      db_->transaction([&] {
        if (inserted.node_number == 0) inserted.node_number = lowest_free_node_number(node.grid_id);
        db_->prepare(
               "INSERT INTO nodes (grid_id, name, node_id, node_number, token, labels, availability, connected, "
               "connected_at, last_seen_at, info, created_at, updated_at) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(inserted.grid_id, inserted.name, NullIfEmpty{inserted.node_id}, inserted.node_number,
                  NullIfEmpty{inserted.token}, inserted.labels, inserted.availability, inserted.connected,
                  inserted.connected_at, inserted.last_seen_at, inserted.info, inserted.created_at,
                  inserted.updated_at)
            .run();
        inserted.id = db_->last_insert_id();
      });
    } catch (const ConstraintViolation& violation) {
      Lock lock(db_->mutex());
      if (violation.is_foreign_key()) not_found("grid " + std::to_string(node.grid_id) + " not found");
      inserted.id = 0;  // not in the table yet
      throw_node_conflict(violation, inserted, node.grid_id);
    }
    return inserted;
  }

  void update_node(const Node& node) override {
    check_node_number(node.node_number);
    Lock lock(db_->mutex());
    try {
      db_->prepare(
             "UPDATE nodes SET name = ?, node_id = ?, node_number = ?, token = ?, labels = ?, availability = ?, "
             "connected = ?, connected_at = ?, last_seen_at = ?, info = ?, updated_at = ? WHERE id = ?")
          .bind(node.name, NullIfEmpty{node.node_id}, node.node_number, NullIfEmpty{node.token}, node.labels,
                node.availability, node.connected, node.connected_at, node.last_seen_at, node.info, node.updated_at,
                node.id)
          .run();
    } catch (const ConstraintViolation& violation) {
      // The node keeps its grid: take it from the row rather than from the caller's copy.
      auto query = db_->prepare("SELECT grid_id FROM nodes WHERE id = ?");
      query.bind(node.id);
      std::int64_t grid_id = query.next() ? query.int64(0) : node.grid_id;
      throw_node_conflict(violation, node, grid_id);
    }
    if (db_->changes() == 0) not_found("node " + std::to_string(node.id) + " not found");
  }

  void delete_node(std::int64_t id) override {
    Lock lock(db_->mutex());
    db_->prepare("DELETE FROM nodes WHERE id = ?").bind(id).run();
    if (db_->changes() == 0) not_found("node " + std::to_string(id) + " not found");
  }

  // ------------------------------------------------------------------------------------ stacks

  std::vector<Stack> stacks_of_grid(std::int64_t grid_id) override {
    static const std::string sql = select_sql(kStackColumns, "FROM stacks k WHERE k.grid_id = ? ORDER BY k.name");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    query.bind(grid_id);
    return all_rows(query, read_stack);
  }

  std::optional<Stack> stack_by_id(std::int64_t id) override {
    static const std::string sql = select_sql(kStackColumns, "FROM stacks k WHERE k.id = ?");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    query.bind(id);
    return first_row(query, read_stack);
  }

  std::optional<Stack> stack_by_name(std::int64_t grid_id, std::string_view name) override {
    static const std::string sql = select_sql(kStackColumns, "FROM stacks k WHERE k.grid_id = ? AND k.name = ?");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    query.bind(grid_id, name);
    return first_row(query, read_stack);
  }

  Stack insert_stack(const Stack& stack, const Json& definition) override {
    // "null" names the grid's stack-less services in every API; a row by that name would be
    // ambiguous (the API validates names fully; the store only refuses what would break reads).
    if (stack.name.empty()) invalid("name", "a stack needs a name");
    if (stack.name == "null") invalid("name", "\"null\" is not a stack name: it names the grid's stack-less services");
    Stack inserted = stack;
    inserted.revision = 1;
    try {
      db_->transaction([&] {
        db_->prepare(
               "INSERT INTO stacks (grid_id, name, stack, version, parent_name, labels, expose, revision, "
               "deployed_revision, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(inserted.grid_id, inserted.name, inserted.stack, inserted.version, inserted.parent_name,
                  inserted.labels, inserted.expose, inserted.revision, inserted.deployed_revision, inserted.created_at,
                  inserted.updated_at)
            .run();
        inserted.id = db_->last_insert_id();
        db_->prepare("INSERT INTO stack_revisions (stack_id, revision, definition, created_at) VALUES (?, ?, ?, ?)")
            .bind(inserted.id, 1, definition, inserted.created_at)
            .run();
      });
    } catch (const ConstraintViolation& violation) {
      Lock lock(db_->mutex());
      if (violation.is_foreign_key()) not_found("grid " + std::to_string(stack.grid_id) + " not found");
      if (violation.is_unique("stacks.grid_id, stacks.name")) {
        conflict("stack " + in_quotes(stack.name) + " already exists in grid " + grid_label(stack.grid_id));
      }
      throw;
    }
    return inserted;
  }

  void update_stack(const Stack& stack) override {
    Lock lock(db_->mutex());
    db_->prepare(
           "UPDATE stacks SET stack = ?, version = ?, parent_name = ?, labels = ?, expose = ?, revision = ?, "
           "deployed_revision = ?, updated_at = ? WHERE id = ?")
        .bind(stack.stack, stack.version, stack.parent_name, stack.labels, stack.expose, stack.revision,
              stack.deployed_revision, stack.updated_at, stack.id)
        .run();
    if (db_->changes() == 0) not_found("stack " + std::to_string(stack.id) + " not found");
  }

  // The revision's created_at is now; the stack's updated_at is the caller's (update_stack).
  StackRevision add_stack_revision(std::int64_t stack_id, const Json& definition) override {
    StackRevision added;
    db_->transaction([&] {
      int latest = 0;
      {
        auto query = db_->prepare("SELECT revision FROM stacks WHERE id = ?");
        query.bind(stack_id);
        if (!query.next()) not_found("stack " + std::to_string(stack_id) + " not found");
        latest = query.int32(0);
      }
      // A revision row may exist past the stack's counter (written by a caller that then failed
      // to bump it): continue after the highest of both rather than collide.
      {
        auto query = db_->prepare("SELECT coalesce(max(revision), 0) FROM stack_revisions WHERE stack_id = ?");
        query.bind(stack_id);
        if (query.next()) latest = std::max(latest, query.int32(0));
      }
      added.stack_id = stack_id;
      added.revision = latest + 1;
      added.definition = definition;
      added.created_at = now_ms();
      db_->prepare("INSERT INTO stack_revisions (stack_id, revision, definition, created_at) VALUES (?, ?, ?, ?)")
          .bind(stack_id, added.revision, definition, added.created_at)
          .run();
      added.id = db_->last_insert_id();
      db_->prepare("UPDATE stacks SET revision = ? WHERE id = ?").bind(added.revision, stack_id).run();
    });
    return added;
  }

  std::optional<StackRevision> stack_revision(std::int64_t stack_id, int revision) override {
    static const std::string sql =
        select_sql(kRevisionColumns, "FROM stack_revisions r WHERE r.stack_id = ? AND r.revision = ?");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    query.bind(stack_id, revision);
    return first_row(query, read_revision);
  }

  std::vector<StackRevision> stack_revisions(std::int64_t stack_id) override {
    static const std::string sql =
        select_sql(kRevisionColumns, "FROM stack_revisions r WHERE r.stack_id = ? ORDER BY r.revision");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    query.bind(stack_id);
    return all_rows(query, read_revision);
  }

  void delete_stack(std::int64_t id) override {
    Lock lock(db_->mutex());
    // Revisions, services (with their instances and deploys) and stack deploys go with it.
    db_->prepare("DELETE FROM stacks WHERE id = ?").bind(id).run();
    if (db_->changes() == 0) not_found("stack " + std::to_string(id) + " not found");
  }

  // ---------------------------------------------------------------------------------- services

  std::vector<Service> services_of_grid(std::int64_t grid_id, std::optional<std::int64_t> stack_id) override {
    static const std::string all_sql =
        select_sql(kServiceColumns, kServiceFrom + " WHERE v.grid_id = ? ORDER BY 4, v.name");
    static const std::string stack_sql = select_sql(
        kServiceColumns, kServiceFrom + " WHERE v.grid_id = ? AND ifnull(v.stack_id, 0) = ? ORDER BY 4, v.name");
    Lock lock(db_->mutex());
    if (!stack_id) {
      auto query = db_->prepare(all_sql);
      query.bind(grid_id);
      return all_rows(query, read_service);
    }
    auto query = db_->prepare(stack_sql);
    query.bind(grid_id, *stack_id);
    return all_rows(query, read_service);
  }

  std::optional<Service> service_by_id(std::int64_t id) override {
    static const std::string sql = select_sql(kServiceColumns, kServiceFrom + " WHERE v.id = ?");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    query.bind(id);
    return first_row(query, read_service);
  }

  std::optional<Service> service_by_name(std::int64_t grid_id, std::int64_t stack_id, std::string_view name) override {
    static const std::string sql = select_sql(
        kServiceColumns, kServiceFrom + " WHERE v.grid_id = ? AND ifnull(v.stack_id, 0) = ? AND v.name = ?");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    query.bind(grid_id, stack_id, name);
    return first_row(query, read_service);
  }

  Service insert_service(const Service& service) override {
    Service inserted = service;
    db_->transaction([&] {
      if (!grid_exists(service.grid_id)) not_found("grid " + std::to_string(service.grid_id) + " not found");
      inserted.stack_name = "null";
      if (service.stack_id != 0) {
        auto query = db_->prepare("SELECT grid_id, name FROM stacks WHERE id = ?");
        query.bind(service.stack_id);
        if (!query.next()) not_found("stack " + std::to_string(service.stack_id) + " not found");
        if (query.int64(0) != service.grid_id) {
          invalid("stack_id", "stack " + in_quotes(query.text(1)) + " is not in grid " + grid_label(service.grid_id));
        }
        inserted.stack_name = query.text(1);
      }
      if (service_name_taken(service.grid_id, service.stack_id, service.name, 0)) {
        conflict("service " + in_quotes(service.name) + " already exists in stack " +
                 in_quotes(inserted.stack_name) + " of grid " + grid_label(service.grid_id));
      }
      db_->prepare(
             "INSERT INTO services (grid_id, stack_id, name, spec, revision, stack_revision, state, deployed_at, "
             "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
          .bind(service.grid_id, null_if_zero(service.stack_id), service.name, service.spec, service.revision,
                service.stack_revision, service.state, service.deployed_at, service.created_at, service.updated_at)
          .run();
      inserted.id = db_->last_insert_id();
    });
    return inserted;
  }

  void update_service(const Service& service) override {
    Lock lock(db_->mutex());
    db_->prepare(
           "UPDATE services SET spec = ?, revision = ?, stack_revision = ?, state = ?, deployed_at = ?, "
           "updated_at = ? WHERE id = ?")
        .bind(service.spec, service.revision, service.stack_revision, service.state, service.deployed_at,
              service.updated_at, service.id)
        .run();
    if (db_->changes() == 0) not_found("service " + std::to_string(service.id) + " not found");
  }

  void delete_service(std::int64_t id) override {
    Lock lock(db_->mutex());
    // Instances and deploys go with it (ON DELETE CASCADE).
    db_->prepare("DELETE FROM services WHERE id = ?").bind(id).run();
    if (db_->changes() == 0) not_found("service " + std::to_string(id) + " not found");
  }

  // ------------------------------------------------------------------------- service instances

  std::vector<ServiceInstance> instances_of_service(std::int64_t service_id) override {
    static const std::string sql =
        select_sql(kInstanceColumns, "FROM service_instances i WHERE i.service_id = ? ORDER BY i.instance_number");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    query.bind(service_id);
    return all_rows(query, read_instance);
  }

  // Ordered by service id, then instance number.
  std::vector<ServiceInstance> instances_on_node(std::int64_t node_id) override {
    static const std::string sql = select_sql(
        kInstanceColumns, "FROM service_instances i WHERE i.node_id = ? ORDER BY i.service_id, i.instance_number");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    query.bind(node_id);  // 0 never matches: unplaced instances hold NULL
    return all_rows(query, read_instance);
  }

  // Ordered by service id, then instance number.
  std::vector<ServiceInstance> instances_of_grid(std::int64_t grid_id) override {
    static const std::string sql = select_sql(kInstanceColumns,
                                              "FROM services v JOIN service_instances i ON i.service_id = v.id "
                                              "WHERE v.grid_id = ? ORDER BY i.service_id, i.instance_number");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    query.bind(grid_id);
    return all_rows(query, read_instance);
  }

  std::optional<ServiceInstance> instance(std::int64_t service_id, int instance_number) override {
    static const std::string sql =
        select_sql(kInstanceColumns, "FROM service_instances i WHERE i.service_id = ? AND i.instance_number = ?");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    query.bind(service_id, instance_number);
    return first_row(query, read_instance);
  }

  // A replaced row keeps its id; every other field is the caller's.
  ServiceInstance upsert_instance(const ServiceInstance& instance) override {
    if (instance.instance_number < 1) {
      invalid("instance_number",
              "instance number " + std::to_string(instance.instance_number) + " is out of range: it must be >= 1");
    }
    ServiceInstance written = instance;
    try {
      db_->transaction([&] {
        db_->prepare(
               "INSERT INTO service_instances (service_id, instance_number, node_id, desired_state, deploy_rev, "
               "state, error, rev, health, reported_at, created_at, updated_at) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
               "ON CONFLICT (service_id, instance_number) DO UPDATE SET node_id = excluded.node_id, "
               "desired_state = excluded.desired_state, deploy_rev = excluded.deploy_rev, state = excluded.state, "
               "error = excluded.error, rev = excluded.rev, health = excluded.health, "
               "reported_at = excluded.reported_at, created_at = excluded.created_at, "
               "updated_at = excluded.updated_at")
            .bind(instance.service_id, instance.instance_number, null_if_zero(instance.node_id),
                  instance.desired_state, instance.deploy_rev, instance.state, instance.error, instance.rev,
                  instance.health, instance.reported_at, instance.created_at, instance.updated_at)
            .run();
        auto query = db_->prepare("SELECT id FROM service_instances WHERE service_id = ? AND instance_number = ?");
        query.bind(instance.service_id, instance.instance_number);
        if (query.next()) written.id = query.int64(0);
      });
    } catch (const ConstraintViolation& violation) {
      Lock lock(db_->mutex());
      if (!violation.is_foreign_key()) throw;
      if (!row_exists("services", instance.service_id)) {
        not_found("service " + std::to_string(instance.service_id) + " not found");
      }
      not_found("node " + std::to_string(instance.node_id) + " not found");
    }
    return written;
  }

  void delete_instance(std::int64_t service_id, int instance_number) override {
    Lock lock(db_->mutex());
    db_->prepare("DELETE FROM service_instances WHERE service_id = ? AND instance_number = ?")
        .bind(service_id, instance_number)
        .run();
  }

  // ----------------------------------------------------------------------------------- deploys

  ServiceDeploy insert_service_deploy(const ServiceDeploy& deploy) override {
    Lock lock(db_->mutex());
    try {
      db_->prepare(
             "INSERT INTO service_deploys (service_id, stack_deploy_id, state, reason, force, error, instances, "
             "created_at, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
          .bind(deploy.service_id, null_if_zero(deploy.stack_deploy_id), deploy.state, deploy.reason, deploy.force,
                deploy.error, deploy.instances, deploy.created_at, deploy.started_at, deploy.finished_at)
          .run();
    } catch (const ConstraintViolation& violation) {
      if (!violation.is_foreign_key()) throw;
      if (!row_exists("services", deploy.service_id)) {
        not_found("service " + std::to_string(deploy.service_id) + " not found");
      }
      not_found("stack deploy " + std::to_string(deploy.stack_deploy_id) + " not found");
    }
    ServiceDeploy inserted = deploy;
    inserted.id = db_->last_insert_id();
    return inserted;
  }

  // Writes state, reason, force, error, instances, started_at and finished_at; the service, the
  // stack deploy and created_at stay as inserted.
  void update_service_deploy(const ServiceDeploy& deploy) override {
    Lock lock(db_->mutex());
    db_->prepare(
           "UPDATE service_deploys SET state = ?, reason = ?, force = ?, error = ?, instances = ?, started_at = ?, "
           "finished_at = ? WHERE id = ?")
        .bind(deploy.state, deploy.reason, deploy.force, deploy.error, deploy.instances, deploy.started_at,
              deploy.finished_at, deploy.id)
        .run();
    if (db_->changes() == 0) not_found("service deploy " + std::to_string(deploy.id) + " not found");
  }

  std::optional<ServiceDeploy> service_deploy(std::int64_t id) override {
    static const std::string sql = select_sql(kServiceDeployColumns, "FROM service_deploys d WHERE d.id = ?");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    query.bind(id);
    return first_row(query, read_service_deploy);
  }

  std::vector<ServiceDeploy> pending_service_deploys() override {
    // The WHERE matches the partial index service_deploys_pending.
    static const std::string sql = select_sql(
        kServiceDeployColumns, "FROM service_deploys d WHERE d.state IN ('created', 'ongoing') ORDER BY d.id");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    return all_rows(query, read_service_deploy);
  }

  // limit <= 0: no limit.
  std::vector<ServiceDeploy> deploys_of_service(std::int64_t service_id, int limit) override {
    static const std::string sql = select_sql(
        kServiceDeployColumns, "FROM service_deploys d WHERE d.service_id = ? ORDER BY d.id DESC LIMIT ?");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    query.bind(service_id, row_limit(limit));
    return all_rows(query, read_service_deploy);
  }

  std::vector<ServiceDeploy> deploys_of_stack_deploy(std::int64_t stack_deploy_id) override {
    static const std::string sql =
        select_sql(kServiceDeployColumns, "FROM service_deploys d WHERE d.stack_deploy_id = ? ORDER BY d.id");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    query.bind(stack_deploy_id);
    return all_rows(query, read_service_deploy);
  }

  StackDeploy insert_stack_deploy(const StackDeploy& deploy) override {
    Lock lock(db_->mutex());
    try {
      db_->prepare(
             "INSERT INTO stack_deploys (stack_id, revision, state, error, created_at, finished_at) "
             "VALUES (?, ?, ?, ?, ?, ?)")
          .bind(deploy.stack_id, deploy.revision, deploy.state, deploy.error, deploy.created_at, deploy.finished_at)
          .run();
    } catch (const ConstraintViolation& violation) {
      if (violation.is_foreign_key()) not_found("stack " + std::to_string(deploy.stack_id) + " not found");
      throw;
    }
    StackDeploy inserted = deploy;
    inserted.id = db_->last_insert_id();
    return inserted;
  }

  // Writes revision, state, error and finished_at.
  void update_stack_deploy(const StackDeploy& deploy) override {
    Lock lock(db_->mutex());
    db_->prepare("UPDATE stack_deploys SET revision = ?, state = ?, error = ?, finished_at = ? WHERE id = ?")
        .bind(deploy.revision, deploy.state, deploy.error, deploy.finished_at, deploy.id)
        .run();
    if (db_->changes() == 0) not_found("stack deploy " + std::to_string(deploy.id) + " not found");
  }

  std::optional<StackDeploy> stack_deploy(std::int64_t id) override {
    static const std::string sql = select_sql(kStackDeployColumns, "FROM stack_deploys d WHERE d.id = ?");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    query.bind(id);
    return first_row(query, read_stack_deploy);
  }

  std::vector<StackDeploy> pending_stack_deploys() override {
    static const std::string sql = select_sql(
        kStackDeployColumns, "FROM stack_deploys d WHERE d.state IN ('created', 'ongoing') ORDER BY d.id");
    Lock lock(db_->mutex());
    auto query = db_->prepare(sql);
    return all_rows(query, read_stack_deploy);
  }

  // ------------------------------------------------------------------ event and container logs

  void append_events(const std::vector<EventLog>& events) override {
    if (events.empty()) return;
    db_->transaction([&] {
      for (const EventLog& event : events) {
        db_->prepare(
               "INSERT INTO event_logs (grid_id, stack, service, instance_number, node, type, severity, message, "
               "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(event.grid_id, event.stack, event.service, event.instance_number, event.node, event.type,
                  event.severity, event.message, event.created_at)
            .run();
      }
      trim("event_logs", max_event_logs_);
    });
  }

  std::vector<EventLog> events(const LogFilter& filter) override {
    Lock lock(db_->mutex());
    LogQuery values = log_query(kEventColumns, "event_logs", filter);
    auto query = db_->prepare(values.sql);
    bind_all(query, values);
    auto rows = all_rows(query, read_event);
    if (filter.tail) std::reverse(rows.begin(), rows.end());
    return rows;
  }

  void append_container_logs(const std::vector<ContainerLog>& lines) override {
    if (lines.empty()) return;
    db_->transaction([&] {
      for (const ContainerLog& line : lines) {
        db_->prepare(
               "INSERT INTO container_logs (grid_id, node, stack, service, instance_number, container, stream, "
               "data, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(line.grid_id, line.node, line.stack, line.service, line.instance_number, line.container,
                  line.stream, line.data, line.created_at)
            .run();
      }
      trim("container_logs", max_container_logs_);
    });
  }

  std::vector<ContainerLog> container_logs(const LogFilter& filter) override {
    Lock lock(db_->mutex());
    LogQuery values = log_query(kContainerLogColumns, "container_logs", filter);
    auto query = db_->prepare(values.sql);
    bind_all(query, values);
    auto rows = all_rows(query, read_container_log);
    if (filter.tail) std::reverse(rows.begin(), rows.end());
    return rows;
  }

  // ------------------------------------------------------------------------------- config

  std::map<std::string, std::string> config() override {
    Lock lock(db_->mutex());
    auto query = db_->prepare("SELECT key, value FROM config");
    std::map<std::string, std::string> values;
    while (query.next()) values.emplace(query.text(0), query.text(1));
    return values;
  }

  void set_config(const std::string& key, const std::string& value) override {
    Lock lock(db_->mutex());
    db_->prepare("INSERT INTO config (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        .bind(key, value)
        .run();
  }

  void unset_config(const std::string& key) override {
    Lock lock(db_->mutex());
    db_->prepare("DELETE FROM config WHERE key = ?").bind(key).run();
  }

  // ---------------------------------------------------------------------------- audit log

  void append_audit(const AuditEntry& entry) override {
    db_->transaction([&] {
      db_->prepare(
             "INSERT INTO audit_logs (created_at, user_id, user_email, grid, resource_type, resource_id, "
             "resource_name, event_name, event_status, http_status, error, source_ip, user_agent, request_method, "
             "request_path, request_body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
          .bind(entry.created_at, entry.user_id, entry.user_email, entry.grid, entry.resource_type, entry.resource_id,
                entry.resource_name, entry.event_name, entry.event_status, entry.http_status, entry.error,
                entry.source_ip, entry.user_agent, entry.request_method, entry.request_path, entry.request_body)
          .run();
      // Ids only grow and only the oldest rows are ever deleted, so the newest N are the ids
      // above max - N: a range delete on the primary key, no count(*).
      if (max_audit_entries_ > 0) {
        db_->prepare("DELETE FROM audit_logs WHERE id <= (SELECT max(id) FROM audit_logs) - ?")
            .bind(static_cast<std::int64_t>(max_audit_entries_))
            .run();
      }
    });
  }

  // limit <= 0: no limit.
  std::vector<AuditEntry> audit_entries(std::string_view grid, int limit) override {
    static const std::string all_sql = select_sql(kAuditColumns, "FROM audit_logs ORDER BY id DESC LIMIT ?");
    static const std::string grid_sql =
        select_sql(kAuditColumns, "FROM audit_logs WHERE grid = ? ORDER BY id DESC LIMIT ?");
    std::int64_t row_limit = limit > 0 ? limit : -1;
    Lock lock(db_->mutex());
    if (grid.empty()) {
      auto query = db_->prepare(all_sql);
      query.bind(row_limit);
      return all_rows(query, read_audit);
    }
    auto query = db_->prepare(grid_sql);
    query.bind(grid, row_limit);
    return all_rows(query, read_audit);
  }

 private:
  bool row_exists(std::string_view table, std::int64_t id) {
    auto query = db_->prepare("SELECT 1 FROM " + std::string(table) + " WHERE id = ?");
    query.bind(id);
    return query.next();
  }

  bool service_name_taken(std::int64_t grid_id, std::int64_t stack_id, std::string_view name,
                          std::int64_t except_id) {
    auto query = db_->prepare(
        "SELECT 1 FROM services WHERE grid_id = ? AND ifnull(stack_id, 0) = ? AND name = ? AND id != ?");
    query.bind(grid_id, stack_id, name, except_id);
    return query.next();
  }

  void bind_all(Statement& query, const LogQuery& values) {
    query.bind(values.grid_id, values.stack, values.service, values.instance_number, values.node, values.after_id,
               values.since, values.limit);
  }

  // Keeps the newest `max` rows of a log table. Ids only grow and only the oldest rows are
  // trimmed, so the newest are the ids above max(id) - max: a range delete on the primary key.
  void trim(std::string_view table, std::size_t max) {
    if (max == 0) return;
    std::string t(table);
    db_->prepare("DELETE FROM " + t + " WHERE id <= (SELECT max(id) FROM " + t + ") - ?")
        .bind(static_cast<std::int64_t>(max))
        .run();
  }

  bool grid_exists(std::int64_t grid_id) {
    auto query = db_->prepare("SELECT 1 FROM grids WHERE id = ?");
    query.bind(grid_id);
    return query.next();
  }

  // The grid's name for messages; its id when it has none (a dangling reference).
  std::string grid_label(std::int64_t grid_id) {
    auto query = db_->prepare("SELECT name FROM grids WHERE id = ?");
    query.bind(grid_id);
    return query.next() ? in_quotes(query.text(0)) : std::to_string(grid_id);
  }

  int lowest_free_node_number(std::int64_t grid_id) {
    auto query = db_->prepare("SELECT node_number FROM nodes WHERE grid_id = ? ORDER BY node_number");
    query.bind(grid_id);
    int candidate = 1;
    while (query.next() && query.int32(0) == candidate) ++candidate;
    if (candidate > kMaxNodeNumber) {
      invalid("node_number", "grid " + grid_label(grid_id) +
                                 " has no free node number: a grid holds at most 254 nodes");
    }
    return candidate;
  }

  [[noreturn]] void throw_token_conflict(const ConstraintViolation& violation, std::int64_t user_id) {
    if (violation.is_foreign_key()) not_found("user " + std::to_string(user_id) + " not found");
    // Only digests are stored, so the message cannot (and must not) show the token itself.
    if (violation.is_unique("access_tokens.token_hash")) conflict("an access token with this value already exists");
    if (violation.is_unique("access_tokens.refresh_token_hash")) {
      conflict("an access token with this refresh token already exists");
    }
    throw violation;
  }

  // SQLite reports the first violated index, which need not be the one worth telling: a taken
  // name is checked for explicitly so it wins over a taken token.
  [[noreturn]] void throw_grid_conflict(const ConstraintViolation& violation, const Grid& grid) {
    auto same_name = db_->prepare("SELECT 1 FROM grids WHERE name = ? AND id != ?");
    same_name.bind(grid.name, grid.id);
    if (violation.is_unique("grids.name") || (violation.is_unique_any() && same_name.next())) {
      conflict("grid " + in_quotes(grid.name) + " already exists");
    }
    if (violation.is_unique("grids.token")) {
      conflict("grid " + in_quotes(grid.name) + ": its token is already used by another grid");
    }
    throw violation;
  }

  [[noreturn]] void throw_node_conflict(const ConstraintViolation& violation, const Node& node,
                                        std::int64_t grid_id) {
    auto same_name = db_->prepare("SELECT 1 FROM nodes WHERE grid_id = ? AND name = ? AND id != ?");
    same_name.bind(grid_id, node.name, node.id);
    if (violation.is_unique("nodes.grid_id, nodes.name") || (violation.is_unique_any() && same_name.next())) {
      conflict("node " + in_quotes(node.name) + " already exists in grid " + grid_label(grid_id));
    }
    if (violation.is_unique("nodes.grid_id, nodes.node_number")) {
      conflict("node number " + std::to_string(node.node_number) + " is already taken in grid " +
               grid_label(grid_id));
    }
    if (violation.is_unique("nodes.grid_id, nodes.node_id")) {
      conflict("node id " + in_quotes(node.node_id) + " is already bound to another node in grid " +
               grid_label(grid_id));
    }
    if (violation.is_unique("nodes.token")) {
      conflict("node " + in_quotes(node.name) + ": its token is already used by another node");
    }
    throw violation;
  }

  std::unique_ptr<Database> db_;
  std::size_t max_audit_entries_;   // 0: unbounded
  std::size_t max_event_logs_;      // 0: unbounded
  std::size_t max_container_logs_;  // 0: unbounded
};

}  // namespace

std::unique_ptr<Store> open_sqlite_store(const SqliteOptions& options) {
  if (options.path.empty()) {
    throw Error(ErrorKind::invalid, "the state store path is empty: set the database file", "path");
  }
  auto parent = std::filesystem::path(options.path).parent_path();
  if (!parent.empty()) {
    std::error_code error;
    std::filesystem::create_directories(parent, error);
    if (error) {
      throw Error(ErrorKind::unavailable,
                  "cannot create the state store directory " + parent.string() + ": " + error.message());
    }
  }

  auto db = std::make_unique<Database>(options.path);
  sqlite::check_is_kontena_database(*db);
  // WAL lets readers in other processes (backups, sqlite3 shell) run alongside the writer;
  // NORMAL is durable across application crashes and only fsyncs at checkpoints.
  {
    auto journal = db->prepare("PRAGMA journal_mode = WAL");
    if (journal.next() && journal.text(0) != "wal") {
      spdlog::warn("store cannot use WAL path={} journal_mode={}", options.path, journal.text(0));
    }
  }
  db->exec("PRAGMA synchronous = NORMAL");
  db->exec("PRAGMA foreign_keys = ON");
  int version = sqlite::migrate(*db);

  spdlog::info("store opened path={} schema_version={}", options.path, version);
  return std::make_unique<SqliteStore>(std::move(db), options);
}

}  // namespace kontena::master
