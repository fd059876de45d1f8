#include "agent/logs/log_shipper.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <set>

#include "agent/docker/stream_decoder.h"
#include "common/error.h"
#include "protocol/service_pod.h"

namespace kontena::agent::logs {

namespace {

using Steady = std::chrono::steady_clock;

std::string label(const std::map<std::string, std::string>& labels, const char* key) {
  auto it = labels.find(key);
  return it == labels.end() ? std::string() : it->second;
}

}  // namespace

std::string format_iso_ms(std::int64_t unix_ns) {
  std::int64_t ms = unix_ns >= 0 ? unix_ns / 1'000'000 : -((-unix_ns + 999'999) / 1'000'000);
  return format_time_ms(ms);
}

Json to_json(const ShippedLine& l) {
  return Json{{"service_id", l.service_id}, {"instance_number", l.instance_number},
              {"container", l.container},   {"stream", l.stream},
              {"data", l.data},             {"time", l.time}};
}

LogShipper::LogShipper(docker::DockerClient& docker, const Clock& clock, LogShipperOptions options, Sender send)
    : docker_(docker), clock_(clock), options_(options), send_(std::move(send)) {
  if (options_.batch_lines == 0) options_.batch_lines = 1;
  if (options_.queue_limit < options_.batch_lines) options_.queue_limit = options_.batch_lines;
}

LogShipper::~LogShipper() { stop(); }

void LogShipper::start() {
  std::lock_guard lock(loop_mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  rescan_pending_ = true;
  thread_ = std::thread([this] { run(); });
}

void LogShipper::stop() {
  {
    std::lock_guard lock(loop_mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (events_) events_->cancel();
  events_.reset();
  // Cancel the streams outside the lock (a stream's callback takes it).
  std::vector<std::unique_ptr<docker::Stream>> streams;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, f] : follows_)
      if (f.stream) streams.push_back(std::move(f.stream));
  }
  for (auto& s : streams) s->cancel();
}

void LogShipper::rescan() {
  {
    std::lock_guard lock(loop_mu_);
    rescan_pending_ = true;
  }
  cv_.notify_all();
}

std::size_t LogShipper::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}
std::uint64_t LogShipper::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}
std::uint64_t LogShipper::shipped() const {
  std::lock_guard lock(mu_);
  return shipped_;
}
std::vector<std::string> LogShipper::followed() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (auto& [id, f] : follows_)
    if (f.stream && !f.stream->done()) out.push_back(id);
  return out;
}

void LogShipper::on_line(const std::string& id, const docker::LogLine& line) {
  bool full = false;
  {
    std::lock_guard lock(mu_);
    auto it = follows_.find(id);
    if (it == follows_.end()) return;
    Follow& f = it->second;
    auto t = line.time.empty() ? std::nullopt : parse_time_ns(line.time);
    if (f.resuming && t) {
      if (*t < f.resume_ns) return;  // queued before
      if (*t == f.resume_ns && f.resume_skip > 0) {
        --f.resume_skip;
        return;
      }
      if (*t > f.resume_ns) f.resuming = false;
    }
    if (t) {
      if (!f.last_ns || *t > *f.last_ns) {
        f.last_ns = *t;
        f.at_last = 1;
      } else if (*t == *f.last_ns) {
        ++f.at_last;
      }
    }
    ShippedLine l;
    l.service_id = f.service_id;
    l.instance_number = f.instance_number;
    l.container = f.name;
    l.stream = line.stream == "stderr" ? "stderr" : "stdout";
    l.data = docker::valid_utf8(line.data);
    l.time = t ? format_iso_ms(*t) : format_time_ms(clock_.now_unix_ms());
    if (queue_.size() >= options_.queue_limit) {
      if (dropped_unreported_ == 0)
        spdlog::warn("log queue full, dropping the oldest lines limit={}", options_.queue_limit);
      queue_.pop_front();
      ++dropped_;
      ++dropped_unreported_;
    }
    queue_.push_back(Queued{std::move(l), Steady::now()});
    full = queue_.size() >= options_.batch_lines;
  }
  if (full) cv_.notify_all();
}

void LogShipper::scan() {
  std::vector<docker::ContainerSummary> list;
  try {
    list = docker_.list_containers({protocol::kLabelServiceId}, true);
  } catch (const std::exception& e) {
    spdlog::debug("logs: cannot list the containers error=\"{}\"", e.what());
    return;
  }
  bool first = false;
  {
    std::lock_guard lock(mu_);
    if (!first_scan_done_) {
      first = true;
      first_scan_done_ = true;
      first_scan_unix_s_ = clock_.now_unix_ms() / 1000;
    }
  }
  std::vector<std::unique_ptr<docker::Stream>> ended;
  std::set<std::string> seen;
  for (const auto& c : list) {
    std::string service_id = label(c.labels, protocol::kLabelServiceId);
    if (service_id.empty() || label(c.labels, kLabelSkipLogs) == "1") continue;
    if (label(c.labels, protocol::kLabelContainerType) == protocol::kContainerTypeHook) continue;
    seen.insert(c.id);
    int instance = 0;
    try {
      instance = std::stoi(label(c.labels, protocol::kLabelInstanceNumber));
    } catch (const std::exception&) {
      instance = 0;
    }
    bool running = c.state == "running" || c.state == "restarting" || c.state == "paused";
    std::unique_lock lock(mu_);
    auto [it, inserted] = follows_.try_emplace(c.id);
    Follow& f = it->second;
    if (inserted) {
      f.id = c.id;
      f.service_id = service_id;
      f.instance_number = instance;
    }
    f.name = c.name;
    if (f.stream && !f.stream->done()) continue;
    if (f.stream) ended.push_back(std::move(f.stream));
    // A stopped container: read once, unless it was there before the agent looked (first scan)
    // or was read already (its stream ended with it).
    if (!running && first) f.opened = true;
    if (!running && f.opened) continue;
    docker::LogOptions o;
    o.follow = true;
    o.timestamps = true;
    f.resuming = false;
    if (f.last_ns) {
      // Resume: Docker's `since` is in seconds; what was queued in that second is skipped.
      o.since_unix = *f.last_ns / 1'000'000'000;
      f.resuming = true;
      f.resume_ns = *f.last_ns;
      f.resume_skip = f.at_last;
    } else if (first && first_scan_unix_s_) {
      o.since_unix = *first_scan_unix_s_;
    }
    f.opened = true;
    std::string id = c.id;
    // stream_logs waits for Docker's answer: not under the lock (the stream's lines take it).
    lock.unlock();
    try {
      auto stream = docker_.stream_logs(id, o, [this, id](const docker::LogLine& l) { on_line(id, l); });
      spdlog::debug("logs: following container={} since={}", c.name,
                    o.since_unix ? std::to_string(*o.since_unix) : std::string("its start"));
      std::lock_guard relock(mu_);
      follows_[id].stream = std::move(stream);
    } catch (const std::exception& e) {
      spdlog::debug("logs: cannot follow container={} error=\"{}\"", c.name, e.what());
    }
  }
  {
    std::lock_guard lock(mu_);
    for (auto it = follows_.begin(); it != follows_.end();) {
      if (seen.count(it->first)) {
        ++it;
        continue;
      }
      if (it->second.stream) ended.push_back(std::move(it->second.stream));
      it = follows_.erase(it);
    }
  }
  for (auto& s : ended) s->cancel();
}

std::size_t LogShipper::flush_once(bool force) {
  Json batch = Json::array();
  std::size_t n = 0;
  {
    std::lock_guard lock(mu_);
    if (queue_.empty()) return 0;
    bool due = force || queue_.size() >= options_.batch_lines ||
               Steady::now() - queue_.front().at >= options_.flush_interval;
    if (!due) return 0;
    n = std::min(queue_.size(), options_.batch_lines);
    for (std::size_t i = 0; i < n; ++i) batch.push_back(to_json(queue_[i].line));
  }
  bool sent = false;
  try {
    sent = send_ && send_(batch);
  } catch (const std::exception& e) {
    spdlog::warn("logs: sending a batch failed error=\"{}\"", e.what());
  }
  if (!sent) return 0;
  std::uint64_t dropped_report = 0;
  {
    std::lock_guard lock(mu_);
    // Lines may have been dropped from the front while sending: remove only what was sent.
    std::size_t removed = 0;
    while (removed < n && !queue_.empty()) {
      const ShippedLine& front = queue_.front().line;
      const Json& sent_line = batch[removed];
      if (front.container != sent_line["container"] || front.time != sent_line["time"] ||
          front.data != sent_line["data"])
        break;
      queue_.pop_front();
      ++removed;
    }
    shipped_ += n;
    dropped_report = dropped_unreported_;
    dropped_unreported_ = 0;
  }
  if (dropped_report > 0)
    spdlog::warn("log lines were dropped while the master could not take them count={}", dropped_report);
  return n;
}

void LogShipper::watch_events() {
  if (!options_.watch_events || (events_ && !events_->done())) return;
  try {
    Json filters = {{"type", {"container"}}, {"event", {"start", "die"}}, {"label", {protocol::kLabelServiceId}}};
    events_ = docker_.stream_events(filters, [this](const Json&) { rescan(); });
  } catch (const std::exception& e) {
    spdlog::debug("logs: cannot watch Docker events error=\"{}\"", e.what());
    events_.reset();
  }
}

void LogShipper::run() {
  auto next_scan = Steady::now();
  auto next_flush_try = Steady::now();
  for (;;) {
    bool scan_now = false;
    {
      std::unique_lock lock(loop_mu_);
      auto now = Steady::now();
      auto wake = std::min(next_scan, now + options_.flush_interval);
      {
        std::lock_guard q(mu_);
        if (!queue_.empty()) {
          auto due = queue_.size() >= options_.batch_lines ? now : queue_.front().at + options_.flush_interval;
          wake = std::min(wake, std::max(due, next_flush_try));
        }
      }
      if (!stopping_ && !rescan_pending_ && wake > now) cv_.wait_until(lock, wake);
      if (stopping_) break;
      scan_now = rescan_pending_ || Steady::now() >= next_scan;
      rescan_pending_ = false;
    }
    if (scan_now) {
      watch_events();
      scan();
      next_scan = Steady::now() + options_.rescan_interval;
    }
    if (Steady::now() < next_flush_try) continue;
    for (;;) {
      {
        std::lock_guard lock(loop_mu_);
        if (stopping_) break;
      }
      std::size_t before = queued();
      if (before == 0) break;
      std::size_t sent = flush_once(false);
      if (sent == 0) {
        // Nothing due, or not sent (not connected): try again later.
        bool due = false;
        {
          std::lock_guard q(mu_);
          due = !queue_.empty() && (queue_.size() >= options_.batch_lines ||
                                    Steady::now() - queue_.front().at >= options_.flush_interval);
        }
        if (due) next_flush_try = Steady::now() + options_.flush_interval;
        break;
      }
    }
  }
}

}  // namespace kontena::agent::logs
