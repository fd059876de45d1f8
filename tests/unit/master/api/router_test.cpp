#include "master/api/router.h"

#include <gtest/gtest.h>

using namespace kontena::master;

TEST(Router, MatchesParamsMethodsAndOrder) {
  Router r;
  int hit = 0;
  r.add("GET", "/oauth2/tokens/current", {}, [&](ApiCall&) { hit = 1; return ApiResult{}; });
  r.add("GET", "/oauth2/tokens/:id", {}, [&](ApiCall&) { hit = 2; return ApiResult{}; });
  r.add("PUT", "/v1/nodes/:grid/:node", {}, [&](ApiCall&) { hit = 3; return ApiResult{}; });

  auto m = r.match("GET", "/oauth2/tokens/current");
  ASSERT_TRUE(m.route);
  EXPECT_TRUE(m.params.empty());
  m = r.match("GET", "/oauth2/tokens/42");
  ASSERT_TRUE(m.route);
  EXPECT_EQ(m.params.at("id"), "42");
  m = r.match("PUT", "/v1/nodes/demo/node-1/");
  ASSERT_TRUE(m.route);
  EXPECT_EQ(m.params.at("grid"), "demo");
  EXPECT_EQ(m.params.at("node"), "node-1");
  m = r.match("DELETE", "/v1/nodes/demo/node-1");
  EXPECT_FALSE(m.route);
  EXPECT_TRUE(m.other_method_matched);
  m = r.match("GET", "/v1/nodes/demo");
  EXPECT_FALSE(m.route);
  EXPECT_FALSE(m.other_method_matched);
}

TEST(Router, SplitPath) {
  EXPECT_EQ(split_path("/"), std::vector<std::string>{});
  EXPECT_EQ(split_path("//a//b/"), (std::vector<std::string>{"a", "b"}));
}

TEST(Router, RestSegmentTakesTheRestOfThePathVerbatim) {
  Router r;
  r.add("GET", "/v1/grids/:grid/health", {}, [](ApiCall&) { return ApiResult{}; });
  r.add("GET", "/v1/etcd/:grid/*key", {}, [](ApiCall&) { return ApiResult{}; });
  auto m = r.match("GET", "/v1/etcd/demo/kontena/ipam/");
  ASSERT_TRUE(m.route);
  EXPECT_EQ(m.params.at("grid"), "demo");
  EXPECT_EQ(m.params.at("key"), "/kontena/ipam/");
  m = r.match("GET", "/v1/etcd/demo/a//b");
  ASSERT_TRUE(m.route);
  EXPECT_EQ(m.params.at("key"), "/a//b");
  m = r.match("GET", "/v1/etcd/demo");
  ASSERT_TRUE(m.route);
  EXPECT_EQ(m.params.at("key"), "");
  EXPECT_FALSE(r.match("GET", "/v1/etcd").route);
  EXPECT_TRUE(r.match("POST", "/v1/etcd/demo/x").other_method_matched);
  EXPECT_TRUE(r.match("GET", "/v1/grids/demo/health").route);
}
