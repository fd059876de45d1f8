// DockerClient::exec of the Engine client against the scripted fake engine on a unix socket: the
// three calls Docker expects (create, attached start, inspect), the multiplexed output split into
// stdout/stderr (in pieces), exit codes, output caps, missing/stopped containers, the timeout, and
// bad input refused before anything is sent.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "agent/docker/engine_client.h"
#include "agent/docker/stream_decoder.h"
#include "common/error.h"
#include "docker_test_util.h"
#include "fake_engine.h"

using namespace kontena::agent::docker;
using namespace kontena::agent::docker::testing;
using namespace std::chrono_literals;
using kontena::Error;
using kontena::ErrorKind;

namespace {

// What dockerd 20.10 answers an attached exec start with: no length, the body ends with the
// connection, and it calls the (multiplexed) stream "raw".
const std::string kHijackHead = "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n";

// A fake engine that runs one exec: the output `wire` (written in pieces of `step` bytes) and the
// exit code, reported after `running_polls` inspections that still say Running.
struct ExecEngine {
  FakeEngine fe;
  std::string wire;
  std::size_t step = 7;
  int exit_code = 0;
  std::atomic<int> running_polls{0};
  std::atomic<int> inspections{0};
  ExecEngine() {
    fe.on([this](const FakeRequest& r, FakeConn& c) {
      if (r.method == "POST" && r.target == "/v1.41/containers/web-1/exec") {
        c.write(http_response(201, R"({"Id":"e0123"})"));
      } else if (r.method == "POST" && r.target == "/v1.41/exec/e0123/start") {
        c.write(kHijackHead);
        for (std::size_t i = 0; i < wire.size(); i += step) {
          if (!c.write(wire.substr(i, step))) return;
          if (i % 64 == 0) std::this_thread::sleep_for(1ms);
        }
      } else if (r.method == "GET" && r.target == "/v1.41/exec/e0123/json") {
        ++inspections;
        if (running_polls > 0) {
          --running_polls;
          c.write(http_response(200, R"({"ID":"e0123","Running":true,"ExitCode":null})"));
        } else {
          c.write(http_response(200, R"({"ID":"e0123","Running":false,"ExitCode":)" + std::to_string(exit_code) + "}"));
        }
      } else {
        c.write(http_response(404, R"({"message":"page not found"})"));
      }
    });
  }
};

}  // namespace

TEST(EngineExec, RunsTheCommandAndSplitsStdoutFromStderr) {
  ExecEngine e;
  e.wire = frame(1, "hello ") + frame(1, "world\n") + frame(2, "oops\n") + frame(1, "last line without newline");
  e.exit_code = 0;
  auto client = make_engine_client(e.fe.socket_path(), 5s);
  ExecResult r = client->exec("web-1", {"sh", "-c", "echo hello world; echo oops >&2"}, 10s);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.stdout_data, "hello world\nlast line without newline");
  EXPECT_EQ(r.stderr_data, "oops\n");
  EXPECT_FALSE(r.stdout_truncated);
  EXPECT_FALSE(r.stderr_truncated);
  auto reqs = e.fe.requests();
  ASSERT_EQ(reqs.size(), 3u);
  Json create = Json::parse(reqs[0].body);
  EXPECT_EQ(create["Cmd"], Json::array({"sh", "-c", "echo hello world; echo oops >&2"}));
  EXPECT_EQ(create["AttachStdout"], true);
  EXPECT_EQ(create["AttachStderr"], true);
  EXPECT_EQ(create["AttachStdin"], false);
  EXPECT_EQ(create["Tty"], false);
  Json start = Json::parse(reqs[1].body);
  EXPECT_EQ(start["Detach"], false);
  EXPECT_EQ(reqs[2].target, "/v1.41/exec/e0123/json");
}

TEST(EngineExec, NonZeroExitCodeAndWaitingForTheCodeAfterTheOutputEnds) {
  ExecEngine e;
  e.wire = frame(2, "not found\n");
  e.exit_code = 3;
  e.running_polls = 3;  // the output ended, the engine has not noted the exit yet
  auto client = make_engine_client(e.fe.socket_path(), 5s);
  ExecResult r = client->exec("web-1", {"false"}, 10s);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.stdout_data, "");
  EXPECT_EQ(r.stderr_data, "not found\n");
  EXPECT_EQ(e.inspections.load(), 4);
}

TEST(EngineExec, OutputIsCappedAt1MiBEach) {
  ExecEngine e;
  std::string big(kExecOutputCap / 2, 'x');
  e.wire = frame(1, big) + frame(1, big) + frame(1, "over the cap") + frame(2, "small");
  e.step = 65536;
  auto client = make_engine_client(e.fe.socket_path(), 5s);
  ExecResult r = client->exec("web-1", {"cat", "/big"}, 10s);
  EXPECT_EQ(r.stdout_data.size(), kExecOutputCap);
  EXPECT_TRUE(r.stdout_truncated);
  EXPECT_EQ(r.stdout_data.back(), 'x');
  EXPECT_EQ(r.stderr_data, "small");
  EXPECT_FALSE(r.stderr_truncated);
}

TEST(EngineExec, MissingContainerIsNotFound) {
  FakeEngine fe;
  fe.on([](const FakeRequest&, FakeConn& c) {
    c.write(http_response(404, R"({"message":"No such container: nope"})"));
  });
  auto client = make_engine_client(fe.socket_path(), 5s);
  Error err = catch_error([&] { client->exec("nope", {"true"}, 5s); });
  EXPECT_EQ(err.kind(), ErrorKind::not_found);
  EXPECT_TRUE(contains(err.what(), "no such container: nope")) << err.what();
  EXPECT_EQ(fe.requests().size(), 1u);  // nothing started
}

TEST(EngineExec, StoppedContainerIsAConflict) {
  FakeEngine fe;
  fe.on([](const FakeRequest&, FakeConn& c) {
    c.write(http_response(409, R"({"message":"Container 0123 is not running"})"));
  });
  auto client = make_engine_client(fe.socket_path(), 5s);
  Error err = catch_error([&] { client->exec("web-1", {"true"}, 5s); });
  EXPECT_EQ(err.kind(), ErrorKind::conflict);
  EXPECT_TRUE(contains(err.what(), "is not running")) << err.what();
}

TEST(EngineExec, ACommandThatDoesNotEndTimesOut) {
  FakeEngine fe;
  std::atomic<bool> release{false};
  fe.on([&](const FakeRequest& r, FakeConn& c) {
    if (r.target == "/v1.41/containers/web-1/exec") {
      c.write(http_response(201, R"({"Id":"e1"})"));
    } else if (r.target == "/v1.41/exec/e1/start") {
      c.write(kHijackHead + frame(1, "started\n"));
      c.wait_client_close(5s);  // never ends by itself
      release = true;
    }
  });
  auto client = make_engine_client(fe.socket_path(), 5s);
  auto t0 = std::chrono::steady_clock::now();
  Error err = catch_error([&] { client->exec("web-1", {"sleep", "1000"}, 300ms); });
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(err.kind(), ErrorKind::unavailable);
  EXPECT_TRUE(contains(err.what(), "did not finish within 1 s in container web-1")) << err.what();
  EXPECT_GE(took, 290ms);
  EXPECT_LT(took, 3s);
  // The connection was closed by the client (the fake saw it go).
  auto end = std::chrono::steady_clock::now() + 3s;
  while (!release && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(release.load());
}

TEST(EngineExec, BadInputIsRefusedBeforeAnythingIsSent) {
  FakeEngine fe;
  auto client = make_engine_client(fe.socket_path(), 5s);
  EXPECT_EQ(catch_error([&] { client->exec("web-1", {}, 5s); }).kind(), ErrorKind::invalid);
  EXPECT_EQ(catch_error([&] { client->exec("web-1", {""}, 5s); }).kind(), ErrorKind::invalid);
  EXPECT_EQ(catch_error([&] { client->exec("", {"true"}, 5s); }).kind(), ErrorKind::invalid);
  EXPECT_EQ(catch_error([&] { client->exec("web-1", {"true"}, 0ms); }).kind(), ErrorKind::invalid);
  EXPECT_TRUE(fe.requests().empty());
}

TEST(Utf8, ValidTextIsKeptAndBadBytesReplaced) {
  EXPECT_EQ(valid_utf8("plain"), "plain");
  EXPECT_EQ(valid_utf8("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x99\x82"), "h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x99\x82");
  EXPECT_EQ(valid_utf8(std::string("a\xFF" "b")), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(valid_utf8(std::string("\xC3")), "\xEF\xBF\xBD");             // cut short
  EXPECT_EQ(valid_utf8(std::string("\xC0\xAF")), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong
  EXPECT_EQ(valid_utf8(std::string("\xED\xA0\x80")), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(valid_utf8(std::string("nul\0in", 6)), std::string("nul\0in", 6));
  // What the JSON library refuses to dump becomes dumpable.
  Json j = valid_utf8(std::string("\x80\x81 x"));
  EXPECT_NO_THROW(j.dump());
}
