#include "master/store/sqlite_schema.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <string>

namespace kontena::master::sqlite {

namespace {

// Version 1: every table of the model. Times are unix milliseconds; lists and JSON values are
// JSON text; empty optional strings are NULL so that UNIQUE ignores them.
constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  roles TEXT NOT NULL,              -- JSON array, sorted
  created_at INTEGER NOT NULL
);

CREATE TABLE access_tokens (
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  token_hash TEXT NOT NULL UNIQUE,
  token_last4 TEXT NOT NULL,
  refresh_token_hash TEXT UNIQUE,   -- NULL when the token has no refresh token
  description TEXT NOT NULL,
  scopes TEXT NOT NULL,
  expires_at INTEGER,               -- NULL: never expires
  created_at INTEGER NOT NULL,
  last_used_at INTEGER NOT NULL,
  internal INTEGER NOT NULL
);
CREATE INDEX access_tokens_by_user ON access_tokens(user_id);

CREATE TABLE auth_codes (
  code_hash TEXT PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  expires_at INTEGER,
  created_at INTEGER NOT NULL
);
CREATE INDEX auth_codes_by_user ON auth_codes(user_id);

CREATE TABLE grids (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  token TEXT UNIQUE,                -- NULL when the grid has none: '' must never match a join
  initial_size INTEGER NOT NULL,
  subnet TEXT NOT NULL,
  supernet TEXT NOT NULL,
  default_affinity TEXT NOT NULL,   -- JSON array
  trusted_subnets TEXT NOT NULL,    -- JSON array
  stats TEXT NOT NULL,              -- JSON
  logs TEXT NOT NULL,               -- JSON
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE grid_users (
  grid_id INTEGER NOT NULL REFERENCES grids(id) ON DELETE CASCADE,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  PRIMARY KEY (grid_id, user_id)
) WITHOUT ROWID;
CREATE INDEX grid_users_by_user ON grid_users(user_id);

CREATE TABLE nodes (
  id INTEGER PRIMARY KEY,
  grid_id INTEGER NOT NULL REFERENCES grids(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  node_id TEXT,                     -- NULL until an agent binds to the node
  node_number INTEGER NOT NULL,     -- 1..254
  token TEXT UNIQUE,                -- NULL when the node has none
  labels TEXT NOT NULL,             -- JSON array
  availability TEXT NOT NULL,
  connected INTEGER NOT NULL,
  connected_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  info TEXT NOT NULL,               -- JSON
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (grid_id, name),
  UNIQUE (grid_id, node_number),
  UNIQUE (grid_id, node_id)
);

CREATE TABLE config (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE audit_logs (
  id INTEGER PRIMARY KEY,           -- max(id) + 1 on insert; trimming drops the lowest ids
  created_at INTEGER NOT NULL,
  user_id INTEGER,                  -- no foreign key: entries outlive their users
  user_email TEXT NOT NULL,
  grid TEXT NOT NULL,
  resource_type TEXT NOT NULL,
  resource_id TEXT NOT NULL,
  resource_name TEXT NOT NULL,
  event_name TEXT NOT NULL,
  event_status TEXT NOT NULL,
  http_status INTEGER NOT NULL,
  error TEXT NOT NULL,
  source_ip TEXT NOT NULL,
  user_agent TEXT NOT NULL,
  request_method TEXT NOT NULL,
  request_path TEXT NOT NULL,
  request_body TEXT NOT NULL        -- JSON
);
CREATE INDEX audit_logs_by_grid ON audit_logs(grid, id);
)sql";

// Version 2: stacks and services (issue 4). A service of the grid's null stack has stack_id NULL
// (the API's stack_id 0), so that stacks(id) can be a foreign key; its name is unique per
// (grid, stack) through an expression index. Deploy references are NULL when absent for the
// same reason. The logs hold names, not references, and carry no foreign keys: a line arriving
// for a grid being deleted must not fail its batch; the store deletes a grid's logs itself.
constexpr std::string_view kSchemaV2 = R"sql(
CREATE TABLE stacks (
  id INTEGER PRIMARY KEY,
  grid_id INTEGER NOT NULL REFERENCES grids(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  stack TEXT NOT NULL,
  version TEXT NOT NULL,
  parent_name TEXT NOT NULL,
  labels TEXT NOT NULL,             -- JSON array
  expose TEXT NOT NULL,
  revision INTEGER NOT NULL,
  deployed_revision INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (grid_id, name)
);

CREATE TABLE stack_revisions (
  id INTEGER PRIMARY KEY,
  stack_id INTEGER NOT NULL REFERENCES stacks(id) ON DELETE CASCADE,
  revision INTEGER NOT NULL,
  definition TEXT NOT NULL,         -- JSON
  created_at INTEGER NOT NULL,
  UNIQUE (stack_id, revision)
);

CREATE TABLE services (
  id INTEGER PRIMARY KEY,
  grid_id INTEGER NOT NULL REFERENCES grids(id) ON DELETE CASCADE,
  stack_id INTEGER REFERENCES stacks(id) ON DELETE CASCADE,  -- NULL: the grid's null stack
  name TEXT NOT NULL,
  spec TEXT NOT NULL,               -- JSON
  revision INTEGER NOT NULL,
  stack_revision INTEGER NOT NULL,
  state TEXT NOT NULL,
  deployed_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX services_by_name ON services(grid_id, ifnull(stack_id, 0), name);
CREATE INDEX services_by_stack ON services(stack_id);

CREATE TABLE service_instances (
  id INTEGER PRIMARY KEY,
  service_id INTEGER NOT NULL REFERENCES services(id) ON DELETE CASCADE,
  instance_number INTEGER NOT NULL,
  node_id INTEGER REFERENCES nodes(id) ON DELETE SET NULL,  -- NULL: not placed
  desired_state TEXT NOT NULL,
  deploy_rev TEXT NOT NULL,
  state TEXT NOT NULL,
  error TEXT NOT NULL,
  rev TEXT NOT NULL,
  health TEXT NOT NULL,
  reported_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (service_id, instance_number)
);
CREATE INDEX service_instances_by_node ON service_instances(node_id);

CREATE TABLE stack_deploys (
  id INTEGER PRIMARY KEY,
  stack_id INTEGER NOT NULL REFERENCES stacks(id) ON DELETE CASCADE,
  revision INTEGER NOT NULL,
  state TEXT NOT NULL,
  error TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  finished_at INTEGER NOT NULL
);
CREATE INDEX stack_deploys_by_stack ON stack_deploys(stack_id);
CREATE INDEX stack_deploys_pending ON stack_deploys(id) WHERE state IN ('created', 'ongoing');

CREATE TABLE service_deploys (
  id INTEGER PRIMARY KEY,
  service_id INTEGER NOT NULL REFERENCES services(id) ON DELETE CASCADE,
  stack_deploy_id INTEGER REFERENCES stack_deploys(id) ON DELETE CASCADE,  -- NULL: none
  state TEXT NOT NULL,
  reason TEXT NOT NULL,
  force INTEGER NOT NULL,
  error TEXT NOT NULL,
  instances TEXT NOT NULL,          -- JSON array
  created_at INTEGER NOT NULL,
  started_at INTEGER NOT NULL,
  finished_at INTEGER NOT NULL
);
CREATE INDEX service_deploys_by_service ON service_deploys(service_id, id);
CREATE INDEX service_deploys_by_stack_deploy ON service_deploys(stack_deploy_id, id);
CREATE INDEX service_deploys_pending ON service_deploys(id) WHERE state IN ('created', 'ongoing');

CREATE TABLE event_logs (
  id INTEGER PRIMARY KEY,           -- max(id) + 1 on insert; trimming drops the lowest ids
  grid_id INTEGER NOT NULL,
  stack TEXT NOT NULL,
  service TEXT NOT NULL,
  instance_number INTEGER NOT NULL,
  node TEXT NOT NULL,
  type TEXT NOT NULL,
  severity INTEGER NOT NULL,
  message TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX event_logs_by_grid ON event_logs(grid_id, id);
CREATE INDEX event_logs_by_service ON event_logs(grid_id, service, id);

CREATE TABLE container_logs (
  id INTEGER PRIMARY KEY,           -- as event_logs
  grid_id INTEGER NOT NULL,
  node TEXT NOT NULL,
  stack TEXT NOT NULL,
  service TEXT NOT NULL,
  instance_number INTEGER NOT NULL,
  container TEXT NOT NULL,
  stream TEXT NOT NULL,
  data TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX container_logs_by_grid ON container_logs(grid_id, id);
CREATE INDEX container_logs_by_service ON container_logs(grid_id, service, id);
)sql";

std::int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> all = {
      {1, kSchemaV1},
      {2, kSchemaV2},
  };
  return all;
}

int latest_schema_version() { return migrations().back().version; }

void check_is_kontena_database(Database& db) {
  int other_tables = 0;
  bool has_migrations = false;
  try {
    auto tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'");
    while (tables.next()) {
      if (tables.text(0) == "schema_migrations") has_migrations = true; else ++other_tables;
    }
  } catch (const Failure& failure) {
    if (failure.primary_code() != SQLITE_NOTADB) throw;
    throw Error(ErrorKind::unavailable,
                "file " + db.path() + " is not a Kontena master database: " + failure.sqlite_message());
  }
  if (!has_migrations && other_tables > 0) {
    throw Error(ErrorKind::unavailable, "file " + db.path() +
                                            " is not a Kontena master database: it holds tables but no "
                                            "schema_migrations table; point the master at another file");
  }
}

int current_schema_version(Database& db) {
  auto query = db.prepare("SELECT coalesce(max(version), 0) FROM schema_migrations");
  query.next();
  return query.int32(0);
}

int migrate(Database& db) {
  db.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER)");
  int version = current_schema_version(db);
  if (version > latest_schema_version()) {
    throw Error(ErrorKind::unavailable, "database " + db.path() + " has schema version " + std::to_string(version) +
                                            ", newer than this kontena-server knows (" +
                                            std::to_string(latest_schema_version()) +
                                            "): run a kontena-server at least as new as the one that wrote it");
  }
  for (const Migration& migration : migrations()) {
    if (migration.version <= version) continue;
    bool applied = false;
    db.transaction([&] {
      // Another process opening the same file may have applied it since we looked.
      if (current_schema_version(db) >= migration.version) return;
      db.exec(std::string(migration.sql));
      db.prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)")
          .bind(migration.version, now_unix_ms())
          .run();
      applied = true;
    });
    if (applied) spdlog::info("store migration applied path={} version={}", db.path(), migration.version);
    version = migration.version;
  }
  return current_schema_version(db);
}

}  // namespace kontena::master::sqlite
