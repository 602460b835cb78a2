#include "services/orders/token_reloader.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "services/orders/orders_metrics.h"

namespace bx::orders {

TokenReloader::TokenReloader(Scheduler& scheduler, Authenticator& auth, std::string path, std::string loaded_text,
                             OrdersMetrics* metrics)
    : scheduler_(scheduler), auth_(auth), path_(std::move(path)), loaded_text_(std::move(loaded_text)),
      metrics_(metrics) {}

TokenReloader::~TokenReloader() = default;

void TokenReloader::Start(std::chrono::milliseconds every) {
  every_ = every;
  stopped_ = false;
  Arm();
}

void TokenReloader::Stop() {
  stopped_ = true;
  if (timer_ != 0) scheduler_.Cancel(timer_);
  timer_ = 0;
}

void TokenReloader::Arm() {
  if (stopped_ || every_.count() <= 0) return;
  timer_ = scheduler_.RunAfter(every_, [this] {
    timer_ = 0;
    if (stopped_) return;
    (void)CheckNow();
    Arm();
  });
}

absl::StatusOr<TokensCheck> TokenReloader::CheckNow() {
  auto refuse = [this](absl::Status s) -> absl::StatusOr<TokensCheck> {
    if (metrics_) metrics_->TokenReload("error");
    const std::string message(s.message());
    if (message != last_error_) {
      Log(LogLevel::kError, "orders.auth", "tokens file refused; the tokens in force stay",
          {{"path", path_}, {"error", message}, {"tokens", static_cast<int64_t>(auth_.token_count())}});
      last_error_ = message;
    }
    return s;
  };
  auto defer = [this](const std::string& why) {
    if (metrics_) metrics_->TokenReload("deferred");
    Log(LogLevel::kInfo, "orders.auth", "tokens file changed; looked at again at the next check",
        {{"path", path_}, {"why", why}});
    return TokensCheck::kDeferred;
  };
  auto text = ReadTokensText(path_);
  if (!text.ok()) {
    // Caught while a writer was at it: whatever was read is not the file the writer means.
    if (absl::IsUnavailable(text.status())) {
      pending_text_.reset();
      return defer(std::string(text.status().message()));
    }
    return refuse(text.status());
  }
  if (*text == loaded_text_) {
    pending_text_.reset();
    // Valid again (put back as it was): the next refusal starts a new episode and is logged,
    // even if its error is the same as the last one.
    if (!last_error_.empty()) {
      Log(LogLevel::kInfo, "orders.auth", "tokens file valid again; the tokens in force are unchanged",
          {{"path", path_}});
      last_error_.clear();
    }
    return TokensCheck::kUnchanged;
  }
  if (pending_text_ != *text) {
    // First seen now: it may be half-written. It is judged when the next check reads it again.
    pending_text_ = std::move(*text);
    return defer("the content differs from the last check's; applied if the next check reads the same");
  }
  auto file = TokensFromText(path_, std::move(*text));
  if (!file.ok()) return refuse(file.status());  // pending_text_ stays: refused again, unlogged, until it changes
  pending_text_.reset();
  const size_t n = file->tokens.size();
  auth_.SetTokens(std::move(file->tokens));
  loaded_text_ = std::move(file->text);
  last_error_.clear();
  if (metrics_) metrics_->TokenReload("reloaded");
  Log(n == 0 ? LogLevel::kWarn : LogLevel::kInfo, "orders.auth",
      n == 0 ? "tokens file reloaded: revoke-all, every token is revoked" : "tokens file reloaded",
      {{"path", path_}, {"tokens", static_cast<int64_t>(n)}});
  if (on_reloaded_) on_reloaded_();
  return TokensCheck::kReloaded;
}

}  // namespace bx::orders
