// Estimates the exchange's clock offset from HTTP `Date` headers (there is no futures
// server-time endpoint). Each reply bounds the offset: the server stamped Date (whole seconds,
// truncated) somewhere between our send and our receive, so
//   offset = server - local  lies in  [date - received, date + 1000 - sent]  (ms).
// Intersecting recent bounds narrows the estimate to roughly the round-trip time; a sample that
// contradicts the rest (a clock step on either side) restarts the estimate from itself.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>

namespace bx::orders {

class SkewEstimator {
 public:
  explicit SkewEstimator(std::chrono::milliseconds max_sample_age = std::chrono::minutes(10))
      : max_age_ms_(max_sample_age.count()) {}

  /// Thread-safe. `date_ms` from the Date header; `sent_ms`/`received_ms` local wall times.
  void AddSample(int64_t date_ms, int64_t sent_ms, int64_t received_ms);

  /// Thread-safe. Best estimate of (server time - local time) in ms; 0 without samples.
  int64_t OffsetMs() const;
  /// Half-width of the interval the offset is known to lie in (ms); -1 without samples.
  int64_t UncertaintyMs() const;
  bool has_estimate() const;
  /// Samples since start.
  uint64_t samples() const;

 private:
  struct Sample {
    int64_t lo, hi, at_ms;
  };
  void Recompute();

  const int64_t max_age_ms_;
  mutable std::mutex mu_;
  std::deque<Sample> samples_;
  int64_t lo_ = 0, hi_ = 0;
  bool has_ = false;
  uint64_t total_ = 0;
};

}  // namespace bx::orders
