#include "services/orders/orders_metrics.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace bx::orders {
namespace {

// Alerts on failure counters (ambiguous outcomes, reconciliations, token reloads, auth failures)
// need the series before the first failure: they are exported at zero from the start.
TEST(OrdersMetrics, AlertedSeriesExistAtZeroBeforeAnyEvent) {
  auto registry = std::make_shared<prometheus::Registry>();
  OrdersMetrics metrics(*registry);
  const std::string text = prometheus::TextSerializer().Serialize(registry->Collect());
  for (const char* series : {
           R"(bitunix_orders_ambiguous_outcomes_total{endpoint="place_order"} 0)",
           R"(bitunix_orders_ambiguous_resolutions_total{resolution="not_found"} 0)",
           R"(bitunix_orders_reconciliation_runs_total{trigger="background"} 0)",
           R"(bitunix_orders_auth_token_reloads_total{result="error"} 0)",
           R"(bitunix_orders_auth_failures_total{reason="invalid"} 0)",
           R"(bitunix_orders_exchange_retries_total{endpoint="get_order_detail"} 0)",
           R"(bitunix_orders_private_ws_bad_frames_total{kind="binary"} 0)",
       }) {
    EXPECT_NE(text.find(series), std::string::npos) << series << "\n" << text;
  }
}

}  // namespace
}  // namespace bx::orders
