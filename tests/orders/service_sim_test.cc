// The order service end to end against the real simulator: every RPC, idempotency, validation
// and exchange errors with rich details and trailers, auth, dry runs, audit records.
#include <gtest/gtest.h>

#include <dirent.h>

#include <fstream>
#include <set>
#include <sstream>

#include "tests/orders/sim_harness.h"

namespace bx::orders {
namespace {

using namespace std::chrono_literals;
using testing::kReadToken;
using testing::kTradeToken;
using testing::ReadError;
using testing::RestingBuy;
using testing::SimHarness;
using testing::WaitUntil;
namespace cv1 = ::bitunix::common::v1;

TEST(OrdersSim, EveryRpcEndToEnd) {
  SimHarness h;
  h.Start();
  auto& stub = h.stub();

  v1::GetAccountResponse acc;
  ASSERT_GRPC_OK(stub.GetAccount(h.Ctx().get(), v1::GetAccountRequest(), &acc));
  EXPECT_EQ(acc.account().margin_coin(), "USDT");
  EXPECT_FALSE(acc.account().available().empty());

  v1::SetMarginModeRequest smm;
  smm.set_symbol("BTCUSDT");
  smm.set_margin_mode(v1::MARGIN_MODE_ISOLATION);
  v1::SetMarginModeResponse smm_r;
  ASSERT_GRPC_OK(stub.SetMarginMode(h.Ctx().get(), smm, &smm_r));
  EXPECT_EQ(smm_r.margin_mode(), v1::MARGIN_MODE_ISOLATION);

  v1::SetPositionModeRequest spm;
  spm.set_position_mode(v1::POSITION_MODE_ONE_WAY);
  v1::SetPositionModeResponse spm_r;
  ASSERT_GRPC_OK(stub.SetPositionMode(h.Ctx().get(), spm, &spm_r));

  v1::SetLeverageRequest lev;
  lev.set_symbol("BTCUSDT");
  lev.set_leverage(5);
  v1::SetLeverageResponse lev_r;
  ASSERT_GRPC_OK(stub.SetLeverage(h.Ctx().get(), lev, &lev_r));
  EXPECT_EQ(lev_r.leverage(), 5);
  v1::GetLeverageMarginModeRequest glm;
  glm.set_symbol("BTCUSDT");
  v1::GetLeverageMarginModeResponse glm_r;
  ASSERT_GRPC_OK(stub.GetLeverageMarginMode(h.Ctx().get(), glm, &glm_r));
  EXPECT_EQ(glm_r.leverage(), 5);
  EXPECT_EQ(glm_r.margin_mode(), v1::MARGIN_MODE_ISOLATION);

  // Place, read, list, modify, cancel.
  v1::PlaceOrderResponse placed;
  ASSERT_GRPC_OK(h.Place(RestingBuy("e2e-rest-1"), &placed));
  EXPECT_EQ(placed.result(), v1::PLACE_RESULT_ACCEPTED);
  EXPECT_EQ(placed.client_id(), "e2e-rest-1");
  v1::GetOrderRequest get;
  get.mutable_order()->set_client_id("e2e-rest-1");
  v1::GetOrderResponse got;
  ASSERT_GRPC_OK(stub.GetOrder(h.Ctx().get(), get, &got));
  EXPECT_EQ(got.order().order_id(), placed.order_id());
  EXPECT_EQ(got.order().status(), v1::ORDER_STATUS_NEW);
  EXPECT_EQ(got.order().side(), cv1::SIDE_BUY);
  v1::ListOpenOrdersRequest lo;
  lo.set_symbol("BTCUSDT");
  v1::ListOpenOrdersResponse open;
  ASSERT_GRPC_OK(stub.ListOpenOrders(h.Ctx().get(), lo, &open));
  ASSERT_GE(open.orders_size(), 1);
  EXPECT_EQ(open.orders(0).client_id(), "e2e-rest-1");
  v1::ModifyOrderRequest mod;
  mod.set_symbol("BTCUSDT");
  mod.mutable_order()->set_order_id(placed.order_id());
  mod.set_price("20001");
  v1::ModifyOrderResponse mod_r;
  ASSERT_GRPC_OK(stub.ModifyOrder(h.Ctx().get(), mod, &mod_r));
  EXPECT_EQ(mod_r.order_id(), placed.order_id());
  ASSERT_GRPC_OK(stub.GetOrder(h.Ctx().get(), get, &got));
  EXPECT_EQ(got.order().price(), "20001");
  v1::CancelOrdersRequest cancel;
  cancel.set_symbol("BTCUSDT");
  cancel.add_orders()->set_client_id("e2e-rest-1");
  v1::CancelOrdersResponse cancel_r;
  ASSERT_GRPC_OK(stub.CancelOrders(h.Ctx().get(), cancel, &cancel_r));
  ASSERT_EQ(cancel_r.results_size(), 1);
  EXPECT_TRUE(cancel_r.results(0).accepted());
  ASSERT_GRPC_OK(stub.GetOrder(h.Ctx().get(), get, &got));
  EXPECT_EQ(got.order().status(), v1::ORDER_STATUS_CANCELED);
  v1::ListOrderHistoryRequest hist;
  hist.set_symbol("BTCUSDT");
  v1::ListOrderHistoryResponse hist_r;
  ASSERT_GRPC_OK(stub.ListOrderHistory(h.Ctx().get(), hist, &hist_r));
  bool in_history = false;
  for (const auto& o : hist_r.orders()) in_history |= o.client_id() == "e2e-rest-1";
  EXPECT_TRUE(in_history);

  // Batch, then cancel all.
  v1::BatchPlaceOrdersRequest batch;
  batch.set_symbol("BTCUSDT");
  *batch.add_orders() = RestingBuy("e2e-batch-1");
  *batch.add_orders() = RestingBuy("e2e-batch-2", "0.02", "21000");
  batch.mutable_orders(1)->clear_symbol();
  v1::BatchPlaceOrdersResponse batch_r;
  ASSERT_GRPC_OK(stub.BatchPlaceOrders(h.Ctx().get(), batch, &batch_r));
  ASSERT_EQ(batch_r.results_size(), 2);
  for (const auto& r : batch_r.results()) {
    EXPECT_EQ(r.result(), v1::PLACE_RESULT_ACCEPTED) << r.ShortDebugString();
    EXPECT_FALSE(r.order_id().empty());
  }
  v1::CancelAllOrdersRequest ca;
  ca.set_symbol("BTCUSDT");
  v1::CancelAllOrdersResponse ca_r;
  ASSERT_GRPC_OK(stub.CancelAllOrders(h.Ctx().get(), ca, &ca_r));
  ASSERT_GRPC_OK(stub.ListOpenOrders(h.Ctx().get(), lo, &open));
  EXPECT_EQ(open.orders_size(), 0);

  // A market order fills into a position.
  v1::PlaceOrderRequest mkt;
  mkt.set_symbol("BTCUSDT");
  mkt.set_side(cv1::SIDE_BUY);
  mkt.set_type(v1::ORDER_TYPE_MARKET);
  mkt.set_qty("0.01");
  mkt.set_client_id("e2e-mkt-1");
  v1::PlaceOrderResponse mkt_r;
  ASSERT_GRPC_OK(h.Place(mkt, &mkt_r));
  EXPECT_EQ(mkt_r.result(), v1::PLACE_RESULT_ACCEPTED);
  v1::ListFillsRequest fills;
  fills.set_symbol("BTCUSDT");
  v1::ListFillsResponse fills_r;
  ASSERT_TRUE(WaitUntil(
      [&] { return stub.ListFills(h.Ctx().get(), fills, &fills_r).ok() && fills_r.fills_size() > 0; }, 5s));
  EXPECT_EQ(fills_r.fills(0).order_id(), mkt_r.order_id());
  v1::ListPositionsResponse pos;
  ASSERT_TRUE(WaitUntil(
      [&] { return stub.ListPositions(h.Ctx().get(), v1::ListPositionsRequest(), &pos).ok() && pos.positions_size() == 1; },
      5s));
  const v1::Position p = pos.positions(0);
  EXPECT_EQ(p.symbol(), "BTCUSDT");
  EXPECT_EQ(p.qty(), "0.01");
  EXPECT_EQ(p.side(), v1::POSITION_SIDE_LONG);

  // TP/SL on the position.
  v1::PlaceTpslOrderRequest tpsl;
  tpsl.set_symbol("BTCUSDT");
  tpsl.set_position_id(p.position_id());
  tpsl.mutable_tpsl()->set_tp_price("200000");
  tpsl.mutable_tpsl()->set_sl_price("1000");
  tpsl.set_tp_qty("0.01");
  tpsl.set_sl_qty("0.01");
  v1::PlaceTpslOrderResponse tpsl_r;
  ASSERT_GRPC_OK(stub.PlaceTpslOrder(h.Ctx().get(), tpsl, &tpsl_r));
  EXPECT_FALSE(tpsl_r.order_id().empty());
  v1::ListTpslOrdersRequest lt;
  lt.set_symbol("BTCUSDT");
  v1::ListTpslOrdersResponse lt_r;
  ASSERT_GRPC_OK(stub.ListTpslOrders(h.Ctx().get(), lt, &lt_r));
  ASSERT_GE(lt_r.orders_size(), 1);
  EXPECT_EQ(lt_r.orders(0).order_id(), tpsl_r.order_id());
  EXPECT_FALSE(lt_r.orders(0).whole_position());
  EXPECT_EQ(lt_r.orders(0).tp_qty(), "0.01");

  // Modify it: new triggers and a smaller take-profit quantity.
  v1::ModifyTpslOrderRequest mt;
  mt.set_symbol("BTCUSDT");
  mt.set_order_id(tpsl_r.order_id());
  mt.mutable_tpsl()->set_tp_price("190000");
  mt.mutable_tpsl()->set_sl_price("2000");
  mt.set_tp_qty("0.005");
  v1::ModifyTpslOrderResponse mt_r;
  ASSERT_GRPC_OK(stub.ModifyTpslOrder(h.Ctx().get(), mt, &mt_r));
  EXPECT_EQ(mt_r.order_id(), tpsl_r.order_id());
  ASSERT_GRPC_OK(stub.ListTpslOrders(h.Ctx().get(), lt, &lt_r));
  ASSERT_EQ(lt_r.orders_size(), 1);
  EXPECT_EQ(lt_r.orders(0).tpsl().tp_price(), "190000");
  EXPECT_EQ(lt_r.orders(0).tpsl().sl_price(), "2000");
  EXPECT_EQ(lt_r.orders(0).tp_qty(), "0.005");
  EXPECT_EQ(lt_r.orders(0).sl_qty(), "0.01");  // an empty sl_qty keeps the quantity

  // Refused before the exchange: no order id, a quantity on a whole-position TP/SL, paging
  // without history.
  v1::ModifyTpslOrderRequest bad_mt = mt;
  bad_mt.clear_order_id();
  EXPECT_EQ(stub.ModifyTpslOrder(h.Ctx().get(), bad_mt, &mt_r).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::PlaceTpslOrderRequest whole = tpsl;
  whole.set_whole_position(true);
  v1::PlaceTpslOrderResponse whole_r;
  grpc::Status refused = stub.PlaceTpslOrder(h.Ctx().get(), whole, &whole_r);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(refused.error_message().find("leave tp_qty and sl_qty empty"), std::string::npos) << refused.error_message();
  // A partial TP/SL with no quantity (the exchange requires at least one): the gateway says what
  // to set instead of forwarding it for the exchange's bare parameter error.
  v1::PlaceTpslOrderRequest no_qty = tpsl;
  no_qty.clear_tp_qty();
  no_qty.clear_sl_qty();
  refused = stub.PlaceTpslOrder(h.Ctx().get(), no_qty, &whole_r);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(refused.error_message().find("set tp_qty and/or sl_qty"), std::string::npos) << refused.error_message();
  v1::ListTpslOrdersRequest paged = lt;
  paged.set_limit(10);
  EXPECT_EQ(stub.ListTpslOrders(h.Ctx().get(), paged, &lt_r).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // A whole-position TP/SL, changed through its position id.
  whole.clear_tp_qty();
  whole.clear_sl_qty();
  ASSERT_GRPC_OK(stub.PlaceTpslOrder(h.Ctx().get(), whole, &whole_r));
  EXPECT_FALSE(whole_r.order_id().empty());
  v1::ModifyTpslOrderRequest mw;
  mw.set_symbol("BTCUSDT");
  mw.set_whole_position(true);
  mw.set_position_id(p.position_id());
  mw.mutable_tpsl()->set_tp_price("180000");
  ASSERT_GRPC_OK(stub.ModifyTpslOrder(h.Ctx().get(), mw, &mt_r));
  EXPECT_EQ(mt_r.order_id(), whole_r.order_id());
  ASSERT_GRPC_OK(stub.ListTpslOrders(h.Ctx().get(), lt, &lt_r));
  ASSERT_EQ(lt_r.orders_size(), 2);
  bool saw_whole = false;
  for (const auto& o : lt_r.orders()) {
    if (o.order_id() != whole_r.order_id()) continue;
    saw_whole = true;
    EXPECT_TRUE(o.whole_position());
    EXPECT_EQ(o.tpsl().tp_price(), "180000");
    EXPECT_TRUE(o.tp_qty().empty());
  }
  EXPECT_TRUE(saw_whole);

  v1::CancelTpslOrderRequest ct;
  ct.set_symbol("BTCUSDT");
  ct.set_order_id(tpsl_r.order_id());
  v1::CancelTpslOrderResponse ct_r;
  ASSERT_GRPC_OK(stub.CancelTpslOrder(h.Ctx().get(), ct, &ct_r));
  // The cancelled one moves to the history; the whole-position one stays pending.
  v1::ListTpslOrdersRequest tpsl_hist = lt;
  tpsl_hist.set_history(true);
  tpsl_hist.set_limit(50);
  ASSERT_GRPC_OK(stub.ListTpslOrders(h.Ctx().get(), tpsl_hist, &lt_r));
  ASSERT_EQ(lt_r.orders_size(), 1);
  EXPECT_EQ(lt_r.total(), 1);
  EXPECT_EQ(lt_r.orders(0).order_id(), tpsl_r.order_id());
  EXPECT_EQ(lt_r.orders(0).status(), "CANCELED");
  ASSERT_GRPC_OK(stub.ListTpslOrders(h.Ctx().get(), lt, &lt_r));
  ASSERT_EQ(lt_r.orders_size(), 1);
  EXPECT_EQ(lt_r.orders(0).order_id(), whole_r.order_id());

  v1::AdjustPositionMarginRequest adj;
  adj.set_symbol("BTCUSDT");
  adj.set_amount("10");
  adj.set_position_id(p.position_id());
  v1::AdjustPositionMarginResponse adj_r;
  ASSERT_GRPC_OK(stub.AdjustPositionMargin(h.Ctx().get(), adj, &adj_r));

  v1::FlashClosePositionRequest fc;
  fc.set_position_id(p.position_id());
  v1::FlashClosePositionResponse fc_r;
  ASSERT_GRPC_OK(stub.FlashClosePosition(h.Ctx().get(), fc, &fc_r));
  EXPECT_EQ(fc_r.position_id(), p.position_id());
  ASSERT_TRUE(WaitUntil(
      [&] { return stub.ListPositions(h.Ctx().get(), v1::ListPositionsRequest(), &pos).ok() && pos.positions_size() == 0; },
      5s));
  v1::ListPositionHistoryRequest ph;
  ph.set_symbol("BTCUSDT");
  v1::ListPositionHistoryResponse ph_r;
  ASSERT_GRPC_OK(stub.ListPositionHistory(h.Ctx().get(), ph, &ph_r));
  EXPECT_GE(ph_r.positions_size(), 1);

  mkt.set_client_id("e2e-mkt-2");
  ASSERT_GRPC_OK(h.Place(mkt, &mkt_r));
  v1::CloseAllPositionsRequest cap;
  cap.set_symbol("BTCUSDT");
  v1::CloseAllPositionsResponse cap_r;
  ASSERT_GRPC_OK(stub.CloseAllPositions(h.Ctx().get(), cap, &cap_r));
  EXPECT_TRUE(WaitUntil(
      [&] { return stub.ListPositions(h.Ctx().get(), v1::ListPositionsRequest(), &pos).ok() && pos.positions_size() == 0; },
      5s));
}

// The names of this process's threads (/proc/self/task/*/comm).
std::multiset<std::string> ThreadNames() {
  std::multiset<std::string> names;
  DIR* d = opendir("/proc/self/task");
  if (d == nullptr) return names;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream f(std::string("/proc/self/task/") + e->d_name + "/comm");
    std::string name;
    if (std::getline(f, name)) names.insert(name);
  }
  closedir(d);
  return names;
}

// --busy-poll really changes who serves: one "orders-loop" thread instead of the queue thread
// and the io thread; the default keeps those two. Either way a placement goes through and its
// push reaches an update stream.
TEST(OrdersSim, BusyPollServesFromOneLoopThreadAndTheDefaultFromTwo) {
  for (const bool busy : {true, false}) {
    SCOPED_TRACE(busy ? "--busy-poll" : "default");
    SimHarness h;
    h.Start([busy](OrdersAppOptions& o) { o.busy_poll = busy; });
    const auto names = ThreadNames();
    EXPECT_EQ(names.count("orders-loop"), busy ? 1u : 0u);
    EXPECT_EQ(names.count("orders-io"), busy ? 0u : 1u);
    EXPECT_EQ(names.count("orders-grpc-cq"), busy ? 0u : 1u);
    auto sctx = h.Ctx();
    v1::StreamUpdatesRequest sreq;
    sreq.set_skip_snapshot(true);
    auto stream = h.stub().StreamUpdates(sctx.get(), sreq);
    v1::StreamUpdatesResponse batch;
    const std::string cid = busy ? "busy-loop-1" : "two-threads-1";
    v1::PlaceOrderResponse placed;
    ASSERT_GRPC_OK(h.Place(RestingBuy(cid), &placed));
    EXPECT_EQ(placed.result(), v1::PLACE_RESULT_ACCEPTED);
    bool seen = false;
    while (!seen && stream->Read(&batch)) {
      for (const auto& ev : batch.events()) seen = seen || (ev.has_order() && ev.order().client_id() == cid);
    }
    EXPECT_TRUE(seen) << "the placement's push never reached the stream";
    sctx->TryCancel();
    stream->Finish();
    h.app().Shutdown(std::chrono::milliseconds(500));
    EXPECT_EQ(ThreadNames().count("orders-loop"), 0u) << "the loop thread outlived Shutdown";
  }
}

TEST(OrdersSim, SameClientIdNeverPlacesTwice) {
  SimHarness h;
  h.Start();
  v1::PlaceOrderResponse a, b, c;
  ASSERT_GRPC_OK(h.Place(RestingBuy("dup-1"), &a));
  ASSERT_GRPC_OK(h.Place(RestingBuy("dup-1"), &b));
  EXPECT_EQ(a.result(), v1::PLACE_RESULT_ACCEPTED);
  EXPECT_EQ(b.result(), v1::PLACE_RESULT_DUPLICATE);
  EXPECT_EQ(b.order_id(), a.order_id());
  EXPECT_EQ(h.sim().CountClientId("dup-1"), 1);
  auto ctx = h.Ctx();
  grpc::Status s = h.stub().PlaceOrder(ctx.get(), RestingBuy("dup-1", "0.02"), &c);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(ReadError(*ctx, s).reason, "DUPLICATE_CLIENT_ID");
  EXPECT_EQ(h.sim().CountClientId("dup-1"), 1);
  // Generated client ids are returned, and distinct.
  v1::PlaceOrderResponse g1, g2;
  ASSERT_GRPC_OK(h.Place(RestingBuy(""), &g1));
  ASSERT_GRPC_OK(h.Place(RestingBuy(""), &g2));
  EXPECT_NE(g1.client_id(), g2.client_id());
  EXPECT_EQ(h.sim().CountClientId(g1.client_id()), 1);
}

TEST(OrdersSim, RefusalsCarryRichDetailsAndTrailers) {
  SimHarness h;
  h.Start();
  {
    auto ctx = h.Ctx();
    v1::PlaceOrderResponse r;
    grpc::Status s = h.stub().PlaceOrder(ctx.get(), RestingBuy("v-1", "0.00001"), &r);
    ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    auto e = ReadError(*ctx, s);
    EXPECT_EQ(e.reason, "VALIDATION");
    EXPECT_EQ(e.code, "0");
    ASSERT_TRUE(e.has_detail);
    EXPECT_EQ(e.detail.reason(), "VALIDATION");
    EXPECT_NE(s.error_message().find("basePrecision"), std::string::npos) << s.error_message();
  }
  for (const char* sym : {"HALTUSDT", "PREVIEWUSDT"}) {
    auto ctx = h.Ctx();
    v1::PlaceOrderRequest req = RestingBuy("v-2");
    req.set_symbol(sym);
    req.set_qty("1");
    req.set_price("1");
    v1::PlaceOrderResponse r;
    grpc::Status s = h.stub().PlaceOrder(ctx.get(), req, &r);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << sym << ": " << s.error_message();
    EXPECT_NE(s.error_message().find(sym), std::string::npos);
  }
  {
    v1::SetLeverageRequest lev;
    lev.set_symbol("BTCUSDT");
    lev.set_leverage(1);
    v1::SetLeverageResponse lev_r;
    ASSERT_GRPC_OK(h.stub().SetLeverage(h.Ctx().get(), lev, &lev_r));
    auto ctx = h.Ctx();
    v1::PlaceOrderResponse r;
    grpc::Status s = h.stub().PlaceOrder(ctx.get(), RestingBuy("v-3", "5", "80000"), &r);
    ASSERT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
    auto e = ReadError(*ctx, s);
    EXPECT_EQ(e.code, "20003");
    EXPECT_EQ(e.reason, "EXCHANGE_REJECTED");
    EXPECT_EQ(e.msg.find("Insufficient balance") != std::string::npos, true) << e.msg;
    EXPECT_EQ(e.detail.code(), 20003);
    EXPECT_EQ(e.detail.endpoint(), "/api/v1/futures/trade/place_order");
    EXPECT_EQ(e.detail.http_status(), 200);
    EXPECT_EQ(h.sim().CountClientId("v-3"), 0);
    // A definitive refusal placed nothing: the client id may carry a corrected order.
    ASSERT_GRPC_OK(h.Place(RestingBuy("v-3", "0.01", "20000"), &r));
    EXPECT_EQ(r.result(), v1::PLACE_RESULT_ACCEPTED);
    EXPECT_EQ(h.sim().CountClientId("v-3"), 1);
  }
  {
    auto ctx = h.Ctx();
    v1::GetOrderRequest g;
    g.mutable_order()->set_client_id("no-such-order");
    v1::GetOrderResponse r;
    grpc::Status s = h.stub().GetOrder(ctx.get(), g, &r);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(ReadError(*ctx, s).code, "20007");
  }
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(OrdersSim, CallersMustAuthenticateAndAreAudited) {
  char tmpl[] = "/tmp/orders-audit-XXXXXX";
  int fd = mkstemp(tmpl);
  close(fd);
  const std::string audit = tmpl;
  SimHarness h;
  h.Start([&](OrdersAppOptions& o) { o.audit_file = audit; });
  auto& stub = h.stub();
  v1::PlaceOrderResponse r;
  for (const std::string& token : {std::string(), std::string("not-a-valid-token-at-all")}) {
    auto ctx = h.Ctx(token);
    grpc::Status s = stub.PlaceOrder(ctx.get(), RestingBuy("auth-1"), &r);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(ReadError(*ctx, s).reason, "UNAUTHENTICATED");
  }
  {
    auto ctx = h.Ctx(kReadToken);
    grpc::Status s = stub.PlaceOrder(ctx.get(), RestingBuy("auth-1"), &r);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  v1::GetAccountResponse acc;
  EXPECT_TRUE(stub.GetAccount(h.Ctx(kReadToken).get(), v1::GetAccountRequest(), &acc).ok());
  EXPECT_EQ(stub.GetAccount(h.Ctx("").get(), v1::GetAccountRequest(), &acc).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  {
    auto ctx = h.Ctx("");
    auto reader = stub.StreamUpdates(ctx.get(), v1::StreamUpdatesRequest());
    v1::StreamUpdatesResponse msg;
    EXPECT_FALSE(reader->Read(&msg));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  EXPECT_EQ(h.sim().CountClientId("auth-1"), 0);
  ASSERT_GRPC_OK(h.Place(RestingBuy("auth-2"), &r));
  v1::FlashClosePositionRequest fc;
  fc.set_position_id("no-such-position");
  v1::FlashClosePositionResponse fc_r;
  EXPECT_FALSE(stub.FlashClosePosition(h.Ctx().get(), fc, &fc_r).ok());  // refused, and still audited
  h.app_->Shutdown(200ms);
  const std::string lines = ReadFile(audit);
  std::remove(audit.c_str());
  EXPECT_NE(lines.find(R"("caller":"unauthenticated","action":"PlaceOrder","client_id":"auth-1")"), std::string::npos)
      << lines;
  EXPECT_NE(lines.find(R"("caller":"it-viewer","action":"PlaceOrder")"), std::string::npos) << lines;
  EXPECT_NE(lines.find(R"("caller":"it-trader","action":"PlaceOrder","client_id":"auth-2","order_id":")"),
            std::string::npos)
      << lines;
  EXPECT_NE(lines.find("OK/PLACE_RESULT_ACCEPTED"), std::string::npos);
  // A position id is named in the detail, never passed off as an order id.
  EXPECT_NE(lines.find(R"("action":"FlashClosePosition","client_id":"","order_id":"")"), std::string::npos) << lines;
  EXPECT_NE(lines.find("flash close position=no-such-position"), std::string::npos) << lines;
  EXPECT_EQ(lines.find("GetAccount"), std::string::npos);  // reads are not audited
  EXPECT_EQ(lines.find(kTradeToken), std::string::npos);
  EXPECT_EQ(lines.find(testing::kSimSecret), std::string::npos);
}

// proto3 keeps enum numbers it does not know. A value no enum of this gateway defines (a client
// built against a newer proto, or a bug) is refused before anything is sent: it used to reach
// the exchange as an empty or default field, e.g. an unknown time in force placed as GTC.
TEST(OrdersSim, UnknownEnumValuesAreRefusedAndNothingIsSent) {
  SimHarness h;
  h.Start();
  auto expect_refused = [&](grpc::Status s, grpc::ClientContext& ctx, const std::string& field) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << field << ": " << s.error_message();
    EXPECT_NE(s.error_message().find(field), std::string::npos) << s.error_message();
    EXPECT_NE(s.error_message().find("nothing was sent"), std::string::npos) << s.error_message();
    EXPECT_EQ(ReadError(ctx, s).reason, "VALIDATION");
  };
  struct Case {
    std::string field;
    std::function<void(v1::PlaceOrderRequest&)> set;
  };
  const std::vector<Case> cases = {
      {"time_in_force is 9", [](auto& r) { r.set_time_in_force(static_cast<v1::TimeInForce>(9)); }},
      {"trade_side is 9", [](auto& r) { r.set_trade_side(static_cast<v1::TradeSide>(9)); }},
      {"tpsl.tp_order_type is 9",
       [](auto& r) {
         r.mutable_tpsl()->set_tp_price("90000");
         r.mutable_tpsl()->set_tp_order_type(static_cast<v1::OrderType>(9));
       }},
      {"tpsl.sl_stop_type is 7",
       [](auto& r) {
         r.mutable_tpsl()->set_sl_price("1000");
         r.mutable_tpsl()->set_sl_stop_type(static_cast<v1::StopType>(7));
       }},
  };
  int n = 0;
  for (const auto& c : cases) {
    const std::string id = "enum-" + std::to_string(++n);
    v1::PlaceOrderRequest req = RestingBuy(id);
    c.set(req);
    auto ctx = h.Ctx();
    v1::PlaceOrderResponse r;
    expect_refused(h.stub().PlaceOrder(ctx.get(), req, &r), *ctx, c.field);
    // In a batch too, nested one level deeper.
    v1::BatchPlaceOrdersRequest b;
    b.set_symbol("BTCUSDT");
    *b.add_orders() = req;
    auto bctx = h.Ctx();
    v1::BatchPlaceOrdersResponse br;
    expect_refused(h.stub().BatchPlaceOrders(bctx.get(), b, &br), *bctx, "orders[0]." + c.field);
    EXPECT_EQ(h.sim().CountClientId(id), 0);
  }
  {
    v1::SetMarginModeRequest m;
    m.set_symbol("BTCUSDT");
    m.set_margin_mode(static_cast<v1::MarginMode>(9));
    auto ctx = h.Ctx();
    v1::SetMarginModeResponse r;
    expect_refused(h.stub().SetMarginMode(ctx.get(), m, &r), *ctx, "margin_mode is 9");
  }
  {
    v1::ListOrderHistoryRequest q;
    q.set_symbol("BTCUSDT");
    q.set_status(static_cast<v1::OrderStatus>(99));
    auto ctx = h.Ctx();
    v1::ListOrderHistoryResponse r;
    expect_refused(h.stub().ListOrderHistory(ctx.get(), q, &r), *ctx, "status is 99");
  }
}

// An item of a live batch asking for a dry run is refused with the whole batch: it used to be
// placed for real.
TEST(OrdersSim, ADryRunItemInALiveBatchIsRefusedAndNothingIsPlaced) {
  SimHarness h;
  h.Start();
  v1::BatchPlaceOrdersRequest b;
  b.set_symbol("BTCUSDT");
  *b.add_orders() = RestingBuy("bdry-1");
  v1::PlaceOrderRequest dry = RestingBuy("bdry-2");
  dry.set_dry_run(true);
  *b.add_orders() = dry;
  auto ctx = h.Ctx();
  v1::BatchPlaceOrdersResponse r;
  grpc::Status s = h.stub().BatchPlaceOrders(ctx.get(), b, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_NE(s.error_message().find("orders[1].dry_run"), std::string::npos) << s.error_message();
  EXPECT_EQ(h.sim().CountClientId("bdry-1"), 0);
  EXPECT_EQ(h.sim().CountClientId("bdry-2"), 0);
  // The batch as a dry run: answered, nothing placed.
  b.set_dry_run(true);
  auto dctx = h.Ctx();
  ASSERT_GRPC_OK(h.stub().BatchPlaceOrders(dctx.get(), b, &r));
  ASSERT_EQ(r.results_size(), 2);
  EXPECT_EQ(r.results(1).result(), v1::PLACE_RESULT_DRY_RUN);
  EXPECT_EQ(h.sim().CountClientId("bdry-2"), 0);
  // An item the exchange refuses in its failure list carries the exchange's code and the HTTP
  // status of the reply, like every other exchange error.
  v1::BatchPlaceOrdersRequest live;
  live.set_symbol("BTCUSDT");
  v1::PlaceOrderRequest reduce = RestingBuy("bdry-3");
  reduce.set_reduce_only(true);  // nothing to reduce: refused
  *live.add_orders() = reduce;
  auto lctx = h.Ctx();
  ASSERT_GRPC_OK(h.stub().BatchPlaceOrders(lctx.get(), live, &r));
  ASSERT_EQ(r.results_size(), 1);
  ASSERT_TRUE(r.results(0).has_error()) << r.ShortDebugString();
  EXPECT_NE(r.results(0).error().code(), 0);
  EXPECT_EQ(r.results(0).error().http_status(), 200) << r.ShortDebugString();
}

TEST(OrdersSim, DryRunSendsNothing) {
  SimHarness h;
  h.Start();
  v1::PlaceOrderRequest req = RestingBuy("dry-1");
  req.set_dry_run(true);
  v1::PlaceOrderResponse r;
  ASSERT_GRPC_OK(h.Place(req, &r));
  EXPECT_EQ(r.result(), v1::PLACE_RESULT_DRY_RUN);
  EXPECT_EQ(r.dry_run().path(), "/api/v1/futures/trade/place_order");
  EXPECT_NE(r.dry_run().body().find("dry-1"), std::string::npos);
  EXPECT_EQ(r.dry_run().sign().size(), 64u);
  EXPECT_EQ(h.sim().CountClientId("dry-1"), 0);
}

}  // namespace
}  // namespace bx::orders
