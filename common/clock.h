// Clock interface: every component that reads time takes a Clock&, so tests inject FakeClock.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace bx {

/// Source of wall and monotonic time. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  /// Wall-clock time, nanoseconds since the Unix epoch.
  virtual int64_t NowNs() const = 0;
  /// Monotonic time for timeouts and rates.
  virtual std::chrono::steady_clock::time_point Steady() const = 0;

  int64_t NowMs() const { return NowNs() / 1'000'000; }
};

/// The real clocks.
class SystemClock final : public Clock {
 public:
  int64_t NowNs() const override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  std::chrono::steady_clock::time_point Steady() const override {
    return std::chrono::steady_clock::now();
  }
  /// Process-wide instance.
  static SystemClock& Instance() {
    static SystemClock clock;
    return clock;
  }
};

/// A clock that only moves when told to. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t start_ns = 1'700'000'000'000'000'000) : now_ns_(start_ns) {}
  int64_t NowNs() const override { return now_ns_.load(); }
  std::chrono::steady_clock::time_point Steady() const override {
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(steady_ns_.load()));
  }
  template <class Rep, class Period>
  void Advance(std::chrono::duration<Rep, Period> d) {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
    now_ns_ += ns;
    steady_ns_ += ns;
  }
  void SetWallNs(int64_t ns) { now_ns_ = ns; }

 private:
  std::atomic<int64_t> now_ns_;
  std::atomic<int64_t> steady_ns_{1'000'000'000};
};

}  // namespace bx
