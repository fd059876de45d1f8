// Fixed-window request counter per key (source IP): the original master allowed 60 token
// requests per minute per IP, which keeps one-time codes from being guessed by brute force.
#pragma once
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/clock.h"

namespace kontena::master {

class RateLimiter {
 public:
  RateLimiter(const Clock& clock, int limit, std::int64_t window_ms) : clock_(clock), limit_(limit), window_ms_(window_ms) {}
  // Counts one request for key; false when the key is over the limit in the current window.
  bool allow(const std::string& key);

 private:
  struct Window {
    std::int64_t start_ms = 0;
    int count = 0;
  };
  const Clock& clock_;
  int limit_;
  std::int64_t window_ms_;
  std::mutex mutex_;
  std::unordered_map<std::string, Window> windows_;
};

}  // namespace kontena::master
