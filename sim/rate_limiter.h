// Sliding-window request limits per key (the reference's REST budgets: 10/s per IP for public
// market endpoints, 10/s per UID for private calls, 5/s for cancel and flash close, 1/s for
// batch orders). Thread-safe; time from the injected Clock.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <string>

#include "common/clock.h"

namespace bx::sim {

class RateLimiter {
 public:
  explicit RateLimiter(const Clock& clock) : clock_(clock) {}
  /// Records a call under `key` and returns true when at most `limit` calls (this one included)
  /// fall in the last `window`; a refused call is not recorded.
  bool Allow(const std::string& key, int limit, std::chrono::milliseconds window = std::chrono::seconds(1));
  void Reset();

 private:
  const Clock& clock_;
  std::mutex mu_;
  std::map<std::string, std::deque<std::chrono::steady_clock::time_point>> calls_;
};

}  // namespace bx::sim
