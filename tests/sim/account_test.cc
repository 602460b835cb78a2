// Unit tests for the matching engine and account: fills at the book, resting orders crossed by
// the market, time-in-force, ONE_WAY netting, HEDGE closes, margin/fee arithmetic (exact), funding
// and TP/SL triggers. Fake clock, no I/O.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "sim/account.h"
#include "sim/account_views.h"
#include "sim/market_model.h"
#include "tests/sim/order_requests.h"

namespace bx::sim {
namespace {

Dec D(const char* s) { return *Dec::Parse(s); }

class AccountTest : public ::testing::Test {
 protected:
  AccountTest()
      : catalog_(*SymbolCatalog::FromList("BTCUSDT,ETHUSDT")),
        model_(catalog_, {3, 100, 60}, clock_.NowMs()),
        account_(catalog_, {}, clock_) {}

  ApiResult<const Order*> Place(OrderRequest r) { return account_.Place(r, model_, &pushes_); }
  OrderRequest Limit(const std::string& side, const std::string& qty, Dec price, const std::string& effect = "GTC") {
    return testing::BtcLimit(side, qty, price, effect);
  }
  OrderRequest Market(const std::string& side, const std::string& qty, const std::string& symbol = "BTCUSDT") {
    OrderRequest r;
    r.symbol = symbol;
    r.side = side;
    r.order_type = "MARKET";
    r.qty = qty;
    return r;
  }
  size_t CountPushes(const std::string& ch) const {
    size_t n = 0;
    for (const auto& p : pushes_) n += p.ch == ch;
    return n;
  }

  FakeClock clock_;
  SymbolCatalog catalog_;
  MarketModel model_;
  Account account_;
  std::vector<PrivatePush> pushes_;
};

TEST_F(AccountTest, MarketOrderWalksTheBookAndBooksExactFeesAndMargin) {
  const Dec ask = model_.BestAsk(0);
  auto fills = model_.Take(0, true, D("2"));
  auto r = Place(Market("BUY", "2"));
  ASSERT_TRUE(r.ok()) << r.error.msg;
  const Order& o = **r.value;
  EXPECT_EQ(o.status, "FILLED");
  EXPECT_EQ(o.filled, D("2"));
  Dec notional;
  for (const auto& f : fills) notional += f.qty * f.price;
  EXPECT_GE(o.avg_price, ask);
  EXPECT_EQ(o.avg_price, notional / D("2"));
  ASSERT_EQ(account_.positions().size(), 1u);
  const Position& p = account_.positions()[0];
  EXPECT_TRUE(p.long_side);
  EXPECT_EQ(p.entry_value, notional);
  EXPECT_EQ(p.margin, notional / Dec::FromInt(20));
  Dec fees;
  for (const auto& t : account_.trades()) fees += t.fee;
  EXPECT_EQ(fees, o.fee);
  const AccountSummary s = account_.Summary(model_);
  EXPECT_EQ(s.available, D("100000") - p.margin - fees);
  EXPECT_EQ(CountPushes("order"), 2u);  // CREATE, CLOSE (FILLED)
  EXPECT_GE(CountPushes("position"), 1u);
  EXPECT_EQ(pushes_.back().ch, "balance");
}

TEST_F(AccountTest, LimitRestsFreezesMarginAndFillsAsMakerWhenCrossed) {
  const Dec bid = model_.BestBid(0);
  const Dec price = (bid - D("100")).Truncate(1);
  auto r = Place(Limit("BUY", "0.5", price));
  ASSERT_TRUE(r.ok());
  const Order& o = **r.value;
  EXPECT_EQ(o.status, "NEW");
  EXPECT_EQ(o.frozen, D("0.5") * price / Dec::FromInt(20));
  EXPECT_EQ(account_.Summary(model_).frozen, o.frozen);
  account_.OnMarket(model_, &pushes_);
  EXPECT_EQ(o.status, "NEW") << "not crossed yet";
  model_.SetMid(0, price - D("10"), clock_.NowMs());
  account_.OnMarket(model_, &pushes_);
  EXPECT_EQ(o.status, "FILLED");
  EXPECT_EQ(o.avg_price, price);
  EXPECT_TRUE(account_.trades().back().maker);
  EXPECT_EQ(account_.trades().back().fee, D("0.5") * price * D("0.0002"));
  EXPECT_EQ(account_.Summary(model_).frozen, Dec());
}

// The account keeps its frozen-margin totals as orders change instead of summing every order on
// each placement; after every kind of change they must equal that sum.
TEST_F(AccountTest, FrozenTotalsFollowEveryOrderChange) {
  auto expect_totals_match = [&](const char* step) {
    Dec cross, isolation;
    for (const auto& o : account_.orders()) {
      if (o.open()) (o.margin_mode == "ISOLATION" ? isolation : cross) += o.frozen;
    }
    const AccountSummary s = account_.Summary(model_);
    EXPECT_EQ(s.cross_frozen, cross) << step;
    EXPECT_EQ(s.isolation_frozen, isolation) << step;
    EXPECT_EQ(s.frozen, cross + isolation) << step;
  };
  ASSERT_FALSE(account_.ChangeMarginMode("ETHUSDT", "ISOLATION").has_value());
  const Dec bid = model_.BestBid(0);
  auto a = Place(Limit("BUY", "0.5", (bid - D("100")).Truncate(1)));
  auto b = Place(Limit("BUY", "0.3", (bid - D("200")).Truncate(1)));
  OrderRequest eth = Limit("SELL", "2", (model_.BestAsk(1) + D("50")).Truncate(1));
  eth.symbol = "ETHUSDT";
  auto c = Place(eth);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  expect_totals_match("placed");
  EXPECT_GT(account_.Summary(model_).isolation_frozen, Dec());
  // Partly filled on placement: the remainder rests with less frozen.
  const Dec top = model_.Asks(0, 1)[0].qty;
  auto part = Place(Limit("BUY", (top + D("1")).ToString(4), model_.BestAsk(0)));
  ASSERT_TRUE(part.ok());
  EXPECT_EQ((*part.value)->status, "PART_FILLED");
  expect_totals_match("part filled");
  Account::ModifyRequest m;
  m.order_id = (*b.value)->order_id;
  m.qty = "0.6";
  m.price = (bid - D("150")).Truncate(1).ToString(1);
  ASSERT_TRUE(account_.Modify(m, model_, &pushes_).ok());
  expect_totals_match("modified");
  ASSERT_TRUE(account_.Cancel("", (*a.value)->order_id, "", &pushes_).ok());
  expect_totals_match("cancelled");
  model_.SetMid(0, bid - D("160"), clock_.NowMs());  // crosses b (now at bid - 150)
  account_.OnMarket(model_, &pushes_);
  EXPECT_NE((*b.value)->status, "NEW");
  expect_totals_match("filled by the market");
  account_.CancelAll("", &pushes_);
  expect_totals_match("all cancelled");
  EXPECT_EQ(account_.Summary(model_).frozen, Dec());
}

TEST_F(AccountTest, TimeInForce) {
  const Dec ask = model_.BestAsk(0);
  // Crossing POST_ONLY: cancelled unfilled.
  auto post = Place(Limit("BUY", "0.01", ask, "POST_ONLY"));
  ASSERT_TRUE(post.ok());
  EXPECT_EQ((*post.value)->status, "CANCELED");
  EXPECT_EQ((*post.value)->filled, Dec());
  // IOC not crossing: cancelled; FOK larger than the levels up to the price: cancelled unfilled.
  auto ioc = Place(Limit("BUY", "0.01", ask - D("50"), "IOC"));
  EXPECT_EQ((*ioc.value)->status, "CANCELED");
  const Dec top = model_.Asks(0, 1)[0].qty;
  const std::string too_much = (top + D("0.5")).ToString(4);
  auto fok = Place(Limit("BUY", too_much, ask, "FOK"));
  EXPECT_EQ((*fok.value)->status, "CANCELED");
  // IOC crossing only the top level: partly filled, rest cancelled.
  auto part = Place(Limit("BUY", too_much, ask, "IOC"));
  EXPECT_EQ((*part.value)->status, "PART_FILLED_CANCELED");
  EXPECT_EQ((*part.value)->filled, top);
  // GTC crossing: fills what the price allows, rests the remainder.
  auto gtc = Place(Limit("BUY", (top + D("1")).ToString(4), model_.BestAsk(0)));
  EXPECT_EQ((*gtc.value)->status, "PART_FILLED");
}

TEST_F(AccountTest, OneWayNetsAndFlips) {
  ASSERT_TRUE(Place(Market("BUY", "1")).ok());
  auto r = Place(Market("SELL", "3"));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(account_.positions().size(), 1u);
  EXPECT_FALSE(account_.positions()[0].long_side);
  EXPECT_EQ(account_.positions()[0].qty, D("2"));
  EXPECT_EQ(account_.history_positions().size(), 1u);
  EXPECT_EQ((*r.value)->realized_pnl, account_.history_positions()[0].realized_pnl);
  // Reduce-only: same direction refused, bigger than the position capped at it.
  OrderRequest same = Market("SELL", "1");
  same.reduce_only = true;
  EXPECT_EQ(Place(same).error.code, 30019);
  OrderRequest reduce = Market("BUY", "5");
  reduce.reduce_only = true;
  auto rr = Place(reduce);
  ASSERT_TRUE(rr.ok());
  EXPECT_EQ((*rr.value)->filled, D("2"));
  EXPECT_TRUE(account_.positions().empty());
  reduce.client_id = "";
  EXPECT_EQ(Place(reduce).error.code, 30018);
}

TEST_F(AccountTest, RealizedPnlIsExact) {
  ASSERT_TRUE(Place(Market("BUY", "1")).ok());
  const Position p = account_.positions()[0];
  model_.SetMid(0, D("90000"), clock_.NowMs());
  auto r = Place(Market("SELL", "1"));
  ASSERT_TRUE(r.ok());
  // Sum over the exit fills of (price - entry) x qty, exactly; the order's running average price
  // may differ from the exact mean by rounding at the 8th decimal.
  Dec exit_value;
  for (const auto& t : account_.trades()) {
    if (t.order_id == (*r.value)->order_id) exit_value += t.price * t.qty;
  }
  EXPECT_EQ(account_.history_positions()[0].realized_pnl, exit_value - p.entry_value);
  EXPECT_EQ((*r.value)->realized_pnl, exit_value - p.entry_value);
  EXPECT_LE(((*r.value)->avg_price - exit_value).abs(), D("0.000001"));
  EXPECT_GT(exit_value, p.entry_value) << "the price moved up";
}

TEST_F(AccountTest, HedgeModeAndModeChanges) {
  ASSERT_FALSE(account_.ChangePositionMode("HEDGE").has_value());
  OrderRequest open_long = Market("BUY", "1");
  EXPECT_EQ(Place(open_long).error.code, 10002) << "tradeSide required";
  open_long.trade_side = "OPEN";
  ASSERT_TRUE(Place(open_long).ok());
  OrderRequest open_short = Market("SELL", "2");
  open_short.trade_side = "OPEN";
  ASSERT_TRUE(Place(open_short).ok());
  EXPECT_EQ(account_.positions().size(), 2u);
  EXPECT_EQ(account_.ChangePositionMode("ONE_WAY")->code, 20009);
  OrderRequest close_long = Market("BUY", "1");  // side names the position closed
  close_long.trade_side = "CLOSE";
  // shared/bitunix-api.md §3: positionId is required when tradeSide is CLOSE (the simulator used
  // to pick the position itself).
  EXPECT_EQ(Place(close_long).error.code, 10002) << "positionId required";
  EXPECT_EQ(account_.positions().size(), 2u);
  close_long.position_id = account_.positions()[0].long_side ? account_.positions()[0].position_id
                                                              : account_.positions()[1].position_id;
  OrderRequest wrong_side = close_long;
  wrong_side.side = "SELL";  // names the short, but the id is the long's
  EXPECT_EQ(Place(wrong_side).error.code, 30004);
  ASSERT_TRUE(Place(close_long).ok());
  ASSERT_EQ(account_.positions().size(), 1u);
  EXPECT_FALSE(account_.positions()[0].long_side);
  EXPECT_EQ(Place(close_long).error.code, 30004);
  auto flat = account_.CloseAll("", model_, &pushes_);
  EXPECT_EQ(flat.size(), 1u);
  EXPECT_FALSE(account_.ChangePositionMode("ONE_WAY").has_value());
}

TEST_F(AccountTest, RejectsBeforeChangingAnything) {
  OrderRequest r = Limit("BUY", "0.01", model_.BestBid(0) - D("100"));
  r.client_id = "c1";
  ASSERT_TRUE(Place(r).ok());
  EXPECT_EQ(Place(r).error.code, 30042);
  OrderRequest big = Limit("BUY", "400", model_.BestBid(0));
  EXPECT_EQ(Place(big).error.code, 20003);
  EXPECT_EQ(account_.orders().size(), 1u);
  EXPECT_EQ(account_.Cancel("", "", "nope", &pushes_).error.code, 20007);
  auto c = account_.Cancel("BTCUSDT", "", "c1", &pushes_);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c.value)->status, "CANCELED");
  EXPECT_EQ(account_.Cancel("", "", "c1", &pushes_).error.code, 20007) << "already closed";
}

TEST_F(AccountTest, FundingSettlesAtTheBoundary) {
  ASSERT_TRUE(Place(Market("BUY", "1")).ok());
  const Dec before = account_.Summary(model_).available;
  const FundingInfo f = model_.Funding(0, clock_.NowMs());
  clock_.Advance(std::chrono::milliseconds(f.next_settle_ms - clock_.NowMs() + 1));
  account_.OnMarket(model_, &pushes_);
  const Dec rate = model_.Funding(0, clock_.NowMs()).settled_rate_pct / Dec::FromInt(100);
  const Position& p = account_.positions()[0];
  EXPECT_EQ(p.funding, -(p.qty * model_.Mark(0) * rate));
  EXPECT_EQ(account_.Summary(model_).available, before + p.funding);
  pushes_.clear();
  account_.OnMarket(model_, &pushes_);
  EXPECT_EQ(CountPushes("position"), 0u) << "settles once per boundary";
}

TEST_F(AccountTest, StopLossTriggersAReduceOnlyMarketOrder) {
  ASSERT_TRUE(Place(Market("BUY", "1", "ETHUSDT")).ok());
  const Position p = account_.positions()[0];
  Account::TpslRequest t;
  t.symbol = "ETHUSDT";
  t.position_id = p.position_id;
  t.spec.sl_price = (model_.Mark(1) - D("100")).ToString(2);
  t.spec.sl_stop_type = "MARK_PRICE";
  t.sl_qty = "0.4";
  auto placed = account_.PlaceTpsl(t, false, model_, &pushes_);
  ASSERT_TRUE(placed.ok()) << placed.error.msg;
  account_.OnMarket(model_, &pushes_);
  EXPECT_EQ(account_.tpsl_orders()[0].status, "NEW");
  model_.SetMid(1, model_.Mark(1) - D("200"), clock_.NowMs());
  account_.OnMarket(model_, &pushes_);
  EXPECT_EQ(account_.tpsl_orders()[0].status, "FILLED");
  ASSERT_EQ(account_.positions().size(), 1u);
  EXPECT_EQ(account_.positions()[0].qty, D("0.6"));
  EXPECT_TRUE(account_.orders().back().reduce_only);
  EXPECT_EQ(account_.CancelTpsl("ETHUSDT", *placed.value, &pushes_).error.code, 20007);
}

// shared/bitunix-api.md §3 ("30005-30038 TP/SL checks"): a trigger on the wrong side of the price
// it watches is refused with the error table's code, not accepted and fired at once (the
// simulator used to close the position on the next tick).
TEST_F(AccountTest, PositionTpslOnTheWrongSideOfItsPriceIsRefused) {
  ASSERT_TRUE(Place(Market("BUY", "1", "ETHUSDT")).ok());  // a long
  ASSERT_TRUE(Place(Market("SELL", "1", "BTCUSDT")).ok());  // a short
  const Position long_pos = account_.positions()[0];
  const Position short_pos = account_.positions()[1];
  ASSERT_TRUE(long_pos.long_side);
  ASSERT_FALSE(short_pos.long_side);
  auto tpsl = [&](const Position& p, const char* tp, const char* tp_stop, const char* sl, const char* sl_stop,
                  const char* tp_qty = "") {
    Account::TpslRequest t;
    t.symbol = p.symbol;
    t.position_id = p.position_id;
    t.spec.tp_price = tp;
    t.spec.tp_stop_type = tp_stop;
    t.spec.sl_price = sl;
    t.spec.sl_stop_type = sl_stop;
    t.tp_qty = tp_qty;
    return t;
  };
  // Well below and well above both the mark and the last price of each symbol.
  auto below = [&](int sym) { return (std::min(model_.Mark(sym), model_.Last(sym)) * D("0.9")).Truncate(1).ToString(); };
  auto above = [&](int sym) { return (std::max(model_.Mark(sym), model_.Last(sym)) * D("1.1")).Truncate(1).ToString(); };
  const std::string lo_eth = below(1), hi_eth = above(1), lo_btc = below(0), hi_btc = above(0);
  struct Case {
    Account::TpslRequest req;
    int code;
  };
  const std::vector<Case> cases = {
      {tpsl(long_pos, lo_eth.c_str(), "", "", ""), 30026},                // long TP at or below last
      {tpsl(long_pos, lo_eth.c_str(), "MARK_PRICE", "", ""), 30027},      // ... below mark
      {tpsl(long_pos, "", "", hi_eth.c_str(), "LAST_PRICE"), 30028},      // long SL above last
      {tpsl(long_pos, "", "", hi_eth.c_str(), "MARK"), 30029},            // ... above mark
      {tpsl(short_pos, "", "", lo_btc.c_str(), "LAST"), 30030},           // short SL below last
      {tpsl(short_pos, "", "", lo_btc.c_str(), "MARK_PRICE"), 30031},     // ... below mark
      {tpsl(short_pos, hi_btc.c_str(), "LAST_PRICE", "", ""), 30032},     // short TP above last
      {tpsl(short_pos, hi_btc.c_str(), "MARK_PRICE", "", ""), 30033},     // ... above mark
      {tpsl(long_pos, hi_eth.c_str(), "", "", "", "1.5"), 30038},         // more than the position
  };
  for (const auto& c : cases) {
    for (bool whole : {false, true}) {
      if (whole && c.code == 30038) continue;  // a whole-position TP/SL has no quantity
      auto r = account_.PlaceTpsl(c.req, whole, model_, &pushes_);
      EXPECT_FALSE(r.ok()) << "expected " << c.code << (whole ? " (whole position)" : "");
      EXPECT_EQ(r.error.code, c.code) << r.error.msg;
    }
  }
  EXPECT_TRUE(account_.tpsl_orders().empty());

  // The right sides are accepted and do not fire.
  auto ok_long = account_.PlaceTpsl(tpsl(long_pos, hi_eth.c_str(), "MARK_PRICE", lo_eth.c_str(), "", "1"), false,
                                    model_, &pushes_);
  ASSERT_TRUE(ok_long.ok()) << ok_long.error.msg;
  auto ok_short = account_.PlaceTpsl(tpsl(short_pos, lo_btc.c_str(), "", hi_btc.c_str(), "MARK_PRICE"), true,
                                     model_, &pushes_);
  ASSERT_TRUE(ok_short.ok()) << ok_short.error.msg;
  account_.OnMarket(model_, &pushes_);
  EXPECT_EQ(account_.positions().size(), 2u);
  for (const auto& t : account_.tpsl_orders()) EXPECT_EQ(t.status, "NEW");

  // Modifying onto the wrong side, or above the position's size, is refused the same way.
  Account::TpslRequest mod = tpsl(long_pos, lo_eth.c_str(), "MARK_PRICE", "", "");
  mod.order_id = *ok_long.value;
  EXPECT_EQ(account_.ModifyTpsl(mod, false, model_, &pushes_).error.code, 30027);
  mod = tpsl(long_pos, hi_eth.c_str(), "", "", "", "2");
  mod.order_id = *ok_long.value;
  EXPECT_EQ(account_.ModifyTpsl(mod, false, model_, &pushes_).error.code, 30038);
  mod = tpsl(short_pos, hi_btc.c_str(), "", "", "");
  mod.position_id = short_pos.position_id;
  EXPECT_EQ(account_.ModifyTpsl(mod, true, model_, &pushes_).error.code, 30032);
  EXPECT_EQ(account_.tpsl_orders()[0].spec.tp_price, hi_eth) << "a refused modify changes nothing";
}

// tpsl/place_order documents "At least one of tpQty or slQty is required": without either it is a
// parameter error (the simulator took the whole position); tpsl/position/place_order has none.
TEST_F(AccountTest, PartialTpslNeedsAQuantity) {
  ASSERT_TRUE(Place(Market("BUY", "1", "ETHUSDT")).ok());
  Account::TpslRequest t;
  t.symbol = "ETHUSDT";
  t.position_id = account_.positions()[0].position_id;
  t.spec.tp_price = (std::max(model_.Mark(1), model_.Last(1)) * D("1.5")).Truncate(1).ToString();
  t.spec.sl_price = (std::min(model_.Mark(1), model_.Last(1)) * D("0.5")).Truncate(1).ToString();
  EXPECT_EQ(account_.PlaceTpsl(t, false, model_, &pushes_).error.code, 10002);
  EXPECT_TRUE(account_.tpsl_orders().empty());
  EXPECT_TRUE(account_.PlaceTpsl(t, true, model_, &pushes_).ok());
  t.sl_qty = "0.5";
  auto r = account_.PlaceTpsl(t, false, model_, &pushes_);
  ASSERT_TRUE(r.ok()) << r.error.msg;
  EXPECT_EQ(account_.tpsl_orders().back().sl_qty, D("0.5"));
  EXPECT_EQ(account_.tpsl_orders().back().tp_qty, D("1")) << "a side left without quantity covers the position";
}

// The same rule for a TP/SL attached to an opening order (place_order, modify_order), against the
// price it opens at: 30007-30010.
TEST_F(AccountTest, AttachedTpslOnTheWrongSideOfTheEntryIsRefused) {
  const Dec bid = model_.BestBid(0);
  const Dec entry = (bid - D("1000")).Truncate(1);  // a resting buy
  auto with = [&](OrderRequest r, const std::string& tp, const std::string& sl) {
    r.tpsl.tp_price = tp;
    r.tpsl.sl_price = sl;
    return r;
  };
  const std::string over = (entry + D("500")).ToString(1), under = (entry - D("500")).ToString(1);
  EXPECT_EQ(Place(with(Limit("BUY", "0.1", entry), under, "")).error.code, 30008);
  EXPECT_EQ(Place(with(Limit("BUY", "0.1", entry), "", over)).error.code, 30010);
  EXPECT_EQ(Place(with(Limit("SELL", "0.1", entry), over, "")).error.code, 30007);  // a sell at entry crosses: fine
  EXPECT_EQ(Place(with(Limit("SELL", "0.1", entry), "", under)).error.code, 30009);
  const std::string far_below = (bid * D("0.8")).Truncate(1).ToString(1);
  EXPECT_EQ(Place(with(Market("BUY", "0.1"), far_below, "")).error.code, 30008);  // against the ask it takes
  EXPECT_TRUE(account_.orders().empty());
  // A TP above the limit price of a buy is fine even though it is below the market.
  auto r = Place(with(Limit("BUY", "0.1", entry), over, under));
  ASSERT_TRUE(r.ok()) << r.error.msg;
  Account::ModifyRequest m;
  m.order_id = (*r.value)->order_id;
  m.tpsl.tp_price = under;
  EXPECT_EQ(account_.Modify(m, model_, &pushes_).error.code, 30008);
  EXPECT_EQ(account_.orders()[0].tpsl.tp_price, over);
}

// A TP/SL keeps its position's side once the position is gone (its history and its CLOSE push
// showed "side":"").
TEST_F(AccountTest, TpslKeepsItsSideAfterThePositionCloses) {
  ASSERT_TRUE(Place(Market("SELL", "1", "ETHUSDT")).ok());
  const Position p = account_.positions()[0];
  Account::TpslRequest t;
  t.symbol = "ETHUSDT";
  t.position_id = p.position_id;
  t.spec.sl_price = (std::max(model_.Mark(1), model_.Last(1)) * D("1.5")).Truncate(1).ToString();
  ASSERT_TRUE(account_.PlaceTpsl(t, true, model_, &pushes_).ok());
  ASSERT_TRUE(account_.FlashClose(p.position_id, model_, &pushes_).ok());
  pushes_.clear();
  account_.OnMarket(model_, &pushes_);
  ASSERT_EQ(account_.tpsl_orders()[0].status, "SYSTEM_CANCELED");
  EXPECT_EQ(TpslJson(account_.tpsl_orders()[0], account_)["side"], "SELL");
  ASSERT_EQ(CountPushes("tpsl"), 1u);
  for (const auto& push : pushes_) {
    if (push.ch == "tpsl") {
      EXPECT_EQ(nlohmann::json::parse(push.text)["data"]["side"], "SHORT") << push.text;
    }
  }
}

TEST_F(AccountTest, ViewsHaveTheDocumentedShapes) {
  ASSERT_TRUE(Place(Market("BUY", "1")).ok());
  auto order = nlohmann::ordered_json::parse(OrderPush(account_.orders()[0], "CLOSE", catalog_.all()[0], 1));
  EXPECT_EQ(order["ch"], "order");
  EXPECT_EQ(order["data"]["orderStatus"], "FILLED");
  EXPECT_EQ(order["data"]["positionType"], "CROSS");
  auto rest = OrderJson(account_.orders()[0], catalog_.all()[0], true);
  EXPECT_EQ(rest["price"], "market");
  EXPECT_TRUE(rest["ctime"].is_number_integer());
  auto pos = PositionJson(account_.positions()[0], account_, model_);
  EXPECT_EQ(pos["side"], "BUY");
  EXPECT_TRUE(pos["ctime"].is_string());
  auto acct = AccountJson(account_, model_, "USDT");
  EXPECT_EQ(acct["positionMode"], "ONE_WAY");
}

}  // namespace
}  // namespace bx::sim
