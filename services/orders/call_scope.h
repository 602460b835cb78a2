// The gRPC call on whose behalf the executor thread is running engine code right now.
//
// The gRPC adapter opens a CallScope around each engine entry point; RestClient::Call, called
// synchronously from there, keeps the scope's probe with the request, and the rate limiter asks it
// before granting a queued request a token. So a request whose caller has gone (cancelled, or its
// deadline passed) while it waited for a token is withdrawn — never sent, and its token goes to
// the next waiter — without threading a token through every engine call. Work the engine starts
// later on its own (reconciliation, lookups after an ambiguous send) runs outside any scope and is
// never withdrawn.
#pragma once

#include <functional>
#include <utility>

namespace bx::orders {

class CallScope {
 public:
  /// True once the caller is gone. Called on the executor thread.
  using Gone = std::function<bool()>;

  explicit CallScope(Gone gone) : gone_(std::move(gone)), previous_(current_) { current_ = this; }
  ~CallScope() { current_ = previous_; }
  CallScope(const CallScope&) = delete;
  CallScope& operator=(const CallScope&) = delete;

  /// The probe of the innermost open scope on this thread; empty outside any scope.
  static Gone Current() { return current_ != nullptr ? current_->gone_ : Gone(); }

 private:
  Gone gone_;
  CallScope* previous_;
  static inline thread_local CallScope* current_ = nullptr;
};

}  // namespace bx::orders
