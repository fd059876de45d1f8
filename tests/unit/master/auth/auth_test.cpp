#include "master/auth/auth.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "common/crypto.h"
#include "common/error.h"

using namespace kontena;
using namespace kontena::master;

namespace {
class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() / ("kontena-auth-test-" + std::to_string(rd()) + std::to_string(rd()));
    store_ = open_sqlite_store({(dir_ / "m.db").string()});
    auth_ = std::make_unique<Auth>(*store_, clock_);
  }
  void TearDown() override {
    auth_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  ErrorKind kind_of(const std::function<void()>& fn) {
    try {
      fn();
    } catch (const Error& e) {
      return e.kind();
    }
    ADD_FAILURE() << "expected an error";
    return ErrorKind::internal;
  }
  std::filesystem::path dir_;
  ManualClock clock_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Auth> auth_;
};
}  // namespace

TEST_F(AuthTest, BootstrapCreatesAdminOnceWithGivenCode) {
  EXPECT_FALSE(auth_->bootstrap_admin("my-initial-code"));
  auto admin = store_->user_by_email("admin");
  ASSERT_TRUE(admin);
  EXPECT_TRUE(is_master_admin(*admin));
  // A second start (users exist) does nothing, even with another code.
  EXPECT_FALSE(auth_->bootstrap_admin("other-code"));
  EXPECT_EQ(store_->users().size(), 1u);
  EXPECT_EQ(kind_of([&] { auth_->exchange_code("other-code", 0); }), ErrorKind::unauthorized);
  auto issued = auth_->exchange_code("my-initial-code", 7200);
  EXPECT_EQ(issued.user.email, "admin");
  EXPECT_EQ(issued.access_token.size(), 64u);
  EXPECT_FALSE(issued.refresh_token.empty());
  // One use only.
  EXPECT_EQ(kind_of([&] { auth_->exchange_code("my-initial-code", 0); }), ErrorKind::unauthorized);
}

TEST_F(AuthTest, BootstrapGeneratesCodeWhenNoneGiven) {
  auto code = auth_->bootstrap_admin("");
  ASSERT_TRUE(code);
  EXPECT_EQ(code->size(), 32u);
  EXPECT_EQ(auth_->exchange_code(*code, 0).user.email, "admin");
}

TEST_F(AuthTest, TokensAreStoredAsDigestsOnly) {
  auth_->bootstrap_admin("c0de-c0de");
  auto issued = auth_->exchange_code("c0de-c0de", 0);
  auto record = store_->token_by_id(issued.record.id);
  ASSERT_TRUE(record);
  EXPECT_EQ(record->token_hash, crypto::sha256_hex(issued.access_token));
  EXPECT_NE(record->token_hash, issued.access_token);
  EXPECT_EQ(record->token_last4, issued.access_token.substr(60));
  EXPECT_EQ(record->refresh_token_hash, crypto::sha256_hex(issued.refresh_token));
}

TEST_F(AuthTest, AuthenticateChecksHeaderTokenAndExpiry) {
  auth_->bootstrap_admin("c0de-c0de");
  auto issued = auth_->exchange_code("c0de-c0de", 60);
  EXPECT_EQ(auth_->authenticate("Bearer " + issued.access_token).user.email, "admin");
  EXPECT_EQ(auth_->authenticate("bearer " + issued.access_token).user.email, "admin");
  EXPECT_EQ(kind_of([&] { auth_->authenticate(""); }), ErrorKind::unauthorized);
  EXPECT_EQ(kind_of([&] { auth_->authenticate("Basic abc"); }), ErrorKind::unauthorized);
  EXPECT_EQ(kind_of([&] { auth_->authenticate("Bearer " + std::string(64, 'a')); }), ErrorKind::unauthorized);
  clock_.advance(std::chrono::seconds(61));
  EXPECT_EQ(kind_of([&] { auth_->authenticate("Bearer " + issued.access_token); }), ErrorKind::unauthorized);
}

TEST_F(AuthTest, RefreshRotatesBothTokens) {
  auth_->bootstrap_admin("c0de-c0de");
  auto first = auth_->exchange_code("c0de-c0de", 60);
  clock_.advance(std::chrono::seconds(120));
  auto second = auth_->refresh(first.refresh_token, 60);
  EXPECT_EQ(second.record.id, first.record.id);
  EXPECT_NE(second.access_token, first.access_token);
  EXPECT_EQ(auth_->authenticate("Bearer " + second.access_token).user.email, "admin");
  EXPECT_EQ(kind_of([&] { auth_->authenticate("Bearer " + first.access_token); }), ErrorKind::unauthorized);
  EXPECT_EQ(kind_of([&] { auth_->refresh(first.refresh_token, 60); }), ErrorKind::unauthorized);
}

TEST_F(AuthTest, CodesExpire) {
  auth_->bootstrap_admin("c0de-c0de");
  auto admin = *store_->user_by_email("admin");
  auto code = auth_->create_code(admin, "login", 10);
  clock_.advance(std::chrono::seconds(11));
  EXPECT_EQ(kind_of([&] { auth_->exchange_code(code, 0); }), ErrorKind::unauthorized);
  EXPECT_EQ(kind_of([&] { auth_->create_code(admin, "login", -1); }), ErrorKind::invalid);
}

TEST(Policy, Roles) {
  User plain, master, grid_admin, user_admin;
  master.roles = {kRoleMasterAdmin};
  grid_admin.roles = {kRoleGridAdmin};
  user_admin.roles = {kRoleUserAdmin};
  EXPECT_FALSE(can_see_grid(plain, false));
  EXPECT_TRUE(can_see_grid(plain, true));
  EXPECT_TRUE(can_see_grid(master, false));
  EXPECT_FALSE(can_create_grid(plain));
  EXPECT_TRUE(can_create_grid(grid_admin));
  EXPECT_FALSE(can_admin_grid(grid_admin, false));
  EXPECT_TRUE(can_admin_grid(grid_admin, true));
  EXPECT_FALSE(can_admin_grid(plain, true));
  EXPECT_TRUE(can_manage_users(user_admin));
  EXPECT_FALSE(can_manage_users(grid_admin));
  EXPECT_TRUE(can_manage_grid_users(user_admin, false));
  EXPECT_TRUE(can_grant_role(user_admin, kRoleGridAdmin));
  EXPECT_FALSE(can_grant_role(user_admin, kRoleMasterAdmin));
  EXPECT_TRUE(can_grant_role(master, kRoleMasterAdmin));
  EXPECT_FALSE(can_grant_role(master, "root"));
  EXPECT_FALSE(can_grant_role(plain, kRoleGridAdmin));
}
