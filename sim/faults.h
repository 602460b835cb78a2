// Fault-injection state set through the control API: stalls, refused upgrades, REST failures and
// clock skew. Thread-safe; read on every push and every REST call.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

#include "common/clock.h"

namespace bx::sim {

enum class ConnScope { kPublic, kPrivate, kAll };

struct RestFault {
  std::string kind;  ///< http_500 | http_502 | http_429 | code_10005 | code_10006 | hang | reset
  int count = 1;
  int hang_ms = 0;
  bool after = false;  ///< execute the request, then fail the reply (the ambiguous case)
  std::string path;    ///< only calls to this path; empty = any REST call
};

class Faults {
 public:
  explicit Faults(const Clock& clock) : clock_(clock) {}

  void Stall(ConnScope scope, std::chrono::milliseconds d);
  bool Stalled(bool is_private) const;
  void RefuseConnections(std::chrono::milliseconds d);
  bool RefusingConnections() const;

  void AddRestFault(RestFault f);
  /// Consumes one pending fault matching `path` (first queued first), if any.
  std::optional<RestFault> TakeRestFault(const std::string& path);

  void Reset();

 private:
  using TimePoint = std::chrono::steady_clock::time_point;
  const Clock& clock_;
  mutable std::mutex mu_;
  TimePoint public_stall_until_{};
  TimePoint private_stall_until_{};
  TimePoint refuse_until_{};
  std::deque<RestFault> rest_faults_;
};

/// The simulator's wall clock: the real one shifted by a runtime skew (POST /control/clock_skew).
class SkewedClock final : public Clock {
 public:
  explicit SkewedClock(const Clock& base) : base_(base) {}
  int64_t NowNs() const override { return base_.NowNs() + skew_ms_.load() * 1'000'000; }
  std::chrono::steady_clock::time_point Steady() const override { return base_.Steady(); }
  void set_skew_ms(int64_t ms) { skew_ms_ = ms; }
  int64_t skew_ms() const { return skew_ms_.load(); }

 private:
  const Clock& base_;
  std::atomic<int64_t> skew_ms_{0};
};

}  // namespace bx::sim
