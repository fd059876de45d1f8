#include "agent/host_stats.h"

#include <sys/statvfs.h>

#include <cmath>
#include <sstream>

#include "agent/node_info.h"
#include "common/clock.h"
#include "common/error.h"

namespace kontena::agent {

namespace {

double percent(std::uint64_t part, std::uint64_t total) {
  if (total == 0) return 0.0;
  return std::round(10000.0 * static_cast<double>(part) / static_cast<double>(total)) / 100.0;
}

std::uint64_t diff(std::uint64_t now, std::uint64_t prev) { return now >= prev ? now - prev : 0; }

}  // namespace

CpuSample parse_proc_stat(std::string_view text) {
  CpuSample sample;
  bool have_total = false;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("cpu", 0) != 0) continue;
    std::istringstream fields(line);
    std::string name;
    fields >> name;
    if (name == "cpu") {
      CpuTimes& t = sample.times;
      if (!(fields >> t.user >> t.nice >> t.system >> t.idle))
        fail(ErrorKind::internal, "cannot parse the cpu line of /proc/stat: " + line);
      // iowait, irq, softirq, steal are missing on very old kernels
      fields >> t.iowait >> t.irq >> t.softirq >> t.steal;
      have_total = true;
    } else if (name.size() > 3 && std::isdigit(static_cast<unsigned char>(name[3]))) {
      ++sample.num_cores;
    }
  }
  if (!have_total) fail(ErrorKind::internal, "/proc/stat has no cpu line");
  if (sample.num_cores == 0) sample.num_cores = 1;
  return sample;
}

MemInfo parse_meminfo(std::string_view text) {
  MemInfo mem;
  bool have_total = false, have_free = false;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key, unit;
    std::uint64_t value = 0;
    if (!(fields >> key >> value)) continue;
    fields >> unit;
    std::uint64_t bytes = unit == "kB" ? value * 1024 : value;
    if (key == "MemTotal:") mem.total = bytes, have_total = true;
    else if (key == "MemFree:") mem.free = bytes, have_free = true;
    else if (key == "MemAvailable:") mem.available = bytes;
    else if (key == "Cached:") mem.cached = bytes;
    else if (key == "Buffers:") mem.buffers = bytes;
  }
  if (!have_total || !have_free) fail(ErrorKind::internal, "/proc/meminfo lacks MemTotal or MemFree");
  return mem;
}

std::array<double, 3> parse_loadavg(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::array<double, 3> load{};
  if (!(in >> load[0] >> load[1] >> load[2])) fail(ErrorKind::internal, "cannot parse /proc/loadavg: " + std::string(text));
  return load;
}

nlohmann::json build_host_stats(const std::optional<CpuSample>& prev, const CpuSample& now, const MemInfo& mem,
                                const std::array<double, 3>& load, const std::vector<FsUsage>& filesystems,
                                std::int64_t container_count, const std::string& created_at) {
  CpuTimes d = now.times;
  if (prev && prev->times.total() < now.times.total()) {
    const CpuTimes& p = prev->times;
    d = CpuTimes{diff(now.times.user, p.user),     diff(now.times.nice, p.nice),     diff(now.times.system, p.system),
                 diff(now.times.idle, p.idle),     diff(now.times.iowait, p.iowait), diff(now.times.irq, p.irq),
                 diff(now.times.softirq, p.softirq), diff(now.times.steal, p.steal)};
  }
  std::uint64_t total = d.total();
  nlohmann::json fs = nlohmann::json::array();
  for (const auto& f : filesystems) fs.push_back({{"name", f.name}, {"total", f.total}, {"used", f.used}, {"free", f.free}});
  return {
      {"cpu",
       {{"num_cores", now.num_cores},
        {"system", percent(d.system + d.irq + d.softirq + d.steal, total)},
        {"user", percent(d.user + d.nice, total)},
        {"idle", percent(d.idle + d.iowait, total)},
        {"load", {load[0], load[1], load[2]}}}},
      {"memory",
       {{"total", mem.total},
        {"free", mem.free},
        {"used", mem.total >= mem.free ? mem.total - mem.free : 0},
        {"cached", mem.cached},
        {"buffers", mem.buffers}}},
      {"filesystem", fs},
      {"usage", {{"container_count", container_count}}},
      {"created_at", created_at},
  };
}

std::optional<FsUsage> filesystem_usage(const std::string& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) return std::nullopt;
  std::uint64_t unit = st.f_frsize ? st.f_frsize : st.f_bsize;
  FsUsage fs;
  fs.name = path;
  fs.total = static_cast<std::uint64_t>(st.f_blocks) * unit;
  fs.free = static_cast<std::uint64_t>(st.f_bavail) * unit;
  fs.used = static_cast<std::uint64_t>(st.f_blocks - st.f_bfree) * unit;
  return fs;
}

nlohmann::json HostStatsCollector::collect(const nlohmann::json& docker_info, std::int64_t now_unix_ms) {
  auto read = [&](const char* name) {
    std::string text = read_text_file(proc_root_ + "/" + name);
    if (text.empty()) fail(ErrorKind::internal, "cannot read " + proc_root_ + "/" + name);
    return text;
  };
  CpuSample cpu = parse_proc_stat(read("stat"));
  MemInfo mem = parse_meminfo(read("meminfo"));
  auto load = parse_loadavg(read("loadavg"));
  std::vector<FsUsage> filesystems;
  std::string root = docker_info.value("DockerRootDir", std::string("/var/lib/docker"));
  if (auto fs = filesystem_usage(root)) filesystems.push_back(*fs);
  std::int64_t containers = 0;
  if (docker_info.contains("ContainersRunning") && docker_info["ContainersRunning"].is_number_integer())
    containers = docker_info["ContainersRunning"].get<std::int64_t>();
  std::optional<CpuSample> prev;
  {
    std::lock_guard lock(mutex_);
    prev = prev_;
    prev_ = cpu;
  }
  return build_host_stats(prev, cpu, mem, load, filesystems, containers, format_time_ms(now_unix_ms));
}

}  // namespace kontena::agent
