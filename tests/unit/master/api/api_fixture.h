// An in-process master: real SQLite store in a temp dir, manual clock, MasterApi::handle called
// directly (no sockets).
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <random>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "master/api/api.h"
#include "master/store/store.h"

namespace kontena::master::testing {

struct Reply {
  int status = 0;
  nlohmann::json body;
};

class ApiFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() / ("kontena-api-test-" + std::to_string(rd()) + std::to_string(rd()));
    open();
    api_->auth().bootstrap_admin("admin-code-123");
    admin_token_ = login("admin-code-123");
  }
  void TearDown() override {
    api_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void open() {
    store_ = open_sqlite_store({(dir_ / "master.db").string()});
    api_ = std::make_unique<MasterApi>(*store_, clock_, node_events_, service_control_);
  }
  void reopen() {
    api_.reset();
    store_.reset();
    open();
  }

  Reply call(const std::string& method, const std::string& target, const std::string& token = "",
             const std::string& body = "") {
    HttpRequest req;
    req.method = method;
    EXPECT_TRUE(parse_target(target, req.path, req.query));
    if (!token.empty()) req.headers["authorization"] = "Bearer " + token;
    req.headers["user-agent"] = "api-test";
    req.body = body;
    req.source_ip = "127.0.0.9";
    auto res = api_->handle(req);
    Reply r;
    r.status = res.status;
    r.body = res.body.empty() ? nlohmann::json() : nlohmann::json::parse(res.body);
    return r;
  }
  Reply call(const std::string& method, const std::string& target, const std::string& token,
             const nlohmann::json& body) {
    return call(method, target, token, body.dump());
  }
  std::string login(const std::string& code) {
    auto r = call("POST", "/oauth2/token", "", nlohmann::json{{"grant_type", "authorization_code"}, {"code", code}});
    EXPECT_EQ(r.status, 201) << r.body.dump();
    return r.body.value("access_token", "");
  }
  // Invites `email` as admin and logs in as that user.
  std::string user_token(const std::string& email) {
    auto inv = call("POST", "/oauth2/authorize", admin_token_, nlohmann::json{{"response_type", "invite"}, {"email", email}});
    EXPECT_EQ(inv.status, 201) << inv.body.dump();
    return login(inv.body.value("invite_code", ""));
  }

  std::filesystem::path dir_;
  ManualClock clock_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<MasterApi> api_;
  std::string admin_token_;
  ServiceControl* service_control_ = nullptr;  // set before SetUp() to give the API a deployer
  NodeEvents* node_events_ = nullptr;          // set before SetUp() to give the API an agent hub
};

}  // namespace kontena::master::testing
