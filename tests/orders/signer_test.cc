#include "services/orders/request_signer.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/orders/fakes.h"

namespace bx::orders {
namespace {

std::string Header(const net::HttpRequest& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

TEST(RequestSigner, OfficialVectorThroughTheBuilder) {
  // shared/bitunix-api.md §2 example 1: GET /account?marginCoin=USDT.
  FakeClock clock(int64_t{1747104711262} * 1'000'000);
  auto creds = std::make_shared<Credentials>("11111111111111111", "22222222222222222");
  RequestSigner signer(creds, clock, nullptr, true, [] { return std::string("33333333333333333"); });
  SignedRequest r = signer.Build(ep::kAccount, {{"marginCoin", "USDT"}}, "");
  EXPECT_EQ(r.target, "/api/v1/futures/account?marginCoin=USDT");
  EXPECT_EQ(r.timestamp, "1747104711262");
  EXPECT_EQ(r.sign, "40e87256554e263e39201a3979469b7fbb640d1c7c41759abf5c6a18f937f922");
  EXPECT_EQ(Header(r.http, "sign"), r.sign);
  EXPECT_EQ(Header(r.http, "api-key"), "11111111111111111");
  EXPECT_EQ(Header(r.http, "nonce"), "33333333333333333");
  EXPECT_EQ(Header(r.http, "timestamp"), "1747104711262");
  EXPECT_EQ(r.http.method, "GET");
  EXPECT_EQ(r.http.body, "");
}

TEST(RequestSigner, SortedQueryEmptyValuesDroppedFromUrlAndSignature) {
  FakeClock clock;
  auto creds = std::make_shared<Credentials>("k", "s");
  RequestSigner signer(creds, clock, nullptr, true, [] { return std::string("n"); });
  SignedRequest r = signer.Build(ep::kGetPendingOrders,
                                 {{"symbol", "BTCUSDT"}, {"clientId", ""}, {"limit", "100"}, {"orderId", ""}}, "");
  EXPECT_EQ(r.target, "/api/v1/futures/trade/get_pending_orders?limit=100&symbol=BTCUSDT");
  EXPECT_EQ(r.sign, RestSign("n", r.timestamp, "k", "limit100symbolBTCUSDT", "", "s"));
}

TEST(RequestSigner, PostSignsTheExactBodyBytesSent) {
  FakeClock clock;
  auto creds = std::make_shared<Credentials>("k", "s");
  RequestSigner signer(creds, clock, nullptr, true, [] { return std::string("n"); });
  const std::string body = R"({"symbol":"BTCUSDT","side":"BUY","qty":"0.01"})";
  // Query params on a POST would break the signature (10007): they are ignored.
  SignedRequest r = signer.Build(ep::kPlaceOrder, {{"symbol", "BTCUSDT"}}, body);
  EXPECT_EQ(r.target, "/api/v1/futures/trade/place_order");
  EXPECT_EQ(r.http.body, body);
  EXPECT_EQ(r.body, body);
  EXPECT_EQ(r.sign, RestSign("n", r.timestamp, "k", "", body, "s"));
  EXPECT_EQ(r.http.method, "POST");
  EXPECT_EQ(Header(r.http, "Content-Type"), "application/json");
}

TEST(RequestSigner, PublicEndpointsCarryNoCredentials) {
  FakeClock clock;
  auto creds = std::make_shared<Credentials>("k", "s");
  RequestSigner signer(creds, clock, nullptr);
  SignedRequest r = signer.Build(ep::kTradingPairs, {}, "");
  EXPECT_EQ(Header(r.http, "api-key"), "");
  EXPECT_EQ(Header(r.http, "sign"), "");
  EXPECT_EQ(r.target, "/api/v1/futures/market/trading_pairs");
}

TEST(RequestSigner, TimestampCorrectedBySkew) {
  FakeClock clock(int64_t{1'700'000'000'000} * 1'000'000);
  SkewEstimator skew;
  // The server's clock is 30 s ahead: Date = local + 30 s, reply after 10 ms.
  const int64_t local = clock.NowMs();
  skew.AddSample((local + 30'000) / 1000 * 1000, local, local + 10);
  auto creds = std::make_shared<Credentials>("k", "s");
  RequestSigner corrected(creds, clock, &skew, true);
  RequestSigner raw(creds, clock, &skew, false);
  EXPECT_NEAR(static_cast<double>(corrected.TimestampMs() - local), 30'000, 1'000);
  EXPECT_EQ(raw.TimestampMs(), local);
}

TEST(RequestSigner, WsLoginUsesSecondsAndVerifies) {
  FakeClock clock(int64_t{1747402389} * 1'000'000'000);
  auto creds = std::make_shared<Credentials>("yourApiKey", "yourSecretKey");
  RequestSigner signer(creds, clock, nullptr, true, [] { return std::string("o9jnhu8ijko2nbhy36fgt0mnjuyhgtsh"); });
  auto j = nlohmann::json::parse(signer.WsLoginMessage());
  EXPECT_EQ(j["op"], "login");
  const auto& a = j["args"][0];
  EXPECT_EQ(a["timestamp"], 1747402389);
  EXPECT_EQ(a["apiKey"], "yourApiKey");
  EXPECT_EQ(a["sign"], "a3bfb87edfc362b67c66042164e4321715b063d31cfb7b8bb44fbcaffd2ea44c");
}

TEST(SkewEstimator, NarrowsWithSamplesAndRestartsOnAStep) {
  SkewEstimator skew;
  EXPECT_FALSE(skew.has_estimate());
  EXPECT_EQ(skew.OffsetMs(), 0);
  // True offset +1234 ms. Samples at different sub-second phases narrow the interval.
  const int64_t offset = 1234;
  for (int64_t t = 1'000'000; t < 1'000'000 + 10 * 137; t += 137) {
    const int64_t server = t + 5 + offset;  // stamped 5 ms after send
    skew.AddSample(server / 1000 * 1000, t, t + 10);
  }
  EXPECT_NEAR(static_cast<double>(skew.OffsetMs()), offset, 60);
  EXPECT_LT(skew.UncertaintyMs(), 200);
  // The local clock steps back 1 hour: the first contradicting sample restarts the estimate.
  const int64_t t = 2'000'000;
  skew.AddSample((t + 3'600'000 + offset) / 1000 * 1000, t, t + 10);
  EXPECT_NEAR(static_cast<double>(skew.OffsetMs()), 3'600'000 + offset, 600);
}

}  // namespace
}  // namespace bx::orders
