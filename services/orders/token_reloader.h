// Re-reads the callers' tokens file (--auth-tokens-file) so tokens can be rotated without a
// restart: a Kubernetes Secret mount is updated in place, and this notices within one interval.
// Only a complete, settled file is applied: a changed content is applied when two checks one
// interval apart read the same bytes (a file caught while an editor or `cat >` writes it is not
// taken as it was at that instant), and it must end with a newline (a file cut short mid-line is
// refused). A file that changes while it is read, or since the last check, is deferred to the next
// check (counted "deferred"). A file that cannot be read, does not parse, is cut short or holds no
// tokens (without `revoke-all`) never opens or empties the API: the tokens in force stay, and the
// error is logged (naming the line, never a token) and counted.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "services/orders/auth.h"
#include "services/orders/scheduler.h"

namespace bx::orders {

class OrdersMetrics;

/// What one check of the tokens file did (an error: the new content was refused).
enum class TokensCheck {
  kUnchanged,  ///< the file holds the tokens in force
  kDeferred,   ///< changed since the last check, or while being read: looked at again next check
  kReloaded,   ///< the tokens were replaced
};

class TokenReloader {
 public:
  /// `loaded_text`: the file content the current tokens came from. `metrics` may be null.
  TokenReloader(Scheduler& scheduler, Authenticator& auth, std::string path, std::string loaded_text,
                OrdersMetrics* metrics);

  /// Executor. Runs after each reload that replaced the tokens (the service ends the open
  /// streams of revoked tokens there).
  void set_on_reloaded(std::function<void()> f) { on_reloaded_ = std::move(f); }
  ~TokenReloader();
  TokenReloader(const TokenReloader&) = delete;
  TokenReloader& operator=(const TokenReloader&) = delete;

  /// Executor. Checks the file every `every` (> 0).
  void Start(std::chrono::milliseconds every);
  /// Executor. No further checks.
  void Stop();
  /// Executor. Checks now (TokensCheck), or an error when the new content was refused (the old
  /// tokens stay).
  absl::StatusOr<TokensCheck> CheckNow();

 private:
  void Arm();

  Scheduler& scheduler_;
  Authenticator& auth_;
  const std::string path_;
  std::string loaded_text_;
  /// A changed content read by the last check, not applied yet: applied when the next check reads
  /// it again.
  std::optional<std::string> pending_text_;
  std::string last_error_;  // logged once per distinct error
  OrdersMetrics* metrics_;
  std::chrono::milliseconds every_{0};
  Scheduler::TimerId timer_ = 0;
  bool stopped_ = false;
  std::function<void()> on_reloaded_;
};

}  // namespace bx::orders
