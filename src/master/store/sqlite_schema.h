// Private to the store: the SQLite schema and its migrations.
#pragma once
#include <string_view>
#include <vector>

#include "master/store/sqlite_db.h"

namespace kontena::master::sqlite {

struct Migration {
  int version;
  std::string_view sql;  // one or more statements, run in one transaction
};

// Every schema change, oldest first. A change is a new entry appended to the list in
// sqlite_schema.cpp; an entry that may have been applied somewhere is never edited.
const std::vector<Migration>& migrations();
int latest_schema_version();

// Refuses (unavailable) a file that is not a SQLite database, or a SQLite database holding
// tables but no schema_migrations (another program's database). An empty file passes.
void check_is_kontena_database(Database& db);
// Applies the migrations the database lacks, each once in its own transaction, and returns the
// resulting version. Refuses (unavailable) a database newer than this code.
int migrate(Database& db);
int current_schema_version(Database& db);

}  // namespace kontena::master::sqlite
