// Shared by the store tests: a fresh temp directory per test, record builders, and a raw SQLite
// handle for looking under the store.
#pragma once
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <tuple>

#include "common/error.h"
#include "master/store/store.h"

namespace kontena::master::testing {

// A direct connection to the database file, for setting up or inspecting what the store can't.
class RawDatabase {
 public:
  explicit RawDatabase(const std::filesystem::path& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) ADD_FAILURE() << "cannot open " << path;
    sqlite3_busy_timeout(db_, 5000);
  }
  ~RawDatabase() { sqlite3_close(db_); }
  RawDatabase(const RawDatabase&) = delete;
  RawDatabase& operator=(const RawDatabase&) = delete;

  void exec(const std::string& sql) {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
      ADD_FAILURE() << "sql failed: " << sql << ": " << (message ? message : "?");
    }
    sqlite3_free(message);
  }
  // The first column of the first row as text ("" when there is none).
  std::string value(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << "prepare failed: " << sql << ": " << sqlite3_errmsg(db_);
      return {};
    }
    std::string result;
    if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0)) {
      result = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    return result;
  }

 private:
  sqlite3* db_ = nullptr;
};

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string name = (std::filesystem::temp_directory_path() / "kontena-store-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(name.data()), nullptr);
    dir_ = name;
    // Two levels that do not exist yet: open must create them.
    path_ = dir_ / "state" / "master" / "master.db";
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  Store& open(std::size_t max_audit_entries = 100000) {
    store_ = open_sqlite_store(SqliteOptions{path_.string(), max_audit_entries});
    return *store_;
  }
  Store& open(SqliteOptions options) {
    options.path = path_.string();
    store_ = open_sqlite_store(options);
    return *store_;
  }
  Store& reopen() {
    store_.reset();
    return open();
  }
  Store& store() { return *store_; }

  std::filesystem::path dir_;
  std::filesystem::path path_;
  std::unique_ptr<Store> store_;
};

// Passes when fn throws a kontena::Error of this kind whose message contains text.
template <class Fn>
::testing::AssertionResult fails_with(ErrorKind kind, const std::string& text, Fn&& fn) {
  try {
    fn();
  } catch (const Error& error) {
    std::string message = error.what();
    if (error.kind() != kind) {
      return ::testing::AssertionFailure() << "kind " << to_string(error.kind()) << " instead of " << to_string(kind)
                                           << ": " << message;
    }
    if (message.find(text) == std::string::npos) {
      return ::testing::AssertionFailure() << "message \"" << message << "\" lacks \"" << text << "\"";
    }
    return ::testing::AssertionSuccess() << message;
  } catch (const std::exception& other) {
    return ::testing::AssertionFailure() << "not a kontena::Error: " << other.what();
  }
  return ::testing::AssertionFailure() << "nothing thrown";
}

inline User make_user(const std::string& email) {
  User user;
  user.email = email;
  user.name = "Name of " + email;
  user.roles = {};
  user.created_at = 1'700'000'000'000;
  return user;
}

inline Grid make_grid(const std::string& name) {
  Grid grid;
  grid.name = name;
  grid.token = "grid-token-" + name;
  grid.created_at = 1'700'000'000'000;
  grid.updated_at = 1'700'000'000'000;
  return grid;
}

inline Node make_node(std::int64_t grid_id, const std::string& name) {
  Node node;
  node.grid_id = grid_id;
  node.name = name;
  node.created_at = 1'700'000'000'000;
  node.updated_at = 1'700'000'000'000;
  return node;
}

inline AccessToken make_token(std::int64_t user_id, const std::string& hash) {
  AccessToken token;
  token.user_id = user_id;
  token.token_hash = hash;
  token.token_last4 = hash.substr(hash.size() - 4);
  token.scopes = "user";
  token.created_at = 1'700'000'000'000;
  return token;
}

inline AuthCode make_code(std::int64_t user_id, const std::string& hash) {
  AuthCode code;
  code.code_hash = hash;
  code.user_id = user_id;
  code.kind = "login";
  code.created_at = 1'700'000'000'000;
  return code;
}

inline Stack make_stack(std::int64_t grid_id, const std::string& name) {
  Stack stack;
  stack.grid_id = grid_id;
  stack.name = name;
  stack.stack = "user/" + name;
  stack.version = "1.0.0";
  stack.created_at = 1'700'000'000'000;
  stack.updated_at = 1'700'000'000'000;
  return stack;
}

inline Json make_definition(const std::string& name, const std::string& image) {
  return Json{{"name", name}, {"services", Json::array({Json{{"name", "web"}, {"image", image}}})}};
}

// stack_id 0: a service of the grid's null stack.
inline Service make_service(std::int64_t grid_id, std::int64_t stack_id, const std::string& name) {
  Service service;
  service.grid_id = grid_id;
  service.stack_id = stack_id;
  service.name = name;
  service.spec = Json{{"image", "local/busybox:latest"}, {"instances", 2}};
  service.created_at = 1'700'000'000'000;
  service.updated_at = 1'700'000'000'000;
  return service;
}

inline ServiceInstance make_instance(std::int64_t service_id, int number, std::int64_t node_id) {
  ServiceInstance instance;
  instance.service_id = service_id;
  instance.instance_number = number;
  instance.node_id = node_id;
  instance.deploy_rev = "2026-11-26T00:00:00.000Z";
  instance.created_at = 1'700'000'000'000;
  instance.updated_at = 1'700'000'000'000;
  return instance;
}

inline ServiceDeploy make_service_deploy(std::int64_t service_id, std::int64_t stack_deploy_id = 0) {
  ServiceDeploy deploy;
  deploy.service_id = service_id;
  deploy.stack_deploy_id = stack_deploy_id;
  deploy.reason = "deploy";
  deploy.created_at = 1'700'000'000'000;
  return deploy;
}

inline StackDeploy make_stack_deploy(std::int64_t stack_id, int revision = 1) {
  StackDeploy deploy;
  deploy.stack_id = stack_id;
  deploy.revision = revision;
  deploy.created_at = 1'700'000'000'000;
  return deploy;
}

// Every field as a tuple, so one EXPECT_EQ compares (and prints) whole records.
inline auto fields(const User& u) { return std::tie(u.id, u.email, u.name, u.roles, u.created_at); }
inline auto fields(const AccessToken& t) {
  return std::tie(t.id, t.user_id, t.token_hash, t.token_last4, t.refresh_token_hash, t.description, t.scopes,
                  t.expires_at, t.created_at, t.last_used_at, t.internal);
}
inline auto fields(const AuthCode& c) { return std::tie(c.code_hash, c.user_id, c.kind, c.expires_at, c.created_at); }
inline auto fields(const Grid& g) {
  return std::tie(g.id, g.name, g.token, g.initial_size, g.subnet, g.supernet, g.default_affinity, g.trusted_subnets,
                  g.stats, g.logs, g.created_at, g.updated_at);
}
inline auto fields(const Node& n) {
  return std::tie(n.id, n.grid_id, n.name, n.node_id, n.node_number, n.token, n.labels, n.availability, n.connected,
                  n.connected_at, n.last_seen_at, n.info, n.created_at, n.updated_at);
}
inline auto fields(const AuditEntry& a) {
  return std::tie(a.id, a.created_at, a.user_id, a.user_email, a.grid, a.resource_type, a.resource_id,
                  a.resource_name, a.event_name, a.event_status, a.http_status, a.error, a.source_ip, a.user_agent,
                  a.request_method, a.request_path, a.request_body);
}
inline auto fields(const Stack& k) {
  return std::tie(k.id, k.grid_id, k.name, k.stack, k.version, k.parent_name, k.labels, k.expose, k.revision,
                  k.deployed_revision, k.created_at, k.updated_at);
}
inline auto fields(const StackRevision& r) { return std::tie(r.id, r.stack_id, r.revision, r.definition, r.created_at); }
inline auto fields(const Service& v) {
  return std::tie(v.id, v.grid_id, v.stack_id, v.stack_name, v.name, v.spec, v.revision, v.stack_revision, v.state,
                  v.deployed_at, v.created_at, v.updated_at);
}
inline auto fields(const ServiceInstance& i) {
  return std::tie(i.id, i.service_id, i.instance_number, i.node_id, i.desired_state, i.deploy_rev, i.state, i.error,
                  i.rev, i.health, i.reported_at, i.created_at, i.updated_at);
}
inline auto fields(const ServiceDeploy& d) {
  return std::tie(d.id, d.service_id, d.stack_deploy_id, d.state, d.reason, d.force, d.error, d.instances,
                  d.created_at, d.started_at, d.finished_at);
}
inline auto fields(const StackDeploy& d) {
  return std::tie(d.id, d.stack_id, d.revision, d.state, d.error, d.created_at, d.finished_at);
}
inline auto fields(const EventLog& e) {
  return std::tie(e.id, e.grid_id, e.stack, e.service, e.instance_number, e.node, e.type, e.severity, e.message,
                  e.created_at);
}
inline auto fields(const ContainerLog& l) {
  return std::tie(l.id, l.grid_id, l.node, l.stack, l.service, l.instance_number, l.container, l.stream, l.data,
                  l.created_at);
}

}  // namespace kontena::master::testing
