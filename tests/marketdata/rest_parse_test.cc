// REST reply parsers on the captured replies (tests/fixtures/bitunix/rest-responses.json).
#include "services/marketdata/rest_parse.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/common/kline_volume_cases.h"
#include "tests/marketdata/fixtures.h"

namespace bx::md {
namespace {

using Json = nlohmann::ordered_json;

std::vector<std::pair<std::string, Json>> Records(const std::string& kind) {
  std::vector<std::pair<std::string, Json>> out;
  for (const auto& r : testing::LoadJson("rest-responses.json")) {
    if (r.value("kind", "") != kind) continue;
    std::string text = r.contains("raw") && r["raw"].is_string() ? r["raw"].get<std::string>() : r["message"].dump();
    out.emplace_back(text, r);
  }
  return out;
}

// Every captured market-data reply goes through the parser of its endpoint, and every captured
// refusal (with or without `data`) through every parser, which reports it as the exchange's error.
TEST(RestParse, EveryCapturedMarketReplyIsReadByItsParser) {
  int read = 0, refusals = 0;
  for (const auto& r : testing::LoadJson("rest-responses.json")) {
    const std::string kind = r.value("kind", "");
    const Json& msg = r["message"];
    if (!msg.contains("code")) continue;  // a bare private object
    const std::string text = r.contains("raw") && r["raw"].is_string() ? r["raw"].get<std::string>() : msg.dump();
    SCOPED_TRACE(kind + ": " + text.substr(0, 160));
    const int code = msg["code"].get<int>();
    if (code != 0) {
      const std::string words = absl::StrCat("exchange error ", code, " on ");
      for (const absl::Status& st :
           {ParseDepth(text).status(), ParseKlines(text, v1::KLINE_INTERVAL_1M, v1::PRICE_TYPE_LAST).status(),
            ParseTickers(text).status(), ParseTradingPairs(text).status(), ParseFundingRate(text).status(),
            ParseFundingRates(text).status(), ParseFundingRateHistory(text).status(),
            ParsePositionTiers(text).status()}) {
        EXPECT_FALSE(st.ok());
        EXPECT_THAT(std::string(st.message()), ::testing::HasSubstr(words));
      }
      ++refusals;
      continue;
    }
    const size_t rows = msg.contains("data") && msg["data"].is_array() ? msg["data"].size() : 0;
    if (kind == "kline" || kind == "kline:bad interval") {
      auto k = ParseKlines(text, v1::KLINE_INTERVAL_1M, v1::PRICE_TYPE_LAST);
      ASSERT_TRUE(k.ok()) << k.status();
      EXPECT_EQ(k->size(), rows);
    } else if (kind == "tickers") {
      auto t = ParseTickers(text);
      ASSERT_TRUE(t.ok()) << t.status();
      EXPECT_EQ(t->size(), rows);
    } else if (kind == "trading_pairs") {
      auto p = ParseTradingPairs(text);
      ASSERT_TRUE(p.ok()) << p.status();
      EXPECT_EQ(p->size(), rows);
    } else if (kind == "depth") {
      EXPECT_TRUE(ParseDepth(text).ok());
    } else if (kind == "funding_rate") {
      EXPECT_TRUE(ParseFundingRate(text).ok());
    } else {
      continue;  // private endpoints: the order service's
    }
    ++read;
  }
  EXPECT_EQ(read, 10);
  EXPECT_GE(refusals, 5);  // the probe's error bodies and the refused place_order replies
}

TEST(RestParse, TradingPairs) {
  auto recs = Records("trading_pairs");
  ASSERT_FALSE(recs.empty());
  for (const auto& [text, rec] : recs) {
    auto pairs = ParseTradingPairs(text);
    ASSERT_TRUE(pairs.ok()) << pairs.status();
    const Json& data = rec["message"]["data"];
    ASSERT_EQ(pairs->size(), data.size());
    for (size_t i = 0; i < data.size(); ++i) {
      EXPECT_EQ((*pairs)[i].symbol(), data[i]["symbol"].get<std::string>());
      if (data[i].contains("basePrecision")) {
        EXPECT_EQ((*pairs)[i].base_precision(), data[i]["basePrecision"].get<int>());
      }
      if (data[i].contains("minTradeVolume")) {
        EXPECT_EQ((*pairs)[i].min_trade_volume(), data[i]["minTradeVolume"].get<std::string>());
      }
      EXPECT_EQ((*pairs)[i].status_raw(), data[i]["symbolStatus"].get<std::string>());
    }
  }
  auto p = ParseTradingPairs(
      R"({"code":0,"msg":"Success","data":[{"symbol":"x","symbolStatus":"PREVIEW","defaultMarginMode":1},{"symbol":"Y","symbolStatus":"WEIRD","defaultMarginMode":"2"}]})");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ((*p)[0].symbol(), "X");
  EXPECT_EQ((*p)[0].status(), v1::SYMBOL_STATUS_PREVIEW);
  EXPECT_EQ((*p)[0].default_margin_mode(), "1");  // int or string, kept as sent
  EXPECT_EQ((*p)[1].status(), v1::SYMBOL_STATUS_UNSPECIFIED);
  EXPECT_EQ((*p)[1].status_raw(), "WEIRD");
  EXPECT_EQ((*p)[1].default_margin_mode(), "2");
}

TEST(RestParse, CapturedKlinesGetBaseAndQuoteVolumeRight) {
  auto recs = Records("kline");
  ASSERT_GE(recs.size(), 2u);
  for (const auto& [text, rec] : recs) {
    auto k = ParseKlines(text, v1::KLINE_INTERVAL_1M, v1::PRICE_TYPE_UNSPECIFIED);
    ASSERT_TRUE(k.ok()) << k.status();
    const Json& data = rec["message"]["data"];
    ASSERT_EQ(k->size(), data.size());
    for (size_t i = 1; i < k->size(); ++i) EXPECT_LT((*k)[i - 1].open_time_ms(), (*k)[i].open_time_ms());
    for (const auto& row : *k) {
      EXPECT_EQ(row.price_type(), v1::PRICE_TYPE_LAST);
      // Base volume x close ~= quote turnover, whatever the reply called them.
      const double base = std::stod(row.base_volume());
      const double quote = std::stod(row.quote_volume());
      const double close = std::stod(row.close());
      EXPECT_NEAR(base * close / quote, 1.0, 0.05) << row.ShortDebugString();
    }
  }
  auto empty = ParseKlines(Records("kline:bad interval").at(0).first, v1::KLINE_INTERVAL_1M, v1::PRICE_TYPE_LAST);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

// The volume naming is decided once per reply (common/volume_names.h). It used to be decided
// row by row against the close, so a row near 1.0, or one whose close and average price lay on
// opposite sides of 1.0, could come out the other way round from the rest of its reply.
TEST(RestParse, KlineVolumeNamingIsDecidedOncePerReply) {
  for (const auto& c : bx::testing::KlineVolumeCases()) {
    SCOPED_TRACE(c.name);
    auto k = ParseKlines(absl::StrCat(R"({"code":0,"msg":"Success","data":)", c.data, "}"), v1::KLINE_INTERVAL_1M,
                         v1::PRICE_TYPE_LAST);
    ASSERT_TRUE(k.ok()) << k.status();
    ASSERT_EQ(k->size(), c.rows.size());
    for (size_t i = 0; i < c.rows.size(); ++i) {  // both oldest first
      EXPECT_EQ((*k)[i].open_time_ms(), c.rows[i].time_ms);
      EXPECT_EQ((*k)[i].base_volume(), c.rows[i].base) << "row " << c.rows[i].time_ms;
      EXPECT_EQ((*k)[i].quote_volume(), c.rows[i].quote) << "row " << c.rows[i].time_ms;
    }
  }
}

// Tickers likewise: a coin around $1 whose last price (0.98) and 24 h average (1.01) lie on
// opposite sides of 1.0 follows the reply's other rows, named as documented or swapped.
TEST(RestParse, TickerVolumeNamingIsDecidedOncePerReply) {
  const std::string btc_named = R"({"symbol":"BTCUSDT","lastPrice":"84221.9","high":"84349.7","low":"82500.5","quoteVol":"2217493295.14546","baseVol":"26573.4995"})";
  const std::string btc_swapped = R"({"symbol":"BTCUSDT","lastPrice":"84221.9","high":"84349.7","low":"82500.5","baseVol":"2217493295.14546","quoteVol":"26573.4995"})";
  const std::string one_named = R"({"symbol":"ONEUSDT","lastPrice":"0.98","high":"1.1","low":"0.9","quoteVol":"1010","baseVol":"1000"})";
  const std::string one_swapped = R"({"symbol":"ONEUSDT","lastPrice":"0.98","high":"1.1","low":"0.9","baseVol":"1010","quoteVol":"1000"})";
  for (const auto& [btc, one] : {std::pair{btc_named, one_named}, std::pair{btc_swapped, one_swapped}}) {
    auto t = ParseTickers(absl::StrCat(R"({"code":0,"msg":"Success","data":[)", btc, ",", one, "]}"));
    ASSERT_TRUE(t.ok()) << t.status();
    ASSERT_EQ(t->size(), 2u);
    EXPECT_EQ((*t)[0].ticker.base_volume(), "26573.4995");
    EXPECT_EQ((*t)[0].ticker.quote_volume(), "2217493295.14546");
    EXPECT_EQ((*t)[1].symbol, "ONEUSDT");
    EXPECT_EQ((*t)[1].ticker.base_volume(), "1000") << one;
    EXPECT_EQ((*t)[1].ticker.quote_volume(), "1010") << one;
  }
  // Nothing to decide by (one stablecoin row, no volume on another): the documented names stand.
  auto t = ParseTickers(
      R"({"code":0,"msg":"Success","data":[{"symbol":"USDCUSDT","lastPrice":"0.9995","high":"1.001","low":"0.999","quoteVol":"1000.3","baseVol":"1000"},)"
      R"({"symbol":"NEWUSDT","lastPrice":"5","high":"5","low":"5","quoteVol":"0","baseVol":"0"}]})");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)[0].ticker.base_volume(), "1000");
  EXPECT_EQ((*t)[0].ticker.quote_volume(), "1000.3");
}

TEST(RestParse, TickersPreferLastPrice) {
  for (const auto& [text, rec] : Records("tickers")) {
    auto t = ParseTickers(text);
    ASSERT_TRUE(t.ok()) << t.status();
    ASSERT_EQ(t->size(), rec["message"]["data"].size());
    const Json& d = rec["message"]["data"][0];
    EXPECT_EQ((*t)[0].symbol, d["symbol"].get<std::string>());
    EXPECT_EQ((*t)[0].ticker.last_price(), d["lastPrice"].get<std::string>());
    EXPECT_EQ((*t)[0].ticker.mark_price(), d["markPrice"].get<std::string>());
    EXPECT_EQ((*t)[0].ticker.base_volume(), d["baseVol"].get<std::string>());
  }
}

TEST(RestParse, DepthBothForms) {
  for (const auto& [text, rec] : Records("depth")) {
    auto b = ParseDepth(text);
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_EQ(b->bids(0).price(), rec["message"]["data"]["bids"][0][0].get<std::string>());
    EXPECT_EQ(b->asks_size(), static_cast<int>(rec["message"]["data"]["asks"].size()));
  }
  // JSON numbers (doc example) and a one-element array around the object (ccxt accepts it).
  auto b = ParseDepth(R"({"data":[{"asks":[[7405.96,3.340]],"bids":[[7403.89,0.002],["",""]]}],"msg":"Success","code":0})");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->asks(0).qty(), "3.340");
  EXPECT_EQ(b->bids_size(), 1);
}

// A side under both names, or one name twice, used to add its levels twice to the same side.
TEST(RestParse, DepthWithASideTwiceIsMalformed) {
  for (const char* text : {
           R"({"code":0,"msg":"Success","data":{"bids":[["1","1"]],"b":[["1","1"]],"asks":[["2","1"]]}})",
           R"({"code":0,"msg":"Success","data":{"bids":[["1","1"]],"asks":[["2","1"]],"asks":[["2","1"]]}})",
           R"({"code":0,"msg":"Success","data":{"b":[["1","1"]],"a":[["2","1"]],"asks":[["3","1"]]}})"}) {
    auto b = ParseDepth(text);
    ASSERT_FALSE(b.ok()) << text;
    EXPECT_EQ(b.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_THAT(std::string(b.status().message()), ::testing::HasSubstr("twice")) << text;
  }
  auto b = ParseDepth(R"({"code":0,"msg":"Success","data":{"b":[["1","1"]],"a":[["2","1"]]}})");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->bids_size(), 1);
  EXPECT_EQ(b->asks_size(), 1);
}

// Found by fuzz/md_rest_fuzzer: decimal fields used to pass through whatever text came, so a
// client could be handed "84167.:" as a price. Now the reply is refused, naming the field; null
// and "" still mean "absent".
TEST(RestParse, NonDecimalPricesMakeTheReplyMalformed) {
  auto k = ParseKlines(
      R"({"code":0,"msg":"Success","data":[{"open":"84101.7","high":"84167.:","low":"84071.8","close":"84166.7",)"
      R"("quoteVol":"1","baseVol":"2","time":1790126460000}]})",
      v1::KLINE_INTERVAL_1M, v1::PRICE_TYPE_LAST);
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(k.status().message()), ::testing::HasSubstr("bad high"));

  auto t = ParseTickers(R"({"code":0,"msg":"Success","data":[{"symbol":"BTCUSDT","lastPrice":"1e5","markPrice":"1"}]})");
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(std::string(t.status().message()), ::testing::HasSubstr("bad lastPrice"));
  auto vol = ParseTickers(R"({"code":0,"msg":"Success","data":[{"symbol":"BTCUSDT","lastPrice":"1","quoteVol":"2217493295.14/46"}]})");
  ASSERT_FALSE(vol.ok());
  EXPECT_THAT(std::string(vol.status().message()), ::testing::HasSubstr("bad quoteVol"));

  // trading_pairs: a row with an unreadable value is left out and named, wherever its symbol
  // stands in the row; the other rows are kept. A row without a symbol fails the reply.
  std::vector<BadRow> bad_rows;
  auto pairs = ParseTradingPairs(
      R"({"code":0,"msg":"Success","data":[{"symbol":"BTCUSDT","minTradeVolume":"0,001"},)"
      R"({"minTradeVolume":"1e-3","symbol":"solusdt"},{"symbol":"ETHUSDT","minTradeVolume":"0.01"}]})",
      &bad_rows);
  ASSERT_TRUE(pairs.ok()) << pairs.status();
  ASSERT_EQ(pairs->size(), 1u);
  EXPECT_EQ((*pairs)[0].symbol(), "ETHUSDT");
  ASSERT_EQ(bad_rows.size(), 2u);
  EXPECT_EQ(bad_rows[0].symbol, "BTCUSDT");
  EXPECT_THAT(bad_rows[0].error, ::testing::HasSubstr("bad minTradeVolume"));
  EXPECT_EQ(bad_rows[1].symbol, "SOLUSDT");
  auto no_symbol = ParseTradingPairs(R"({"code":0,"msg":"Success","data":[{"symbol":"BTCUSDT"},{"minTradeVolume":"x"}]})");
  ASSERT_FALSE(no_symbol.ok());
  EXPECT_THAT(std::string(no_symbol.status().message()), ::testing::HasSubstr("item without symbol"));

  auto tiers = ParsePositionTiers(R"({"code":0,"msg":"Success","data":[{"level":1,"startValue":true}]})");
  ASSERT_FALSE(tiers.ok());

  auto rate = ParseFundingRate(R"({"code":0,"msg":"Success","data":{"symbol":"BTCUSDT","markPrice":" 1","fundingRate":"0.01"}})");
  ASSERT_FALSE(rate.ok());

  // Absent values stay allowed: null and "" leave the field empty.
  auto ok = ParseTickers(R"({"code":0,"msg":"Success","data":[{"symbol":"BTCUSDT","lastPrice":"1.5","open":null,"high":""}]})");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ((*ok)[0].ticker.last_price(), "1.5");
  EXPECT_EQ((*ok)[0].ticker.open_price(), "");
}

TEST(RestParse, FundingRateIsPercent) {
  for (const auto& [text, rec] : Records("funding_rate")) {
    auto f = ParseFundingRate(text);
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_EQ(f->symbol(), "BTCUSDT");
    EXPECT_EQ(f->mark_price().funding_rate_percent(), "0.0005");
    EXPECT_EQ(f->mark_price().funding_rate(), "0.000005");
    EXPECT_EQ(f->funding_interval_hours(), 8);
    EXPECT_EQ(f->mark_price().next_funding_time_ms(), 1700028800000);
  }
}

// funding_rate/batch rows parse like funding_rate (percent); delisted rows send a rate of "0"
// and a null index price (reference section 8).
TEST(RestParse, FundingRateBatchRows) {
  auto r = ParseFundingRates(
      R"({"code":0,"msg":"Success","data":[{"symbol":"BTCUSDT","markPrice":"37000.5","indexPrice":"37001","fundingRate":"0.01","fundingInterval":8,"nextFundingTime":"1700028800000"},{"symbol":"oldusdt","markPrice":"0","indexPrice":null,"fundingRate":"0","fundingInterval":"4"}]})");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].symbol(), "BTCUSDT");
  EXPECT_EQ((*r)[0].mark_price().funding_rate_percent(), "0.01");
  EXPECT_EQ((*r)[0].mark_price().funding_rate(), "0.0001");
  EXPECT_EQ((*r)[0].funding_interval_hours(), 8);
  EXPECT_EQ((*r)[0].mark_price().next_funding_time_ms(), 1700028800000);
  EXPECT_EQ((*r)[1].symbol(), "OLDUSDT");
  EXPECT_EQ((*r)[1].mark_price().funding_rate(), "0");
  EXPECT_TRUE((*r)[1].mark_price().index_price().empty());
  EXPECT_EQ((*r)[1].funding_interval_hours(), 4);
  EXPECT_FALSE(ParseFundingRates(R"({"code":0,"data":[{"fundingRate":"0.01"}]})").ok());  // no symbol
}

// History rates are fractions (reference section 8); the percent is derived exactly. Times come
// as strings or numbers.
TEST(RestParse, FundingRateHistoryIsFractionWithDerivedPercent) {
  auto h = ParseFundingRateHistory(
      R"({"code":0,"msg":"Success","data":[{"symbol":"BTCUSDT","fundingRate":"0.000125","fundingTime":"1700028800000","markPrice":"37000.5"},{"fundingRate":"-0.00005","fundingTime":1700000000000,"markPrice":"36950"}]})");
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_EQ(h->size(), 2u);
  EXPECT_EQ((*h)[0].funding_rate(), "0.000125");
  EXPECT_EQ((*h)[0].funding_rate_percent(), "0.0125");
  EXPECT_EQ((*h)[0].funding_time_ms(), 1700028800000);
  EXPECT_EQ((*h)[0].mark_price(), "37000.5");
  EXPECT_EQ((*h)[1].funding_rate_percent(), "-0.005");
  EXPECT_EQ((*h)[1].funding_time_ms(), 1700000000000);
  // A record without a rate or time, or with a rate that is not a decimal, is refused.
  EXPECT_FALSE(ParseFundingRateHistory(R"({"code":0,"data":[{"fundingTime":"1700028800000"}]})").ok());
  EXPECT_FALSE(ParseFundingRateHistory(R"({"code":0,"data":[{"fundingRate":"1e-4","fundingTime":"1"}]})").ok());
  EXPECT_TRUE(ParseFundingRateHistory(R"({"code":0,"data":[]})")->empty());
}

TEST(RestParse, PositionTiers) {
  auto t = ParsePositionTiers(
      R"({"code":0,"data":[{"symbol":"BTCUSDT","level":1,"startValue":"0","endValue":"200000","leverage":125,"maintenanceMarginRate":"0.004"},{"level":"2","startValue":"200000","endValue":"1000000","leverage":"62","maintenanceMarginRate":"0.01"}]})");
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->size(), 2u);
  EXPECT_EQ((*t)[0].level(), 1);
  EXPECT_EQ((*t)[0].max_leverage(), 125);
  EXPECT_EQ((*t)[0].end_value(), "200000");
  EXPECT_EQ((*t)[1].level(), 2);
  EXPECT_EQ((*t)[1].max_leverage(), 62);
  EXPECT_EQ((*t)[1].maintenance_margin_rate(), "0.01");
}

TEST(RestParse, ExchangeErrorsMapToStatusCodes) {
  auto expect_code = [](const std::string& kind, absl::StatusCode code) {
    auto recs = Records(kind);
    ASSERT_FALSE(recs.empty()) << kind;
    auto r = ParseDepth(recs[0].first);
    ASSERT_FALSE(r.ok()) << kind;
    EXPECT_EQ(r.status().code(), code) << r.status();
    EXPECT_NE(r.status().message().find("exchange error"), std::string::npos);
  };
  expect_code("error:depth unknown symbol", absl::StatusCode::kNotFound);
  expect_code("error:depth bad limit", absl::StatusCode::kInvalidArgument);
  expect_code("error:depth missing symbol", absl::StatusCode::kUnavailable);
  // The captured answer to an unknown path (code 404, HTTP 200): the endpoint moved or was
  // retired. Not UNAVAILABLE, which clients retry forever; UNIMPLEMENTED, as the order service.
  expect_code("error:unknown path", absl::StatusCode::kUnimplemented);
  // A code outside the documented table, negative included, is still the exchange's refusal and
  // says so (a negative one used to be reported as a reply without a code).
  for (const char* body : {R"({"code":-1,"msg":"System busy","data":null})", R"({"msg":"System busy","code":"-1"})"}) {
    auto neg = ParseDepth(body);
    ASSERT_FALSE(neg.ok()) << body;
    EXPECT_EQ(neg.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_THAT(std::string(neg.status().message()), ::testing::HasSubstr("exchange error -1 on "));
    EXPECT_THAT(std::string(neg.status().message()), ::testing::HasSubstr("System busy"));
  }
  EXPECT_THAT(std::string(ParseDepth(R"({"msg":"Success","data":{}})").status().message()),
              ::testing::HasSubstr("no code"));
  EXPECT_EQ(ParseDepth("not json").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ParseDepth(R"({"code":0,"msg":"Success"})").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ExchangeError(10006, "too frequent", "/x").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(HttpError(429, "/x").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(HttpError(502, "/x").code(), absl::StatusCode::kUnavailable);
  // HTTP 404 is the same unknown path as code 404.
  const absl::Status gone = HttpError(404, "/api/v1/futures/market/kline");
  EXPECT_EQ(gone.code(), absl::StatusCode::kUnimplemented) << gone;
  EXPECT_THAT(std::string(gone.message()), ::testing::HasSubstr("HTTP 404 on /api/v1/futures/market/kline"));
  EXPECT_THAT(std::string(gone.message()), ::testing::HasSubstr("moved or was retired"));
}

}  // namespace
}  // namespace bx::md
