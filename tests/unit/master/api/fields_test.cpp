#include "master/api/fields.h"

#include <gtest/gtest.h>

#include "common/error.h"

using namespace kontena;
using namespace kontena::master;

namespace {
ErrorKind kind_of(const std::function<void()>& fn, std::string* message = nullptr) {
  try {
    fn();
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.kind();
  }
  ADD_FAILURE() << "expected an error";
  return ErrorKind::internal;
}
}  // namespace

TEST(Fields, ParseBody) {
  EXPECT_EQ(parse_body(""), Json::object());
  EXPECT_EQ(parse_body("  \n"), Json::object());
  EXPECT_EQ(parse_body(R"({"a":1})")["a"], 1);
  std::string msg;
  EXPECT_EQ(kind_of([] { parse_body("{\"a\":"); }, &msg), ErrorKind::bad_request);
  EXPECT_NE(msg.find("not valid JSON"), std::string::npos);
  EXPECT_EQ(kind_of([] { parse_body("[1,2]"); }, &msg), ErrorKind::bad_request);
  EXPECT_NE(msg.find("JSON object"), std::string::npos);
}

TEST(Fields, TypedAccess) {
  Json body = Json::parse(R"({"name":"x","size":3,"flag":true,"list":["a","b"],"obj":{"k":1},"nothing":null})");
  Fields f(body);
  EXPECT_EQ(f.string("name"), "x");
  EXPECT_EQ(f.integer("size"), 3);
  EXPECT_EQ(f.boolean("flag"), true);
  EXPECT_EQ(f.string_array("list")->size(), 2u);
  EXPECT_TRUE(f.object("obj"));
  EXPECT_FALSE(f.string("nothing"));
  EXPECT_FALSE(f.string("missing"));
  EXPECT_NO_THROW(f.reject_unknown());
}

TEST(Fields, WrongTypesAndRequired) {
  Json body = Json::parse(R"({"name":5,"size":"3","list":["a",1],"flag":"yes","empty":""})");
  std::string msg;
  EXPECT_EQ(kind_of([&] { Fields(body).string("name"); }, &msg), ErrorKind::invalid);
  EXPECT_EQ(msg, "name must be a string");
  EXPECT_EQ(kind_of([&] { Fields(body).integer("size"); }), ErrorKind::invalid);
  EXPECT_EQ(kind_of([&] { Fields(body).string_array("list"); }), ErrorKind::invalid);
  EXPECT_EQ(kind_of([&] { Fields(body).boolean("flag"); }), ErrorKind::invalid);
  EXPECT_EQ(kind_of([&] { Fields(body).string("missing", true); }, &msg), ErrorKind::invalid);
  EXPECT_EQ(msg, "missing is required");
  EXPECT_EQ(kind_of([&] { Fields(body).string("empty", true); }), ErrorKind::invalid);
  EXPECT_EQ(kind_of([&] { Fields(Json{{"s", std::string(2000, 'x')}}).string("s"); }), ErrorKind::invalid);
}

TEST(Fields, UnknownFieldsNamed) {
  Json body = Json::parse(R"({"name":"x","nmae":"y"})");
  Fields f(body);
  f.string("name");
  try {
    f.reject_unknown();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), "nmae");
    EXPECT_NE(std::string(e.what()).find("allowed fields are name"), std::string::npos);
  }
}
