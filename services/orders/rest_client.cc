#include "services/orders/rest_client.h"

#include <cstdlib>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "services/orders/call_scope.h"
#include "services/orders/errors.h"
#include "services/orders/orders_metrics.h"
#include "services/orders/rest_parse.h"

namespace bx::orders {
namespace {

// Said with every 404 (HTTP or exchange code): the path this gateway calls is unknown there.
constexpr const char* kEndpointGoneAdvice =
    " (the exchange does not serve this endpoint: it moved or was retired, or the REST URL is wrong; retrying "
    "will not help until the gateway is updated)";

RateLimitedLog& Warnings() {
  static RateLimitedLog log(20, std::chrono::seconds(10));
  return log;
}

std::string ResultLabel(const RestResult& r, bool timeout) {
  if (r.outcome == Outcome::kOk) return "ok";
  if (r.code != 0) return ExchangeCodeName(r.code).empty() ? "code_other" : absl::StrCat("code_", r.code);
  if (r.http_status == 429) return "http_429";
  if (r.http_status >= 500) return "http_5xx";
  if (r.http_status != 0) return r.status.code() == absl::StatusCode::kUnavailable ? "bad_reply" : "http_other";
  if (timeout) return "timeout";
  return "network";
}

// Refusals that can be the request's timestamp: 10002 (parameter error; the exchange's and the
// simulator's "timestamp outside the window") and 10007 (signature error), both documented for
// futures and decided before the request is acted on. Any other refusal (balance, 30042 "client
// id exists") is an answer about the request itself, which a second attempt's outcome must not
// replace. 100008 ("timestamp expired") is the spot API's code; the futures table does not list
// it, so it is an unclear answer (IsDefinitiveRejection): a read is retried, a placement is looked
// up by client id, and nothing is re-signed on its strength.
bool MayBeTimestampRefusal(int code) { return code == 10002 || code == 10007; }

}  // namespace

std::string_view OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kOk: return "ok";
    case Outcome::kRejected: return "rejected";
    case Outcome::kNotSent: return "not_sent";
    case Outcome::kAmbiguous: return "ambiguous";
  }
  return "?";
}

struct RestClient::CallState {
  const Endpoint* endpoint;
  QueryParams query;
  std::string body;
  SteadyTime deadline;
  Callback cb;
  Lane lane;
  int attempts = 0;
  std::optional<Backoff> backoff;  ///< created on the first retry (most calls never need one)
  int64_t signed_offset_ms = 0;    ///< skew estimate the last attempt was signed with
  bool resigned = false;           ///< re-sent once after the skew estimate moved
  CallScope::Gone caller_gone;     ///< the gRPC caller's probe (empty outside a CallScope)
  bool holds_connection = false;   ///< its grant reserved an HTTP connection, not yet given back
};

RestClient::RestClient(Scheduler& scheduler, net::HttpClient& http, RateLimiter& limiter,
                       const RequestSigner& signer, SkewEstimator* skew, OrdersMetrics* metrics,
                       RestClientOptions options)
    : scheduler_(scheduler),
      http_(http),
      limiter_(limiter),
      signer_(signer),
      skew_(skew),
      metrics_(metrics),
      options_(options) {
  if (options_.http_connections > 0) {
    gate_.emplace(options_.http_connections);
    limiter_.set_gate(&*gate_);
  }
}

RestClient::~RestClient() {
  if (gate_) limiter_.set_gate(nullptr);
}

void RestClient::ReleaseConnection(CallState& call) {
  if (!call.holds_connection) return;
  call.holds_connection = false;
  gate_->Release();
  limiter_.Kick();
}

void RestClient::Call(const Endpoint& endpoint, QueryParams query, std::string body, SteadyTime deadline,
                      Callback cb, std::optional<Lane> lane) {
  auto call = std::make_shared<CallState>(CallState{&endpoint, std::move(query), std::move(body), deadline,
                                                    std::move(cb), lane.value_or(endpoint.lane), 0, std::nullopt});
  // Cancels and closes reduce risk: they go out even when their caller has gone (a kill switch
  // that fires and exits).
  if (endpoint.lane != Lane::kCancel) call->caller_gone = CallScope::Current();
  Attempt(std::move(call));
}

void RestClient::Close(absl::Status why) { closed_ = std::move(why); }

void RestClient::NotSent(const std::shared_ptr<CallState>& call, absl::Status status) {
  RestResult r;
  r.outcome = Outcome::kNotSent;
  r.status = std::move(status);
  r.attempts = call->attempts;
  Finish(call, std::move(r));
}

void RestClient::Attempt(std::shared_ptr<CallState> call) {
  if (!closed_.ok()) return NotSent(call, closed_);
  std::weak_ptr<int> alive = alive_;
  limiter_.Acquire(call->endpoint->bucket, call->lane, call->deadline, call->endpoint->name,
                   [this, alive, call](absl::Status granted) {
                     if (alive.expired()) return;
                     if (!granted.ok()) {
                       if (metrics_) {
                         metrics_->ExchangeRequest(call->endpoint->name,
                                                   granted.code() == absl::StatusCode::kCancelled ? "withdrawn"
                                                                                                  : "rate_limited",
                                                   {});
                       }
                       return NotSent(call, std::move(granted));
                     }
                     call->holds_connection = gate_.has_value();
                     Send(call);
                   },
                   call->caller_gone);
}

void RestClient::Send(std::shared_ptr<CallState> call) {
  if (!closed_.ok()) {  // closed while the call waited for a token
    ReleaseConnection(*call);
    return NotSent(call, closed_);
  }
  const SteadyTime now = scheduler_.clock().Steady();
  const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(call->deadline - now);
  if (remaining.count() <= 0) {
    ReleaseConnection(*call);
    return NotSent(call, MakeError(absl::StatusCode::kDeadlineExceeded,
                                   absl::StrCat("deadline passed before ", call->endpoint->name, " could be sent"),
                                   reason::kNetwork, 0, call->endpoint->path));
  }
  ++call->attempts;
  if (skew_ != nullptr) call->signed_offset_ms = skew_->OffsetMs();
  SignedRequest signed_request = signer_.Build(*call->endpoint, call->query, call->body);
  net::HttpRequest req = std::move(signed_request.http);
  req.timeout = std::min(options_.request_timeout, remaining);
  // Cancels get a connection ahead of placements and queries, and one of their own when every
  // pooled connection is taken (placements the exchange sits on must not hold up the kill switch).
  if (call->lane == Lane::kCancel) req.priority = 1;
  std::weak_ptr<int> alive = alive_;
  http_.Send(std::move(req), [this, alive, call, now](net::HttpResult reply) {
    if (alive.expired()) return;
    // The Beast client calls back on the io thread, which is the executor: no extra hop.
    if (scheduler_.OnExecutorThread()) return Replied(call, now, std::move(reply));
    scheduler_.Post([this, alive, call, now, reply = std::move(reply)]() mutable {
      if (alive.expired()) return;
      Replied(call, now, std::move(reply));
    });
  });
}

void RestClient::Replied(std::shared_ptr<CallState> call, SteadyTime started, net::HttpResult reply) {
  // The connection is free: requests waiting for it go first, then this reply is handled.
  ReleaseConnection(*call);
  OnReply(std::move(call), started, std::move(reply), /*inline_ok=*/true);
}

void RestClient::OnReply(std::shared_ptr<CallState> call, SteadyTime started, net::HttpResult reply,
                         bool inline_ok) {
  const Endpoint& ep = *call->endpoint;
  const auto latency = scheduler_.clock().Steady() - started;
  RestResult r;
  r.attempts = call->attempts;
  bool timeout = false;
  if (!reply.status.ok()) {
    timeout = reply.status.code() == absl::StatusCode::kDeadlineExceeded;
    r.outcome = reply.maybe_sent ? Outcome::kAmbiguous : Outcome::kNotSent;
    r.status = MakeError(timeout ? absl::StatusCode::kDeadlineExceeded : absl::StatusCode::kUnavailable,
                         absl::StrCat(ep.name, ": ", timeout ? "no reply in time" : "network failure", " (",
                                      std::string(reply.status.message()), ")"),
                         reason::kNetwork, 0, ep.path);
  } else {
    const auto& resp = reply.response;
    r.http_status = resp.status;
    if (skew_ != nullptr && resp.date_ms > 0) {
      const int64_t now_ms = scheduler_.clock().NowMs();
      skew_->AddSample(resp.date_ms, resp.sent_ns > 0 ? resp.sent_ns / 1'000'000 : now_ms,
                       resp.received_ns > 0 ? resp.received_ns / 1'000'000 : now_ms);
    }
    auto env = ParseEnvelope(resp.body);
    if (resp.status == 429 || (resp.status >= 500 && !env.ok())) {
      r.outcome = Outcome::kAmbiguous;
      if (resp.status == 429) {
        limiter_.OnThrottled(ep.bucket);
        r.status = MakeError(absl::StatusCode::kResourceExhausted,
                             absl::StrCat(ep.name, ": exchange rate limit (HTTP 429)"), reason::kRateLimited, 0,
                             ep.path, resp.status);
      } else {
        r.status = MakeError(absl::StatusCode::kUnavailable,
                             absl::StrCat(ep.name, ": exchange server error (HTTP ", resp.status, ")"),
                             reason::kNetwork, 0, ep.path, resp.status);
      }
    } else if (resp.status == 404) {
      // The exchange's routing does not know the path (its own 404 comes as code 404 with HTTP
      // 200, below; a front end may answer HTTP 404 instead): no handler ran, nothing was
      // executed, and asking again cannot help. UNIMPLEMENTED as code 404, as market data does.
      r.outcome = Outcome::kRejected;
      r.code = env.ok() ? env->code : 0;
      r.msg = env.ok() ? env->msg : std::string();
      r.status = MakeError(absl::StatusCode::kUnimplemented,
                           absl::StrCat(ep.name, ": the exchange answered HTTP 404 for ", ep.path, kEndpointGoneAdvice),
                           reason::kExchangeRejected, r.code, ep.path, resp.status);
    } else if (!env.ok()) {
      r.outcome = Outcome::kAmbiguous;
      r.status = MakeError(absl::StatusCode::kUnavailable,
                           absl::StrCat(ep.name, ": unreadable exchange reply (HTTP ", resp.status, ", ",
                                        std::string(env.status().message()), ")"),
                           reason::kBadReply, 0, ep.path, resp.status);
    } else if (env->code == 0 && resp.status >= 200 && resp.status < 300) {
      r.outcome = Outcome::kOk;
      if (ep.is_signed) last_signed_answer_ = scheduler_.clock().Steady();
      r.msg = std::move(env->msg);
      r.data = std::move(env->data);
    } else {
      r.code = env->code;
      r.msg = env->msg;
      r.data = std::move(env->data);
      if (IsRateLimitCode(env->code)) limiter_.OnThrottled(ep.bucket);
      const bool definitive = IsDefinitiveRejection(env->code) && resp.status >= 200 && resp.status < 300;
      r.outcome = definitive ? Outcome::kRejected : Outcome::kAmbiguous;
      // A business refusal (20xxx–40xxx: balance, order state, position) is decided after the
      // exchange accepted the key and the signature: it shows the exchange answering as much as a
      // success does, for readiness. Parameter, key, signature and rate codes do not.
      if (ep.is_signed && definitive && env->code >= 20000) last_signed_answer_ = scheduler_.clock().Steady();
      std::string_view name = ExchangeCodeName(env->code);
      r.status = MakeError(env->code == 0 ? absl::StatusCode::kUnavailable : MapExchangeCode(env->code),
                           absl::StrCat("exchange refused ", ep.name, ": ", env->code, " ", env->msg,
                                        name.empty() ? "" : absl::StrCat(" (", std::string(name), ")"),
                                        IsGatewayCredentialCode(env->code)
                                            ? "; the exchange refused the gateway's own API key, signature or IP "
                                              "(check its credentials, clock and whitelist), not the caller's token"
                                            : "",
                                        env->code == 404 ? kEndpointGoneAdvice : ""),
                           IsRateLimitCode(env->code) ? reason::kRateLimited : reason::kExchangeRejected,
                           env->code, ep.path, resp.status);
    }
  }
  if (metrics_) metrics_->ExchangeRequest(ep.name, ResultLabel(r, timeout), latency);

  // A timestamp refusal right after the clock estimate moved (a clock step on either side): re-sign
  // once with the corrected time. Such a refusal executed nothing, so this is safe for every
  // endpoint.
  if (r.outcome == Outcome::kRejected && MayBeTimestampRefusal(r.code) && !call->resigned && skew_ != nullptr &&
      signer_.applies_skew() && std::abs(skew_->OffsetMs() - call->signed_offset_ms) > 1000 &&
      scheduler_.clock().Steady() < call->deadline) {
    call->resigned = true;
    Warnings().Log(LogLevel::kWarn, "orders.rest", "resign", "clock estimate moved; re-signing a refused request",
                   {{"endpoint", ep.name}, {"skew_ms", skew_->OffsetMs()}, {"code", r.code}});
    Attempt(call);
    return;
  }
  // Retry what is safe to repeat: reads, and anything provably never sent.
  const bool transport_unsent = r.outcome == Outcome::kNotSent && !reply.status.ok();
  const bool retryable = (ep.idempotent && r.outcome == Outcome::kAmbiguous) || transport_unsent;
  if (retryable && call->attempts < options_.max_read_attempts) {
    if (!call->backoff) call->backoff.emplace(options_.read_backoff, jitter_seed_++);
    const auto delay = call->backoff->Next();
    const SteadyTime at = scheduler_.clock().Steady() + delay;
    if (at + std::chrono::milliseconds(20) < call->deadline) {
      if (metrics_) metrics_->ExchangeRetry(ep.name);
      Warnings().Log(LogLevel::kWarn, "orders.rest", ep.name, "retrying exchange call",
                     {{"endpoint", ep.name}, {"attempt", call->attempts}, {"error", std::string(r.status.message())}});
      std::weak_ptr<int> alive = alive_;
      scheduler_.RunAt(at, [this, alive, call] {
        if (!alive.expired()) Attempt(call);
      });
      return;
    }
  }
  if (r.outcome != Outcome::kOk) {
    Warnings().Log(LogLevel::kWarn, "orders.rest", ep.name, "exchange call failed",
                   {{"endpoint", ep.name},
                    {"outcome", OutcomeName(r.outcome)},
                    {"code", r.code},
                    {"http_status", r.http_status},
                    {"error", std::string(r.status.message())}});
  }
  if (inline_ok) {
    // Called from a reply, never from inside Call(): completing here saves an executor hop.
    call->cb(std::move(r));
    return;
  }
  Finish(call, std::move(r));
}

void RestClient::Finish(std::shared_ptr<CallState> call, RestResult result) {
  // Never inline: the caller may still be inside Call().
  std::weak_ptr<int> alive = alive_;
  scheduler_.Post([alive, call, result = std::move(result)]() mutable {
    if (alive.expired()) return;
    call->cb(std::move(result));
  });
}

}  // namespace bx::orders
