// Transactions: all-or-nothing, nesting joins, durability, and use from several threads.
#include <atomic>
#include <stdexcept>
#include <thread>

#include "store_fixture.h"

namespace kontena::master::testing {
namespace {

TEST_F(StoreTest, ThrowingInATransactionLeavesNothingWritten) {
  Store& s = open();
  EXPECT_THROW(s.transaction([&] {
    s.insert_grid(make_grid("demo"));
    s.set_config("k", "v");
    EXPECT_TRUE(s.grid_by_name("demo"));  // visible inside
    throw std::runtime_error("changed my mind");
  }),
               std::runtime_error);
  EXPECT_FALSE(s.grid_by_name("demo"));
  EXPECT_TRUE(s.config().empty());

  // A store error inside rolls back the earlier writes too, and comes out as itself.
  s.insert_user(make_user("a@b"));
  EXPECT_TRUE(fails_with(ErrorKind::conflict, "user \"a@b\" already exists", [&] {
    s.transaction([&] {
      s.insert_grid(make_grid("demo"));
      s.insert_user(make_user("a@b"));
    });
  }));
  EXPECT_FALSE(s.grid_by_name("demo"));
}

TEST_F(StoreTest, NestedTransactionsJoinTheOuterOne) {
  Store& s = open();
  EXPECT_THROW(s.transaction([&] {
    s.insert_grid(make_grid("outer"));
    s.transaction([&] {
      s.insert_grid(make_grid("inner"));
      throw std::runtime_error("inner fails");
    });
  }),
               std::runtime_error);
  EXPECT_TRUE(s.grids().empty());

  // Nested commits land only with the outer one.
  EXPECT_THROW(s.transaction([&] {
    s.transaction([&] { s.insert_grid(make_grid("inner-committed")); });
    EXPECT_TRUE(s.grid_by_name("inner-committed"));
    throw std::runtime_error("outer fails");
  }),
               std::runtime_error);
  EXPECT_TRUE(s.grids().empty());

  // An inner failure the outer catches undoes only the inner writes.
  s.transaction([&] {
    s.insert_grid(make_grid("kept"));
    try {
      s.transaction([&] {
        s.insert_grid(make_grid("undone"));
        throw std::runtime_error("inner fails");
      });
    } catch (const std::runtime_error&) {
    }
    s.insert_grid(make_grid("kept-too"));
  });
  auto grids = s.grids();
  ASSERT_EQ(grids.size(), 2u);
  EXPECT_EQ(grids[0].name, "kept");
  EXPECT_EQ(grids[1].name, "kept-too");
}

TEST_F(StoreTest, CommittedTransactionSurvivesReopen) {
  Store& s = open();
  s.transaction([&] {
    auto user = s.insert_user(make_user("a@example.com"));
    auto grid = s.insert_grid(make_grid("demo"));
    s.add_grid_user(grid.id, user.id);
    s.insert_node(make_node(grid.id, "n1"));
  });
  Store& reopened = reopen();
  auto user = reopened.user_by_email("a@example.com");
  ASSERT_TRUE(user);
  auto grids = reopened.grids_of_user(user->id);
  ASSERT_EQ(grids.size(), 1u);
  EXPECT_EQ(grids[0].name, "demo");
  ASSERT_EQ(reopened.nodes_of_grid(grids[0].id).size(), 1u);
}

TEST_F(StoreTest, AFailedMethodInsideATransactionCanBeCaughtAndTheRestCommits) {
  Store& s = open();
  s.insert_grid(make_grid("taken"));
  s.transaction([&] {
    s.insert_grid(make_grid("fresh"));
    try {
      s.insert_grid(make_grid("taken"));
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::conflict);
    }
    s.insert_node(make_node(s.grid_by_name("fresh")->id, "n1"));
  });
  EXPECT_EQ(s.grids().size(), 2u);
  EXPECT_EQ(s.nodes_of_grid(s.grid_by_name("fresh")->id).size(), 1u);
}

TEST_F(StoreTest, FourThreadsWritingConcurrentlyLoseNothing) {
  Store& s = open(1000);
  auto user = s.insert_user(make_user("a@example.com"));
  constexpr int kThreads = 4;
  constexpr int kGridsPerThread = 200;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kGridsPerThread; ++i) {
        std::string name = "grid-" + std::to_string(t) + "-" + std::to_string(i);
        try {
          s.transaction([&] {
            auto grid = s.insert_grid(make_grid(name));
            s.add_grid_user(grid.id, user.id);
            s.insert_node(make_node(grid.id, "n1"));
            AuditEntry entry;
            entry.grid = name;
            entry.event_name = "create";
            s.append_audit(entry);
          });
          // Reads interleave with the other threads' writes.
          if (!s.grid_by_name(name) || s.token_by_hash("none")) ++failures;
        } catch (const std::exception& e) {
          ADD_FAILURE() << e.what();
          ++failures;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();

  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(s.grids().size(), std::size_t{kThreads * kGridsPerThread});
  EXPECT_EQ(s.grids_of_user(user.id).size(), std::size_t{kThreads * kGridsPerThread});
  EXPECT_EQ(s.audit_entries("", 0).size(), 800u);
  RawDatabase raw(path_);
  EXPECT_EQ(raw.value("SELECT count(*) FROM nodes WHERE node_number = 1"), "800");
}

}  // namespace
}  // namespace kontena::master::testing
