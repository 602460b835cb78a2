#include "common/backoff.h"

#include <gtest/gtest.h>

#include <set>

namespace bx {
namespace {

using std::chrono::milliseconds;

TEST(Backoff, GrowsExponentiallyWithoutJitter) {
  Backoff b({.initial = milliseconds(100), .max = milliseconds(1000), .multiplier = 2.0, .jitter = 0.0}, 1);
  EXPECT_EQ(b.Next(), milliseconds(100));
  EXPECT_EQ(b.Next(), milliseconds(200));
  EXPECT_EQ(b.Next(), milliseconds(400));
  EXPECT_EQ(b.Next(), milliseconds(800));
  EXPECT_EQ(b.Next(), milliseconds(1000));  // capped
  EXPECT_EQ(b.Next(), milliseconds(1000));
  EXPECT_EQ(b.attempt(), 6);
  b.Reset();
  EXPECT_EQ(b.Next(), milliseconds(100));
}

TEST(Backoff, JitterStaysWithinBoundsAndVaries) {
  Backoff b({.initial = milliseconds(1000), .max = milliseconds(1000), .multiplier = 2.0, .jitter = 0.5}, 42);
  std::set<int64_t> seen;
  for (int i = 0; i < 200; ++i) {
    auto d = b.Next();
    EXPECT_GE(d, milliseconds(500));
    EXPECT_LE(d, milliseconds(1000));
    seen.insert(d.count());
  }
  EXPECT_GT(seen.size(), 50u);  // really random
}

TEST(Backoff, DeterministicForASeed) {
  BackoffPolicy p{.initial = milliseconds(10), .max = milliseconds(10'000), .multiplier = 3.0, .jitter = 1.0};
  Backoff a(p, 7), b(p, 7);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(a.Next(), b.Next());
}

TEST(Backoff, SanitisesBadPolicy) {
  Backoff b({.initial = milliseconds(100), .max = milliseconds(10), .multiplier = 0.5, .jitter = 7}, 1);
  auto d = b.Next();
  EXPECT_LE(d, milliseconds(100));  // max raised to initial, jitter clamped to 1
  EXPECT_GE(d, milliseconds(0));
}

}  // namespace
}  // namespace bx
