// Where the order service's logic runs: one serial executor (the exchange io thread in
// production, a manual loop driven by a FakeClock in tests). Everything in the engine, the rate
// limiter and the private stream runs on it, so that state needs no locks.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "common/clock.h"

namespace boost::asio {
class io_context;
}

namespace bx::orders {

using SteadyTime = std::chrono::steady_clock::time_point;

class Scheduler {
 public:
  using TimerId = uint64_t;
  virtual ~Scheduler() = default;
  /// Thread-safe. Runs `fn` on the executor, after everything already posted.
  virtual void Post(std::function<void()> fn) = 0;
  /// Thread-safe. Runs `fn` on the executor once clock().Steady() >= when. Returns an id for
  /// Cancel (never 0).
  virtual TimerId RunAt(SteadyTime when, std::function<void()> fn) = 0;
  /// Executor thread only. A cancelled timer never runs; unknown ids are ignored.
  virtual void Cancel(TimerId id) = 0;
  /// The clock timers are measured against.
  virtual const Clock& clock() const = 0;
  /// True when called from the executor's own thread (work may then run inline).
  virtual bool OnExecutorThread() const = 0;

  TimerId RunAfter(std::chrono::nanoseconds delay, std::function<void()> fn) {
    return RunAt(clock().Steady() + delay, std::move(fn));
  }
};

/// The production scheduler: an Asio io_context (run by the caller's thread) and SystemClock.
std::unique_ptr<Scheduler> MakeAsioScheduler(boost::asio::io_context& ioc);

}  // namespace bx::orders
