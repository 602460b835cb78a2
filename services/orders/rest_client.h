// Calls one exchange REST endpoint: rate-limit token (by bucket and lane), signing, the HTTP call
// with a deadline, envelope parsing, skew samples from `Date`, and classification of the outcome.
// Reads are retried with backoff inside the deadline; state-changing calls are retried only when
// the transport proves the request was never sent.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "common/backoff.h"
#include "common/net/http_client.h"
#include "services/orders/clock_skew.h"
#include "services/orders/endpoints.h"
#include "services/orders/json_util.h"
#include "services/orders/rate_limiter.h"
#include "services/orders/request_signer.h"
#include "services/orders/scheduler.h"

namespace bx::orders {

class OrdersMetrics;

/// What a call's outcome says about the exchange's state.
enum class Outcome {
  kOk,         ///< code 0: the exchange accepted the request
  kRejected,   ///< a definitive refusal: the exchange did not act on it
  kNotSent,    ///< provably never reached the exchange (local refusal, connect failure)
  kAmbiguous,  ///< the exchange may or may not have acted (timeout after send, reset, 5xx, 429, 10005...)
};
std::string_view OutcomeName(Outcome o);

struct RestResult {
  Outcome outcome = Outcome::kNotSent;
  absl::Status status;  ///< OK iff outcome == kOk; else carries an ExchangeError payload
  int http_status = 0;
  int code = 0;  ///< exchange code from the envelope (0 when none)
  std::string msg;
  Json data;  ///< the envelope's data (null when absent)
  int attempts = 0;
};

struct RestClientOptions {
  std::chrono::milliseconds request_timeout{5000};  ///< per attempt, capped by the call's deadline
  /// The HTTP client's max_connections (cancels may use one more). A rate-limit token is granted
  /// only when a connection is free for the request (RateLimiter's SendGate), so that a granted
  /// request leaves at once. 0: no such gate.
  size_t http_connections = 0;
  int max_read_attempts = 3;
  BackoffPolicy read_backoff{std::chrono::milliseconds(100), std::chrono::milliseconds(1000), 2.0, 0.5};
};

class RestClient {
 public:
  using Callback = std::function<void(RestResult)>;

  /// `skew` and `metrics` may be null. The HttpClient's callbacks may run on any thread: results
  /// are posted to the scheduler.
  RestClient(Scheduler& scheduler, net::HttpClient& http, RateLimiter& limiter, const RequestSigner& signer,
             SkewEstimator* skew, OrdersMetrics* metrics, RestClientOptions options);
  ~RestClient();

  /// Executor thread. `cb` runs once, on the executor, never inline. `lane` overrides the
  /// endpoint's lane (resolution lookups of ambiguous orders use the place lane).
  void Call(const Endpoint& endpoint, QueryParams query, std::string body, SteadyTime deadline, Callback cb,
            std::optional<Lane> lane = std::nullopt);

  /// The request as it would be sent now (dry runs): signed, never sent.
  SignedRequest Preview(const Endpoint& endpoint, const QueryParams& query, std::string body) const {
    return signer_.Build(endpoint, query, std::move(body));
  }

  const RequestSigner& signer() const { return signer_; }

  /// Executor thread. When a signed request last got a successful exchange answer, or a business
  /// refusal decided after authentication (20xxx and above; any caller's):
  /// the readiness probe uses it when the rate limiter refuses the probe itself, which says the
  /// budget is busy, not that the exchange is gone.
  std::optional<SteadyTime> LastSignedAnswer() const { return last_signed_answer_; }

  /// Executor thread. From now on every call (and every retry of one already running) completes
  /// NOT_SENT with `why` without touching the transport, so the transport may be destroyed once
  /// this returns. Replies to requests already sent are still handled.
  void Close(absl::Status why);

 private:
  struct CallState;
  void Attempt(std::shared_ptr<CallState> call);
  void Send(std::shared_ptr<CallState> call);
  /// The HTTP client is done with `call`: its connection is free again, then OnReply.
  void Replied(std::shared_ptr<CallState> call, SteadyTime started, net::HttpResult reply);
  void OnReply(std::shared_ptr<CallState> call, SteadyTime started, net::HttpResult reply, bool inline_ok);
  /// Gives back the connection a grant reserved for `call` (if any) and lets the limiter use it.
  void ReleaseConnection(CallState& call);
  void Finish(std::shared_ptr<CallState> call, RestResult result);
  /// Completes `call` NOT_SENT with `status`.
  void NotSent(const std::shared_ptr<CallState>& call, absl::Status status);

  /// Counts the requests in the HTTP client against its connections (executor thread).
  class ConnectionGate final : public SendGate {
   public:
    explicit ConnectionGate(size_t connections) : connections_(connections) {}
    bool Open(Lane lane) const override { return used_ < connections_ + (lane == Lane::kCancel ? 1 : 0); }
    void Reserve(Lane) override { ++used_; }
    void Release() {
      if (used_ > 0) --used_;
    }

   private:
    size_t connections_;
    size_t used_ = 0;
  };

  Scheduler& scheduler_;
  net::HttpClient& http_;
  RateLimiter& limiter_;
  const RequestSigner& signer_;
  SkewEstimator* skew_;
  OrdersMetrics* metrics_;
  RestClientOptions options_;
  uint64_t jitter_seed_ = 0x9e3779b97f4a7c15ULL;  ///< seeds of retry backoffs (no syscall per call)
  absl::Status closed_;  ///< not OK once Close() ran
  std::optional<SteadyTime> last_signed_answer_;
  std::optional<ConnectionGate> gate_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace bx::orders
