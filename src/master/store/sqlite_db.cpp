#include "master/store/sqlite_db.h"

#include <spdlog/spdlog.h>

namespace kontena::master::sqlite {

namespace {

constexpr int kBusyTimeoutMs = 5000;  // how long a write waits for another process's lock

std::string_view after_colon(std::string_view message) {
  auto colon = message.find(": ");
  return colon == std::string_view::npos ? std::string_view{} : message.substr(colon + 2);
}

}  // namespace

ConstraintViolation::ConstraintViolation(int extended_code, std::string sqlite_message)
    : Failure(ErrorKind::conflict, "the state store refused the change: " + sqlite_message, extended_code,
              sqlite_message),
      columns_(after_colon(sqlite_message)) {}

bool ConstraintViolation::is_unique(std::string_view columns) const {
  return is_unique_any() && columns_ == columns;
}

std::string to_json_text(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// ---------------------------------------------------------------------------------- Statement

Statement::Statement(Database& db, sqlite3_stmt* stmt, bool* in_use) : db_(db), stmt_(stmt), in_use_(in_use) {}

Statement::~Statement() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  if (in_use_) {
    *in_use_ = false;
  } else {
    sqlite3_finalize(stmt_);
  }
}

bool Statement::next() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  db_.fail(rc, sqlite3_sql(stmt_));
}

void Statement::run() {
  while (next()) {
  }
}

std::int64_t Statement::int64(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string Statement::text(int column) const {
  const auto* chars = sqlite3_column_text(stmt_, column);
  if (!chars) return {};
  return std::string(reinterpret_cast<const char*>(chars), static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)));
}

std::optional<std::int64_t> Statement::optional_int64(int column) const {
  if (sqlite3_column_type(stmt_, column) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_int64(stmt_, column);
}

Json Statement::json(int column) const {
  try {
    return Json::parse(text(column));
  } catch (const Json::exception& e) {
    throw Error(ErrorKind::internal,
                std::string("the state store holds malformed JSON in column ") + sqlite3_column_name(stmt_, column) +
                    ": " + e.what());
  }
}

std::vector<std::string> Statement::strings(int column) const {
  Json array = json(column);
  try {
    return array.get<std::vector<std::string>>();
  } catch (const Json::exception& e) {
    throw Error(ErrorKind::internal, std::string("the state store holds a malformed list in column ") +
                                         sqlite3_column_name(stmt_, column) + ": " + e.what());
  }
}

void Statement::bind_int64(int index, std::int64_t value) { check_bind(sqlite3_bind_int64(stmt_, index, value)); }

void Statement::bind_text(int index, std::string_view value) {
  check_bind(sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
}

void Statement::bind_null(int index) { check_bind(sqlite3_bind_null(stmt_, index)); }

void Statement::check_bind(int rc) {
  if (rc != SQLITE_OK) db_.fail(rc, sqlite3_sql(stmt_));
}

// ----------------------------------------------------------------------------------- Database

Database::Database(std::string path) : path_(std::move(path)) {
  int rc = sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw Failure(ErrorKind::unavailable, "cannot open the state store at " + path_ + ": " + message, rc, message);
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, kBusyTimeoutMs);
}

Database::~Database() {
  for (auto& [sql, cached] : statements_) sqlite3_finalize(cached.stmt);
  statements_.clear();
  if (sqlite3_close(db_) != SQLITE_OK) {
    spdlog::error("store close failed path={} error=\"{}\"", path_, sqlite3_errmsg(db_));
    sqlite3_close_v2(db_);
  }
}

Statement Database::prepare(std::string_view sql) {
  check_transaction_alive();
  auto found = statements_.find(sql);
  if (found == statements_.end()) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt,
                                nullptr);
    if (rc != SQLITE_OK) fail(rc, sql);
    found = statements_.emplace(std::string(sql), CachedStatement{stmt, false}).first;
  }
  if (found->second.in_use) {
    // Already borrowed further up the stack (a query nested in a loop over its own rows):
    // this execution gets a statement of its own.
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
    if (rc != SQLITE_OK) fail(rc, sql);
    return Statement(*this, stmt, nullptr);
  }
  found->second.in_use = true;
  return Statement(*this, found->second.stmt, &found->second.in_use);
}

void Database::exec(const std::string& sql) {
  check_transaction_alive();
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) fail(rc, sql);
}

void Database::transaction(const std::function<void()>& fn) {
  std::lock_guard lock(mutex_);
  begin();
  try {
    fn();
  } catch (...) {
    rollback();
    throw;
  }
  commit();
}

void Database::begin() {
  // IMMEDIATE takes the write lock up front, so a transaction never fails half way through
  // because another process started writing after it read.
  exec(depth_ == 0 ? "BEGIN IMMEDIATE" : "SAVEPOINT nested");
  ++depth_;
}

void Database::commit() {
  --depth_;
  if (depth_ > 0) {
    int rc = sqlite3_exec(db_, "RELEASE nested", nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) {
      try {
        fail(rc, "RELEASE nested");
      } catch (...) {
        exec_quietly("ROLLBACK TO nested");
        exec_quietly("RELEASE nested");
        throw;
      }
    }
    return;
  }
  if (sqlite3_get_autocommit(db_)) {
    // SQLite rolled the whole transaction back on an error the caller caught and ignored.
    throw Error(ErrorKind::unavailable, "the state store rolled the transaction back after an error: retry");
  }
  int rc = sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    try {
      fail(rc, "COMMIT");
    } catch (...) {
      if (!sqlite3_get_autocommit(db_)) exec_quietly("ROLLBACK");
      throw;
    }
  }
}

void Database::rollback() noexcept {
  --depth_;
  // On some errors (disk full, I/O) SQLite has already rolled everything back itself.
  if (sqlite3_get_autocommit(db_)) return;
  if (depth_ == 0) {
    exec_quietly("ROLLBACK");
  } else {
    exec_quietly("ROLLBACK TO nested");
    exec_quietly("RELEASE nested");
  }
}

void Database::exec_quietly(const char* sql) noexcept {
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) spdlog::error("store {} failed path={} error=\"{}\"", sql, path_, sqlite3_errmsg(db_));
}

void Database::check_transaction_alive() const {
  // Writing in autocommit mode after the enclosing transaction vanished would commit piecemeal.
  if (depth_ > 0 && sqlite3_get_autocommit(db_)) {
    throw Error(ErrorKind::unavailable, "the state store rolled the transaction back after an error: retry");
  }
}

void Database::fail(int rc, std::string_view sql) const {
  std::string message = sqlite3_errmsg(db_);
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
      throw ConstraintViolation(rc, message);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_PROTOCOL:
      spdlog::warn("store unavailable path={} code={} error=\"{}\"", path_, rc, message);
      throw Failure(ErrorKind::unavailable, "the state store is unavailable: " + message, rc, message);
    default:
      spdlog::error("store query failed path={} code={} error=\"{}\" sql=\"{}\"", path_, rc, message, sql);
      throw Failure(ErrorKind::internal, "state store error: " + message, rc, message);
  }
}

}  // namespace kontena::master::sqlite
