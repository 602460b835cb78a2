#include "services/orders/rate_limiter.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "services/orders/errors.h"

namespace bx::orders {
namespace {

std::chrono::nanoseconds SecondsToNs(double s) {
  return std::chrono::nanoseconds(static_cast<int64_t>(std::ceil(s * 1e9)));
}

// Held up by the gate: every HTTP connection carries a request the exchange has not answered.
// RESOURCE_EXHAUSTED like a missing token: a local capacity refusal (the readiness probe reads it
// as a busy replica, not a gone exchange, while signed requests still succeed).
absl::Status NoConnection(const std::string& what) {
  return MakeError(absl::StatusCode::kResourceExhausted,
                   absl::StrCat("no exchange connection free for ", what,
                                " before the call's deadline: every connection is waiting for the exchange to answer; "
                                "nothing was sent, retry later"),
                   reason::kNetwork);
}

absl::Status Withdrawn(std::string_view what) {
  return MakeError(absl::StatusCode::kCancelled,
                   absl::StrCat(std::string(what),
                                " withdrawn before it was sent: its caller went away (cancelled, or its deadline "
                                "passed) while it waited for a rate-limit token"),
                   reason::kWithdrawn);
}

}  // namespace

RateLimiter::RateLimiter(Scheduler& scheduler, RateLimiterOptions options)
    : scheduler_(scheduler), options_(options) {
  const SteadyTime now = scheduler_.clock().Steady();
  for (int i = 0; i < kBucketCount; ++i) {
    BucketData& b = buckets_[static_cast<size_t>(i)];
    b.options = options_.buckets[static_cast<size_t>(i)];
    b.options.burst = std::max(1.0, b.options.burst);
    b.options.rate_per_s = std::max(0.001, b.options.rate_per_s);
    b.rate = b.options.rate_per_s;
    b.tokens = b.options.burst;
    b.last_refill = now;
    b.last_rate_change = now;
  }
}

RateLimiter::~RateLimiter() {
  for (auto& b : buckets_) {
    if (b.timer != 0) scheduler_.Cancel(b.timer);
  }
}

void RateLimiter::Refill(BucketData& b, SteadyTime now) {
  if (now > b.last_refill) {
    double dt = std::chrono::duration<double>(now - b.last_refill).count();
    b.tokens = std::min(b.options.burst, b.tokens + dt * b.rate);
    b.last_refill = now;
  }
  // Additive recovery toward the documented budget after a quiet period.
  if (b.rate < b.options.rate_per_s && now - b.last_rate_change >= options_.recovery_step) {
    auto steps = (now - b.last_rate_change) / options_.recovery_step;
    b.rate = std::min(b.options.rate_per_s, b.rate + 0.1 * b.options.rate_per_s * static_cast<double>(steps));
    b.last_rate_change += options_.recovery_step * steps;
  }
}

size_t RateLimiter::WindowRoom(BucketData& b, SteadyTime now) {
  const auto window = std::chrono::seconds(1) + options_.window_margin;
  while (!b.recent.empty() && now - b.recent.front() >= window) b.recent.pop_front();
  const size_t limit = static_cast<size_t>(std::max(1.0, std::floor(b.rate + 1e-9)));
  return b.recent.size() >= limit ? 0 : limit - b.recent.size();
}

SteadyTime RateLimiter::WindowFreeAt(const BucketData& b, SteadyTime now) const {
  const size_t limit = static_cast<size_t>(std::max(1.0, std::floor(b.rate + 1e-9)));
  if (b.recent.size() < limit) return now;
  // The grant `limit` places back must leave the window first.
  return b.recent[b.recent.size() - limit] + std::chrono::seconds(1) + options_.window_margin;
}

RateLimiter::GrantSchedule::GrantSchedule(const BucketData& b, SteadyTime now, std::chrono::nanoseconds window)
    : rate_(b.rate),
      burst_(b.options.burst),
      tokens_(b.tokens),
      limit_(static_cast<size_t>(std::max(1.0, std::floor(b.rate + 1e-9)))),
      window_(window),
      t_(now),
      last_(b.recent.begin(), b.recent.end()) {}

SteadyTime RateLimiter::GrantSchedule::Peek() const {
  // The bucket's two rules, replayed forward: a token (refilled at `rate`, up to `burst`), and
  // at most `limit` grants in any window (1 s + margin). The window's ~9.76/s is slower than the
  // tokens' 10/s, so estimating from tokens alone queued calls that were refused seconds later.
  SteadyTime at = t_;
  if (tokens_ < 1.0) at = t_ + SecondsToNs((1.0 - tokens_) / rate_);
  if (last_.size() >= limit_) at = std::max(at, last_[last_.size() - limit_] + window_);
  return at;
}

void RateLimiter::GrantSchedule::Take(SteadyTime at) {
  tokens_ = std::min(burst_, tokens_ + std::chrono::duration<double>(at - t_).count() * rate_) - 1.0;
  t_ = at;
  last_.push_back(at);
  if (last_.size() > limit_) last_.pop_front();
}

SteadyTime RateLimiter::GrantSchedule::Next() {
  const SteadyTime at = Peek();
  Take(at);
  return at;
}

void RateLimiter::Take(BucketData& b, SteadyTime now) {
  b.tokens -= 1.0;
  b.recent.push_back(now);
}

absl::Status RateLimiter::Refusal(Bucket bucket, Lane lane, const std::string& what, std::chrono::nanoseconds wait,
                                  size_t ahead) const {
  const BucketData& b = buckets_[static_cast<size_t>(bucket)];
  return MakeError(absl::StatusCode::kResourceExhausted,
                   absl::StrCat("rate limit: no ", std::string(BucketName(bucket)), " token for ", what, " (",
                                std::string(LaneName(lane)), " lane) before the call's deadline (", ahead, " queued ahead, next token in ",
                                std::chrono::duration_cast<std::chrono::milliseconds>(wait).count(),
                                " ms at ", b.rate, "/s); retry later or with a longer deadline"),
                   reason::kRateLimited);
}

void RateLimiter::Acquire(Bucket bucket, Lane lane, SteadyTime deadline, std::string_view what, Done done,
                          std::function<bool()> gone) {
  BucketData& b = buckets_[static_cast<size_t>(bucket)];
  const SteadyTime now = scheduler_.clock().Steady();
  if (gone && gone()) {
    Observe(bucket, lane, AcquireOutcome::kWithdrawn, std::chrono::nanoseconds(0));
    done(Withdrawn(what));
    return;
  }
  Callbacks withdrawn;  // answered after this call's own outcome is decided
  Withdraw(bucket, withdrawn);
  Refill(b, now);
  size_t ahead = 0;
  for (int l = 0; l <= static_cast<int>(lane); ++l) ahead += b.lanes[static_cast<size_t>(l)].size();
  if (ahead == 0 && b.tokens >= 1.0 && WindowRoom(b, now) > 0 && GateOpen(static_cast<size_t>(lane))) {
    Take(b, now);
    if (gate_ != nullptr) gate_->Reserve(lane);
    ++b.immediate;
    Observe(bucket, lane, AcquireOutcome::kImmediate, std::chrono::nanoseconds(0));
    done(absl::OkStatus());
    for (auto& [cb, status] : withdrawn) cb(status);
    return;
  }
  auto& queue = b.lanes[static_cast<size_t>(lane)];
  WindowRoom(b, now);
  GrantSchedule schedule(b, now, std::chrono::seconds(1) + options_.window_margin);
  SteadyTime mine = now;
  for (size_t k = 0; k <= ahead; ++k) mine = schedule.Next();
  const auto wait = mine - now;
  if (queue.size() >= options_.max_queue_per_lane || now + wait + options_.reserve_after_grant > deadline) {
    ++b.refused;
    Observe(bucket, lane, AcquireOutcome::kRefused, std::chrono::nanoseconds(0));
    done(wait.count() <= 0 && !GateOpen(static_cast<size_t>(lane)) ? NoConnection(std::string(what))
                                                                    : Refusal(bucket, lane, std::string(what), wait, ahead));
    for (auto& [cb, status] : withdrawn) cb(status);
    return;
  }
  queue.push_back(Waiter{deadline, now, std::string(what), std::move(done), std::move(gone)});
  // A higher-priority arrival may push lower lanes past their deadlines: re-check now.
  Callbacks callbacks = std::move(withdrawn);
  Service(bucket, callbacks);
  Arm(bucket);
  for (auto& [cb, status] : callbacks) cb(status);
}

void RateLimiter::Withdraw(Bucket bucket, Callbacks& out) {
  BucketData& b = buckets_[static_cast<size_t>(bucket)];
  const SteadyTime now = scheduler_.clock().Steady();
  for (size_t l = 0; l < static_cast<size_t>(kLaneCount); ++l) {
    auto& q = b.lanes[l];
    for (auto it = q.begin(); it != q.end();) {
      if (it->gone && it->gone()) {
        Observe(bucket, static_cast<Lane>(l), AcquireOutcome::kWithdrawn, now - it->enqueued);
        out.emplace_back(std::move(it->done), Withdrawn(it->what));
        it = q.erase(it);
      } else {
        ++it;
      }
    }
  }
}

void RateLimiter::Service(Bucket bucket, Callbacks& out) {
  BucketData& b = buckets_[static_cast<size_t>(bucket)];
  const SteadyTime now = scheduler_.clock().Steady();
  Withdraw(bucket, out);
  Refill(b, now);
  // Grant in priority order while tokens last.
  for (size_t l = 0; l < static_cast<size_t>(kLaneCount); ++l) GrantLane(bucket, l, now, out);
  RefuseLate(bucket, now, out);
}

void RateLimiter::GrantLane(Bucket bucket, size_t lane, SteadyTime now, Callbacks& out) {
  BucketData& b = buckets_[static_cast<size_t>(bucket)];
  auto& q = b.lanes[lane];
  while (!q.empty() && b.tokens >= 1.0 && WindowRoom(b, now) > 0 && GateOpen(lane)) {
    Take(b, now);
    if (gate_ != nullptr) gate_->Reserve(static_cast<Lane>(lane));
    ++b.queued_granted;
    Observe(bucket, static_cast<Lane>(lane), AcquireOutcome::kQueued, now - q.front().enqueued);
    out.emplace_back(std::move(q.front().done), absl::OkStatus());
    q.pop_front();
  }
}

void RateLimiter::Kick() {
  bool waiting = false;  // the common case, a reply with nobody waiting, costs nothing more
  for (const auto& b : buckets_) {
    for (const auto& q : b.lanes) waiting = waiting || !q.empty();
  }
  if (!waiting) return;
  const SteadyTime now = scheduler_.clock().Steady();
  Callbacks callbacks;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    Withdraw(static_cast<Bucket>(i), callbacks);
    Refill(buckets_[i], now);
  }
  // Lane by lane across the buckets: a freed connection goes to a cancel before a placement
  // before a query, whichever budget each counts against.
  for (size_t l = 0; l < static_cast<size_t>(kLaneCount); ++l) {
    for (size_t i = 0; i < buckets_.size(); ++i) GrantLane(static_cast<Bucket>(i), l, now, callbacks);
  }
  for (size_t i = 0; i < buckets_.size(); ++i) {
    RefuseLate(static_cast<Bucket>(i), now, callbacks);
    Arm(static_cast<Bucket>(i));
  }
  for (auto& [cb, status] : callbacks) cb(status);
}

void RateLimiter::RefuseLate(Bucket bucket, SteadyTime now, Callbacks& out) {
  BucketData& b = buckets_[static_cast<size_t>(bucket)];
  size_t position = 0;
  WindowRoom(b, now);
  GrantSchedule schedule(b, now, std::chrono::seconds(1) + options_.window_margin);
  for (size_t l = 0; l < static_cast<size_t>(kLaneCount); ++l) {
    auto& q = b.lanes[l];
    for (auto it = q.begin(); it != q.end();) {
      // A refused waiter frees its grant for the ones behind it: take the next one only when kept.
      const SteadyTime at = schedule.Peek();
      const auto wait = at - now;
      if (now + wait + options_.reserve_after_grant > it->deadline) {
        ++b.refused;
        Observe(bucket, static_cast<Lane>(l), AcquireOutcome::kRefused, now - it->enqueued);
        // With every connection held, the gate is what kept this waiter (and the ones ahead of
        // it) queued, whatever the token schedule says for its place in the queue.
        out.emplace_back(std::move(it->done), !GateOpen(l) ? NoConnection(it->what)
                                                           : Refusal(bucket, static_cast<Lane>(l), it->what, wait, position));
        it = q.erase(it);
      } else {
        schedule.Take(at);
        ++position;
        ++it;
      }
    }
  }
}

void RateLimiter::Arm(Bucket bucket) {
  BucketData& b = buckets_[static_cast<size_t>(bucket)];
  if (b.timer != 0) {
    scheduler_.Cancel(b.timer);
    b.timer = 0;
  }
  bool any = false;
  for (const auto& q : b.lanes) any = any || !q.empty();
  if (!any) return;
  const SteadyTime now = scheduler_.clock().Steady();
  auto wait = std::max<std::chrono::nanoseconds>(SecondsToNs(std::max(0.0, 1.0 - b.tokens) / b.rate),
                                                  WindowFreeAt(b, now) - now);
  if (wait.count() <= 0 && gate_ != nullptr) {
    // A token is there, so the waiters wait for the gate: Kick() serves them when it opens, and
    // this timer refuses each at its deadline (less the time a call needs after its grant).
    SteadyTime first = SteadyTime::max();
    for (const auto& q : b.lanes) {
      for (const auto& w : q) first = std::min(first, w.deadline - options_.reserve_after_grant);
    }
    wait = std::clamp<std::chrono::nanoseconds>(first - now, std::chrono::milliseconds(1), std::chrono::hours(1));
  }
  b.timer = scheduler_.RunAfter(wait, [this, bucket] {
    buckets_[static_cast<size_t>(bucket)].timer = 0;
    Callbacks callbacks;
    Service(bucket, callbacks);
    Arm(bucket);
    for (auto& [cb, status] : callbacks) cb(status);
  });
}

void RateLimiter::OnThrottled(Bucket bucket) {
  BucketData& b = buckets_[static_cast<size_t>(bucket)];
  const SteadyTime now = scheduler_.clock().Steady();
  Refill(b, now);
  ++b.throttles;
  if (!b.last_slowdown || now - *b.last_slowdown >= options_.throttle_holdoff) {
    b.rate = std::max(b.options.rate_per_s * options_.min_rate_fraction, b.rate * options_.throttle_factor);
    b.last_slowdown = now;
  }
  b.tokens = std::min(b.tokens, 0.0);
  b.last_rate_change = now;
  Callbacks callbacks;
  Service(bucket, callbacks);
  Arm(bucket);
  for (auto& [cb, status] : callbacks) cb(status);
}

void RateLimiter::FailAll(const absl::Status& status) {
  Callbacks callbacks;
  for (auto& b : buckets_) {
    for (auto& q : b.lanes) {
      for (auto& w : q) callbacks.emplace_back(std::move(w.done), status);
      q.clear();
    }
    if (b.timer != 0) {
      scheduler_.Cancel(b.timer);
      b.timer = 0;
    }
  }
  for (auto& [cb, st] : callbacks) cb(st);
}

RateLimiter::BucketState RateLimiter::State(Bucket bucket) {
  BucketData& b = buckets_[static_cast<size_t>(bucket)];
  Refill(b, scheduler_.clock().Steady());
  BucketState s;
  s.tokens = b.tokens;
  s.rate = b.rate;
  s.base_rate = b.options.rate_per_s;
  for (size_t l = 0; l < static_cast<size_t>(kLaneCount); ++l) s.queued[l] = b.lanes[l].size();
  s.immediate = b.immediate;
  s.queued_granted = b.queued_granted;
  s.refused = b.refused;
  s.throttles = b.throttles;
  return s;
}

}  // namespace bx::orders
