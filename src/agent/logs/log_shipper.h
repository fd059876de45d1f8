// Container log shipping (DESIGN §7, reference §4 /containers/log_batch): the agent follows the
// output of every service container on the node (label io.kontena.service.id; not those labelled
// io.kontena.container.skip_logs=1) and sends it to the master in batches.
//
// - Discovery: a scan lists the labelled containers (at start, every `rescan_interval`, on
//   rescan(), and on Docker start/die events when `watch_events`). A running container is followed
//   (GET /containers/{id}/logs follow, timestamps); a container first seen stopped after the first
//   scan (it started and ended between two scans) is read once. Containers gone are forgotten.
// - Where reading starts: containers already there at the first scan, from the first scan's time
//   (an agent restart does not send their whole history again); containers that appear later,
//   from their beginning.
// - Resume without duplicates: per container, the newest Docker timestamp queued and how many lines
//   carried exactly that time; a follow that starts again (the container restarted, the stream
//   broke) asks Docker for `since` that second and skips what was already queued.
// - Batching: a batch (at most `batch_lines`) goes out once that many lines wait, or when the
//   oldest waiting line is `flush_interval` old. The sender says whether the batch went out (not
//   connected: false, the lines stay and it is tried again after flush_interval).
// - Bounded: at most `queue_limit` lines wait; beyond that the oldest are dropped, counted, and
//   the count logged once lines flow again.
//
// Threads: start() runs one thread (scans, flushes, calls the sender); each followed container has
// its DockerClient stream thread, which only queues lines. scan() and flush_once() are the
// synchronous pieces, for tests (do not mix them with start()).
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "agent/docker/docker_client.h"
#include "common/clock.h"

namespace kontena::agent::logs {

using Json = nlohmann::json;
using Millis = std::chrono::milliseconds;

inline constexpr const char* kLabelSkipLogs = "io.kontena.container.skip_logs";

struct LogShipperOptions {
  std::size_t batch_lines = 100;
  Millis flush_interval{500};
  std::size_t queue_limit = 2000;
  Millis rescan_interval{5'000};
  bool watch_events = true;
};

// One line as sent in /containers/log_batch.
struct ShippedLine {
  std::string service_id;
  int instance_number = 0;
  std::string container;  // name
  std::string stream;     // stdout | stderr
  std::string data;       // valid UTF-8
  std::string time;       // ISO-8601 UTC with milliseconds
};
Json to_json(const ShippedLine& line);

// (Docker's RFC 3339 times are read with kontena::parse_time_ns, common/clock.h.)
// Nanoseconds since the epoch -> "2026-11-26T01:02:03.123Z".
std::string format_iso_ms(std::int64_t unix_ns);

class LogShipper {
 public:
  // Called on the shipper's thread with a JSON array of lines (<= batch_lines); may block.
  // Returns whether the batch went out.
  using Sender = std::function<bool(const Json& lines)>;

  LogShipper(docker::DockerClient& docker, const Clock& clock, LogShipperOptions options, Sender send);
  ~LogShipper();
  LogShipper(const LogShipper&) = delete;
  LogShipper& operator=(const LogShipper&) = delete;

  void start();
  void stop();     // ends the thread and every log stream
  void rescan();   // a scan soon (e.g. a container was just created)

  // --- synchronous pieces (tests)
  void scan();
  // Sends one batch when one is due (force: whatever waits, at once). Returns the number of lines
  // sent (0: nothing due, or the sender said no).
  std::size_t flush_once(bool force = false);

  // --- state
  std::size_t queued() const;
  std::uint64_t dropped() const;
  std::uint64_t shipped() const;
  std::vector<std::string> followed() const;  // ids of the containers with an open log stream

 private:
  struct Follow {
    std::string id;
    std::string name;
    std::string service_id;
    int instance_number = 0;
    std::unique_ptr<docker::Stream> stream;
    std::optional<std::int64_t> last_ns;  // newest Docker time queued
    int at_last = 0;                      // lines queued with exactly last_ns
    // A resumed follow skips lines up to the point already queued.
    bool resuming = false;
    std::int64_t resume_ns = 0;
    int resume_skip = 0;
    bool opened = false;                  // ever followed
  };
  struct Queued {
    ShippedLine line;
    std::chrono::steady_clock::time_point at;
  };

  void run();
  void on_line(const std::string& id, const docker::LogLine& line);  // stream threads
  void watch_events();

  docker::DockerClient& docker_;
  const Clock& clock_;
  LogShipperOptions options_;
  Sender send_;

  mutable std::mutex mu_;  // queue, follows, counters; never held while cancelling a stream
  std::deque<Queued> queue_;
  std::map<std::string, Follow> follows_;
  std::uint64_t dropped_ = 0;
  std::uint64_t dropped_unreported_ = 0;
  std::uint64_t shipped_ = 0;
  bool first_scan_done_ = false;
  std::optional<std::int64_t> first_scan_unix_s_;

  std::mutex loop_mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool rescan_pending_ = false;
  std::unique_ptr<docker::Stream> events_;
  std::thread thread_;
};

}  // namespace kontena::agent::logs
