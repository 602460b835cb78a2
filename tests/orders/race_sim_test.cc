// Races against the real simulator: a ModifyOrder racing the fill of its order (answered, lost
// answers included), and FlashClosePosition / CloseAllPositions racing concurrent placements.
// The simulator is the referee: modify requests are counted in its /control/stats, orders and
// their fills read from /control/orders. Every wait is a bounded condition wait.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/decimal.h"
#include "tests/orders/sim_clients.h"
#include "tests/orders/sim_harness.h"

namespace bx::orders {
namespace {

using namespace std::chrono_literals;
using testing::RestingBuy;
using testing::SimHarness;
using testing::StreamReader;
using testing::WaitUntil;
namespace cv1 = ::bitunix::common::v1;

constexpr const char* kModifyPath = "/api/v1/futures/trade/modify_order";

// Once the private feed is live: a StreamUpdates stream of every channel that has heard its
// first status (null, with a test failure, if either does not come).
std::unique_ptr<StreamReader> OpenLiveStream(SimHarness& h) {
  if (!WaitUntil([&] { return h.app().private_stream()->live(); }, 10s)) {
    ADD_FAILURE() << "the private feed did not go live";
    return nullptr;
  }
  auto s = std::make_unique<StreamReader>(h.stub(), h.Ctx(testing::kReadToken, 60s), v1::StreamUpdatesRequest());
  if (!WaitUntil([&] { return s->Has([](const v1::UpdateEvent& e) { return e.has_status(); }); }, 10s)) {
    ADD_FAILURE() << "the stream sent no status";
    return nullptr;
  }
  return s;
}

bool DecEq(const std::string& a, const std::string& b) { return CompareDecimal(a, b) == 0; }

// A decimal as a signed count of 1e-8 (the simulator's fixed point); the tests' quantities fit.
int64_t Units(const std::string& s) {
  const bool neg = !s.empty() && s[0] == '-';
  const std::string t = neg ? s.substr(1) : s;
  const size_t dot = t.find('.');
  std::string whole = t.substr(0, dot), frac = dot == std::string::npos ? "" : t.substr(dot + 1);
  frac.resize(8, '0');
  const int64_t v = std::stoll(whole.empty() ? "0" : whole) * 100'000'000 + std::stoll(frac);
  return neg ? -v : v;
}

int64_t RestCalls(SimHarness& h, const std::string& path) {
  return h.sim().Get("/control/stats")["rest_calls"].value(path, int64_t{0});
}

void SetPrice(SimHarness& h, const std::string& price) {
  h.sim().Control("price", {{"symbol", "BTCUSDT"}, {"price", price}});
}

// Every order on the simulated account, as /control/orders lists them (a copy: a range-for over
// a member of a temporary would dangle).
nlohmann::json SimOrders(SimHarness& h) {
  nlohmann::json j = h.sim().Get("/control/orders");
  return j.is_object() && j.contains("orders") ? j["orders"] : nlohmann::json::array();
}

// The order as the simulator holds it (by client id); an empty object when there is none.
nlohmann::json SimOrder(SimHarness& h, const std::string& cid) {
  for (const auto& o : SimOrders(h)) {
    if (o.value("clientId", "") == cid) return o;
  }
  return nlohmann::json::object();
}

std::optional<v1::Order> GetOrder(SimHarness& h, const std::string& order_id) {
  v1::GetOrderRequest g;
  g.mutable_order()->set_order_id(order_id);
  v1::GetOrderResponse got;
  if (!h.stub().GetOrder(h.Ctx().get(), g, &got).ok()) return std::nullopt;
  return got.order();
}

// The resting order `cid` (BUY 0.01 @ 79000, the market at 80000) was modified to 79001 (if the
// modify won) and has since filled at `price`: GetOrder, ListOpenOrders, ListFills and the
// stream all say so, and the stream's last word on it is the fill.
void ExpectFilledEverywhere(SimHarness& h, const StreamReader& s, const std::string& cid,
                            const std::string& order_id, const std::string& price) {
  SCOPED_TRACE(cid);
  auto got = GetOrder(h, order_id);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->status(), v1::ORDER_STATUS_FILLED) << got->ShortDebugString();
  EXPECT_TRUE(DecEq(got->filled_qty(), "0.01")) << got->ShortDebugString();
  EXPECT_TRUE(DecEq(got->price(), price)) << got->ShortDebugString();
  // The simulator's order detail carries no average price; its pushes do.
  if (!got->avg_price().empty()) {
    EXPECT_TRUE(DecEq(got->avg_price(), price)) << got->ShortDebugString();
  }

  v1::ListOpenOrdersRequest lo;
  lo.set_symbol("BTCUSDT");
  v1::ListOpenOrdersResponse open;
  ASSERT_TRUE(h.stub().ListOpenOrders(h.Ctx().get(), lo, &open).ok());
  for (const auto& o : open.orders()) EXPECT_NE(o.order_id(), order_id) << "a filled order is still listed open";

  v1::ListFillsRequest lf;
  lf.set_symbol("BTCUSDT");
  lf.set_order_id(order_id);
  v1::ListFillsResponse fills;
  ASSERT_TRUE(h.stub().ListFills(h.Ctx().get(), lf, &fills).ok());
  ASSERT_EQ(fills.fills_size(), 1) << fills.ShortDebugString();
  EXPECT_EQ(fills.fills(0).order_id(), order_id);
  EXPECT_TRUE(DecEq(fills.fills(0).qty(), "0.01")) << fills.ShortDebugString();
  EXPECT_TRUE(DecEq(fills.fills(0).price(), price)) << fills.ShortDebugString();

  // The stream: the fill arrives, and nothing after it says otherwise.
  ASSERT_TRUE(WaitUntil([&] {
    auto ev = s.OrderEvents(cid);
    return !ev.empty() && ev.back().status() == v1::ORDER_STATUS_FILLED;
  }, 5s)) << "the stream never reported the fill; its events for this order: " << [&] {
    std::string seen;
    for (const auto& o : s.OrderEvents(cid)) seen += o.status_raw() + "@" + o.price() + " ";
    return seen;
  }();
  const auto ev = s.OrderEvents(cid);
  bool filled = false;
  for (const auto& o : ev) {
    if (filled) {
      EXPECT_EQ(o.status(), v1::ORDER_STATUS_FILLED) << "after the fill: " << o.ShortDebugString();
    }
    filled |= o.status() == v1::ORDER_STATUS_FILLED;
  }
  const v1::Order& last = ev.back();
  EXPECT_EQ(last.order_id(), order_id);
  EXPECT_TRUE(DecEq(last.filled_qty(), got->filled_qty())) << last.ShortDebugString();
  EXPECT_TRUE(DecEq(last.price(), got->price())) << last.ShortDebugString();
  EXPECT_TRUE(DecEq(last.avg_price(), price)) << last.ShortDebugString();
}

// Places the resting BUY 0.01 @ 79000 with the market at 80000; returns its order id.
std::string PlaceResting(SimHarness& h, const std::string& cid) {
  SetPrice(h, "80000");
  v1::PlaceOrderResponse placed;
  grpc::Status s = h.Place(RestingBuy(cid, "0.01", "79000"), &placed);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(placed.result(), v1::PLACE_RESULT_ACCEPTED) << placed.ShortDebugString();
  return placed.order_id();
}

v1::ModifyOrderRequest MoveTo79001(const std::string& order_id) {
  v1::ModifyOrderRequest m;
  m.mutable_order()->set_order_id(order_id);
  m.set_symbol("BTCUSDT");
  m.set_price("79001");
  return m;
}

using ModifyCall = testing::PendingCall<v1::ModifyOrderRequest, v1::ModifyOrderResponse>;
std::unique_ptr<ModifyCall> StartModify(SimHarness& h, const v1::ModifyOrderRequest& m) {
  auto p = std::make_unique<ModifyCall>();
  p->req = m;
  p->ctx = h.Ctx();
  h.stub().async()->ModifyOrder(p->ctx.get(), &p->req, &p->resp,
                                [q = p.get()](grpc::Status st) { q->done.set_value(std::move(st)); });
  return p;
}

// A resting limit order is modified while it fills: the fill first, the modify first, and both
// at once. The caller gets the modify's success (then the order filled at the new price) or the
// exchange's refusal of a modify on a finished order (20007 -> NOT_FOUND, EXCHANGE_REJECTED; then
// it filled at the old price); exactly one modify request reaches the exchange per call; and
// GetOrder, ListOpenOrders, ListFills and StreamUpdates agree on the fill.
TEST(OrdersSimRace, ModifyRacingAFillGetsAClearAnswerAndEveryViewAgrees) {
  SimHarness h;
  // A saved token or two, so that a modify goes out at once instead of waiting up to 125 ms for
  // its token (which would settle every race in favour of the fill). Still 8/s over any second.
  h.Start([](OrdersAppOptions& o) { o.limiter.buckets[static_cast<size_t>(Bucket::kPrivate)] = {8, 3}; });
  auto stream = OpenLiveStream(h);
  ASSERT_NE(stream, nullptr);
  const StreamReader& s = *stream;
  int64_t modifies = RestCalls(h, kModifyPath);
  int won = 0, refused = 0;
  for (int i = 0; i < 6; ++i) {
    const std::string cid = absl::StrCat("race-mod-", i);
    SCOPED_TRACE(cid);
    const std::string order_id = PlaceResting(h, cid);
    ASSERT_FALSE(order_id.empty());
    const v1::ModifyOrderRequest m = MoveTo79001(order_id);
    const int mode = std::min(i, 2);  // 0: fill first, 1: modify first, 2 (four rounds): both at once
    if (mode == 0) SetPrice(h, "78000");
    auto call = StartModify(h, m);
    if (mode == 1) {
      ASSERT_EQ(call->status.wait_for(10s), std::future_status::ready);
    }
    if (mode == 2) {
      // Only varies the interleaving from one round to the next (0 to 1.2 ms, around the time the
      // modify takes to reach the exchange); nothing waits on it.
      std::this_thread::sleep_for(std::chrono::microseconds(400 * (i - 2)));
    }
    if (mode != 0) SetPrice(h, "78000");
    ASSERT_EQ(call->status.wait_for(10s), std::future_status::ready);
    const grpc::Status st = call->status.get();
    const testing::ErrorView err = testing::ReadError(*call->ctx, st);
    std::string filled_at;
    if (st.ok()) {
      ++won;
      EXPECT_NE(mode, 0) << "a modify of a filled order succeeded";
      EXPECT_EQ(call->resp.order_id(), order_id);
      filled_at = "79001";
    } else {
      ++refused;
      EXPECT_NE(mode, 1) << "a modify of an open order failed: " << st.error_message();
      EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND) << st.error_message();
      EXPECT_EQ(err.code, "20007") << st.error_message();
      EXPECT_EQ(err.reason, "EXCHANGE_REJECTED") << st.error_message();
      filled_at = "79000";
    }
    EXPECT_EQ(RestCalls(h, kModifyPath), ++modifies) << "a modify was re-sent (or never sent)";
    ExpectFilledEverywhere(h, s, cid, order_id, filled_at);
    EXPECT_EQ(h.sim().CountClientId(cid), 1);
  }
  EXPECT_GE(won, 1);
  EXPECT_GE(refused, 1);
}

// A modify whose answer is lost while its order fills. The gateway never sends it again; it reads
// the order back (docs/ORDERS.md): if the order shows the new price the call succeeds, otherwise it
// fails with the cause's code and reason AMBIGUOUS naming what the order shows, or saying to check
// GetOrder when the order cannot be read either. GetOrder then tells the truth.
TEST(OrdersSimRace, AModifyWhoseAnswerIsLostWhileItsOrderFillsIsResolvedByReadingTheOrder) {
  SimHarness h;
  h.Start();
  auto stream = OpenLiveStream(h);
  ASSERT_NE(stream, nullptr);
  const StreamReader& s = *stream;
  int64_t modifies = RestCalls(h, kModifyPath);

  {  // The fill lands first; the exchange refuses the modify (20007) and that answer is lost.
    const std::string cid = "lost-fill-first";
    SCOPED_TRACE(cid);
    const std::string order_id = PlaceResting(h, cid);
    SetPrice(h, "78000");
    h.sim().Control("rest_faults", {{"count", 1}, {"kind", "reset"}, {"apply", "after"}, {"path", kModifyPath}});
    auto call = StartModify(h, MoveTo79001(order_id));
    ASSERT_EQ(call->status.wait_for(10s), std::future_status::ready);
    const grpc::Status st = call->status.get();
    const testing::ErrorView err = testing::ReadError(*call->ctx, st);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
    EXPECT_EQ(err.reason, "AMBIGUOUS") << st.error_message();
    ASSERT_TRUE(err.has_detail);
    EXPECT_EQ(err.detail.reason(), "AMBIGUOUS");
    EXPECT_NE(st.error_message().find("now shows qty"), std::string::npos) << st.error_message();
    EXPECT_NE(st.error_message().find("price 79000"), std::string::npos) << st.error_message();
    // A filled order takes no change any more: the answer says so, not "may still arrive".
    EXPECT_NE(st.error_message().find("no longer can"), std::string::npos) << st.error_message();
    EXPECT_EQ(st.error_message().find("may still arrive"), std::string::npos) << st.error_message();
    EXPECT_EQ(RestCalls(h, kModifyPath), ++modifies) << "a modify with a lost answer was re-sent";
    ExpectFilledEverywhere(h, s, cid, order_id, "79000");
  }
  {  // The modify lands; the order fills while its answer hangs past the request timeout.
    const std::string cid = "lost-modify-first";
    SCOPED_TRACE(cid);
    const std::string order_id = PlaceResting(h, cid);
    h.sim().Control("rest_faults", {{"count", 1}, {"kind", "hang"}, {"apply", "after"}, {"hang_ms", 2500},
                                    {"path", kModifyPath}});
    auto call = StartModify(h, MoveTo79001(order_id));
    ASSERT_TRUE(WaitUntil([&] { return DecEq(SimOrder(h, cid).value("price", "0"), "79001"); }, 5s))
        << "the modify never reached the exchange";
    SetPrice(h, "78000");
    EXPECT_EQ(SimOrder(h, cid).value("status", ""), "FILLED");
    EXPECT_EQ(call->status.wait_for(0s), std::future_status::timeout) << "answered before the fill";
    ASSERT_EQ(call->status.wait_for(10s), std::future_status::ready);
    const grpc::Status st = call->status.get();
    EXPECT_TRUE(st.ok()) << st.error_code() << " " << st.error_message();
    EXPECT_EQ(call->resp.order_id(), order_id);
    EXPECT_EQ(RestCalls(h, kModifyPath), ++modifies) << "a modify with a lost answer was re-sent";
    ExpectFilledEverywhere(h, s, cid, order_id, "79001");
  }
  {  // The answer is lost and the order cannot be read back either: the caller is told to check.
    const std::string cid = "lost-unreadable";
    SCOPED_TRACE(cid);
    const std::string order_id = PlaceResting(h, cid);
    SetPrice(h, "78000");
    h.sim().Control("rest_faults", {{"count", 1}, {"kind", "http_502"}, {"apply", "after"}, {"path", kModifyPath}});
    h.sim().Control("rest_faults", {{"count", 5}, {"kind", "http_500"}, {"apply", "before"},
                                    {"path", "/api/v1/futures/trade/get_order_detail"}});
    auto call = StartModify(h, MoveTo79001(order_id));
    ASSERT_EQ(call->status.wait_for(10s), std::future_status::ready);
    const grpc::Status st = call->status.get();
    const testing::ErrorView err = testing::ReadError(*call->ctx, st);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
    EXPECT_EQ(err.reason, "AMBIGUOUS") << st.error_message();
    EXPECT_NE(st.error_message().find("check GetOrder"), std::string::npos) << st.error_message();
    EXPECT_EQ(RestCalls(h, kModifyPath), ++modifies) << "a modify with a lost answer was re-sent";
    h.sim().Control("reset", nlohmann::json::object());
    ExpectFilledEverywhere(h, s, cid, order_id, "79000");
  }
}

// Net BTCUSDT position on the simulator from its own order book-keeping: filled buys minus filled
// sells (ONE_WAY), in 1e-8 units.
int64_t SimNetPosition(SimHarness& h) {
  int64_t net = 0;
  for (const auto& o : SimOrders(h)) {
    if (o.value("symbol", "") != "BTCUSDT") continue;
    const int64_t q = Units(o.value("tradeQty", "0"));
    net += o.value("side", "") == "BUY" ? q : -q;
  }
  return net;
}

// ListPositions through the gateway, and the last position event of the stream, agree with the
// simulator's orders.
void ExpectPositionsAgree(SimHarness& h, const StreamReader& s) {
  const int64_t net = SimNetPosition(h);
  auto last_event_agrees = [&] {
    std::optional<v1::UpdateEvent> last;
    for (const auto& e : s.events()) {
      if (e.has_position() && e.position().symbol() == "BTCUSDT") last = e;
    }
    if (!last) return net == 0;
    if (net == 0) return last->kind() == v1::UPDATE_KIND_CLOSE;
    return last->kind() != v1::UPDATE_KIND_CLOSE && Units(last->position().qty()) == (net > 0 ? net : -net) &&
           last->position().side() == (net > 0 ? v1::POSITION_SIDE_LONG : v1::POSITION_SIDE_SHORT);
  };
  EXPECT_TRUE(WaitUntil(last_event_agrees, 5s)) << "the stream's last position event disagrees with net " << net;
  v1::ListPositionsRequest lp;
  lp.set_symbol("BTCUSDT");
  v1::ListPositionsResponse pos;
  ASSERT_TRUE(h.stub().ListPositions(h.Ctx().get(), lp, &pos).ok());
  if (net == 0) {
    EXPECT_EQ(pos.positions_size(), 0) << pos.ShortDebugString();
    return;
  }
  ASSERT_EQ(pos.positions_size(), 1) << pos.ShortDebugString() << " net " << net;
  EXPECT_EQ(pos.positions(0).side(), net > 0 ? v1::POSITION_SIDE_LONG : v1::POSITION_SIDE_SHORT);
  EXPECT_EQ(Units(pos.positions(0).qty()), net > 0 ? net : -net) << pos.ShortDebugString();
}

// Filled SELL orders on the simulated account: each close executed adds one (the positions here
// are long, and only a close sells).
int SimSells(SimHarness& h) {
  int n = 0;
  for (const auto& o : SimOrders(h)) n += o.value("side", "") == "SELL" && Units(o.value("tradeQty", "0")) > 0;
  return n;
}

constexpr const char* kPlacePath = "/api/v1/futures/trade/place_order";

using PendingPlacement = testing::PendingCall<v1::PlaceOrderRequest, v1::PlaceOrderResponse>;

// Starts `n` market buys of 0.001 BTCUSDT at once, client ids `prefix`0..n-1; `answered` counts
// the answers (it must outlive the calls).
std::vector<std::unique_ptr<PendingPlacement>> StartMarketBuys(SimHarness& h, const std::string& prefix, int n,
                                                               std::atomic<int>& answered) {
  std::vector<std::unique_ptr<PendingPlacement>> calls;
  for (int i = 0; i < n; ++i) {
    auto p = std::make_unique<PendingPlacement>();
    p->req.set_symbol("BTCUSDT");
    p->req.set_side(cv1::SIDE_BUY);
    p->req.set_type(v1::ORDER_TYPE_MARKET);
    p->req.set_qty("0.001");
    p->req.set_client_id(absl::StrCat(prefix, i));
    p->ctx = h.Ctx(testing::kTradeToken, 15s);
    h.stub().async()->PlaceOrder(p->ctx.get(), &p->req, &p->resp, [q = p.get(), &answered](grpc::Status st) {
      ++answered;
      q->done.set_value(std::move(st));
    });
    calls.push_back(std::move(p));
  }
  return calls;
}

// `orders` market BUYs placed at once (async calls, all queued in the gateway), the first few with
// `fault` on their exchange answer; `close` runs once the exchange has received `sent_before_close`
// of them, and its latency is measured. Checks: the close overtakes the queued placements (it
// completes within a second, with at least four placements still unanswered), it executes
// exactly once, every placement gets an OK answer naming its client id, ACCEPTED with the order
// the exchange holds exactly once under that id, or UNKNOWN (then at most once, and GetOrder by
// the client id tells which), no other order appears under these ids, and afterwards
// ListPositions and the stream's last position event agree with the simulator's own orders.
void PlacementsRacingAClose(SimHarness& h, const StreamReader& s, const std::string& prefix, int orders,
                            const nlohmann::json& fault, int sent_before_close,
                            const std::function<grpc::Status()>& close) {
  const int64_t sent_base = RestCalls(h, kPlacePath);
  const int sells_before = SimSells(h);
  h.sim().Control("rest_faults", fault);
  std::atomic<int> answered{0};  // before `calls`: their destructors may still wait for callbacks
  const auto calls = StartMarketBuys(h, prefix, orders, answered);
  ASSERT_TRUE(WaitUntil([&] { return RestCalls(h, kPlacePath) >= sent_base + sent_before_close; }, 10s));
  const auto t0 = std::chrono::steady_clock::now();
  const grpc::Status closed = close();
  const auto took = std::chrono::steady_clock::now() - t0;
  const int answered_at_close = answered.load();
  // The placements still queued need over half a second of the 8/s budget (or a free connection):
  // the close went ahead of them.
  EXPECT_LT(took, 1000ms) << "the close waited behind the placements (" << closed.error_message() << ")";
  EXPECT_LE(answered_at_close, orders - 4) << "the close was served after the placements queued before it";

  ASSERT_TRUE(WaitUntil([&] { return answered.load() == orders; }, 15s)) << answered.load() << " answered";
  EXPECT_EQ(SimSells(h), sells_before + 1) << "the close executed " << SimSells(h) - sells_before << " times";
  int accepted = 0;
  for (int i = 0; i < orders; ++i) {
    const std::string cid = calls[i]->req.client_id();
    SCOPED_TRACE(cid);
    const grpc::Status st = calls[i]->status.get();
    ASSERT_TRUE(st.ok()) << st.error_code() << " " << st.error_message();
    const auto& r = calls[i]->resp;
    EXPECT_EQ(r.client_id(), cid);
    const nlohmann::json held = SimOrder(h, cid);
    const int on_exchange = h.sim().CountClientId(cid);
    EXPECT_LE(on_exchange, 1) << "placed twice";
    if (r.result() == v1::PLACE_RESULT_ACCEPTED) {
      ++accepted;
      EXPECT_EQ(on_exchange, 1);
      EXPECT_EQ(held.value("orderId", ""), r.order_id());
      continue;
    }
    EXPECT_EQ(r.result(), v1::PLACE_RESULT_UNKNOWN) << r.ShortDebugString();
    // Reading it back tells the truth.
    v1::GetOrderRequest g;
    g.mutable_order()->set_client_id(cid);
    v1::GetOrderResponse got;
    const grpc::Status gs = h.stub().GetOrder(h.Ctx().get(), g, &got);
    if (on_exchange == 1) {
      EXPECT_TRUE(gs.ok()) << gs.error_message();
      EXPECT_EQ(got.order().order_id(), held.value("orderId", ""));
    } else {
      EXPECT_EQ(gs.error_code(), grpc::StatusCode::NOT_FOUND) << gs.error_message();
    }
  }
  EXPECT_GE(accepted, orders - 4);
  // No other order appears under these ids.
  std::map<std::string, int> per_cid;
  for (const auto& o : SimOrders(h)) {
    const std::string cid = o.value("clientId", "");
    if (cid.rfind(prefix, 0) == 0) ++per_cid[cid];
  }
  EXPECT_GE(per_cid.size(), static_cast<size_t>(accepted));
  EXPECT_LE(per_cid.size(), static_cast<size_t>(orders));
  for (const auto& [cid, n] : per_cid) EXPECT_EQ(n, 1) << cid;
  ExpectPositionsAgree(h, s);
}

// Two placements have their exchange answer replaced by a 502 after executing (resolved by lookups
// that compete for the same budget).
nlohmann::json Lost502s() {
  return {{"count", 2}, {"kind", "http_502"}, {"apply", "after"}, {"path", kPlacePath}};
}
// The first four placements are executed and then hang past the 1.5 s request timeout: every one
// of the 4 HTTP connections is held when the close goes out, and the placements after them wait
// for a connection (see QueuedPlacementsLeaveWithinTheExchangesBudgetWhenConnectionsFreeUp for
// many more waiting).
nlohmann::json FourHungPlacements() {
  return {{"count", 4}, {"kind", "hang"}, {"apply", "after"}, {"hang_ms", 2500}, {"path", kPlacePath}};
}

TEST(OrdersSimRace, CloseAllPositionsRacingPlacements) {
  SimHarness h;
  h.Start();
  auto stream = OpenLiveStream(h);
  ASSERT_NE(stream, nullptr);
  const StreamReader& s = *stream;
  v1::CloseAllPositionsRequest req;
  req.set_symbol("BTCUSDT");
  {
    SCOPED_TRACE("answered");
    PlacementsRacingAClose(h, s, "ca-a-", 16, Lost502s(), 3, [&] {
      v1::CloseAllPositionsResponse resp;
      grpc::Status st = h.stub().CloseAllPositions(h.Ctx(testing::kTradeToken, 5s).get(), req, &resp);
      EXPECT_TRUE(st.ok()) << st.error_code() << " " << st.error_message();
      return st;
    });
  }
  {
    // Every HTTP connection held by a placement, and the close's own answer lost: it still goes
    // out at once, is never re-sent, and the caller hears that it may have been applied.
    SCOPED_TRACE("answer lost, connections held");
    PlacementsRacingAClose(h, s, "ca-b-", 8, FourHungPlacements(), 4, [&] {
      h.sim().Control("rest_faults", {{"count", 1}, {"kind", "reset"}, {"apply", "after"},
                                      {"path", "/api/v1/futures/trade/close_all_position"}});
      v1::CloseAllPositionsResponse resp;
      auto ctx = h.Ctx(testing::kTradeToken, 5s);
      grpc::Status st = h.stub().CloseAllPositions(ctx.get(), req, &resp);
      EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
      EXPECT_EQ(testing::ReadError(*ctx, st).reason, "AMBIGUOUS") << st.error_message();
      return st;
    });
  }
}

TEST(OrdersSimRace, FlashClosePositionRacingPlacements) {
  SimHarness h;
  h.Start();
  auto stream = OpenLiveStream(h);
  ASSERT_NE(stream, nullptr);
  const StreamReader& s = *stream;
  v1::PlaceOrderRequest first;
  first.set_symbol("BTCUSDT");
  first.set_side(cv1::SIDE_BUY);
  first.set_type(v1::ORDER_TYPE_MARKET);
  first.set_qty("0.005");
  first.set_client_id("race-open");
  v1::PlaceOrderResponse opened;
  ASSERT_TRUE(h.Place(first, &opened).ok());
  // Flash-closes the position open now (it grows while the placements race the close).
  auto flash_close = [&] {
    v1::ListPositionsResponse pos;
    EXPECT_TRUE(h.stub().ListPositions(h.Ctx().get(), v1::ListPositionsRequest(), &pos).ok());
    EXPECT_EQ(pos.positions_size(), 1) << pos.ShortDebugString();
    const std::string position_id = pos.positions_size() ? pos.positions(0).position_id() : "";
    return [&h, position_id] {
      v1::FlashClosePositionRequest req;
      req.set_position_id(position_id);
      v1::FlashClosePositionResponse resp;
      grpc::Status st = h.stub().FlashClosePosition(h.Ctx(testing::kTradeToken, 5s).get(), req, &resp);
      EXPECT_TRUE(st.ok()) << st.error_code() << " " << st.error_message();
      EXPECT_EQ(resp.position_id(), position_id);
      return st;
    };
  };
  {
    SCOPED_TRACE("answered");
    PlacementsRacingAClose(h, s, "fc-a-", 16, Lost502s(), 3, flash_close());
  }
  {
    SCOPED_TRACE("connections held");
    PlacementsRacingAClose(h, s, "fc-b-", 8, FourHungPlacements(), 4, flash_close());
  }
}

// Replies in which the simulator refused a request for rate (10005/10006, HTTP 429).
int SimRateRefusals(SimHarness& h) {
  int n = 0;
  uint64_t since = 0;
  while (true) {
    const nlohmann::json page = h.sim().Get(absl::StrCat("/control/log?since=", since, "&limit=5000"));
    const auto& entries = page["entries"];
    for (const auto& e : entries) {
      if (e.value("dir", "") != "out" || e.value("kind", "") != "rest") continue;
      const std::string text = e.value("text", "");
      n += text.rfind("429 ", 0) == 0 || text.find("\"code\":10005") != std::string::npos ||
           text.find("\"code\":10006") != std::string::npos;
    }
    if (entries.empty()) return n;
    since = page.value("next", since + 1);
  }
}

// Found by these races: the rate limiter used to pace the grant of a token, not the send. A
// request granted its token while every pooled HTTP connection was held (here by four placements
// the exchange sits on) waited in the HTTP client's queue, already signed, and when connections
// freed up every queued request left back to back. The exchange saw a burst over its 10/s budget
// and refused with 10005; the gateway treated that, correctly, as ambiguous, halved its rate and
// answered PLACE_RESULT_UNKNOWN for orders that were never placed. A token is now granted only
// while a connection is free for the request (RateLimiter's SendGate): every placement here is
// accepted, and the exchange refuses nothing for rate.
TEST(OrdersSimRace, QueuedPlacementsLeaveWithinTheExchangesBudgetWhenConnectionsFreeUp) {
  SimHarness h;
  h.Start();
  h.sim().Control("rest_faults", FourHungPlacements());
  constexpr int kOrders = 20;
  std::atomic<int> answered{0};  // before `calls`: their destructors may still wait for callbacks
  const auto calls = StartMarketBuys(h, "burst-", kOrders, answered);
  ASSERT_TRUE(WaitUntil([&] { return answered.load() == kOrders; }, 20s)) << answered.load() << " answered";
  EXPECT_EQ(SimRateRefusals(h), 0) << "the exchange refused requests for rate";
  for (auto& c : calls) {
    const grpc::Status st = c->status.get();
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(c->resp.result(), v1::PLACE_RESULT_ACCEPTED) << c->resp.ShortDebugString();
    EXPECT_EQ(h.sim().CountClientId(c->req.client_id()), 1) << c->req.client_id();
  }
}

}  // namespace
}  // namespace bx::orders
