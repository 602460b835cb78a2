// Everything the order engine needs, on the manual scheduler against FakeExchange.
#pragma once

#include <gtest/gtest.h>

#include <optional>

#include <prometheus/registry.h>

#include "services/orders/order_engine.h"
#include "services/orders/orders_metrics.h"
#include "services/orders/rate_limiter.h"
#include "services/orders/request_signer.h"
#include "services/orders/rest_client.h"
#include "tests/orders/fake_exchange.h"
#include "tests/orders/fakes.h"

namespace bx::orders::testing {

inline RateLimiterOptions GenerousLimits() {
  RateLimiterOptions o;
  for (auto& b : o.buckets) b = {1000, 100};
  return o;
}

struct EngineHarness {
  explicit EngineHarness(RateLimiterOptions limits = GenerousLimits(), EngineOptions engine_options = {},
                         RestClientOptions rest_options = {})
      : limiter(sched, limits),
        signer(creds, clock, &skew, true),
        rest(sched, exchange, limiter, signer, &skew, nullptr, rest_options),
        engine(sched, rest, rules, &metrics, engine_options) {}

  void LoadRules() {
    engine.StartRulesRefresh(std::chrono::hours(1));
    sched.RunUntilIdle();
  }

  SteadyTime In(std::chrono::milliseconds d) { return clock.Steady() + d; }

  /// Runs an engine call to completion (advancing fake time as needed).
  template <class Resp, class Req>
  absl::StatusOr<Resp> Run(void (OrderEngine::*fn)(Req, SteadyTime, Reply<Resp>), Req req,
                           std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) {
    std::optional<absl::StatusOr<Resp>> out;
    (engine.*fn)(std::move(req), In(timeout), [&out](absl::StatusOr<Resp> r) { out = std::move(r); });
    sched.AdvanceUntil([&] { return out.has_value(); }, timeout + std::chrono::seconds(5));
    EXPECT_TRUE(out.has_value()) << "engine call never completed";
    if (!out) return absl::InternalError("never completed");
    return *out;
  }

  absl::StatusOr<v1::PlaceOrderResponse> Place(v1::PlaceOrderRequest req,
                                               std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) {
    return Run(&OrderEngine::PlaceOrder, std::move(req), timeout);
  }

  FakeClock clock{int64_t{1'750'000'000'000} * 1'000'000};
  ManualScheduler sched{clock};
  FakeExchange exchange{sched, "test-api-key", "test-secret-0123456789"};
  RateLimiter limiter;
  std::shared_ptr<Credentials> creds = std::make_shared<Credentials>("test-api-key", "test-secret-0123456789");
  SkewEstimator skew;
  RequestSigner signer;
  RestClient rest;
  SymbolRules rules;
  prometheus::Registry registry;
  OrdersMetrics metrics{registry};
  OrderEngine engine;
};

inline v1::PlaceOrderRequest LimitBuy(std::string client_id = "", std::string qty = "0.01",
                                      std::string price = "60000.5") {
  v1::PlaceOrderRequest r;
  r.set_symbol("BTCUSDT");
  r.set_side(bitunix::common::v1::SIDE_BUY);
  r.set_type(v1::ORDER_TYPE_LIMIT);
  r.set_qty(qty);
  r.set_price(price);
  r.set_client_id(client_id);
  return r;
}

}  // namespace bx::orders::testing
