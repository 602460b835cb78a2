// Exponential backoff with jitter and a cap, deterministic under a seeded RNG.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace bx {

struct BackoffPolicy {
  std::chrono::milliseconds initial{250};
  std::chrono::milliseconds max{30'000};
  double multiplier = 2.0;
  /// Fraction of each delay that is randomised: delay * (1 - jitter * U[0,1)). 0 = no jitter.
  double jitter = 0.5;
};

/// Not thread-safe: one instance per retry loop.
class Backoff {
 public:
  explicit Backoff(BackoffPolicy policy, uint64_t seed = std::random_device{}());

  /// Delay before the next attempt; grows with every call until Reset().
  std::chrono::milliseconds Next();
  /// Call after a success.
  void Reset() { attempt_ = 0; }
  /// Attempts since the last Reset().
  int attempt() const { return attempt_; }
  const BackoffPolicy& policy() const { return policy_; }

 private:
  BackoffPolicy policy_;
  std::mt19937_64 rng_;
  int attempt_ = 0;
};

}  // namespace bx
