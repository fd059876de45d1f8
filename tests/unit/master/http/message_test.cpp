#include "master/http/message.h"

#include <gtest/gtest.h>

using namespace kontena::master;

TEST(HttpMessage, ParseTarget) {
  std::string path;
  std::map<std::string, std::string> query;
  ASSERT_TRUE(parse_target("/v1/grids/my%20grid?limit=10&x=a+b&flag", path, query));
  EXPECT_EQ(path, "/v1/grids/my grid");
  EXPECT_EQ(query.at("limit"), "10");
  EXPECT_EQ(query.at("x"), "a b");
  EXPECT_EQ(query.at("flag"), "");
  EXPECT_FALSE(parse_target("/v1/%zz", path, query));
  EXPECT_FALSE(parse_target("/v1/%4", path, query));
  EXPECT_FALSE(parse_target("/v1/%", path, query));
}
