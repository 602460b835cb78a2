#include "services/orders/clock_skew.h"

#include <algorithm>

namespace bx::orders {

void SkewEstimator::AddSample(int64_t date_ms, int64_t sent_ms, int64_t received_ms) {
  if (date_ms <= 0 || received_ms < sent_ms) return;
  std::lock_guard<std::mutex> lock(mu_);
  ++total_;
  Sample s{date_ms - received_ms, date_ms + 1000 - sent_ms, received_ms};
  samples_.push_back(s);
  while (samples_.size() > 64 || (samples_.size() > 1 && received_ms - samples_.front().at_ms > max_age_ms_)) {
    samples_.pop_front();
  }
  Recompute();
}

void SkewEstimator::Recompute() {
  // Intersect from the newest sample backwards; stop at the first contradiction and forget
  // everything older than it (one of the clocks stepped).
  int64_t lo = samples_.back().lo, hi = samples_.back().hi;
  size_t keep = 1;
  for (size_t i = samples_.size() - 1; i-- > 0;) {
    int64_t nlo = std::max(lo, samples_[i].lo), nhi = std::min(hi, samples_[i].hi);
    if (nlo > nhi) break;
    lo = nlo;
    hi = nhi;
    ++keep;
  }
  while (samples_.size() > keep) samples_.pop_front();
  lo_ = lo;
  hi_ = hi;
  has_ = true;
}

int64_t SkewEstimator::OffsetMs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return has_ ? lo_ + (hi_ - lo_) / 2 : 0;
}

int64_t SkewEstimator::UncertaintyMs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return has_ ? (hi_ - lo_ + 1) / 2 : -1;
}

bool SkewEstimator::has_estimate() const {
  std::lock_guard<std::mutex> lock(mu_);
  return has_;
}

uint64_t SkewEstimator::samples() const {
  std::lock_guard<std::mutex> lock(mu_);
  return total_;
}

}  // namespace bx::orders
