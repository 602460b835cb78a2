#include "common/backoff.h"

#include <algorithm>
#include <cmath>

namespace bx {

Backoff::Backoff(BackoffPolicy policy, uint64_t seed) : policy_(policy), rng_(seed) {
  policy_.jitter = std::clamp(policy_.jitter, 0.0, 1.0);
  policy_.multiplier = std::max(policy_.multiplier, 1.0);
  if (policy_.max < policy_.initial) policy_.max = policy_.initial;
}

std::chrono::milliseconds Backoff::Next() {
  const double base = static_cast<double>(policy_.initial.count()) *
                      std::pow(policy_.multiplier, static_cast<double>(attempt_));
  const double capped = std::min(base, static_cast<double>(policy_.max.count()));
  if (attempt_ < 64) ++attempt_;
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const double delay = capped * (1.0 - policy_.jitter * u(rng_));
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(delay)));
}

}  // namespace bx
