// Host statistics for /nodes/stats (shape in protocol/agent_protocol.h), from /proc and statvfs.
#pragma once
#include <array>
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kontena::agent {

struct CpuTimes {  // jiffies from the "cpu" line of /proc/stat
  std::uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  std::uint64_t total() const { return user + nice + system + idle + iowait + irq + softirq + steal; }
};

struct CpuSample {
  CpuTimes times;
  int num_cores = 0;  // "cpuN" lines
};

struct MemInfo {  // bytes
  std::uint64_t total = 0, free = 0, available = 0, cached = 0, buffers = 0;
};

struct FsUsage {
  std::string name;
  std::uint64_t total = 0, used = 0, free = 0;  // bytes
};

// Throw kontena::Error(internal) when the text lacks what is needed.
CpuSample parse_proc_stat(std::string_view text);
MemInfo parse_meminfo(std::string_view text);
std::array<double, 3> parse_loadavg(std::string_view text);

// The stats object. CPU percentages (0..100, two decimals) are over prev..now; without prev, since boot.
nlohmann::json build_host_stats(const std::optional<CpuSample>& prev, const CpuSample& now, const MemInfo& mem,
                                 const std::array<double, 3>& load, const std::vector<FsUsage>& filesystems,
                                 std::int64_t container_count, const std::string& created_at);

// statvfs of path; nullopt when it fails.
std::optional<FsUsage> filesystem_usage(const std::string& path);

// Reads proc_root/{stat,meminfo,loadavg} and the Docker root dir of docker_info; remembers the
// previous CPU sample. Thread-safe. Throws kontena::Error(internal) when /proc cannot be read.
class HostStatsCollector {
 public:
  explicit HostStatsCollector(std::string proc_root = "/proc") : proc_root_(std::move(proc_root)) {}
  nlohmann::json collect(const nlohmann::json& docker_info, std::int64_t now_unix_ms);

 private:
  std::string proc_root_;
  std::mutex mutex_;
  std::optional<CpuSample> prev_;
};

}  // namespace kontena::agent
