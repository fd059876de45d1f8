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

}  // namespace kontena::master::testing
