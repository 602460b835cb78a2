// Ambiguous failures against the real simulator's REST fault injection, repeated in a bounded
// loop: timeouts, 5xx, 429, 10005/10006, resets and hangs, before and after the exchange executed
// the request. Never a duplicate order (checked on /control/orders), never a lost one (every order
// on the exchange was reported to the caller as placed).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "tests/orders/sim_clients.h"
#include "tests/orders/sim_harness.h"

namespace bx::orders {
namespace {

using namespace std::chrono_literals;
using testing::RestingBuy;
using testing::SimHarness;

TEST(OrdersSimFaults, AmbiguousPlacementsNeverDuplicateNorLose) {
  SimHarness h;
  // Injected 429/10005/10006 slow the bucket down (as they should); recover quickly so the loop
  // stays short.
  h.Start([](OrdersAppOptions& o) { o.limiter.recovery_step = std::chrono::milliseconds(200); });
  const std::vector<std::string> kinds = {"http_500", "http_502", "http_429", "code_10005",
                                          "code_10006", "reset", "hang"};
  std::set<std::string> reported;  // order ids the caller was told exist
  int n = 0;
  for (const auto& kind : kinds) {
    for (const char* apply : {"before", "after"}) {
      for (int rep = 0; rep < 2; ++rep) {
        const std::string cid = "amb-" + std::to_string(n++);
        nlohmann::json fault = {{"count", 1}, {"kind", kind}, {"apply", apply},
                                {"path", "/api/v1/futures/trade/place_order"}};
        if (kind == "hang") fault["hang_ms"] = 2500;  // longer than the 1.5 s REST timeout
        h.sim().Control("rest_faults", fault);
        v1::PlaceOrderResponse r;
        grpc::Status s = h.Place(RestingBuy(cid), &r, 12s);
        ASSERT_TRUE(s.ok()) << cid << " " << kind << "/" << apply << ": " << s.error_message();
        const int on_exchange = h.sim().CountClientId(cid);
        ASSERT_LE(on_exchange, 1) << cid;
        if (std::string(apply) == "after") {
          // The order exists: the caller learns it, with its id.
          EXPECT_EQ(r.result(), v1::PLACE_RESULT_ACCEPTED) << cid << " " << kind;
          EXPECT_EQ(on_exchange, 1) << cid;
          EXPECT_FALSE(r.order_id().empty());
          reported.insert(r.order_id());
        } else {
          EXPECT_EQ(r.result(), v1::PLACE_RESULT_UNKNOWN) << cid << " " << kind;
          EXPECT_EQ(on_exchange, 0) << cid;
          // Resubmitting with the same client id (the documented safe move) places it once.
          v1::PlaceOrderResponse again;
          ASSERT_TRUE(h.Place(RestingBuy(cid), &again, 12s).ok());
          EXPECT_EQ(again.result(), v1::PLACE_RESULT_ACCEPTED) << cid;
          EXPECT_EQ(h.sim().CountClientId(cid), 1) << cid;
          reported.insert(again.order_id());
        }
      }
    }
  }
  // Faults on any path (lookups included): the answers may need several reads.
  for (int rep = 0; rep < 4; ++rep) {
    const std::string cid = "amb-any-" + std::to_string(rep);
    h.sim().Control("rest_faults", {{"count", 3}, {"kind", rep % 2 ? "reset" : "http_502"}, {"apply", "after"}});
    v1::PlaceOrderResponse r;
    ASSERT_TRUE(h.Place(RestingBuy(cid), &r, 12s).ok());
    ASSERT_LE(h.sim().CountClientId(cid), 1);
    if (r.result() == v1::PLACE_RESULT_ACCEPTED) reported.insert(r.order_id());
    if (r.result() == v1::PLACE_RESULT_UNKNOWN) {
      // Background reconciliation (or a lookup now) must find it.
      v1::GetOrderRequest g;
      g.mutable_order()->set_client_id(cid);
      v1::GetOrderResponse got;
      ASSERT_TRUE(testing::WaitUntil([&] { return h.stub().GetOrder(h.Ctx().get(), g, &got).ok(); }, 10s));
      reported.insert(got.order().order_id());
    }
  }
  h.sim().Control("reset", nlohmann::json::object());
  // Never a duplicate, never a lost order: the exchange holds exactly the orders we reported.
  auto orders = h.sim().Get("/control/orders");
  std::map<std::string, int> per_cid;
  std::set<std::string> on_exchange;
  for (const auto& o : orders["orders"]) {
    ++per_cid[o.value("clientId", "")];
    on_exchange.insert(o.value("orderId", ""));
  }
  for (const auto& [cid, count] : per_cid) EXPECT_EQ(count, 1) << cid;
  EXPECT_EQ(on_exchange, reported);
}

TEST(OrdersSimFaults, ReadsRetryThroughTransientFaults) {
  SimHarness h;
  h.Start();
  h.sim().Control("rest_faults", {{"count", 2}, {"kind", "http_500"}, {"apply", "before"},
                                  {"path", "/api/v1/futures/account"}});
  v1::GetAccountResponse acc;
  grpc::Status s = h.stub().GetAccount(h.Ctx().get(), v1::GetAccountRequest(), &acc);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(acc.account().margin_coin(), "USDT");
}

TEST(OrdersSimFaults, CancelWithALostAnswerSaysSo) {
  SimHarness h;
  h.Start();
  v1::PlaceOrderResponse placed;
  ASSERT_TRUE(h.Place(RestingBuy("cx-1"), &placed).ok());
  h.sim().Control("rest_faults", {{"count", 1}, {"kind", "reset"}, {"apply", "after"},
                                  {"path", "/api/v1/futures/trade/cancel_orders"}});
  v1::CancelOrdersRequest c;
  c.set_symbol("BTCUSDT");
  c.add_orders()->set_order_id(placed.order_id());
  v1::CancelOrdersResponse r;
  auto ctx = h.Ctx();
  grpc::Status s = h.stub().CancelOrders(ctx.get(), c, &r);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_EQ(testing::ReadError(*ctx, s).reason, "AMBIGUOUS");
  // Cancelling again is harmless and tells the truth.
  v1::GetOrderRequest g;
  g.mutable_order()->set_order_id(placed.order_id());
  v1::GetOrderResponse got;
  ASSERT_TRUE(h.stub().GetOrder(h.Ctx().get(), g, &got).ok());
  EXPECT_EQ(got.order().status(), v1::ORDER_STATUS_CANCELED);
}

// A PlaceOrder whose exchange answer hangs for `hang_ms` after the exchange executed it, sent
// without waiting; returns once the order exists on the exchange.
using HungPlacement = testing::PendingCall<v1::PlaceOrderRequest, v1::PlaceOrderResponse>;
std::unique_ptr<HungPlacement> StartHungPlacement(SimHarness& h, const std::string& cid, int hang_ms) {
  h.sim().Control("rest_faults", {{"count", 1}, {"kind", "hang"}, {"apply", "after"}, {"hang_ms", hang_ms},
                                  {"path", "/api/v1/futures/trade/place_order"}});
  auto p = std::make_unique<HungPlacement>();
  p->ctx = h.Ctx();
  p->req = RestingBuy(cid);
  h.stub().async()->PlaceOrder(p->ctx.get(), &p->req, &p->resp,
                               [q = p.get()](grpc::Status s) { q->done.set_value(std::move(s)); });
  EXPECT_TRUE(testing::WaitUntil([&] { return h.sim().CountClientId(cid) == 1; }, 5s));
  return p;
}

// A caller that gives up (cancels, or its deadline passes) while the exchange is still answering
// ends its own call at once, with an audit record saying so; the order itself is not forgotten:
// the same client id later returns it, and the exchange holds it once.
TEST(OrdersSimFaults, ACancelledCallEndsAtOnceAndItsOrderIsNotForgotten) {
  char tmpl[] = "/tmp/orders-audit-cancel-XXXXXX";
  close(mkstemp(tmpl));
  const std::string audit = tmpl;
  SimHarness h;
  h.Start([&](OrdersAppOptions& o) { o.audit_file = audit; });
  auto call = StartHungPlacement(h, "cancel-1", 1000);
  call->ctx->TryCancel();  // the exchange executed it; its answer is still 1 s away
  ASSERT_EQ(call->status.wait_for(500ms), std::future_status::ready) << "the cancelled call did not end at once";
  EXPECT_EQ(call->status.get().error_code(), grpc::StatusCode::CANCELLED);

  v1::PlaceOrderResponse again;
  ASSERT_TRUE(h.Place(RestingBuy("cancel-1"), &again).ok());
  EXPECT_EQ(again.result(), v1::PLACE_RESULT_DUPLICATE);
  EXPECT_FALSE(again.order_id().empty());
  EXPECT_EQ(h.sim().CountClientId("cancel-1"), 1);
  h.app().Shutdown(200ms);
  std::stringstream lines;
  lines << std::ifstream(audit).rdbuf();
  std::remove(audit.c_str());
  EXPECT_NE(lines.str().find(R"("action":"PlaceOrder","client_id":"cancel-1","order_id":"","symbol":"BTCUSDT","result":"CANCELLED")"),
            std::string::npos)
      << lines.str();
  // What the exchange answered after the caller left is on record too, with the order id.
  EXPECT_NE(lines.str().find(absl::StrCat(R"("action":"PlaceOrder","client_id":"cancel-1","order_id":")",
                                          again.order_id(), R"(","symbol":"BTCUSDT","result":"LATE/OK/PLACE_RESULT_ACCEPTED")")),
            std::string::npos)
      << lines.str();
}

// Every exchange call hangs: the placement's lookups by client id cannot finish. The caller still
// gets its answer inside its own deadline: PLACE_RESULT_UNKNOWN with the client id the gateway
// generated (a bare DEADLINE_EXCEEDED would leave it without the id, and a retry under a new id
// could place the order twice).
TEST(OrdersSimFaults, AnUnresolvableAnswerStillArrivesBeforeTheCallersDeadline) {
  SimHarness h;
  h.Start();
  h.sim().Control("rest_faults", {{"count", 20}, {"kind", "hang"}, {"hang_ms", 20000}});
  v1::PlaceOrderResponse r;
  const auto t0 = std::chrono::steady_clock::now();
  grpc::Status s = h.Place(RestingBuy(""), &r, 4s);
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s);
  EXPECT_EQ(r.result(), v1::PLACE_RESULT_UNKNOWN);
  EXPECT_EQ(r.client_id().rfind("gw", 0), 0u) << r.client_id();
  EXPECT_EQ(h.sim().CountClientId(r.client_id()), 0);
}

// Starts one unary call of `req` without waiting (`start` names the async method).
template <class Resp, class Req, class Start>
std::unique_ptr<testing::PendingCall<Req, Resp>> StartCall(SimHarness& h, const Req& req, Start start) {
  auto p = std::make_unique<testing::PendingCall<Req, Resp>>();
  p->req = req;
  p->ctx = h.Ctx();
  start(h.stub().async(), p->ctx.get(), &p->req, &p->resp,
        [q = p.get()](grpc::Status s) { q->done.set_value(std::move(s)); });
  return p;
}

// Shutdown with calls still waiting on the exchange. A little before the grace ends, each gets an
// answer that says what happened, instead of gRPC's bare "Cancelling all calls": a placement that
// was sent is PLACE_RESULT_UNKNOWN with its client id (here one the gateway generated: the caller
// could not look the order up without it), so are a sent batch's items, unless the simulator's
// private push of the order reached the gateway first: then it is ACCEPTED with that order (the
// exchange's order under the id); a batch still waiting for
// its rate-limit token is UNAVAILABLE and not sent; any other call the exchange has not answered
// is UNAVAILABLE, SHUTTING_DOWN, saying it may have taken effect. Shutdown returns within its
// grace (plus slack), and nothing crashes when the exchange's answers come later.
TEST(OrdersSimFaults, ShutdownAnswersEveryCallStillWaiting) {
  SimHarness h;
  h.Start();
  v1::PlaceOrderResponse resting;
  ASSERT_TRUE(h.Place(RestingBuy("shutdown-resting"), &resting).ok());
  for (const char* path : {"/api/v1/futures/trade/place_order", "/api/v1/futures/trade/batch_order",
                           "/api/v1/futures/trade/cancel_orders"}) {
    h.sim().Control("rest_faults", {{"count", 1}, {"kind", "hang"}, {"apply", "after"}, {"hang_ms", 4000},
                                    {"path", path}});
  }
  using Async = v1::OrderService::Stub::async_interface;
  auto place = StartCall<v1::PlaceOrderResponse>(h, RestingBuy(""), [](Async* a, auto... args) { a->PlaceOrder(args...); });
  v1::BatchPlaceOrdersRequest batch;
  batch.set_symbol("BTCUSDT");
  *batch.add_orders() = RestingBuy("shutdown-batch-1");
  *batch.add_orders() = RestingBuy("");
  auto sent_batch = StartCall<v1::BatchPlaceOrdersResponse>(
      h, batch, [](Async* a, auto... args) { a->BatchPlaceOrders(args...); });
  ASSERT_TRUE(testing::WaitUntil([&] { return h.sim().CountClientId("shutdown-batch-1") == 1; }, 5s));
  // The batch budget is one per second: this one waits for a token the first one took.
  v1::BatchPlaceOrdersRequest queued = batch;
  queued.mutable_orders(0)->set_client_id("shutdown-batch-queued");
  queued.mutable_orders(1)->set_client_id("shutdown-batch-queued-2");
  auto queued_batch = StartCall<v1::BatchPlaceOrdersResponse>(
      h, queued, [](Async* a, auto... args) { a->BatchPlaceOrders(args...); });
  v1::CancelOrdersRequest cancel;
  cancel.set_symbol("BTCUSDT");
  cancel.add_orders()->set_order_id(resting.order_id());
  auto cancel_call = StartCall<v1::CancelOrdersResponse>(
      h, cancel, [](Async* a, auto... args) { a->CancelOrders(args...); });
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        const auto j = h.sim().Get("/control/orders");
        for (const auto& o : j.value("orders", nlohmann::json::array())) {
          if (o.value("clientId", "") == "shutdown-resting") {
            return o.value("status", "").find("CANCEL") != std::string::npos;
          }
        }
        return false;
      },
      5s))
      << "the cancel did not reach the exchange";

  const auto t0 = std::chrono::steady_clock::now();
  h.app().Shutdown(1000ms);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  for (auto* f : {&place->status, &sent_batch->status, &queued_batch->status, &cancel_call->status}) {
    ASSERT_EQ(f->wait_for(2s), std::future_status::ready);
  }

  // UNKNOWN without an order id, or (its push came first) ACCEPTED with the exchange's order.
  auto expect_answered = [&](v1::PlaceResult result, const std::string& client_id, const std::string& order_id) {
    if (result == v1::PLACE_RESULT_ACCEPTED) {
      std::string on_exchange;
      for (const auto& o : h.sim().Get("/control/orders").value("orders", nlohmann::json::array())) {
        if (o.value("clientId", "") == client_id) on_exchange = o.value("orderId", "");
      }
      EXPECT_FALSE(order_id.empty()) << client_id;
      EXPECT_EQ(order_id, on_exchange) << client_id;
    } else {
      EXPECT_EQ(result, v1::PLACE_RESULT_UNKNOWN) << client_id;
      EXPECT_TRUE(order_id.empty()) << client_id;
    }
  };
  grpc::Status s = place->status.get();
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  expect_answered(place->resp.result(), place->resp.client_id(), place->resp.order_id());
  EXPECT_EQ(place->resp.client_id().rfind("gw", 0), 0u) << place->resp.client_id();
  EXPECT_EQ(h.sim().CountClientId(place->resp.client_id()), 1) << "the id returned is the one the exchange holds";

  s = sent_batch->status.get();
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  ASSERT_EQ(sent_batch->resp.results_size(), 2);
  for (const auto& item : sent_batch->resp.results()) {
    expect_answered(item.result(), item.client_id(), item.order_id());
    EXPECT_EQ(h.sim().CountClientId(item.client_id()), 1) << item.ShortDebugString();
  }
  EXPECT_EQ(sent_batch->resp.results(0).client_id(), "shutdown-batch-1");

  s = queued_batch->status.get();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_EQ(testing::ReadError(*queued_batch->ctx, s).reason, "SHUTTING_DOWN");
  EXPECT_NE(s.error_message().find("not sent"), std::string::npos) << s.error_message();
  EXPECT_EQ(h.sim().CountClientId("shutdown-batch-queued"), 0);

  s = cancel_call->status.get();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_EQ(testing::ReadError(*cancel_call->ctx, s).reason, "SHUTTING_DOWN");
  EXPECT_NE(s.error_message().find("may have taken effect"), std::string::npos) << s.error_message();
}

}  // namespace
}  // namespace bx::orders
