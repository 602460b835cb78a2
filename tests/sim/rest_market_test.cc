// Integration: the public REST market endpoints, envelopes and error codes as captured live.
#include <gtest/gtest.h>

#include "common/clock.h"
#include "tests/sim/sim_test_util.h"

namespace bx::sim::testing {
namespace {

std::vector<std::string> Keys(const OrderedJson& j) {
  std::vector<std::string> out;
  for (auto it = j.begin(); it != j.end(); ++it) out.push_back(it.key());
  return out;
}

class RestMarketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SimConfig cfg = FastConfig();
    cfg.rest_rate_limits = false;  // RateLimitPerIp re-enables it
    sim_ = StartSim(cfg);
    ASSERT_NE(sim_, nullptr);
    http_ = std::make_unique<HttpTestClient>(sim_->rest_url());
  }
  OrderedJson Get(const std::string& target) {
    auto r = http_->Get(target);
    EXPECT_EQ(r.status, 200) << target << " " << r.error;
    return r.ordered();
  }
  std::unique_ptr<Simulator> sim_;
  std::unique_ptr<HttpTestClient> http_;
};

TEST_F(RestMarketTest, ErrorsAsCapturedLive) {
  EXPECT_EQ(http_->Get("/nope").body, R"({"code":404,"data":null,"msg":"Not Found"})");
  EXPECT_EQ(http_->Get("/api/v1/futures/market/ticker?symbol=BTCUSDT").body,
            R"({"code":404,"data":null,"msg":"Not Found"})");
  EXPECT_EQ(http_->Get("/api/v1/futures/market/depth?limit=15").body, R"({"code":1,"data":null,"msg":"Network Error"})");
  EXPECT_EQ(http_->Get("/api/v1/futures/market/depth?symbol=BTCUSDT&limit=20").body,
            R"({"code":10008,"data":null,"msg":"Parameter 20 does not match, alternative value [\"1\",\"5\",\"15\",\"50\",\"max\"]."})");
  EXPECT_EQ(http_->Get("/api/v1/futures/market/depth?symbol=BTCUSDT&limit=100").json()["code"], 10008);
  const std::string not_allowed = R"({"code":20015,"data":null,"msg":"this Futures is not allowed to trade."})";
  EXPECT_EQ(http_->Get("/api/v1/futures/market/depth?symbol=NOPEUSDT&limit=15").body, not_allowed);
  EXPECT_EQ(http_->Get("/api/v1/futures/market/funding_rate?symbol=HALTUSDT").body, not_allowed);
  EXPECT_EQ(http_->Get("/api/v1/futures/market/trading_pairs?symbols=NOPEUSDT").body, not_allowed);
  EXPECT_EQ(http_->Get("/api/v1/futures/market/tickers?symbols=NOPEUSDT").body, not_allowed);
  EXPECT_EQ(http_->Get("/api/v1/futures/market/kline?symbol=BTCUSDT&interval=7m").body,
            R"({"code":0,"msg":"Success","data":[]})");
  auto bad_limit = http_->Get("/api/v1/futures/market/kline?symbol=BTCUSDT&interval=1m&limit=abc").json();
  EXPECT_EQ(bad_limit["code"], 10002);
  EXPECT_NE(bad_limit["msg"].get<std::string>().find("limit"), std::string::npos);
}

TEST_F(RestMarketTest, DepthLimitsAndWholeBook) {
  for (auto [limit, n] : {std::pair<const char*, size_t>{"1", 1}, {"5", 5}, {"15", 15}, {"50", 50}, {"max", 2000}}) {
    auto j = Get(std::string("/api/v1/futures/market/depth?symbol=btcusdt&limit=") + limit);
    EXPECT_EQ(Keys(j), (std::vector<std::string>{"code", "msg", "data"}));
    EXPECT_EQ(Keys(j["data"]), (std::vector<std::string>{"asks", "bids"}));
    EXPECT_EQ(j["data"]["asks"].size(), n);
    EXPECT_EQ(j["data"]["bids"].size(), n);
    EXPECT_TRUE(j["data"]["bids"][0][0].is_string());
  }
  auto whole = Get("/api/v1/futures/market/depth?symbol=BTCUSDT");
  EXPECT_EQ(whole["data"]["bids"].size(), 2000u);
}

TEST_F(RestMarketTest, KlineNewestFirstAllStringsNonSwappedVolumes) {
  auto j = Get("/api/v1/futures/market/kline?symbol=BTCUSDT&interval=1m&limit=5");
  ASSERT_EQ(j["data"].size(), 5u);
  int64_t prev = INT64_MAX;
  for (const auto& row : j["data"]) {
    EXPECT_EQ(Keys(row), (std::vector<std::string>{"open", "high", "low", "close", "quoteVol", "baseVol", "time"}));
    for (const auto& v : row) EXPECT_TRUE(v.is_string());
    const int64_t t = std::stoll(row["time"].get<std::string>());
    EXPECT_LT(t, prev);
    prev = t;
    const double base = std::stod(row["baseVol"].get<std::string>());
    const double quote = std::stod(row["quoteVol"].get<std::string>());
    const double close = std::stod(row["close"].get<std::string>());
    if (base > 0) { EXPECT_NEAR(quote / base, close, close * 0.02) << "baseVol x close ~ quoteVol"; }
  }
  EXPECT_EQ(Get("/api/v1/futures/market/kline?symbol=BTCUSDT&interval=1m")["data"].size(), 100u);
  EXPECT_EQ(Get("/api/v1/futures/market/kline?symbol=BTCUSDT&interval=1m&limit=500")["data"].size(), 200u);
  auto hours = Get("/api/v1/futures/market/kline?symbol=BTCUSDT&interval=1h&limit=3&type=MARK_PRICE");
  ASSERT_EQ(hours["data"].size(), 3u);
  EXPECT_EQ(std::stoll(hours["data"][0]["time"].get<std::string>()) % 3'600'000, 0);
  // A window: startTime .. endTime.
  const int64_t end = std::stoll(j["data"][0]["time"].get<std::string>());
  auto window = Get("/api/v1/futures/market/kline?symbol=BTCUSDT&interval=1m&startTime=" + std::to_string(end - 600'000) +
                    "&endTime=" + std::to_string(end));
  EXPECT_EQ(window["data"].size(), 11u);
}

TEST_F(RestMarketTest, TickersTradingPairsFunding) {
  auto t = Get("/api/v1/futures/market/tickers?symbols=BTCUSDT,ETHUSDT");
  ASSERT_EQ(t["data"].size(), 2u);
  EXPECT_EQ(Keys(t["data"][0]), (std::vector<std::string>{"symbol", "markPrice", "lastPrice", "open", "last",
                                                          "quoteVol", "baseVol", "high", "low"}));
  auto pairs = Get("/api/v1/futures/market/trading_pairs");
  std::map<std::string, std::string> status;
  for (const auto& p : pairs["data"]) {
    status[p["symbol"]] = p["symbolStatus"];
    EXPECT_TRUE(p["basePrecision"].is_number_integer());
    EXPECT_TRUE(p["quotePrecision"].is_number_integer());
    EXPECT_TRUE(p["maxLeverage"].is_number_integer());
    EXPECT_TRUE(p["minTradeVolume"].is_string());
  }
  EXPECT_EQ(status["BTCUSDT"], "OPEN");
  EXPECT_EQ(status["BTCUSDC"], "OPEN");
  EXPECT_EQ(status["PREVIEWUSDT"], "PREVIEW");
  EXPECT_EQ(status["HALTUSDT"], "STOP");
  auto f = Get("/api/v1/futures/market/funding_rate?symbol=BTCUSDT");
  EXPECT_TRUE(f["data"].is_object());
  EXPECT_TRUE(f["data"]["fundingInterval"].is_number_integer());
  EXPECT_TRUE(f["data"]["nextFundingTime"].is_string());
  EXPECT_LT(std::abs(std::stod(f["data"]["fundingRate"].get<std::string>())), 0.5) << "percent, small";
  auto batch = Get("/api/v1/futures/market/funding_rate/batch");
  bool saw_delisted = false;
  for (const auto& row : batch["data"]) {
    if (row["symbol"] == "HALTUSDT") {
      saw_delisted = true;
      EXPECT_EQ(row["fundingRate"], "0");
      EXPECT_TRUE(row["indexPrice"].is_null());
    }
  }
  EXPECT_TRUE(saw_delisted);
  auto hist = Get("/api/v1/futures/market/get_funding_rate_history?symbol=BTCUSDT&limit=3");
  ASSERT_EQ(hist["data"].size(), 3u);
  EXPECT_LT(std::abs(std::stod(hist["data"][0]["fundingRate"].get<std::string>())), 0.001) << "a fraction";
}

TEST(RestMarketRateLimit, TenPerSecondPerIp) {
  FakeClock clock;  // the limiter's window moves only when the test says so
  auto sim = Simulator::Start(FastConfig(), clock);
  ASSERT_TRUE(sim.ok()) << sim.status();
  HttpTestClient http((*sim)->rest_url());
  const std::string target = "/api/v1/futures/market/depth?symbol=BTCUSDT&limit=1";
  for (int i = 0; i < 10; ++i) EXPECT_EQ(http.Get(target).json()["code"], 0) << i;
  EXPECT_EQ(http.Get(target).body, R"({"code":10005,"data":null,"msg":"Too many requests"})");
  EXPECT_EQ(http.Get("/api/v1/futures/market/tickers").json()["code"], 10005) << "one budget for all market endpoints";
  clock.Advance(std::chrono::milliseconds(1000));
  EXPECT_EQ(http.Get(target).json()["code"], 0);
}

}  // namespace
}  // namespace bx::sim::testing
