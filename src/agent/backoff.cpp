#include "agent/backoff.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>

namespace kontena::agent {

Backoff::Backoff(std::chrono::milliseconds base, std::chrono::milliseconds max, std::function<double()> random01)
    : base_(std::max(base, std::chrono::milliseconds(1))),
      max_(std::max(max, std::max(base, std::chrono::milliseconds(1)))),
      random01_(std::move(random01)) {
  if (!random01_) {
    auto engine = std::make_shared<std::mt19937_64>(std::random_device{}());
    random01_ = [engine]() { return std::uniform_real_distribution<double>(0.0, 1.0)(*engine); };
  }
}

std::chrono::milliseconds Backoff::ceiling() const {
  // base * 2^attempt without overflow: stop doubling once past max.
  auto delay = base_;
  for (int i = 0; i < attempt_ && delay < max_; ++i) delay *= 2;
  return std::min(delay, max_);
}

std::chrono::milliseconds Backoff::next() {
  double r = std::clamp(random01_(), 0.0, 1.0);
  if (r >= 1.0) r = 0.0;
  double factor = 1.0 - 0.5 * r;  // (0.5, 1]
  auto ceil = ceiling();
  if (attempt_ < 1000) ++attempt_;
  auto ms = static_cast<std::int64_t>(std::ceil(static_cast<double>(ceil.count()) * factor));
  return std::chrono::milliseconds(std::max<std::int64_t>(ms, 1));
}

}  // namespace kontena::agent
