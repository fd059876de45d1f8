// Opening the store: files, pragmas, migrations, and refusing files that are not ours.
#include <fstream>

#include "master/store/sqlite_schema.h"
#include "store_fixture.h"

namespace kontena::master::testing {
namespace {

TEST_F(StoreTest, OpenCreatesDirectoryAndFileAtLatestSchema) {
  ASSERT_FALSE(std::filesystem::exists(path_.parent_path()));
  Store& s = open();
  EXPECT_TRUE(std::filesystem::is_regular_file(path_));
  EXPECT_EQ(s.schema_version(), sqlite::latest_schema_version());
  EXPECT_GE(s.schema_version(), 1);

  RawDatabase raw(path_);
  EXPECT_EQ(raw.value("SELECT count(*) FROM schema_migrations"), std::to_string(sqlite::migrations().size()));
  EXPECT_EQ(raw.value("PRAGMA journal_mode"), "wal");
  for (const char* table :
       {"users", "access_tokens", "auth_codes", "grids", "grid_users", "nodes", "config", "audit_logs", "stacks",
        "stack_revisions", "services", "service_instances", "stack_deploys", "service_deploys", "event_logs",
        "container_logs"}) {
    EXPECT_EQ(raw.value(std::string("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '") + table +
                        "'"),
              "1")
        << table;
  }
}

TEST_F(StoreTest, MigrationVersionsAscend) {
  int previous = 0;
  for (const auto& migration : sqlite::migrations()) {
    EXPECT_GT(migration.version, previous);
    EXPECT_FALSE(migration.sql.empty());
    previous = migration.version;
  }
}

TEST_F(StoreTest, ReopenKeepsDataAndDoesNotRerunMigrations) {
  auto user = open().insert_user(make_user("a@example.com"));
  store().set_config("server.root_url", "https://master.example.com");
  std::string applied_before;
  {
    RawDatabase raw(path_);
    // Mark the recorded migration so that a re-run (which would insert a fresh row) shows.
    raw.exec("UPDATE schema_migrations SET applied_at = 42");
    applied_before = raw.value("SELECT group_concat(version || ':' || applied_at) FROM schema_migrations");
  }

  Store& reopened = reopen();
  EXPECT_EQ(reopened.schema_version(), sqlite::latest_schema_version());
  auto found = reopened.user_by_email("a@example.com");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, user.id);
  EXPECT_EQ(reopened.config().at("server.root_url"), "https://master.example.com");

  RawDatabase raw(path_);
  EXPECT_EQ(raw.value("SELECT group_concat(version || ':' || applied_at) FROM schema_migrations"), applied_before);
  EXPECT_EQ(raw.value("SELECT min(applied_at) FROM schema_migrations"), "42");
}

TEST_F(StoreTest, AppliesMissingMigrationsToAnEmptyFile) {
  std::filesystem::create_directories(path_.parent_path());
  std::ofstream(path_).close();  // zero bytes: a new SQLite database
  EXPECT_EQ(open().schema_version(), sqlite::latest_schema_version());
  EXPECT_TRUE(store().users().empty());
}

TEST_F(StoreTest, RefusesAFileThatIsNotADatabase) {
  std::filesystem::create_directories(path_.parent_path());
  {
    std::ofstream garbage(path_, std::ios::binary);
    for (int i = 0; i < 512; ++i) garbage << "this is not a database at all ";
  }
  EXPECT_TRUE(fails_with(ErrorKind::unavailable, "file " + path_.string() + " is not a Kontena master database",
                         [&] { open(); }));
  EXPECT_EQ(store_, nullptr);
}

TEST_F(StoreTest, RefusesAnotherProgramsDatabase) {
  std::filesystem::create_directories(path_.parent_path());
  {
    RawDatabase raw(path_);
    raw.exec("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount INTEGER)");
  }
  EXPECT_TRUE(fails_with(ErrorKind::unavailable, "is not a Kontena master database", [&] { open(); }));
  RawDatabase raw(path_);
  EXPECT_EQ(raw.value("SELECT count(*) FROM sqlite_master WHERE name = 'users'"), "0");  // left untouched
}

TEST_F(StoreTest, RefusesASchemaNewerThanTheCode) {
  open();
  store_.reset();
  {
    RawDatabase raw(path_);
    raw.exec("INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 1)");
  }
  EXPECT_TRUE(fails_with(ErrorKind::unavailable, "schema version 9999", [&] { open(); }));
}

TEST_F(StoreTest, EmptyPathIsInvalid) {
  EXPECT_TRUE(fails_with(ErrorKind::invalid, "path", [&] { open_sqlite_store(SqliteOptions{"", 10}); }));
}

TEST_F(StoreTest, UnopenableLocationIsUnavailable) {
  // The "directory" the file should live in is a regular file.
  std::filesystem::create_directories(dir_);
  std::ofstream(dir_ / "blocker").close();
  EXPECT_TRUE(fails_with(ErrorKind::unavailable, "cannot create the state store directory", [&] {
    open_sqlite_store(SqliteOptions{(dir_ / "blocker" / "master.db").string(), 10});
  }));
}

TEST_F(StoreTest, MalformedJsonInARowIsAnInternalErrorNotACrash) {
  auto grid = open().insert_grid(make_grid("demo"));
  {
    RawDatabase raw(path_);
    raw.exec("UPDATE grids SET stats = '{broken' WHERE id = " + std::to_string(grid.id));
  }
  EXPECT_TRUE(fails_with(ErrorKind::internal, "stats", [&] { store().grid_by_name("demo"); }));
  // The connection is still usable.
  EXPECT_TRUE(store().grids_of_user(1).empty());
}

TEST_F(StoreTest, LockHeldByAnotherProcessIsUnavailableAndLeavesNoTransactionOpen) {
  open();
  {
    RawDatabase other(path_);
    other.exec("BEGIN IMMEDIATE");  // holds the write lock past the store's 5 s busy timeout
    EXPECT_TRUE(fails_with(ErrorKind::unavailable, "locked", [&] {
      store().transaction([&] { store().insert_grid(make_grid("first")); });
    }));
    EXPECT_TRUE(fails_with(ErrorKind::unavailable, "locked", [&] { store().insert_grid(make_grid("second")); }));
    other.exec("ROLLBACK");
  }
  // Neither attempt left a transaction behind: writes go through and are visible to others.
  store().transaction([&] { store().insert_grid(make_grid("third")); });
  RawDatabase raw(path_);
  EXPECT_EQ(raw.value("SELECT group_concat(name) FROM grids"), "third");
}

}  // namespace
}  // namespace kontena::master::testing
