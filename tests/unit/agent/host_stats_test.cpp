#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "agent/host_stats.h"
#include "common/error.h"

using namespace kontena::agent;

namespace {

const char* kStat1 =
    "cpu  1000 100 500 8000 200 50 50 100 0 0\n"
    "cpu0 500 50 250 4000 100 25 25 50 0 0\n"
    "cpu1 500 50 250 4000 100 25 25 50 0 0\n"
    "intr 12345 0 0\n"
    "ctxt 999\n";
const char* kStat2 =
    "cpu  1300 100 600 8500 200 50 50 200 0 0\n"
    "cpu0 650 50 300 4250 100 25 25 100 0 0\n"
    "cpu1 650 50 300 4250 100 25 25 100 0 0\n";
const char* kMeminfo =
    "MemTotal:        4000000 kB\n"
    "MemFree:         1000000 kB\n"
    "MemAvailable:    2500000 kB\n"
    "Buffers:          100000 kB\n"
    "Cached:          1200000 kB\n"
    "SwapCached:            0 kB\n";

}  // namespace

TEST(HostStats, ParsesProcStat) {
  CpuSample s = parse_proc_stat(kStat1);
  EXPECT_EQ(2, s.num_cores);
  EXPECT_EQ(1000u, s.times.user);
  EXPECT_EQ(8000u, s.times.idle);
  EXPECT_EQ(10000u, s.times.total());
  EXPECT_THROW(parse_proc_stat("intr 1 2 3\n"), kontena::Error);
  EXPECT_THROW(parse_proc_stat("cpu x y\n"), kontena::Error);
}

TEST(HostStats, ParsesMeminfoInBytes) {
  MemInfo m = parse_meminfo(kMeminfo);
  EXPECT_EQ(4000000ull * 1024, m.total);
  EXPECT_EQ(1000000ull * 1024, m.free);
  EXPECT_EQ(1200000ull * 1024, m.cached);
  EXPECT_EQ(100000ull * 1024, m.buffers);
  EXPECT_THROW(parse_meminfo("Cached: 1 kB\n"), kontena::Error);
}

TEST(HostStats, ParsesLoadavg) {
  auto l = parse_loadavg("0.52 0.58 0.59 1/467 12345\n");
  EXPECT_DOUBLE_EQ(0.52, l[0]);
  EXPECT_DOUBLE_EQ(0.59, l[2]);
  EXPECT_THROW(parse_loadavg("garbage"), kontena::Error);
}

TEST(HostStats, ShapeAndPercentagesOverTheInterval) {
  CpuSample a = parse_proc_stat(kStat1), b = parse_proc_stat(kStat2);
  // delta: user 300, system 100, idle 500, steal 100 -> total 1000
  auto j = build_host_stats(a, b, parse_meminfo(kMeminfo), {0.5, 0.25, 0.125},
                            {{"/var/lib/docker", 1000, 400, 600}}, 3, "2026-11-24T14:20:00.123Z");
  EXPECT_EQ(2, j["cpu"]["num_cores"]);
  EXPECT_DOUBLE_EQ(30.0, j["cpu"]["user"].get<double>());
  EXPECT_DOUBLE_EQ(20.0, j["cpu"]["system"].get<double>());
  EXPECT_DOUBLE_EQ(50.0, j["cpu"]["idle"].get<double>());
  EXPECT_EQ((nlohmann::json{0.5, 0.25, 0.125}), j["cpu"]["load"]);
  EXPECT_EQ(4000000ull * 1024, j["memory"]["total"].get<std::uint64_t>());
  EXPECT_EQ(3000000ull * 1024, j["memory"]["used"].get<std::uint64_t>());
  EXPECT_EQ(1200000ull * 1024, j["memory"]["cached"].get<std::uint64_t>());
  EXPECT_EQ(100000ull * 1024, j["memory"]["buffers"].get<std::uint64_t>());
  EXPECT_EQ("/var/lib/docker", j["filesystem"][0]["name"]);
  EXPECT_EQ(600, j["filesystem"][0]["free"]);
  EXPECT_EQ(3, j["usage"]["container_count"]);
  EXPECT_EQ("2026-11-24T14:20:00.123Z", j["created_at"]);
}

TEST(HostStats, FirstSampleIsSinceBoot) {
  CpuSample a = parse_proc_stat(kStat1);
  auto j = build_host_stats(std::nullopt, a, parse_meminfo(kMeminfo), {0, 0, 0}, {}, 0, "t");
  EXPECT_DOUBLE_EQ(11.0, j["cpu"]["user"].get<double>());   // (1000+100)/10000
  EXPECT_DOUBLE_EQ(82.0, j["cpu"]["idle"].get<double>());   // (8000+200)/10000
  EXPECT_TRUE(j["filesystem"].empty());
}

TEST(HostStats, CollectorReadsAProcTree) {
  auto dir = std::filesystem::temp_directory_path() / ("kontena-agent-proc-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto write = [&](const char* name, const char* text) { std::ofstream(dir / name) << text; };
  write("stat", kStat1);
  write("meminfo", kMeminfo);
  write("loadavg", "1.00 2.00 3.00 1/1 1\n");
  HostStatsCollector c(dir.string());
  auto first = c.collect({{"DockerRootDir", dir.string()}, {"ContainersRunning", 7}}, 0);
  EXPECT_EQ(7, first["usage"]["container_count"]);
  ASSERT_EQ(1u, first["filesystem"].size()) << "statvfs of the docker root dir";
  EXPECT_GT(first["filesystem"][0]["total"].get<std::uint64_t>(), 0u);
  EXPECT_EQ("1970-01-01T00:00:00.000Z", first["created_at"]);
  write("stat", kStat2);
  auto second = c.collect(nlohmann::json::object(), 1000);
  EXPECT_DOUBLE_EQ(30.0, second["cpu"]["user"].get<double>()) << "the second sample is over the interval";
  std::filesystem::remove(dir / "stat");
  EXPECT_THROW(c.collect(nlohmann::json::object(), 0), kontena::Error);
  std::filesystem::remove_all(dir);
}

TEST(HostStats, RealProc) {
  HostStatsCollector c;
  auto j = c.collect({{"DockerRootDir", "/"}}, 0);
  EXPECT_GE(j["cpu"]["num_cores"].get<int>(), 1);
  EXPECT_GT(j["memory"]["total"].get<std::uint64_t>(), 0u);
}
