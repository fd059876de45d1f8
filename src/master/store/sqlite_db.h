// Private to the store: a small RAII layer over one SQLite connection — a statement cache,
// SQLite error codes turned into kontena::Error, and joinable transactions.
#pragma once
#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "common/error.h"

namespace kontena::master::sqlite {

using Json = nlohmann::json;

// Bound as NULL when empty: a UNIQUE column holds any number of NULLs but only one ''.
struct NullIfEmpty {
  std::string_view text;
};

// A failed SQLite call, as the kontena::Error callers see (unavailable or internal), keeping
// SQLite's own code and message for the store's use.
class Failure : public Error {
 public:
  Failure(ErrorKind kind, std::string message, int extended_code, std::string sqlite_message)
      : Error(kind, std::move(message)), code_(extended_code), sqlite_message_(std::move(sqlite_message)) {}
  int code() const { return code_; }                  // extended result code
  int primary_code() const { return code_ & 0xff; }   // SQLITE_BUSY, SQLITE_NOTADB, ...
  const std::string& sqlite_message() const { return sqlite_message_; }

 private:
  int code_;
  std::string sqlite_message_;
};

// A UNIQUE, PRIMARY KEY or FOREIGN KEY violation. Store methods catch it and rethrow a conflict
// (or not_found) that names the duplicate; uncaught, it is still a conflict.
class ConstraintViolation : public Failure {
 public:
  ConstraintViolation(int extended_code, std::string sqlite_message);
  // True for a UNIQUE/PRIMARY KEY violation on exactly these columns, spelled as SQLite reports
  // them: "grids.name" or "nodes.grid_id, nodes.name".
  bool is_unique(std::string_view columns) const;
  bool is_unique_any() const { return code() == SQLITE_CONSTRAINT_UNIQUE || code() == SQLITE_CONSTRAINT_PRIMARYKEY; }
  bool is_foreign_key() const { return code() == SQLITE_CONSTRAINT_FOREIGNKEY; }

 private:
  std::string columns_;  // what follows "constraint failed: " in SQLite's message
};

// Serialises values the way every JSON column is written (never throws on bad UTF-8).
std::string to_json_text(const Json& value);

class Database;

// A prepared statement borrowed from the cache for one execution; reset when destroyed.
// Used only while the Database mutex is held.
class Statement {
 public:
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Binds the parameters in order (?1, ?2, ...).
  template <class... Values>
  Statement& bind(const Values&... values) {
    int index = 0;
    (bind_value(++index, values), ...);
    return *this;
  }
  // Steps once: true when a row is available.
  bool next();
  // Steps to the end, ignoring any rows.
  void run();

  std::int64_t int64(int column) const;
  int int32(int column) const { return static_cast<int>(int64(column)); }
  bool boolean(int column) const { return int64(column) != 0; }
  std::string text(int column) const;  // NULL reads as ""
  std::optional<std::int64_t> optional_int64(int column) const;
  Json json(int column) const;
  std::vector<std::string> strings(int column) const;  // a JSON array of strings

 private:
  friend class Database;
  Statement(Database& db, sqlite3_stmt* stmt, bool* in_use);

  template <class T>
  void bind_value(int index, const T& value) {
    if constexpr (std::is_integral_v<T>) {
      bind_int64(index, static_cast<std::int64_t>(value));
    } else if constexpr (std::is_same_v<T, std::optional<std::int64_t>>) {
      if (value) bind_int64(index, *value); else bind_null(index);
    } else if constexpr (std::is_same_v<T, NullIfEmpty>) {
      if (value.text.empty()) bind_null(index); else bind_text(index, value.text);
    } else if constexpr (std::is_same_v<T, Json>) {
      bind_text(index, to_json_text(value));
    } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
      bind_text(index, to_json_text(Json(value)));
    } else {
      bind_text(index, std::string_view(value));
    }
  }
  void bind_int64(int index, std::int64_t value);
  void bind_text(int index, std::string_view value);
  void bind_null(int index);
  void check_bind(int rc);

  Database& db_;
  sqlite3_stmt* stmt_;
  bool* in_use_;  // the cache slot's flag; nullptr for a one-off statement finalized here
};

class Database {
 public:
  // Opens (creating) the file. Throws unavailable when it cannot be opened.
  explicit Database(std::string path);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  const std::string& path() const { return path_; }
  // Held by every store method; recursive so that calls made inside a transaction join it.
  std::recursive_mutex& mutex() { return mutex_; }

  // A prepared statement, cached by its SQL text. The caller holds mutex().
  Statement prepare(std::string_view sql);
  // Runs SQL text (one or more statements) that returns no rows. The caller holds mutex().
  void exec(const std::string& sql);
  // Runs fn in a transaction: the outermost call is BEGIN IMMEDIATE .. COMMIT, a call nested on
  // the same thread joins it (as a savepoint, so its own writes go if it throws). fn throwing
  // rolls back and rethrows.
  void transaction(const std::function<void()>& fn);

  std::int64_t last_insert_id() const { return sqlite3_last_insert_rowid(db_); }
  int changes() const { return sqlite3_changes(db_); }
  // Throws the kontena::Error for a failed SQLite call (rc) while running sql.
  [[noreturn]] void fail(int rc, std::string_view sql) const;

 private:
  struct CachedStatement {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;
  };
  struct SqlHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view sql) const { return std::hash<std::string_view>{}(sql); }
  };

  void begin();
  void commit();
  void rollback() noexcept;
  void exec_quietly(const char* sql) noexcept;
  void check_transaction_alive() const;

  std::string path_;
  sqlite3* db_ = nullptr;
  std::recursive_mutex mutex_;
  int depth_ = 0;  // transactions open on this connection (outermost + nested)
  std::unordered_map<std::string, CachedStatement, SqlHash, std::equal_to<>> statements_;
};

}  // namespace kontena::master::sqlite
