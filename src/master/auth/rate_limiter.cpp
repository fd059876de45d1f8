#include "master/auth/rate_limiter.h"

namespace kontena::master {

bool RateLimiter::allow(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto now = clock_.now_unix_ms();
  // Forget stale windows now and then so the map stays small.
  if (windows_.size() > 10000) {
    for (auto it = windows_.begin(); it != windows_.end();)
      it = now - it->second.start_ms >= window_ms_ ? windows_.erase(it) : std::next(it);
  }
  auto& w = windows_[key];
  if (now - w.start_ms >= window_ms_) w = Window{now, 0};
  return ++w.count <= limit_;
}

}  // namespace kontena::master
