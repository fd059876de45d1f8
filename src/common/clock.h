// Time is injected (DESIGN §2.3): everything that reads "now" takes a Clock.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace kontena {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::system_clock::time_point now() const = 0;
  std::int64_t now_unix_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(now().time_since_epoch()).count();
  }
};

class SystemClock final : public Clock {
 public:
  std::chrono::system_clock::time_point now() const override { return std::chrono::system_clock::now(); }
};

// Manual clock for tests: time moves only when advanced.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::chrono::system_clock::time_point start = std::chrono::system_clock::time_point{
                           std::chrono::seconds(1'700'000'000)})
      : now_(start) {}
  std::chrono::system_clock::time_point now() const override { return now_; }
  void advance(std::chrono::milliseconds d) { now_ += d; }

 private:
  std::chrono::system_clock::time_point now_;
};

// RFC 3339 UTC with milliseconds: 2026-11-24T14:20:00.123Z
std::string format_time_ms(std::int64_t unix_ms);

}  // namespace kontena
