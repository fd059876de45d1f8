// The process runner with real programs: exit codes, stdout and stderr apart, large output, a
// missing program, death by signal, and the timeout that kills the child.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "agent/network/command_runner.h"
#include "common/error.h"

using namespace kontena::agent::network;
using namespace std::chrono_literals;

TEST(ProcessRunner, ExitCodes) {
  auto run = make_process_runner();
  EXPECT_EQ(run->run({"true"}).exit_code, 0);
  EXPECT_EQ(run->run({"false"}).exit_code, 1);
  EXPECT_EQ(run->run({"sh", "-c", "exit 7"}).exit_code, 7);
}

TEST(ProcessRunner, OutputAndErrorsApartAndNoShell) {
  auto run = make_process_runner();
  auto r = run->run({"echo", "hello", "$HOME", "a;b"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "hello $HOME a;b\n");  // arguments reach the program as they are
  EXPECT_EQ(r.err, "");
  r = run->run({"sh", "-c", "echo to-out; echo to-err >&2; exit 3"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "to-out\n");
  EXPECT_EQ(r.err, "to-err\n");
}

TEST(ProcessRunner, LargeOutputOnBothStreams) {
  // More than a pipe holds on both streams at once: both must be drained while the child runs.
  auto run = make_process_runner();
  auto r = run->run({"sh", "-c", "head -c 300000 /dev/zero; head -c 200000 /dev/zero >&2; head -c 300000 /dev/zero"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.size(), 600000u);
  EXPECT_EQ(r.err.size(), 200000u);
}

TEST(ProcessRunner, StdinIsEmpty) {
  auto run = make_process_runner();
  auto r = run->run({"cat"}, 5s);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "");
}

TEST(ProcessRunner, MissingProgramIs127WithTheReason) {
  auto run = make_process_runner();
  auto r = run->run({"kontena-no-such-program-xyz", "a"});
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_NE(r.err.find("kontena-no-such-program-xyz"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("No such file"), std::string::npos) << r.err;
}

TEST(ProcessRunner, KilledBySignal) {
  auto run = make_process_runner();
  EXPECT_EQ(run->run({"sh", "-c", "kill -9 $$"}).exit_code, 128 + 9);
}

TEST(ProcessRunner, TimeoutKillsTheChild) {
  auto run = make_process_runner();
  auto t0 = std::chrono::steady_clock::now();
  try {
    run->run({"sleep", "30"}, 200ms);
    FAIL() << "no timeout";
  } catch (const kontena::Error& e) {
    EXPECT_EQ(e.kind(), kontena::ErrorKind::unavailable);
    EXPECT_NE(std::string(e.what()).find("sleep 30"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("200 ms"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
}

TEST(ProcessRunner, ProgramEndsButItsChildKeepsThePipe) {
  // The program exits at once; what it left behind holds stdout. Its exit code still counts.
  auto run = make_process_runner();
  auto r = run->run({"sh", "-c", "echo started; sleep 3 & exit 4"}, 300ms);
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_EQ(r.out, "started\n");
}

TEST(ProcessRunner, EmptyCommandIsInvalid) {
  auto run = make_process_runner();
  try {
    run->run({});
    FAIL() << "no error";
  } catch (const kontena::Error& e) {
    EXPECT_EQ(e.kind(), kontena::ErrorKind::invalid);
  }
}

TEST(ProcessRunner, ConcurrentRuns) {
  auto run = make_process_runner();
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      auto r = run->run({"echo", std::to_string(i)});
      if (r.exit_code == 0 && r.out == std::to_string(i) + "\n") ++good;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good, 8);
}

TEST(ProcessRunner, CommandLine) { EXPECT_EQ(command_line({"ip", "link", "add", "x"}), "ip link add x"); }
