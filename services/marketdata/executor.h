// Where work for the upstream io thread is queued: the asio io_context in production, a manual
// queue in tests (which then decide when it runs).
#pragma once

#include <deque>
#include <functional>
#include <mutex>

namespace bx::md {

class Executor {
 public:
  virtual ~Executor() = default;
  /// Thread-safe. Runs `fn` later on the executor's thread, in posting order.
  virtual void Post(std::function<void()> fn) = 0;
};

/// Tests: runs posted work when RunPending() is called (on the caller's thread).
class ManualExecutor final : public Executor {
 public:
  void Post(std::function<void()> fn) override {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(fn));
  }
  /// Runs everything queued, including work posted while running. Returns how many ran.
  int RunPending() {
    int n = 0;
    for (;;) {
      std::function<void()> fn;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (queue_.empty()) return n;
        fn = std::move(queue_.front());
        queue_.pop_front();
      }
      fn();
      ++n;
    }
  }

 private:
  std::mutex mu_;
  std::deque<std::function<void()>> queue_;
};

}  // namespace bx::md
