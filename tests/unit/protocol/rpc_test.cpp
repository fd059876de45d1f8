#include "protocol/rpc.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "protocol/agent_protocol.h"

namespace kontena::protocol {
namespace {

TEST(Rpc, RoundTripsTheThreeShapes) {
  auto req = std::get<RpcRequest>(parse_rpc(encode(RpcRequest{42, "/nodes/update", Json::array({Json{{"ID", "x"}}})})));
  EXPECT_EQ(req.id, 42);
  EXPECT_EQ(req.method, "/nodes/update");
  EXPECT_EQ(req.params[0]["ID"], "x");

  auto res = std::get<RpcResponse>(parse_rpc(encode(rpc_result(7, Json{{"a", 1}}))));
  EXPECT_TRUE(res.ok());
  EXPECT_EQ(res.result["a"], 1);
  auto err = std::get<RpcResponse>(parse_rpc(encode(rpc_error(8, 501, "not implemented"))));
  EXPECT_FALSE(err.ok());
  EXPECT_EQ(err.error["code"], 501);

  auto note = std::get<RpcNotification>(parse_rpc(encode(RpcNotification{"/nodes/stats", Json::array({1})})));
  EXPECT_EQ(note.method, "/nodes/stats");
  EXPECT_EQ(note.params, Json::array({1}));
}

TEST(Rpc, WireFormatIsTheOriginalArrays) {
  EXPECT_EQ(encode(RpcRequest{1, "/a/b", Json::array()}), R"([0,1,"/a/b",[]])");
  EXPECT_EQ(encode(rpc_result(1, nullptr)), R"([1,1,null,null])");
  EXPECT_EQ(encode(RpcNotification{"/a/b", Json::array({"x"})}), R"([2,"/a/b",["x"]])");
}

TEST(Rpc, RejectsEveryMalformedShapeWithAClearError) {
  const char* bad[] = {"",          "not json",       "{}",           "[]",          "[3,1,\"/a\",[]]",
                       "[\"0\"]",   "[0,1,\"/a\"]",   "[0,\"x\",\"/a\",[]]", "[0,1,\"a\",[]]", "[0,1,2,[]]",
                       "[0,1,\"/a\",{}]", "[1,1,\"oops\",null]", "[1,1,null]", "[2,\"/a\"]", "[2,\"/a\",5]",
                       "[0,1.5,\"/a\",[]]", "[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]", "[0,1,\"/a\",[]]trailing"};
  for (const char* text : bad) {
    try {
      parse_rpc(text);
      ADD_FAILURE() << "accepted: " << text;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::bad_request) << text;
      EXPECT_NE(std::string(e.what()).find("malformed RPC message"), std::string::npos) << text;
    }
  }
}

TEST(Rpc, CloseCodesThatStopTheAgent) {
  EXPECT_TRUE(agent_must_stop(kCloseInvalidGridToken));
  EXPECT_TRUE(agent_must_stop(kCloseNodeRemoved));
  EXPECT_TRUE(agent_must_stop(kCloseNewerConnection));
  EXPECT_FALSE(agent_must_stop(kClosePingTimeout));
  EXPECT_FALSE(agent_must_stop(kCloseClockSkew));
  EXPECT_FALSE(agent_must_stop(1006));
}

}  // namespace
}  // namespace kontena::protocol
