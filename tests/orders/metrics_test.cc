#include "services/orders/orders_metrics.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <set>
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
           R"(bitunix_orders_ambiguous_outcomes_total{exchange_endpoint="place_order"} 0)",
           R"(bitunix_orders_ambiguous_resolutions_total{resolution="not_found"} 0)",
           R"(bitunix_orders_reconciliation_runs_total{trigger="background"} 0)",
           R"(bitunix_orders_auth_token_reloads_total{result="error"} 0)",
           R"(bitunix_orders_auth_failures_total{reason="invalid"} 0)",
           R"(bitunix_orders_exchange_retries_total{exchange_endpoint="get_order_detail"} 0)",
           R"(bitunix_orders_private_ws_bad_frames_total{kind="binary"} 0)",
           R"(bitunix_orders_exchange_requests_total{exchange_endpoint="place_order",result="http_429"} 0)",
           R"(bitunix_orders_exchange_requests_total{exchange_endpoint="tpsl_get_history_orders",result="code_10006"} 0)",
           R"(bitunix_orders_exchange_requests_total{exchange_endpoint="trading_pairs",result="code_10005"} 0)",
           R"(bitunix_orders_rate_limit_acquire_total{bucket="batch",lane="place",outcome="refused"} 0)",
       }) {
    EXPECT_NE(text.find(series), std::string::npos) << series << "\n" << text;
  }
  // One rate-limit series per endpoint and answer, and nothing else before the first call.
  size_t per_endpoint = 0;
  for (size_t at = text.find("bitunix_orders_exchange_requests_total{"); at != std::string::npos;
       at = text.find("bitunix_orders_exchange_requests_total{", at + 1)) {
    ++per_endpoint;
  }
  EXPECT_EQ(per_endpoint, 3 * std::size(ep::kAll));
}

// ep::kAll is written by hand: it must name every endpoint the header declares.
TEST(OrdersMetrics, EveryDeclaredEndpointIsInTheList) {
  std::ifstream in(std::string(BITUNIX_SOURCE_DIR) + "/services/orders/endpoints.h");
  ASSERT_TRUE(in) << "cannot read endpoints.h";
  const std::string header((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::set<std::string> declared, listed;
  const std::string decl = "inline constexpr Endpoint ";
  for (size_t at = header.find(decl); at != std::string::npos; at = header.find(decl, at + 1)) {
    const size_t name = at + decl.size();
    declared.insert(header.substr(name, header.find('{', name) - name));
  }
  for (const Endpoint* e : ep::kAll) listed.insert(e->name);
  EXPECT_GE(declared.size(), 27u);
  EXPECT_EQ(listed.size(), std::size(ep::kAll)) << "an endpoint is listed twice";
  EXPECT_EQ(declared.size(), std::size(ep::kAll)) << "ep::kAll misses an endpoint declared in endpoints.h";
}

}  // namespace
}  // namespace bx::orders
