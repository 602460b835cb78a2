#include "services/orders/orders_metrics.h"

#include "common/metrics.h"

namespace bx::orders {
namespace {

double Seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

const std::vector<double>& Buckets() {
  static const std::vector<double> kBuckets = LatencyBucketsSeconds();
  return kBuckets;
}

std::string_view OutcomeName(AcquireOutcome o) {
  switch (o) {
    case AcquireOutcome::kImmediate: return "immediate";
    case AcquireOutcome::kQueued: return "queued";
    case AcquireOutcome::kRefused: return "refused";
    case AcquireOutcome::kWithdrawn: return "withdrawn";
  }
  return "?";
}

std::string S(std::string_view v) { return std::string(v); }

}  // namespace

OrdersMetrics::OrdersMetrics(prometheus::Registry& r)
    : exchange_requests_(prometheus::BuildCounter()
                             .Name("bitunix_orders_exchange_requests_total")
                             .Help("Exchange REST calls by endpoint and result (ok, exchange code, http_5xx, timeout, ...)")
                             .Register(r)),
      exchange_latency_(prometheus::BuildHistogram()
                            .Name("bitunix_orders_exchange_request_seconds")
                            .Help("Exchange REST call latency (send to reply), by endpoint")
                            .Register(r)),
      exchange_retries_(prometheus::BuildCounter()
                            .Name("bitunix_orders_exchange_retries_total")
                            .Help("Retries of idempotent exchange calls, by endpoint")
                            .Register(r)),
      rate_limit_acquire_(prometheus::BuildCounter()
                              .Name("bitunix_orders_rate_limit_acquire_total")
                              .Help("Rate-limit token requests by bucket, lane and outcome (immediate, queued, refused)")
                              .Register(r)),
      rate_limit_wait_(prometheus::BuildHistogram()
                           .Name("bitunix_orders_rate_limit_wait_seconds")
                           .Help("Time spent queued for a rate-limit token, by bucket")
                           .Register(r)),
      rate_limit_tokens_(prometheus::BuildGauge()
                             .Name("bitunix_orders_rate_limit_tokens")
                             .Help("Tokens currently available per bucket")
                             .Register(r)),
      rate_limit_rate_(prometheus::BuildGauge()
                           .Name("bitunix_orders_rate_limit_rate")
                           .Help("Current refill rate per bucket (requests/s; below the budget after throttling)")
                           .Register(r)),
      http_pool_(prometheus::BuildGauge()
                     .Name("bitunix_orders_http_pool")
                     .Help("Exchange HTTP connection pool: open, busy connections and queued requests")
                     .Register(r)),
      ambiguous_(prometheus::BuildCounter()
                     .Name("bitunix_orders_ambiguous_outcomes_total")
                     .Help("State-changing calls whose exchange answer was lost (timeout after send, reset, 5xx)")
                     .Register(r)),
      ambiguous_resolution_(prometheus::BuildCounter()
                                .Name("bitunix_orders_ambiguous_resolutions_total")
                                .Help("How ambiguous outcomes were resolved (found, not_found, reconciled_found, reconciled_absent)")
                                .Register(r)),
      unknown_placements_(prometheus::BuildGauge()
                              .Name("bitunix_orders_unknown_placements")
                              .Help("Placements whose outcome is unknown right now and being reconciled in the background")
                              .Register(r)
                              .Add({})),
      reconciliation_runs_(prometheus::BuildCounter()
                               .Name("bitunix_orders_reconciliation_runs_total")
                               .Help("Reconciliation runs by trigger (ambiguous, background, reconnect)")
                               .Register(r)),
      dedupe_hits_(prometheus::BuildCounter()
                       .Name("bitunix_orders_dedupe_hits_total")
                       .Help("Placements answered from the client-id cache (duplicates never sent)")
                       .Register(r)
                       .Add({})),
      validation_refusals_(prometheus::BuildCounter()
                               .Name("bitunix_orders_validation_refusals_total")
                               .Help("Orders refused before reaching the exchange, by rule")
                               .Register(r)),
      auth_failures_(prometheus::BuildCounter()
                         .Name("bitunix_orders_auth_failures_total")
                         .Help("Refused callers by reason (missing, invalid, read_only)")
                         .Register(r)),
      token_reloads_(prometheus::BuildCounter()
                         .Name("bitunix_orders_auth_token_reloads_total")
                         .Help("Tokens file changes: reloaded; deferred (changed since the last check or while read: looked at "
                               "again at the next check); or error (refused: the tokens in force were kept)")
                         .Register(r)),
      grpc_requests_(prometheus::BuildCounter()
                         .Name("bitunix_orders_grpc_requests_total")
                         .Help("gRPC calls by method and status code")
                         .Register(r)),
      grpc_latency_(prometheus::BuildHistogram()
                        .Name("bitunix_orders_grpc_request_seconds")
                        .Help("gRPC unary call latency by method")
                        .Register(r)),
      clock_skew_(prometheus::BuildGauge()
                         .Name("bitunix_orders_clock_skew_seconds")
                         .Help("Estimated exchange clock minus local clock (from HTTP Date headers), seconds")
                         .Register(r)
                         .Add({})),
      clock_skew_uncertainty_(prometheus::BuildGauge()
                                     .Name("bitunix_orders_clock_skew_uncertainty_seconds")
                                     .Help("Half-width of the interval the clock skew is known to lie in, seconds")
                                     .Register(r)
                                     .Add({})),
      private_ws_enabled_(prometheus::BuildGauge()
                              .Name("bitunix_orders_private_ws_enabled")
                              .Help("1 when the service runs the private WebSocket (--private-stream)")
                              .Register(r)
                              .Add({})),
      private_ws_connected_(prometheus::BuildGauge()
                                .Name("bitunix_orders_private_ws_connected")
                                .Help("1 while the private WebSocket is logged in and subscribed")
                                .Register(r)
                                .Add({})),
      private_ws_reconnects_(prometheus::BuildCounter()
                                 .Name("bitunix_orders_private_ws_reconnects_total")
                                 .Help("Private WebSocket reconnects")
                                 .Register(r)
                                 .Add({})),
      private_ws_messages_(prometheus::BuildCounter()
                               .Name("bitunix_orders_private_ws_messages_total")
                               .Help("Private WebSocket pushes by channel")
                               .Register(r)),
      private_ws_bad_frames_(prometheus::BuildCounter()
                                 .Name("bitunix_orders_private_ws_bad_frames_total")
                                 .Help("Private WebSocket frames dropped: unreadable JSON, or binary (the exchange "
                                       "sends text)")
                                 .Register(r)),
      stream_subscribers_(prometheus::BuildGauge()
                              .Name("bitunix_orders_stream_subscribers")
                              .Help("Open StreamUpdates streams")
                              .Register(r)
                              .Add({})),
      stream_events_dropped_(prometheus::BuildCounter()
                                 .Name("bitunix_orders_stream_events_dropped_total")
                                 .Help("Updates dropped for slow StreamUpdates consumers (each drop sends a Gap)")
                                 .Register(r)
                                 .Add({})) {
  // Series that alerts watch exist from the first scrape, at zero, not only after the first
  // event (an `increase()` or `absent()` rule cannot see a series that is not there yet).
  for (const char* e : {"place_order", "batch_order", "modify_order"}) ambiguous_.Add({{"exchange_endpoint", e}});
  for (const char* e : {"account", "get_order_detail", "get_pending_orders", "get_history_orders",
                        "get_pending_positions", "trading_pairs"}) {
    exchange_retries_.Add({{"exchange_endpoint", e}});
  }
  for (const char* res : {"found", "not_found", "reconciled_found", "reconciled_absent"}) {
    ambiguous_resolution_.Add({{"resolution", res}});
  }
  for (const char* t : {"ambiguous", "background", "reconnect"}) reconciliation_runs_.Add({{"trigger", t}});
  for (const char* res : {"reloaded", "deferred", "error"}) token_reloads_.Add({{"result", res}});
  for (const char* why : {"missing", "invalid", "read_only"}) auth_failures_.Add({{"reason", why}});
  for (const char* kind : {"malformed", "binary"}) private_ws_bad_frames_.Add({{"kind", kind}});
  // The exchange's rate-limit answers, per endpoint: a series made by its first 429 would start at
  // 1, and increase() would never count that first one.
  for (const Endpoint* e : ep::kAll) {
    for (const char* res : {"http_429", "code_10005", "code_10006"}) {
      exchange_requests_.Add({{"exchange_endpoint", e->name}, {"result", res}});
    }
  }
  for (int b = 0; b < kBucketCount; ++b) {
    for (int l = 0; l < kLaneCount; ++l) {
      rate_limit_acquire_.Add({{"bucket", S(BucketName(static_cast<Bucket>(b)))},
                               {"lane", S(LaneName(static_cast<Lane>(l)))},
                               {"outcome", "refused"}});
    }
  }
}

void OrdersMetrics::ExchangeRequest(std::string_view endpoint, std::string_view result,
                                    std::chrono::nanoseconds latency) {
  exchange_requests_.Add({{"exchange_endpoint", S(endpoint)}, {"result", S(result)}}).Increment();
  exchange_latency_.Add({{"exchange_endpoint", S(endpoint)}}, Buckets()).Observe(Seconds(latency));
}

void OrdersMetrics::ExchangeRetry(std::string_view endpoint) {
  exchange_retries_.Add({{"exchange_endpoint", S(endpoint)}}).Increment();
}

void OrdersMetrics::RateLimit(Bucket bucket, Lane lane, AcquireOutcome outcome, std::chrono::nanoseconds waited) {
  rate_limit_acquire_
      .Add({{"bucket", S(BucketName(bucket))}, {"lane", S(LaneName(lane))}, {"outcome", S(OutcomeName(outcome))}})
      .Increment();
  if (outcome == AcquireOutcome::kQueued) {
    rate_limit_wait_.Add({{"bucket", S(BucketName(bucket))}}, Buckets()).Observe(Seconds(waited));
  }
}

void OrdersMetrics::RateLimitState(Bucket bucket, double tokens, double rate) {
  rate_limit_tokens_.Add({{"bucket", S(BucketName(bucket))}}).Set(tokens);
  rate_limit_rate_.Add({{"bucket", S(BucketName(bucket))}}).Set(rate);
}

void OrdersMetrics::HttpPool(int open, int busy, int queued) {
  http_pool_.Add({{"state", "open"}}).Set(open);
  http_pool_.Add({{"state", "busy"}}).Set(busy);
  http_pool_.Add({{"state", "queued"}}).Set(queued);
}

void OrdersMetrics::Ambiguous(std::string_view endpoint) { ambiguous_.Add({{"exchange_endpoint", S(endpoint)}}).Increment(); }

void OrdersMetrics::AmbiguousResolution(std::string_view resolution) {
  ambiguous_resolution_.Add({{"resolution", S(resolution)}}).Increment();
}

void OrdersMetrics::UnknownPlacements(size_t n) { unknown_placements_.Set(static_cast<double>(n)); }

void OrdersMetrics::ReconciliationRun(std::string_view trigger) {
  reconciliation_runs_.Add({{"trigger", S(trigger)}}).Increment();
}

void OrdersMetrics::DedupeHit() { dedupe_hits_.Increment(); }

void OrdersMetrics::ValidationRefusal(std::string_view rule) {
  validation_refusals_.Add({{"rule", S(rule)}}).Increment();
}

void OrdersMetrics::AuthFailure(std::string_view why) { auth_failures_.Add({{"reason", S(why)}}).Increment(); }

void OrdersMetrics::TokenReload(std::string_view result) { token_reloads_.Add({{"result", S(result)}}).Increment(); }

void OrdersMetrics::GrpcRequest(std::string_view method, std::string_view code, std::chrono::nanoseconds latency) {
  grpc_requests_.Add({{"method", S(method)}, {"code", S(code)}}).Increment();
  grpc_latency_.Add({{"method", S(method)}}, Buckets()).Observe(Seconds(latency));
}

void OrdersMetrics::ClockSkew(int64_t offset_ms, int64_t uncertainty_ms) {
  clock_skew_.Set(static_cast<double>(offset_ms) / 1000.0);
  clock_skew_uncertainty_.Set(static_cast<double>(uncertainty_ms) / 1000.0);
}

void OrdersMetrics::PrivateWsEnabled(bool enabled) { private_ws_enabled_.Set(enabled ? 1 : 0); }

void OrdersMetrics::PrivateWsConnected(bool connected) { private_ws_connected_.Set(connected ? 1 : 0); }

void OrdersMetrics::PrivateWsReconnect() { private_ws_reconnects_.Increment(); }

void OrdersMetrics::PrivateWsMessage(std::string_view channel) {
  private_ws_messages_.Add({{"channel", S(channel)}}).Increment();
}

void OrdersMetrics::PrivateWsBadFrame(std::string_view kind) {
  private_ws_bad_frames_.Add({{"kind", S(kind)}}).Increment();
}

void OrdersMetrics::StreamSubscribers(int64_t n) { stream_subscribers_.Set(static_cast<double>(n)); }

void OrdersMetrics::StreamEventsDropped(uint64_t n) { stream_events_dropped_.Increment(static_cast<double>(n)); }

}  // namespace bx::orders
