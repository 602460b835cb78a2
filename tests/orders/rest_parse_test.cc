// Every captured reply in tests/fixtures/bitunix/rest-responses.json goes through the parsers.
#include "services/orders/rest_parse.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/decimal.h"
#include "services/orders/errors.h"
#include "tests/common/kline_volume_cases.h"

namespace bx::orders {
namespace {

nlohmann::ordered_json LoadFixture(const std::string& name) {
  std::ifstream in(std::string(BITUNIX_FIXTURES_DIR) + "/bitunix/" + name);
  EXPECT_TRUE(in) << name;
  return nlohmann::ordered_json::parse(in);
}

// The bytes as they came off the wire: `raw` when the fixture has it, else the message re-serialised
// with its key order kept.
std::string WireText(const nlohmann::ordered_json& record) {
  if (record.contains("raw") && record["raw"].is_string()) return record["raw"].get<std::string>();
  return record["message"].dump();
}

TEST(RestFixtures, EveryReplyParses) {
  auto records = LoadFixture("rest-responses.json");
  ASSERT_GE(records.size(), 80u);
  std::set<std::string> kinds;
  int envelopes = 0, objects = 0;
  for (const auto& r : records) {
    const std::string kind = r["kind"].get<std::string>();
    kinds.insert(kind);
    const std::string text = WireText(r);
    SCOPED_TRACE(kind + ": " + text.substr(0, 200));
    const auto& msg = r["message"];
    if (!msg.contains("code")) {
      // A bare data object (order, trade, position): parse it as the item it is.
      auto j = ParseJsonExact(text);
      ASSERT_TRUE(j.ok()) << j.status();
      if (kind.find("order object") != std::string::npos) {
        v1::Order o = ParseOrder(*j);
        EXPECT_FALSE(o.order_id().empty());
        EXPECT_NE(o.status(), v1::ORDER_STATUS_UNSPECIFIED);
        EXPECT_GT(o.create_time_ms(), 0);
      } else if (kind.find("trade object") != std::string::npos) {
        v1::Fill f = ParseFill(*j);
        EXPECT_FALSE(f.trade_id().empty());
        EXPECT_NE(f.side(), cv1::SIDE_UNSPECIFIED);
      } else if (kind.find("position object") != std::string::npos) {
        v1::Position p = ParsePosition(*j);
        EXPECT_FALSE(p.position_id().empty());
        EXPECT_NE(p.side(), v1::POSITION_SIDE_UNSPECIFIED);
        EXPECT_EQ(p.leverage(), 100);
      } else {
        ADD_FAILURE() << "unhandled bare record kind " << kind;
      }
      ++objects;
      continue;
    }
    auto env = ParseEnvelope(text);
    ASSERT_TRUE(env.ok()) << env.status();
    ++envelopes;
    EXPECT_EQ(env->code, msg["code"].get<int>());
    if (env->code != 0) {
      EXPECT_TRUE(env->data.is_null());
      EXPECT_FALSE(env->msg.empty());
      continue;
    }
    if (kind == "place_order") {
      OrderAck ack = ParseOrderAck(env->data);
      EXPECT_EQ(ack.order_id.size(), 19u);
      EXPECT_EQ(ack.client_id.size(), 19u);  // server-assigned when none was sent
      EXPECT_NE(ack.order_id, ack.client_id);
    } else if (kind == "kline") {
      auto rows = ParseKlines(env->data);
      EXPECT_FALSE(rows.empty());
      // The August 2026 capture names the volumes the other way round (its note says so).
      const bool swapped_capture = r.value("note", "").find("quoteVol holds BASE") != std::string::npos;
      for (const auto& row : rows) {
        EXPECT_GT(row.time_ms, 0);
        EXPECT_EQ(row.volumes_swapped, swapped_capture);
        // After the arithmetic check base volume is the small number and quote the big one.
        EXPECT_EQ(*CompareDecimal(row.base_volume, row.quote_volume), -1);
      }
    } else if (kind == "kline:bad interval") {
      EXPECT_TRUE(ParseKlines(env->data).empty());
    } else if (kind == "tickers") {
      EXPECT_FALSE(ParseListPage(env->data, "list").items.empty());
    } else if (kind == "trading_pairs") {
      auto rules = ParseTradingPairs(env->data);
      ASSERT_FALSE(rules.empty());
      EXPECT_EQ(rules[0].symbol, "BTCUSDT");
      EXPECT_EQ(rules[0].base_precision, 4);
      EXPECT_EQ(rules[0].quote_precision, 1);
      EXPECT_EQ(rules[0].min_trade_volume, "0.0001");
      EXPECT_EQ(rules[0].status, "OPEN");
    } else if (kind == "funding_rate") {
      auto rows = ParseFunding(env->data);
      ASSERT_EQ(rows.size(), 1u);
      EXPECT_EQ(rows[0].rate_percent, "0.0005");
      EXPECT_EQ(rows[0].rate, "0.000005");
      EXPECT_EQ(rows[0].funding_interval_hours, 8);
      EXPECT_EQ(rows[0].next_funding_time_ms, 1700028800000);
    } else if (kind == "depth") {
      EXPECT_TRUE(env->data.contains("asks"));
    } else if (kind == "account") {
      if (!env->data.is_null()) {
        auto a = ParseAccount(env->data);
        ASSERT_TRUE(a.has_value());
        EXPECT_EQ(a->margin_coin(), "USDT");
        EXPECT_EQ(a->available(), "1000");
      }
    } else if (kind == "get_history_orders") {
      auto page = ParseListPage(env->data, "orderList");
      ASSERT_EQ(page.items.size(), 1u);
      EXPECT_EQ(page.total, 1);
      v1::Order o = ParseOrder(*page.items[0]);
      EXPECT_NE(o.status(), v1::ORDER_STATUS_UNSPECIFIED);
    } else if (kind == "get_leverage_margin_mode") {
      EXPECT_EQ(GetInt(env->data, "leverage"), 12);
      EXPECT_EQ(ParseMarginMode(GetString(env->data, "marginMode")), v1::MARGIN_MODE_ISOLATION);
    } else {
      ADD_FAILURE() << "unhandled success kind " << kind;
    }
  }
  EXPECT_GE(envelopes, 80);
  EXPECT_EQ(objects, 3);
  EXPECT_TRUE(kinds.count("error:unknown path"));
  EXPECT_TRUE(kinds.count("error:depth missing symbol"));
}

TEST(RestFixtures, CapturedErrorCodesMap) {
  auto records = LoadFixture("rest-responses.json");
  std::map<int, absl::StatusCode> seen;
  for (const auto& r : records) {
    if (r["kind"].get<std::string>().rfind("error:", 0) != 0) continue;
    auto env = ParseEnvelope(WireText(r));
    ASSERT_TRUE(env.ok());
    seen[env->code] = MapExchangeCode(env->code);
  }
  EXPECT_EQ(seen.at(1), absl::StatusCode::kUnavailable);
  EXPECT_EQ(seen.at(404), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(seen.at(10007), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(seen.at(10008), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(seen.at(20015), absl::StatusCode::kFailedPrecondition);
}

TEST(Envelope, KeyOrderAndMissingData) {
  for (const char* text : {R"({"code":0,"msg":"Success","data":{"a":1}})", R"({"code":0,"data":{"a":1},"msg":"Success"})",
                           R"({"data":{"a":1},"msg":"Success","code":"0"})"}) {
    auto env = ParseEnvelope(text);
    ASSERT_TRUE(env.ok()) << text;
    EXPECT_EQ(env->code, 0);
    EXPECT_EQ(GetInt(env->data, "a"), 1);
  }
  auto no_data = ParseEnvelope(R"({"code":10007,"msg":"Signature Error"})");
  ASSERT_TRUE(no_data.ok());
  EXPECT_EQ(no_data->code, 10007);
  EXPECT_TRUE(no_data->data.is_null());
  for (const char* bad : {"[]", "{}", R"({"code":"x"})", "<html>502 Bad Gateway</html>", ""}) {
    EXPECT_FALSE(ParseEnvelope(bad).ok()) << bad;
  }
}

TEST(KlineVolumes, DecidedByArithmeticEitherWay) {
  // Named as documented: baseVol x price ~ quoteVol.
  auto named = ParseJsonExact(
      R"([{"open":"100","high":"101","low":"99","close":"100","baseVol":"2","quoteVol":"200.5","time":"1"}])");
  // Swapped names (the August 2026 capture).
  auto swapped = ParseJsonExact(
      R"([{"open":"100","high":"101","low":"99","close":"100","quoteVol":"2","baseVol":"200.5","time":"1"}])");
  ASSERT_TRUE(named.ok() && swapped.ok());
  auto a = ParseKlines(*named), b = ParseKlines(*swapped);
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_FALSE(a[0].volumes_swapped);
  EXPECT_TRUE(b[0].volumes_swapped);
  EXPECT_EQ(a[0].base_volume, "2");
  EXPECT_EQ(b[0].base_volume, "2");
  EXPECT_EQ(b[0].quote_volume, "200.5");
}

// The same replies as the market-data parser (tests/common/kline_volume_cases.h), decided by the
// shared rule. Near-1.0 rows used to vote: two with small rounded volumes outvoted a plain one.
TEST(KlineVolumes, DecidedOncePerReplyLikeMarketData) {
  for (const auto& c : bx::testing::KlineVolumeCases()) {
    SCOPED_TRACE(c.name);
    auto j = ParseJsonExact(c.data);
    ASSERT_TRUE(j.ok()) << j.status();
    auto rows = ParseKlines(*j);
    ASSERT_EQ(rows.size(), c.rows.size());
    bool swapped = rows[0].volumes_swapped;
    for (const auto& row : rows) {
      EXPECT_EQ(row.volumes_swapped, swapped);
      bool found = false;
      for (const auto& want : c.rows) {
        if (want.time_ms != row.time_ms) continue;
        found = true;
        EXPECT_EQ(row.base_volume, want.base) << "row " << row.time_ms;
        EXPECT_EQ(row.quote_volume, want.quote) << "row " << row.time_ms;
      }
      EXPECT_TRUE(found) << row.time_ms;
    }
  }
}

TEST(ParseOrder, PushSpellings) {
  // The documented push example, plus the live spellings TIQ reported (Buy, Limit, NEW_).
  auto j = ParseJsonExact(
      R"({"event":"UPDATE","orderId":"11111","clientId":"c1","symbol":"btcusdt","positionType":"CROSS","positionMode":"HEDGE","side":"Buy","effect":"GTC","type":"Limit","qty":"0.5","price":"60000","reductionOnly":false,"ctime":"2024-05-16T08:13:09.123456789Z","mtime":"2024-05-16T08:13:09.223456789Z","leverage":"10","status":"NEW_","fee":"0.01","averagePrice":"60000","dealAmount":"0.2","tpStopType":"MARK","tpPrice":"61000"})");
  ASSERT_TRUE(j.ok());
  v1::Order o = ParseOrder(*j);
  EXPECT_EQ(o.order_id(), "11111");
  EXPECT_EQ(o.symbol(), "BTCUSDT");
  EXPECT_EQ(o.side(), cv1::SIDE_BUY);
  EXPECT_EQ(o.type(), v1::ORDER_TYPE_LIMIT);
  EXPECT_EQ(o.status(), v1::ORDER_STATUS_NEW);
  EXPECT_EQ(o.status_raw(), "NEW_");
  EXPECT_EQ(o.margin_mode(), v1::MARGIN_MODE_CROSS);
  EXPECT_EQ(o.leverage(), 10);
  EXPECT_EQ(o.filled_qty(), "0.2");
  EXPECT_EQ(o.avg_price(), "60000");
  // Unfilled: a zero average price is no price.
  for (const char* zero : {"0", "0.00000", "0E-8"}) {
    auto unfilled = ParseJsonExact(absl::StrCat(R"({"orderId":"2","symbol":"BTCUSDT","qty":"1","dealAmount":"0","averagePrice":")",
                                                zero, R"("})"));
    ASSERT_TRUE(unfilled.ok());
    EXPECT_EQ(ParseOrder(*unfilled).avg_price(), "") << zero;
  }
  EXPECT_EQ(o.tpsl().tp_stop_type(), v1::STOP_TYPE_MARK_PRICE);
  EXPECT_EQ(o.update_time_ms(), 1715847189223);
  // orderStatus wins over status when both are present.
  auto k = ParseJsonExact(R"({"orderStatus":"FILLED","status":"NEW"})");
  EXPECT_EQ(ParseOrder(*k).status(), v1::ORDER_STATUS_FILLED);
  // A history price of "market" is not a decimal: left empty rather than passed on.
  auto m = ParseJsonExact(R"({"orderId":"1","price":"market","status":"FILLED"})");
  EXPECT_EQ(ParseOrder(*m).price(), "");
  // A market order has no limit price, whatever the push puts there ("0", or the fill price once
  // filled: avg_price carries that). A limit order keeps its price.
  for (const char* price : {"0", "86651.5"}) {
    auto mk = ParseJsonExact(absl::StrCat(R"({"orderId":"3","type":"MARKET","price":")", price,
                                          R"(","averagePrice":"86651.5","status":"FILLED"})"));
    ASSERT_TRUE(mk.ok());
    v1::Order mo = ParseOrder(*mk);
    EXPECT_EQ(mo.type(), v1::ORDER_TYPE_MARKET);
    EXPECT_EQ(mo.price(), "") << price;
    EXPECT_EQ(mo.avg_price(), "86651.5");
  }
  EXPECT_EQ(o.price(), "60000");
}

TEST(ParseAccount, ObjectOrArray) {
  auto obj = ParseJsonExact(R"({"marginCoin":"USDT","available":"5","positionMode":"HEDGE"})");
  auto arr = ParseJsonExact(R"([{"marginCoin":"USDC","available":"1"},{"marginCoin":"USDT","available":"5"}])");
  ASSERT_EQ(ParseAccount(*obj)->available(), "5");
  ASSERT_EQ(ParseAccount(*obj)->position_mode(), v1::POSITION_MODE_HEDGE);
  ASSERT_EQ(ParseAccount(*arr)->available(), "5");
  EXPECT_FALSE(ParseAccount(Json()).has_value());
}

TEST(ParsePosition, SideAndLiquidation) {
  auto j = ParseJsonExact(R"({"positionId":"p","side":"SELL","liqPrice":"-1","ctime":"1691382137448"})");
  v1::Position p = ParsePosition(*j);
  EXPECT_EQ(p.side(), v1::POSITION_SIDE_SHORT);
  EXPECT_EQ(p.liq_price(), "");
  EXPECT_EQ(p.create_time_ms(), 1691382137448);
  // A closed position (get_history_positions) names its size maxQty: it goes to max_qty.
  auto closed = ParseJsonExact(
      R"({"positionId":"p2","symbol":"BTCUSDT","maxQty":"0.01","entryPrice":"86000","closePrice":"86100","side":"BUY"})");
  v1::Position c = ParsePosition(*closed);
  EXPECT_EQ(c.max_qty(), "0.01");
  EXPECT_EQ(c.qty(), "");
  EXPECT_EQ(c.close_price(), "86100");
}

TEST(ParseSuccessFailure, BothLists) {
  auto j = ParseJsonExact(
      R"({"successList":[{"id":"1","clientId":"a"},{"orderId":"2","clientId":"b"}],"failureList":[{"clientId":"c","errorMsg":"dup","errorCode":"30042"}]})");
  auto lists = ParseSuccessFailure(*j);
  ASSERT_EQ(lists.success.size(), 2u);
  EXPECT_EQ(lists.success[0].order_id, "1");
  EXPECT_EQ(lists.success[1].order_id, "2");
  ASSERT_EQ(lists.failure.size(), 1u);
  EXPECT_EQ(lists.failure[0].code, 30042);
  EXPECT_EQ(lists.failure[0].client_id, "c");
}

TEST(ParseFunding, PercentToFraction) {
  auto j = ParseJsonExact(R"([{"symbol":"BTCUSDT","fundingRate":"0.01","fundingInterval":8,"nextFundingTime":"1700028800000"},{"symbol":"ETHUSDT","fundingRate":"-0.00077"}])");
  auto rows = ParseFunding(*j);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].rate, "0.0001");
  EXPECT_EQ(rows[1].rate, "-0.0000077");
}

TEST(ParseRobustness, GarbageShapesNeverCrash) {
  for (const char* text : {"null", "1", "\"x\"", "[]", "[1,2]", "{\"orderList\":5}", "{\"successList\":{}}",
                           "[{\"leverage\":\"99999999999999999999\"}]"}) {
    auto j = ParseJsonExact(text);
    ASSERT_TRUE(j.ok()) << text;
    ParseOrder(*j);
    ParsePosition(*j);
    ParseAccount(*j);
    ParseListPage(*j, "orderList");
    ParseSuccessFailure(*j);
    ParseTradingPairs(*j);
    ParseKlines(*j);
    ParseFunding(*j);
    ParseOrderAck(*j);
  }
}

// A TP/SL order as the list endpoints and the tpsl push send it (section 4: type TPSL or
// POSITION_TPSL, id under "id" or "orderId").
TEST(RestParse, TpslOrderKindAndQuantities) {
  auto j = ParseJsonExact(
      R"({"id":"77","positionId":"p1","symbol":"ethusdt","side":"SELL","type":"TPSL","status":"NEW","tpPrice":"4000","tpStopType":"LAST_PRICE","tpOrderType":"MARKET","slPrice":"2000","tpQty":"0.5","slQty":"0.25","ctime":1715847189123})");
  ASSERT_TRUE(j.ok());
  v1::TpslOrder t = ParseTpslOrder(*j);
  EXPECT_EQ(t.order_id(), "77");
  EXPECT_EQ(t.position_id(), "p1");
  EXPECT_EQ(t.symbol(), "ETHUSDT");
  EXPECT_EQ(t.side(), cv1::SIDE_SELL);
  EXPECT_FALSE(t.whole_position());
  EXPECT_EQ(t.tpsl().tp_price(), "4000");
  EXPECT_EQ(t.tpsl().sl_price(), "2000");
  EXPECT_EQ(t.tp_qty(), "0.5");
  EXPECT_EQ(t.sl_qty(), "0.25");
  EXPECT_EQ(t.create_time_ms(), 1715847189123);
  auto w = ParseJsonExact(R"({"orderId":"78","positionId":"p1","symbol":"ETHUSDT","type":"position_tpsl","status":"NEW","slPrice":"1900"})");
  ASSERT_TRUE(w.ok());
  v1::TpslOrder wt = ParseTpslOrder(*w);
  EXPECT_EQ(wt.order_id(), "78");
  EXPECT_TRUE(wt.whole_position());
  EXPECT_TRUE(wt.tp_qty().empty());
}

}  // namespace
}  // namespace bx::orders
