// Time is injected (DESIGN §2.3): everything that reads "now" takes a Clock.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

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

// RFC 3339 / ISO 8601 date-time -> unix nanoseconds: "YYYY-MM-DD(T| )HH:MM:SS[.fraction]" then
// "Z", "+HH:MM", "-HH:MM" or nothing (UTC). Fractions beyond nanoseconds are dropped (Docker
// log timestamps have nine digits). nullopt when the text is anything else, or a field is out of
// range (month 13, hour 24, ...).
std::optional<std::int64_t> parse_time_ns(std::string_view text);
// The same in unix milliseconds (the fraction truncated).
std::optional<std::int64_t> parse_time_ms(std::string_view text);

}  // namespace kontena
