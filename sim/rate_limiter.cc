#include "sim/rate_limiter.h"

namespace bx::sim {

bool RateLimiter::Allow(const std::string& key, int limit, std::chrono::milliseconds window) {
  const auto now = clock_.Steady();
  std::lock_guard<std::mutex> lock(mu_);
  auto& q = calls_[key];
  while (!q.empty() && now - q.front() >= window) q.pop_front();
  if (static_cast<int>(q.size()) >= limit) return false;
  q.push_back(now);
  return true;
}

void RateLimiter::Reset() {
  std::lock_guard<std::mutex> lock(mu_);
  calls_.clear();
}

}  // namespace bx::sim
