// Token buckets per documented Bitunix budget, with priority lanes (cancel > place > query) and
// adaptive slow-down when the exchange says "too many requests" (10005, 10006, HTTP 429).
//
// A call that cannot get a token before its deadline is refused at once with RESOURCE_EXHAUSTED
// (it never waits just to fail). A waiter that a later, higher-priority call pushes past its
// deadline is refused as soon as that is known. A waiter whose caller has gone (its `gone` probe
// says so) is withdrawn with CANCELLED instead of being granted, and takes no token.
//
// Besides the bucket, each budget is guarded by a sliding one-second window: no trailing second
// ever holds more grants than the (current) rate, because the exchange counts that way — a bare
// token bucket allows burst + rate calls in some one-second windows.
//
// A grant is only worth its place in the window if the request leaves at once. With a SendGate
// (the REST client's HTTP connections), a token is granted only while the gate is open for the
// call's lane, and the grant reserves the connection: a request never waits, granted and signed,
// behind connections the exchange sits on, to leave later in a burst with the others (which the
// exchange counts in one second and answers 10005). Waiters the gate holds up until their
// deadline are refused RESOURCE_EXHAUSTED, reason NETWORK (nothing sent); Kick() serves the lanes
// when a connection frees.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "services/orders/endpoints.h"
#include "services/orders/scheduler.h"

namespace bx::orders {

/// Whether a request can leave now (a free HTTP connection); see the header comment.
class SendGate {
 public:
  /// A request of `lane` could be sent at once.
  virtual bool Open(Lane lane) const = 0;
  /// A grant for `lane` was made while Open(lane): the request takes the connection.
  virtual void Reserve(Lane lane) = 0;

 protected:
  ~SendGate() = default;
};

struct BucketOptions {
  double rate_per_s = 10;  ///< documented budget
  double burst = 1;        ///< tokens that can accumulate while idle (>= 1)
};

struct RateLimiterOptions {
  /// Indexed by Bucket: public 10/s, private 10/s, cancel 5/s, batch 1/s.
  std::array<BucketOptions, kBucketCount> buckets{{{10, 1}, {10, 1}, {5, 1}, {1, 1}}};
  size_t max_queue_per_lane = 256;
  /// On a throttle answer the bucket's rate is multiplied by this (and its tokens drained).
  double throttle_factor = 0.5;
  /// Throttle answers within this long of the bucket's last slow-down lower the rate no further:
  /// they answer requests sent before it (several in flight when the exchange starts refusing
  /// would otherwise halve the rate once each, down to the floor, for one episode). They still
  /// drain the tokens and postpone the recovery. One second: the exchange's rate window.
  std::chrono::milliseconds throttle_holdoff{1000};
  /// The rate never drops below this fraction of the documented budget.
  double min_rate_fraction = 0.1;
  /// After this long without a throttle answer, the rate grows back by 10% of the budget.
  std::chrono::milliseconds recovery_step{2000};
  /// Time the call itself needs after its token: a token that would come later than
  /// deadline - reserve is useless, so such calls are refused up front.
  std::chrono::milliseconds reserve_after_grant{50};
  /// The sliding window is one second plus this margin: requests granted just over a second apart
  /// can reach the exchange closer together (scheduling and network jitter).
  std::chrono::milliseconds window_margin{25};
};

/// How an Acquire ended, for metrics and benchmarks.
enum class AcquireOutcome { kImmediate, kQueued, kRefused, kWithdrawn };

class RateLimiter {
 public:
  using Done = std::function<void(absl::Status)>;
  /// Metrics hook: outcome and time spent waiting.
  using Observer = std::function<void(Bucket, Lane, AcquireOutcome, std::chrono::nanoseconds waited)>;

  RateLimiter(Scheduler& scheduler, RateLimiterOptions options);
  ~RateLimiter();
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  /// Executor thread. `done` runs exactly once, possibly inline: OK when a token was taken,
  /// RESOURCE_EXHAUSTED (reason RATE_LIMITED) when none can be had before `deadline`, CANCELLED
  /// (reason WITHDRAWN) when `gone` (optional) returns true before a token was granted.
  /// `what` names the call in the refusal message.
  void Acquire(Bucket bucket, Lane lane, SteadyTime deadline, std::string_view what, Done done,
               std::function<bool()> gone = {});

  /// Executor thread. The exchange answered 10005/10006/429 on a call of this bucket.
  void OnThrottled(Bucket bucket);

  /// Executor thread. Refuses every queued waiter (shutdown).
  void FailAll(const absl::Status& status);

  /// Before any Acquire; null for none. The gate must outlive the limiter or be reset first.
  void set_gate(SendGate* gate) { gate_ = gate; }
  /// Executor thread. The gate opened (a connection freed): grants what now can go, cancels
  /// first, across buckets.
  void Kick();

  void set_observer(Observer observer) { observer_ = std::move(observer); }

  struct BucketState {
    double tokens = 0;
    double rate = 0;       ///< current (possibly slowed) rate
    double base_rate = 0;  ///< documented budget
    std::array<size_t, kLaneCount> queued{};
    uint64_t immediate = 0, queued_granted = 0, refused = 0, throttles = 0;
  };
  /// Executor thread.
  BucketState State(Bucket bucket);

 private:
  struct Waiter {
    SteadyTime deadline;
    SteadyTime enqueued;
    std::string what;
    Done done;
    std::function<bool()> gone;  ///< empty: the caller cannot go away
  };
  struct BucketData {
    BucketOptions options;
    double tokens = 0;
    double rate = 0;
    SteadyTime last_refill;
    SteadyTime last_rate_change;
    std::optional<SteadyTime> last_slowdown;  ///< the last throttle that lowered the rate
    std::array<std::deque<Waiter>, kLaneCount> lanes;
    std::deque<SteadyTime> recent;  ///< grant times within the last second
    Scheduler::TimerId timer = 0;
    uint64_t immediate = 0, queued_granted = 0, refused = 0, throttles = 0;
  };
  using Callbacks = std::vector<std::pair<Done, absl::Status>>;

  void Refill(BucketData& b, SteadyTime now);
  /// Grants the sliding window still allows now, and when the next one will be allowed.
  size_t WindowRoom(BucketData& b, SteadyTime now);
  /// When the next grants of a bucket can come, from now: tokens and the sliding window both.
  class GrantSchedule {
   public:
    GrantSchedule(const BucketData& b, SteadyTime now, std::chrono::nanoseconds window);
    /// The time of the next grant (the first call: the grant the head of the line gets).
    SteadyTime Peek() const;
    /// Books the grant Peek() gave.
    void Take(SteadyTime at);
    /// Peek, then Take.
    SteadyTime Next();

   private:
    double rate_, burst_, tokens_;
    size_t limit_;
    std::chrono::nanoseconds window_;
    SteadyTime t_;
    std::deque<SteadyTime> last_;  ///< the latest grants, at most `limit_`
  };
  SteadyTime WindowFreeAt(const BucketData& b, SteadyTime now) const;
  void Take(BucketData& b, SteadyTime now);
  /// Removes the waiters whose caller has gone, answering them CANCELLED.
  void Withdraw(Bucket bucket, Callbacks& out);
  void Service(Bucket bucket, Callbacks& out);
  /// Grants the waiters of one lane while tokens, the window and the gate allow.
  void GrantLane(Bucket bucket, size_t lane, SteadyTime now, Callbacks& out);
  /// Refuses the waiters that can no longer be served before their deadline.
  void RefuseLate(Bucket bucket, SteadyTime now, Callbacks& out);
  bool GateOpen(size_t lane) const { return gate_ == nullptr || gate_->Open(static_cast<Lane>(lane)); }
  void Arm(Bucket bucket);
  absl::Status Refusal(Bucket bucket, Lane lane, const std::string& what, std::chrono::nanoseconds wait,
                       size_t ahead) const;
  void Observe(Bucket b, Lane l, AcquireOutcome o, std::chrono::nanoseconds waited) {
    if (observer_) observer_(b, l, o, waited);
  }

  Scheduler& scheduler_;
  RateLimiterOptions options_;
  std::array<BucketData, kBucketCount> buckets_;
  Observer observer_;
  SendGate* gate_ = nullptr;
};

}  // namespace bx::orders
