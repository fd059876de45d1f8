// Reconnect delays: exponential with jitter, as the original agent (reference §4):
//   delay(attempt) = min(max, base * 2^attempt) * uniform(0.5, 1]
// attempt counts the failures since the last reset(); every delay is > 0, so a reconnect loop
// never spins.
#pragma once
#include <chrono>
#include <functional>

namespace kontena::agent {

class Backoff {
 public:
  // random01 returns a number in [0, 1); default: a seeded std::mt19937_64.
  Backoff(std::chrono::milliseconds base, std::chrono::milliseconds max, std::function<double()> random01 = {});

  // The delay before the next attempt; counts the attempt.
  std::chrono::milliseconds next();
  void reset() { attempt_ = 0; }
  int attempt() const { return attempt_; }
  // The bounds of the delay next() returns now: (ceiling/2, ceiling].
  std::chrono::milliseconds ceiling() const;

 private:
  std::chrono::milliseconds base_;
  std::chrono::milliseconds max_;
  std::function<double()> random01_;
  int attempt_ = 0;
};

}  // namespace kontena::agent
