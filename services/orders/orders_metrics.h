// Prometheus metrics of the order service. Every family is created once; label values are drawn
// from fixed sets (endpoint names, gRPC methods, known codes) so cardinality stays bounded.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "services/orders/endpoints.h"
#include "services/orders/rate_limiter.h"

namespace bx::orders {

class OrdersMetrics {
 public:
  explicit OrdersMetrics(prometheus::Registry& registry);

  /// One finished exchange call: `result` is "ok", an exchange code, "http_5xx", "http_429",
  /// "timeout", "network", "bad_reply", "rate_limited" (refused locally) ...
  void ExchangeRequest(std::string_view endpoint, std::string_view result, std::chrono::nanoseconds latency);
  void ExchangeRetry(std::string_view endpoint);
  void RateLimit(Bucket bucket, Lane lane, AcquireOutcome outcome, std::chrono::nanoseconds waited);
  void RateLimitState(Bucket bucket, double tokens, double rate);
  void HttpPool(int open, int busy, int queued);
  /// A state-changing call whose outcome was lost, and how it was resolved: "found",
  /// "not_found" (UNKNOWN returned), "reconciled_found", "reconciled_absent".
  void Ambiguous(std::string_view endpoint);
  void AmbiguousResolution(std::string_view resolution);
  /// Placements whose outcome is not known right now (answered PLACE_RESULT_UNKNOWN and being
  /// reconciled in the background). Above zero for long means an order may be live unseen.
  void UnknownPlacements(size_t n);
  void ReconciliationRun(std::string_view trigger);
  void DedupeHit();
  void ValidationRefusal(std::string_view rule);
  void AuthFailure(std::string_view why);
  /// A check of the tokens file that saw a change: "reloaded", "deferred" (not settled yet: looked at
  /// again at the next check) or "error" (refused: the old tokens kept).
  void TokenReload(std::string_view result);
  void GrpcRequest(std::string_view method, std::string_view code, std::chrono::nanoseconds latency);
  void ClockSkew(int64_t offset_ms, int64_t uncertainty_ms);
  /// Whether the service runs the private stream at all (alerts on `connected` need it).
  void PrivateWsEnabled(bool enabled);
  void PrivateWsConnected(bool connected);
  void PrivateWsReconnect();
  void PrivateWsMessage(std::string_view channel);
  /// A private frame dropped: "malformed" (not a JSON object) or "binary".
  void PrivateWsBadFrame(std::string_view kind);
  void StreamSubscribers(int64_t n);
  void StreamEventsDropped(uint64_t n);

 private:
  prometheus::Family<prometheus::Counter>& exchange_requests_;
  prometheus::Family<prometheus::Histogram>& exchange_latency_;
  prometheus::Family<prometheus::Counter>& exchange_retries_;
  prometheus::Family<prometheus::Counter>& rate_limit_acquire_;
  prometheus::Family<prometheus::Histogram>& rate_limit_wait_;
  prometheus::Family<prometheus::Gauge>& rate_limit_tokens_;
  prometheus::Family<prometheus::Gauge>& rate_limit_rate_;
  prometheus::Family<prometheus::Gauge>& http_pool_;
  prometheus::Family<prometheus::Counter>& ambiguous_;
  prometheus::Family<prometheus::Counter>& ambiguous_resolution_;
  prometheus::Gauge& unknown_placements_;
  prometheus::Family<prometheus::Counter>& reconciliation_runs_;
  prometheus::Counter& dedupe_hits_;
  prometheus::Family<prometheus::Counter>& validation_refusals_;
  prometheus::Family<prometheus::Counter>& auth_failures_;
  prometheus::Family<prometheus::Counter>& token_reloads_;
  prometheus::Family<prometheus::Counter>& grpc_requests_;
  prometheus::Family<prometheus::Histogram>& grpc_latency_;
  prometheus::Gauge& clock_skew_;
  prometheus::Gauge& clock_skew_uncertainty_;
  prometheus::Gauge& private_ws_enabled_;
  prometheus::Gauge& private_ws_connected_;
  prometheus::Counter& private_ws_reconnects_;
  prometheus::Family<prometheus::Counter>& private_ws_messages_;
  prometheus::Family<prometheus::Counter>& private_ws_bad_frames_;
  prometheus::Gauge& stream_subscribers_;
  prometheus::Counter& stream_events_dropped_;
};

}  // namespace bx::orders
