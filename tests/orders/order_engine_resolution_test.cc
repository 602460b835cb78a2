// The order engine against FakeExchange on a manual scheduler: how a placement's outcome is
// resolved when answers, lookups and pushes race or are lost (which view wins, when a placement is
// declared absent, what reaches StreamUpdates).
#include "services/orders/order_engine.h"

#include <gtest/gtest.h>

#include <optional>

#include <nlohmann/json.hpp>

#include "services/orders/errors.h"
#include "services/orders/rate_limiter.h"
#include "services/orders/rest_parse.h"
#include "tests/orders/engine_harness.h"

namespace bx::orders {
namespace {

using namespace std::chrono_literals;
using testing::EngineHarness;
using testing::Fault;
using testing::FaultKind;
using testing::LimitBuy;

constexpr char kPlacePath[] = "/api/v1/futures/trade/place_order";
constexpr char kDetailPath[] = "/api/v1/futures/trade/get_order_detail";

// A private-stream order push (the fake exchange stamps its own views 1700000000000).
v1::Order Push(const std::string& order_id, const std::string& client_id, v1::OrderStatus status,
               int64_t update_time_ms) {
  v1::Order o;
  o.set_order_id(order_id);
  o.set_client_id(client_id);
  o.set_symbol("BTCUSDT");
  o.set_side(bitunix::common::v1::SIDE_BUY);
  o.set_type(v1::ORDER_TYPE_LIMIT);
  o.set_qty("0.01");
  o.set_price("60000.5");
  o.set_status(status);
  o.set_status_raw(v1::OrderStatus_Name(status));
  o.set_update_time_ms(update_time_ms);
  return o;
}

// A batch item's fill push can beat the batch reply: the ack must not set the order back to INIT
// (the single-order path keeps a pushed status too).
TEST(OrderEngineResolution, ABatchAckKeepsTheStatusOfAPushThatArrivedBeforeIt) {
  EngineHarness h;
  h.LoadRules();
  h.exchange.set_reply_delay(50ms);  // the push beats the REST reply
  v1::BatchPlaceOrdersRequest b;
  b.set_symbol("BTCUSDT");
  *b.add_orders() = LimitBuy("batch-pushed");
  std::optional<absl::StatusOr<v1::BatchPlaceOrdersResponse>> out;
  h.engine.BatchPlaceOrders(b, h.In(10s), [&](auto r) { out = std::move(r); });
  h.sched.RunUntilIdle();
  ASSERT_EQ(h.exchange.orders().size(), 1u);  // executed; its reply is 50 ms away
  ASSERT_FALSE(out.has_value());
  h.engine.OnOrderUpdate(Push(h.exchange.orders()[0].order_id, "batch-pushed", v1::ORDER_STATUS_FILLED, 1700000009999));
  h.sched.AdvanceUntil([&] { return out.has_value(); }, 5s);
  ASSERT_TRUE(out && out->ok());
  ASSERT_EQ((*out)->results(0).result(), v1::PLACE_RESULT_ACCEPTED);
  auto dup = h.Place(LimitBuy("batch-pushed"));
  ASSERT_TRUE(dup.ok()) << dup.status();
  EXPECT_EQ(dup->result(), v1::PLACE_RESULT_DUPLICATE);
  EXPECT_EQ(dup->order().status(), v1::ORDER_STATUS_FILLED) << dup->order().status_raw();
}

// A lost placement answer is resolved by a lookup; a fill push that arrives while the lookup's
// (older) read is on its way stays the order's view, for the ACCEPTED answer and later DUPLICATEs.
TEST(OrderEngineResolution, ALookupReadOlderThanAPushDoesNotReplaceIt) {
  EngineHarness h;
  h.LoadRules();
  h.exchange.AddFault({kPlacePath, FaultKind::kReset, /*after=*/true});
  h.exchange.set_reply_delay(50ms);
  std::optional<absl::StatusOr<v1::PlaceOrderResponse>> out;
  h.engine.PlaceOrder(LimitBuy("looked-up"), h.In(10s), [&](auto r) { out = std::move(r); });
  h.sched.RunUntilIdle();
  ASSERT_EQ(h.exchange.orders().size(), 1u);
  const std::string order_id = h.exchange.orders()[0].order_id;
  // The reset arrives and the order-detail lookup is sent (it reads NEW at the exchange).
  const int details = h.exchange.calls(kDetailPath);
  h.sched.AdvanceUntil([&] { return h.exchange.calls(kDetailPath) > details; }, 1s, 1ms);
  ASSERT_FALSE(out.has_value());
  // The order fills; the push arrives before the lookup's reply.
  h.exchange.SetOrderStatus("looked-up", "FILLED");
  h.engine.OnOrderUpdate(Push(order_id, "looked-up", v1::ORDER_STATUS_FILLED, 1700000009999));
  h.sched.AdvanceUntil([&] { return out.has_value(); }, 5s);
  ASSERT_TRUE(out && out->ok());
  EXPECT_EQ((*out)->result(), v1::PLACE_RESULT_ACCEPTED);
  EXPECT_EQ((*out)->order().status(), v1::ORDER_STATUS_FILLED);
  auto dup = h.Place(LimitBuy("looked-up"));
  ASSERT_TRUE(dup.ok()) << dup.status();
  EXPECT_EQ(dup->order().status(), v1::ORDER_STATUS_FILLED);
}

// At the end of the reconcile window, "not found" from the order detail alone (the view that can
// lag) does not make a placement absent while the open-order and history reads failed: the order
// is live and listed, and the next lookup finds it.
TEST(OrderEngineResolution, AbsenceIsConcludedOnlyWhenEveryStepOfTheLookupAnswered) {
  EngineOptions eo;
  eo.reconcile_window = 20s;
  EngineHarness h(testing::GenerousLimits(), eo);
  h.LoadRules();
  h.exchange.AddFault({kPlacePath, FaultKind::kHang, false});
  ASSERT_EQ(h.Place(LimitBuy("lagging"))->result(), v1::PLACE_RESULT_UNKNOWN);
  // Lookups at about 1, 3, 7 and 15 s find nothing; the next one is past the window.
  h.sched.Advance(29500ms);
  ASSERT_EQ(h.engine.Placement("lagging")->state, OrderEngine::PlacementState::kUnknown);
  h.exchange.InjectOrder("lagging");  // the first attempt lands late
  h.exchange.set_detail_lag(1);       // the detail view has not caught up yet
  h.exchange.AddFault({"/api/v1/futures/trade/get_pending_orders", FaultKind::kHttp500, false, 3});
  h.exchange.AddFault({"/api/v1/futures/trade/get_history_orders", FaultKind::kHttp500, false, 3});
  h.sched.Advance(5s);
  EXPECT_NE(h.engine.Placement("lagging")->state, OrderEngine::PlacementState::kAbsent);
  h.sched.Advance(60s);  // the lookups that follow can read it
  EXPECT_EQ(h.engine.Placement("lagging")->state, OrderEngine::PlacementState::kAccepted);
  EXPECT_EQ(h.exchange.CountClientId("lagging"), 1u);
}

// A resubmission of an UNKNOWN placement that was sent and whose answer is lost as well is
// reconciled for a whole window from its own send (not what was left of the first attempt's), so
// a late landing of the re-send is found and published.
TEST(OrderEngineResolution, AnAmbiguousResendIsReconciledForAWholeWindowFromItsOwnSend) {
  EngineOptions eo;
  eo.reconcile_window = 60s;
  EngineHarness h(testing::GenerousLimits(), eo);
  h.LoadRules();
  std::vector<v1::Order> reconciled;
  h.engine.set_reconciled_sink([&](const v1::Order& o) { reconciled.push_back(o); });
  h.exchange.AddFault({kPlacePath, FaultKind::kHang, false});
  ASSERT_EQ(h.Place(LimitBuy("resent"))->result(), v1::PLACE_RESULT_UNKNOWN);
  h.sched.Advance(55s);  // the first attempt is still unknown (nothing on the exchange)
  ASSERT_EQ(h.engine.Placement("resent")->state, OrderEngine::PlacementState::kUnknown);
  // The caller resubmits; the re-send's answer is lost as well.
  h.exchange.AddFault({kPlacePath, FaultKind::kHang, false});
  auto again = h.Place(LimitBuy("resent"));
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(again->result(), v1::PLACE_RESULT_UNKNOWN);
  // Still reconciling well past the first attempt's window.
  h.sched.Advance(45s);
  EXPECT_EQ(h.engine.Placement("resent")->state, OrderEngine::PlacementState::kUnknown);
  h.exchange.InjectOrder("resent");  // the re-send lands late
  h.sched.Advance(30s);
  EXPECT_EQ(h.engine.Placement("resent")->state, OrderEngine::PlacementState::kAccepted);
  EXPECT_EQ(reconciled.size(), 1u);
  EXPECT_EQ(h.exchange.CountClientId("resent"), 1u);
}

// A placement reconciliation declared absent can still have landed (late): the next
// resubmission looks the id up before sending, and is answered with the live order instead of the
// exchange's refusal of a second one (which the caller would read as "not placed").
TEST(OrderEngineResolution, AResubmissionAfterReconciledAbsenceLooksTheIdUpFirst) {
  EngineOptions eo;
  eo.reconcile_window = 20s;
  EngineHarness h(testing::GenerousLimits(), eo);
  h.LoadRules();
  h.exchange.AddFault({kPlacePath, FaultKind::kHang, false});
  ASSERT_EQ(h.Place(LimitBuy("late"))->result(), v1::PLACE_RESULT_UNKNOWN);
  h.sched.AdvanceUntil([&] { return h.engine.Placement("late")->state == OrderEngine::PlacementState::kAbsent; },
                       120s, 100ms);
  ASSERT_EQ(h.engine.Placement("late")->state, OrderEngine::PlacementState::kAbsent);
  h.exchange.InjectOrder("late");                            // it landed after all
  h.exchange.AddFault({kPlacePath, FaultKind::kRefuse, false});  // a second one would be refused (20003)
  const int placements = h.exchange.calls(kPlacePath);
  auto third = h.Place(LimitBuy("late"));
  ASSERT_TRUE(third.ok()) << "live order reported as refused: " << third.status();
  EXPECT_EQ(third->result(), v1::PLACE_RESULT_DUPLICATE);
  EXPECT_FALSE(third->order_id().empty());
  EXPECT_EQ(h.exchange.calls(kPlacePath), placements);  // nothing sent
  EXPECT_EQ(h.exchange.CountClientId("late"), 1u);
  // Found absent again by that lookup, a resubmission is sent as before.
  h.exchange.ClearFaults();
  h.exchange.AddFault({kPlacePath, FaultKind::kHang, false});
  ASSERT_EQ(h.Place(LimitBuy("late-2"))->result(), v1::PLACE_RESULT_UNKNOWN);
  h.sched.AdvanceUntil([&] { return h.engine.Placement("late-2")->state == OrderEngine::PlacementState::kAbsent; },
                       120s, 100ms);
  auto placed = h.Place(LimitBuy("late-2"));
  ASSERT_TRUE(placed.ok()) << placed.status();
  EXPECT_EQ(placed->result(), v1::PLACE_RESULT_ACCEPTED);
  EXPECT_EQ(h.exchange.CountClientId("late-2"), 1u);
}

// A batch sends a resubmitted id without looking it up first: when reconciliation only stopped
// finding an earlier attempt, the exchange's refusal of the re-send (20003: the margin a late
// landing uses) does not tell the item "not placed": it is UNKNOWN, and the late order is found.
TEST(OrderEngineResolution, ARefusedBatchResendAfterReconciledAbsenceIsUnknownNotRefused) {
  EngineOptions eo;
  eo.reconcile_window = 20s;
  EngineHarness h(testing::GenerousLimits(), eo);
  h.LoadRules();
  h.exchange.AddFault({kPlacePath, FaultKind::kHang, false});
  ASSERT_EQ(h.Place(LimitBuy("late-b"))->result(), v1::PLACE_RESULT_UNKNOWN);
  h.sched.AdvanceUntil([&] { return h.engine.Placement("late-b")->state == OrderEngine::PlacementState::kAbsent; },
                       120s, 100ms);
  ASSERT_EQ(h.engine.Placement("late-b")->state, OrderEngine::PlacementState::kAbsent);
  h.exchange.InjectOrder("late-b");  // it landed after all
  h.exchange.AddFault({"/api/v1/futures/trade/batch_order", FaultKind::kRefuse, false});
  v1::BatchPlaceOrdersRequest b;
  b.set_symbol("BTCUSDT");
  *b.add_orders() = LimitBuy("late-b");
  auto r = h.Run(&OrderEngine::BatchPlaceOrders, b);
  ASSERT_TRUE(r.ok()) << "live order reported as refused: " << r.status();
  ASSERT_EQ(r->results_size(), 1);
  EXPECT_EQ(r->results(0).result(), v1::PLACE_RESULT_UNKNOWN);
  EXPECT_FALSE(r->results(0).has_error()) << r->results(0).DebugString();
  h.sched.Advance(10s);
  EXPECT_EQ(h.engine.Placement("late-b")->state, OrderEngine::PlacementState::kAccepted);
  EXPECT_EQ(h.exchange.CountClientId("late-b"), 1u);
}

// A background lookup still out when the caller re-sends the placement, and answered after the
// re-send turned UNKNOWN again, is stale: it neither decides anything nor starts a second
// reconcile timer chain next to the re-send's own (which would double the lookups for good).
TEST(OrderEngineResolution, ALookupIssuedBeforeAResendDoesNotStartASecondReconcileChain) {
  EngineOptions eo;
  eo.reconcile_max_interval = 30s;
  eo.reconcile_window = 10min;
  EngineHarness h(testing::GenerousLimits(), eo);
  h.LoadRules();
  h.exchange.AddFault({kPlacePath, FaultKind::kHang, false});
  ASSERT_EQ(h.Place(LimitBuy("stale"))->result(), v1::PLACE_RESULT_UNKNOWN);
  // The first background lookup (after 1 s) gets no answer for 5 s (then it is retried).
  h.exchange.AddFault({kDetailPath, FaultKind::kHang, false});
  const int before = h.exchange.calls(kDetailPath);
  h.sched.AdvanceUntil([&] { return h.exchange.calls(kDetailPath) > before; }, 5s, 10ms);
  ASSERT_GT(h.exchange.calls(kDetailPath), before);
  // Meanwhile the caller resubmits; the re-send's answer is lost too: UNKNOWN again, well before
  // that lookup's answer comes.
  h.exchange.AddFault({kPlacePath, FaultKind::kReset, false});
  ASSERT_EQ(h.Place(LimitBuy("stale"))->result(), v1::PLACE_RESULT_UNKNOWN);
  // Once the interval reaches its 30 s cap, one chain looks once per 30 s.
  h.sched.Advance(200s);
  const int settled = h.exchange.calls(kDetailPath);
  h.sched.Advance(90s);
  EXPECT_EQ(h.exchange.calls(kDetailPath) - settled, 3) << "lookups in 90 s at a 30 s interval";
  EXPECT_EQ(h.engine.Placement("stale")->state, OrderEngine::PlacementState::kUnknown);
  EXPECT_EQ(h.engine.unknown_placements(), 1u);
}

// The exchange's 30042 (the client id exists: placed before a restart) is an answer about the
// order, not about the request's timestamp: it is not re-signed when the clock estimate moves (the
// re-send, short of a rate-limit token, used to turn it into "retry later" and mark the id absent).
TEST(OrderEngineResolution, A30042IsNotReSignedWhenTheClockEstimateMoves) {
  RateLimiterOptions limits = testing::GenerousLimits();
  limits.buckets[static_cast<size_t>(Bucket::kPrivate)] = {1, 1};
  EngineHarness h(limits);
  h.LoadRules();
  h.exchange.InjectOrder("restarted");  // placed before a restart
  h.exchange.set_clock_offset_ms(5000);  // the host clock was stepped back 5 s
  const int placements = h.exchange.calls(kPlacePath);
  auto r = h.Place(LimitBuy("restarted"), 800ms);
  ASSERT_TRUE(r.ok()) << "the exchange said 30042 (the order exists), the caller got: " << r.status();
  EXPECT_TRUE(r->result() == v1::PLACE_RESULT_DUPLICATE || r->result() == v1::PLACE_RESULT_UNKNOWN)
      << v1::PlaceResult_Name(r->result());
  EXPECT_EQ(h.exchange.calls(kPlacePath), placements + 1);
  ASSERT_TRUE(h.engine.Placement("restarted").has_value());
  EXPECT_NE(h.engine.Placement("restarted")->state, OrderEngine::PlacementState::kAbsent);
  // With tokens to spare the lookup reads it: DUPLICATE, still from the one request.
  h.sched.Advance(5s);
  auto again = h.Place(LimitBuy("restarted"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->result(), v1::PLACE_RESULT_DUPLICATE);
  EXPECT_EQ(h.exchange.CountClientId("restarted"), 1u);
}

// An UNKNOWN placement is published on StreamUpdates once found, also when a caller's GetOrder
// finds it (the private push may have been missed, or the private stream is off).
TEST(OrderEngineResolution, AnUnknownPlacementFoundByGetOrderIsPublishedOnce) {
  EngineHarness h;
  h.LoadRules();
  std::vector<v1::Order> reconciled;
  h.engine.set_reconciled_sink([&](const v1::Order& o) { reconciled.push_back(o); });
  h.exchange.AddFault({kPlacePath, FaultKind::kHang, false});
  ASSERT_EQ(h.Place(LimitBuy("got"))->result(), v1::PLACE_RESULT_UNKNOWN);
  h.exchange.InjectOrder("got");  // it landed late
  v1::GetOrderRequest g;
  g.mutable_order()->set_client_id("got");
  ASSERT_TRUE(h.Run(&OrderEngine::GetOrder, g).ok());
  ASSERT_TRUE(h.Run(&OrderEngine::GetOrder, g).ok());
  h.sched.Advance(120s);
  EXPECT_EQ(h.engine.Placement("got")->state, OrderEngine::PlacementState::kAccepted);
  ASSERT_EQ(reconciled.size(), 1u);
  EXPECT_EQ(reconciled[0].client_id(), "got");
  EXPECT_FALSE(reconciled[0].order_id().empty());
}

// The same when a resubmission's lookup finds it.
TEST(OrderEngineResolution, AnUnknownPlacementFoundByAResubmissionIsPublishedOnce) {
  EngineHarness h;
  h.LoadRules();
  std::vector<v1::Order> reconciled;
  h.engine.set_reconciled_sink([&](const v1::Order& o) { reconciled.push_back(o); });
  h.exchange.AddFault({kPlacePath, FaultKind::kHang, false});
  ASSERT_EQ(h.Place(LimitBuy("resubmitted"))->result(), v1::PLACE_RESULT_UNKNOWN);
  h.exchange.InjectOrder("resubmitted");
  auto again = h.Place(LimitBuy("resubmitted"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->result(), v1::PLACE_RESULT_DUPLICATE);
  ASSERT_TRUE(h.Place(LimitBuy("resubmitted")).ok());
  h.sched.Advance(120s);
  ASSERT_EQ(reconciled.size(), 1u);
  EXPECT_EQ(reconciled[0].order_id(), again->order_id());
}

// A private-stream push that resolves an UNKNOWN placement is published by the stream itself: the
// engine does not publish it a second time, nor when a GetOrder or a resubmission reads it later.
TEST(OrderEngineResolution, AnUnknownPlacementResolvedByAPushIsNotPublishedTwice) {
  EngineHarness h;
  h.LoadRules();
  std::vector<v1::Order> reconciled;
  h.engine.set_reconciled_sink([&](const v1::Order& o) { reconciled.push_back(o); });
  h.exchange.AddFault({kPlacePath, FaultKind::kHang, false});
  ASSERT_EQ(h.Place(LimitBuy("pushed"))->result(), v1::PLACE_RESULT_UNKNOWN);
  h.exchange.InjectOrder("pushed");
  const std::string order_id = h.exchange.orders().back().order_id;
  h.engine.OnOrderUpdate(Push(order_id, "pushed", v1::ORDER_STATUS_NEW, 1700000000000));
  EXPECT_EQ(h.engine.Placement("pushed")->state, OrderEngine::PlacementState::kAccepted);
  v1::GetOrderRequest g;
  g.mutable_order()->set_client_id("pushed");
  ASSERT_TRUE(h.Run(&OrderEngine::GetOrder, g).ok());
  EXPECT_EQ(h.Place(LimitBuy("pushed"))->result(), v1::PLACE_RESULT_DUPLICATE);
  h.sched.Advance(120s);
  EXPECT_TRUE(reconciled.empty());
}

// The unknown-placements gauge as exported.
double UnknownPlacementsGauge(EngineHarness& h) {
  for (const auto& family : h.registry.Collect()) {
    if (family.name == "bitunix_orders_unknown_placements" && family.metric.size() == 1) {
      return family.metric[0].gauge.value;
    }
  }
  return -1;
}

// A placement answered UNKNOWN whose first attempt landed late after all (the exchange holds it);
// returns its order id.
std::string UnknownThatLanded(EngineHarness& h, const std::string& client_id) {
  h.exchange.AddFault({kPlacePath, FaultKind::kHang, false});
  auto first = h.Place(LimitBuy(client_id));
  EXPECT_TRUE(first.ok() && first->result() == v1::PLACE_RESULT_UNKNOWN);
  EXPECT_EQ(UnknownPlacementsGauge(h), 1);
  h.exchange.InjectOrder(client_id);
  return h.exchange.orders().back().order_id;
}

constexpr char kPendingPath[] = "/api/v1/futures/trade/get_pending_orders";
constexpr char kHistoryPath[] = "/api/v1/futures/trade/get_history_orders";
constexpr char kBatchPath[] = "/api/v1/futures/trade/batch_order";

// A resubmission of an UNKNOWN placement looks the client id up before re-sending. A private push
// of the order (same client id, same order) that arrives while that lookup runs proves the order
// exists: when the lookup then fails, the caller gets the order (DUPLICATE, as for a resubmission
// whose lookup finds it), not UNKNOWN once more; the placement is settled, nothing is re-sent, and
// the engine does not publish the order again (the stream published the push).
TEST(OrderEngineResolution, AResubmissionWhoseLookupFailsAfterAMatchingPushGetsThePushedOrder) {
  EngineHarness h;
  h.LoadRules();
  std::vector<v1::Order> reconciled;
  h.engine.set_reconciled_sink([&](const v1::Order& o) { reconciled.push_back(o); });
  const std::string order_id = UnknownThatLanded(h, "push-in-lookup");
  h.exchange.AddFault({kDetailPath, FaultKind::kHttp500, false, 1000});  // every lookup fails
  const int placements = h.exchange.calls(kPlacePath);
  const int details = h.exchange.calls(kDetailPath);
  std::optional<absl::StatusOr<v1::PlaceOrderResponse>> again;
  h.engine.PlaceOrder(LimitBuy("push-in-lookup"), h.In(3s), [&](auto r) { again = std::move(r); });
  h.sched.RunUntilIdle();
  ASSERT_GT(h.exchange.calls(kDetailPath), details) << "the resubmission's lookup is out";
  ASSERT_FALSE(again.has_value());
  h.engine.OnOrderUpdate(Push(order_id, "push-in-lookup", v1::ORDER_STATUS_NEW, 1700000000000));
  h.sched.AdvanceUntil([&] { return again.has_value(); }, 10s);
  ASSERT_TRUE(again.has_value());
  ASSERT_TRUE(again->ok()) << again->status();
  EXPECT_EQ((*again)->result(), v1::PLACE_RESULT_DUPLICATE) << v1::PlaceResult_Name((*again)->result());
  EXPECT_EQ((*again)->order_id(), order_id);
  EXPECT_EQ((*again)->order().order_id(), order_id);
  EXPECT_EQ(h.engine.Placement("push-in-lookup")->state, OrderEngine::PlacementState::kAccepted);
  EXPECT_EQ(h.engine.unknown_placements(), 0u);
  EXPECT_EQ(UnknownPlacementsGauge(h), 0);
  EXPECT_EQ(h.exchange.calls(kPlacePath), placements) << "nothing re-sent";
  // Settled: no background lookups go on, and the engine never publishes the order itself.
  h.exchange.ClearFaults();
  const int settled = h.exchange.calls(kDetailPath);
  h.sched.Advance(120s);
  EXPECT_EQ(h.exchange.calls(kDetailPath), settled);
  auto third = h.Place(LimitBuy("push-in-lookup"));
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->result(), v1::PLACE_RESULT_DUPLICATE);
  EXPECT_EQ(h.exchange.calls(kPlacePath), placements);
  EXPECT_TRUE(reconciled.empty()) << "published again: " << reconciled.size();
  EXPECT_EQ(h.exchange.CountClientId("push-in-lookup"), 1u);
}

// The same push, when the lookup answers "not found" (the order detail lags behind the push):
// the push settles it and nothing is re-sent.
TEST(OrderEngineResolution, AResubmissionIsNotReSentWhenAMatchingPushArrivedDuringItsLookup) {
  EngineHarness h;
  h.LoadRules();
  std::vector<v1::Order> reconciled;
  h.engine.set_reconciled_sink([&](const v1::Order& o) { reconciled.push_back(o); });
  const std::string order_id = UnknownThatLanded(h, "push-lagging");
  h.exchange.set_detail_lag(1);
  h.exchange.set_reply_delay(50ms);  // the push beats the lookup's reply
  const int placements = h.exchange.calls(kPlacePath);
  std::optional<absl::StatusOr<v1::PlaceOrderResponse>> again;
  h.engine.PlaceOrder(LimitBuy("push-lagging"), h.In(3s), [&](auto r) { again = std::move(r); });
  h.sched.RunUntilIdle();
  ASSERT_FALSE(again.has_value());
  h.engine.OnOrderUpdate(Push(order_id, "push-lagging", v1::ORDER_STATUS_NEW, 1700000000000));
  h.sched.AdvanceUntil([&] { return again.has_value(); }, 10s);
  ASSERT_TRUE(again.has_value() && again->ok());
  EXPECT_EQ((*again)->result(), v1::PLACE_RESULT_DUPLICATE) << v1::PlaceResult_Name((*again)->result());
  EXPECT_EQ((*again)->order_id(), order_id);
  EXPECT_EQ(h.exchange.calls(kPlacePath), placements) << "re-sent although the push proved the order";
  EXPECT_EQ(h.engine.Placement("push-lagging")->state, OrderEngine::PlacementState::kAccepted);
  EXPECT_EQ(UnknownPlacementsGauge(h), 0);
  EXPECT_TRUE(reconciled.empty());
}

// A push under the id that is not our order (another side) proves nothing about ours: the failed
// lookup leaves the placement UNKNOWN, still reconciled.
TEST(OrderEngineResolution, AForeignPushDuringAResubmissionsLookupDoesNotSettleIt) {
  EngineHarness h;
  h.LoadRules();
  h.exchange.AddFault({kPlacePath, FaultKind::kHang, false});
  ASSERT_EQ(h.Place(LimitBuy("foreign-push"))->result(), v1::PLACE_RESULT_UNKNOWN);
  h.exchange.AddFault({kDetailPath, FaultKind::kHttp500, false, 1000});
  const int placements = h.exchange.calls(kPlacePath);
  const int details = h.exchange.calls(kDetailPath);
  std::optional<absl::StatusOr<v1::PlaceOrderResponse>> again;
  h.engine.PlaceOrder(LimitBuy("foreign-push"), h.In(3s), [&](auto r) { again = std::move(r); });
  h.sched.RunUntilIdle();
  ASSERT_GT(h.exchange.calls(kDetailPath), details);
  v1::Order sell = Push("999", "foreign-push", v1::ORDER_STATUS_NEW, 1700000000000);
  sell.set_side(bitunix::common::v1::SIDE_SELL);
  h.engine.OnOrderUpdate(sell);
  h.sched.AdvanceUntil([&] { return again.has_value(); }, 10s);
  ASSERT_TRUE(again.has_value() && again->ok());
  EXPECT_EQ((*again)->result(), v1::PLACE_RESULT_UNKNOWN) << v1::PlaceResult_Name((*again)->result());
  EXPECT_TRUE((*again)->order_id().empty());
  EXPECT_EQ(h.engine.Placement("foreign-push")->state, OrderEngine::PlacementState::kUnknown);
  EXPECT_EQ(UnknownPlacementsGauge(h), 1);
  EXPECT_EQ(h.exchange.calls(kPlacePath), placements);
}

// A first attempt the exchange answers 30042 (the id was used before a restart) whose lookup fails:
// a matching push that arrived meanwhile is the order (DUPLICATE), not UNKNOWN.
TEST(OrderEngineResolution, A30042WhoseLookupFailsAfterAMatchingPushGetsThePushedOrder) {
  EngineHarness h;
  h.LoadRules();
  std::vector<v1::Order> reconciled;
  h.engine.set_reconciled_sink([&](const v1::Order& o) { reconciled.push_back(o); });
  h.exchange.InjectOrder("push-30042");  // placed before a restart
  const std::string order_id = h.exchange.orders().back().order_id;
  for (const char* path : {kDetailPath, kPendingPath, kHistoryPath}) {
    h.exchange.AddFault({path, FaultKind::kHttp500, false, 1000});
  }
  h.exchange.set_reply_delay(50ms);  // the push beats the 30042
  std::optional<absl::StatusOr<v1::PlaceOrderResponse>> out;
  h.engine.PlaceOrder(LimitBuy("push-30042"), h.In(3s), [&](auto r) { out = std::move(r); });
  h.sched.RunUntilIdle();
  ASSERT_EQ(h.exchange.calls(kPlacePath), 1);
  h.engine.OnOrderUpdate(Push(order_id, "push-30042", v1::ORDER_STATUS_NEW, 1700000000000));
  h.sched.AdvanceUntil([&] { return out.has_value(); }, 10s);
  ASSERT_TRUE(out.has_value() && out->ok());
  EXPECT_EQ((*out)->result(), v1::PLACE_RESULT_DUPLICATE) << v1::PlaceResult_Name((*out)->result());
  EXPECT_EQ((*out)->order_id(), order_id);
  EXPECT_EQ(h.engine.Placement("push-30042")->state, OrderEngine::PlacementState::kAccepted);
  EXPECT_EQ(UnknownPlacementsGauge(h), 0);
  EXPECT_TRUE(reconciled.empty());
}

// A resubmission that was re-sent (its lookup found nothing yet) and refused: a refusal of the
// re-send says nothing about the first attempt, but a matching push that arrived meanwhile does.
TEST(OrderEngineResolution, ARefusedResendAfterAMatchingPushGetsThePushedOrder) {
  EngineHarness h;
  h.LoadRules();
  std::vector<v1::Order> reconciled;
  h.engine.set_reconciled_sink([&](const v1::Order& o) { reconciled.push_back(o); });
  const std::string order_id = UnknownThatLanded(h, "push-refused");
  h.exchange.set_detail_lag(1);  // the lookup finds nothing: the placement is re-sent
  h.exchange.AddFault({kPlacePath, FaultKind::kRefuse, false});  // and refused (20003)
  const int placements = h.exchange.calls(kPlacePath);
  h.exchange.set_reply_delay(50ms);
  std::optional<absl::StatusOr<v1::PlaceOrderResponse>> again;
  h.engine.PlaceOrder(LimitBuy("push-refused"), h.In(3s), [&](auto r) { again = std::move(r); });
  h.sched.AdvanceUntil([&] { return h.exchange.calls(kPlacePath) > placements; }, 1s, 1ms);
  ASSERT_FALSE(again.has_value());
  h.engine.OnOrderUpdate(Push(order_id, "push-refused", v1::ORDER_STATUS_NEW, 1700000000000));
  h.sched.AdvanceUntil([&] { return again.has_value(); }, 10s);
  ASSERT_TRUE(again.has_value() && again->ok()) << "live order reported as refused";
  EXPECT_EQ((*again)->result(), v1::PLACE_RESULT_DUPLICATE) << v1::PlaceResult_Name((*again)->result());
  EXPECT_EQ((*again)->order_id(), order_id);
  EXPECT_EQ(h.engine.Placement("push-refused")->state, OrderEngine::PlacementState::kAccepted);
  EXPECT_EQ(UnknownPlacementsGauge(h), 0);
  EXPECT_TRUE(reconciled.empty());
}

// Batches re-send an UNKNOWN item without looking first. A matching push that arrives while the
// batch is out settles the item when the exchange's 30042 for it cannot be looked up, and when the
// whole re-send is refused.
TEST(OrderEngineResolution, ABatchResendThatCannotTellAfterAMatchingPushGetsThePushedOrder) {
  for (const bool refused : {false, true}) {
    SCOPED_TRACE(refused ? "batch refused" : "30042, lookup fails");
    EngineHarness h;
    h.LoadRules();
    std::vector<v1::Order> reconciled;
    h.engine.set_reconciled_sink([&](const v1::Order& o) { reconciled.push_back(o); });
    const std::string order_id = UnknownThatLanded(h, "push-batch");
    if (refused) {
      h.exchange.AddFault({kBatchPath, FaultKind::kRefuse, false});
    } else {
      for (const char* path : {kDetailPath, kPendingPath, kHistoryPath}) {
        h.exchange.AddFault({path, FaultKind::kHttp500, false, 1000});
      }
    }
    h.exchange.set_reply_delay(50ms);  // the push beats the batch reply
    v1::BatchPlaceOrdersRequest b;
    b.set_symbol("BTCUSDT");
    *b.add_orders() = LimitBuy("push-batch");
    std::optional<absl::StatusOr<v1::BatchPlaceOrdersResponse>> out;
    h.engine.BatchPlaceOrders(b, h.In(3s), [&](auto r) { out = std::move(r); });
    h.sched.RunUntilIdle();
    ASSERT_EQ(h.exchange.calls(kBatchPath), 1);
    ASSERT_FALSE(out.has_value());
    h.engine.OnOrderUpdate(Push(order_id, "push-batch", v1::ORDER_STATUS_NEW, 1700000000000));
    h.sched.AdvanceUntil([&] { return out.has_value(); }, 10s);
    ASSERT_TRUE(out.has_value());
    ASSERT_TRUE(out->ok()) << out->status();
    ASSERT_EQ((*out)->results_size(), 1);
    EXPECT_EQ((*out)->results(0).result(), v1::PLACE_RESULT_DUPLICATE) << (*out)->results(0).DebugString();
    EXPECT_EQ((*out)->results(0).order_id(), order_id);
    EXPECT_EQ(h.engine.Placement("push-batch")->state, OrderEngine::PlacementState::kAccepted);
    EXPECT_EQ(UnknownPlacementsGauge(h), 0);
    EXPECT_TRUE(reconciled.empty());
    EXPECT_EQ(h.exchange.CountClientId("push-batch"), 1u);
  }
}

// A second submission of an id waits for the first call's attempt, but no longer than its own
// deadline. A matching push of the order (with its order id) that arrived before that deadline
// proves the order exists: the waiter gets it as DUPLICATE, not UNKNOWN. Only the waiter is
// answered: the attempt is still out and decides the entry itself (its caller gets ACCEPTED when
// its lost answer is resolved), nothing turns UNKNOWN and the engine publishes nothing.
TEST(OrderEngineResolution, ADuplicateWhoseDeadlinePassesAfterAMatchingPushGetsThePushedOrder) {
  for (const bool batch : {false, true}) {
    SCOPED_TRACE(batch ? "batch item waits" : "PlaceOrder waits");
    EngineHarness h;
    h.LoadRules();
    std::vector<v1::Order> reconciled;
    h.engine.set_reconciled_sink([&](const v1::Order& o) { reconciled.push_back(o); });
    h.exchange.AddFault({kPlacePath, FaultKind::kHang, /*after=*/true});  // executed; the reply never comes
    std::optional<absl::StatusOr<v1::PlaceOrderResponse>> first, second;
    std::optional<absl::StatusOr<v1::BatchPlaceOrdersResponse>> second_batch;
    h.engine.PlaceOrder(LimitBuy("dup-push"), h.In(10s), [&](auto r) { first = std::move(r); });
    h.sched.RunUntilIdle();
    ASSERT_EQ(h.exchange.orders().size(), 1u);
    const std::string order_id = h.exchange.orders()[0].order_id;
    if (batch) {
      v1::BatchPlaceOrdersRequest b;
      b.set_symbol("BTCUSDT");
      *b.add_orders() = LimitBuy("dup-push");
      h.engine.BatchPlaceOrders(b, h.In(2s), [&](auto r) { second_batch = std::move(r); });
    } else {
      h.engine.PlaceOrder(LimitBuy("dup-push"), h.In(2s), [&](auto r) { second = std::move(r); });
    }
    h.sched.RunUntilIdle();
    ASSERT_FALSE(second.has_value() || second_batch.has_value());
    h.engine.OnOrderUpdate(Push(order_id, "dup-push", v1::ORDER_STATUS_NEW, 1700000000000));
    ASSERT_TRUE(h.sched.AdvanceUntil([&] { return second.has_value() || second_batch.has_value(); }, 3s));
    if (batch) {
      ASSERT_TRUE(second_batch->ok()) << second_batch->status();
      ASSERT_EQ((*second_batch)->results_size(), 1);
      EXPECT_EQ((*second_batch)->results(0).result(), v1::PLACE_RESULT_DUPLICATE)
          << (*second_batch)->results(0).DebugString();
      EXPECT_EQ((*second_batch)->results(0).order_id(), order_id);
    } else {
      ASSERT_TRUE(second->ok()) << second->status();
      EXPECT_EQ((*second)->result(), v1::PLACE_RESULT_DUPLICATE) << v1::PlaceResult_Name((*second)->result());
      EXPECT_EQ((*second)->order_id(), order_id);
      EXPECT_EQ((*second)->order().order_id(), order_id);
    }
    // The first call's attempt is still out: its own outcome decides the entry.
    EXPECT_FALSE(first.has_value());
    EXPECT_EQ(h.engine.Placement("dup-push")->state, OrderEngine::PlacementState::kInFlight);
    EXPECT_EQ(UnknownPlacementsGauge(h), 0);
    ASSERT_TRUE(h.sched.AdvanceUntil([&] { return first.has_value(); }, 15s));
    ASSERT_TRUE(first->ok()) << first->status();
    EXPECT_EQ((*first)->result(), v1::PLACE_RESULT_ACCEPTED) << v1::PlaceResult_Name((*first)->result());
    EXPECT_EQ((*first)->order_id(), order_id);
    EXPECT_EQ(h.engine.Placement("dup-push")->state, OrderEngine::PlacementState::kAccepted);
    EXPECT_EQ(UnknownPlacementsGauge(h), 0);
    h.sched.Advance(120s);
    EXPECT_TRUE(reconciled.empty());
    EXPECT_EQ(h.exchange.CountClientId("dup-push"), 1u);
  }
}

// At shutdown every caller still waiting for a sent placement is answered. One whose matching
// push (with its order id) has arrived gets that order (ACCEPTED; a duplicate waiter DUPLICATE; a
// batch item ACCEPTED), not UNKNOWN. The attempt itself is still out: the entry is not settled
// by the answer (it never turns UNKNOWN: the gauge stays 0).
TEST(OrderEngineResolution, AtShutdownASentPlacementWhosePushArrivedIsAnsweredWithThePushedOrder) {
  for (const bool batch : {false, true}) {
    SCOPED_TRACE(batch ? "batch" : "PlaceOrder and a duplicate");
    EngineHarness h;
    h.LoadRules();
    h.exchange.AddFault({batch ? kBatchPath : kPlacePath, FaultKind::kHang, /*after=*/true});
    std::optional<absl::StatusOr<v1::PlaceOrderResponse>> first, dup;
    std::optional<absl::StatusOr<v1::BatchPlaceOrdersResponse>> first_batch;
    if (batch) {
      v1::BatchPlaceOrdersRequest b;
      b.set_symbol("BTCUSDT");
      *b.add_orders() = LimitBuy("at-exit-push");
      h.engine.BatchPlaceOrders(b, h.In(10s), [&](auto r) { first_batch = std::move(r); });
    } else {
      h.engine.PlaceOrder(LimitBuy("at-exit-push"), h.In(10s), [&](auto r) { first = std::move(r); });
    }
    h.engine.PlaceOrder(LimitBuy("at-exit-push"), h.In(10s), [&](auto r) { dup = std::move(r); });
    h.sched.RunUntilIdle();
    ASSERT_EQ(h.exchange.orders().size(), 1u);
    const std::string order_id = h.exchange.orders()[0].order_id;
    h.engine.OnOrderUpdate(Push(order_id, "at-exit-push", v1::ORDER_STATUS_NEW, 1700000000000));
    h.sched.Advance(100ms);
    ASSERT_FALSE(first.has_value() || first_batch.has_value() || dup.has_value());
    EXPECT_EQ(h.engine.AnswerPendingPlacements(), 2u);
    ASSERT_TRUE(dup.has_value() && dup->ok());
    EXPECT_EQ((*dup)->result(), v1::PLACE_RESULT_DUPLICATE) << v1::PlaceResult_Name((*dup)->result());
    EXPECT_EQ((*dup)->order_id(), order_id);
    if (batch) {
      ASSERT_TRUE(first_batch.has_value() && first_batch->ok());
      ASSERT_EQ((*first_batch)->results_size(), 1);
      EXPECT_EQ((*first_batch)->results(0).result(), v1::PLACE_RESULT_ACCEPTED)
          << (*first_batch)->results(0).DebugString();
      EXPECT_EQ((*first_batch)->results(0).order_id(), order_id);
    } else {
      ASSERT_TRUE(first.has_value() && first->ok());
      EXPECT_EQ((*first)->result(), v1::PLACE_RESULT_ACCEPTED) << v1::PlaceResult_Name((*first)->result());
      EXPECT_EQ((*first)->order_id(), order_id);
      EXPECT_EQ((*first)->order().order_id(), order_id);
    }
    EXPECT_EQ(h.engine.Placement("at-exit-push")->state, OrderEngine::PlacementState::kInFlight);
    EXPECT_EQ(UnknownPlacementsGauge(h), 0);
  }
}

// The same for a resubmission of an UNKNOWN placement still looking its id up at shutdown: the
// order a push showed was placed by the earlier attempt, so the answer is DUPLICATE (as when the
// push settles the resubmission: SettleOnPush), and the placement stays as it was (not UNKNOWN).
TEST(OrderEngineResolution, AtShutdownAResubmissionWhosePushArrivedIsAnsweredDuplicate) {
  EngineHarness h;
  h.LoadRules();
  const std::string order_id = UnknownThatLanded(h, "at-exit-resubmitted");
  h.exchange.set_reply_delay(50ms);  // the lookup is still out at shutdown
  std::optional<absl::StatusOr<v1::PlaceOrderResponse>> again;
  h.engine.PlaceOrder(LimitBuy("at-exit-resubmitted"), h.In(10s), [&](auto r) { again = std::move(r); });
  h.sched.RunUntilIdle();
  ASSERT_EQ(UnknownPlacementsGauge(h), 0) << "the resubmission is in flight";
  h.engine.OnOrderUpdate(Push(order_id, "at-exit-resubmitted", v1::ORDER_STATUS_NEW, 1700000000000));
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(h.engine.AnswerPendingPlacements(), 1u);
  ASSERT_TRUE(again.has_value() && again->ok());
  EXPECT_EQ((*again)->result(), v1::PLACE_RESULT_DUPLICATE) << v1::PlaceResult_Name((*again)->result());
  EXPECT_EQ((*again)->order_id(), order_id);
  EXPECT_EQ(h.engine.Placement("at-exit-resubmitted")->state, OrderEngine::PlacementState::kInFlight);
  EXPECT_EQ(UnknownPlacementsGauge(h), 0);
}

// A push that carries the client id but no order id cannot settle an attempt (SettleOnPush): a
// 30042 whose lookup fails is UNKNOWN. The private stream has published that push, but without
// the order id nobody reading the stream can tell which order it was: when reconciliation then
// finds the order, the engine publishes it once, with its id.
TEST(OrderEngineResolution, AnUnknownPlacementWhoseIdLessPushTheStreamPublishedIsPublishedWithItsIdOnceFound) {
  EngineHarness h;
  h.LoadRules();
  std::vector<v1::Order> reconciled;
  h.engine.set_reconciled_sink([&](const v1::Order& o) { reconciled.push_back(o); });
  h.exchange.InjectOrder("no-id-push");  // placed before a restart: the exchange answers 30042
  const std::string order_id = h.exchange.orders().back().order_id;
  for (const char* path : {kDetailPath, kPendingPath, kHistoryPath}) {
    h.exchange.AddFault({path, FaultKind::kHttp500, false, 1000});
  }
  h.exchange.set_reply_delay(50ms);  // the push beats the 30042
  std::optional<absl::StatusOr<v1::PlaceOrderResponse>> out;
  h.engine.PlaceOrder(LimitBuy("no-id-push"), h.In(3s), [&](auto r) { out = std::move(r); });
  h.sched.RunUntilIdle();
  ASSERT_EQ(h.exchange.calls(kPlacePath), 1);
  h.engine.OnOrderUpdate(Push("", "no-id-push", v1::ORDER_STATUS_NEW, 1700000000000));
  ASSERT_TRUE(h.sched.AdvanceUntil([&] { return out.has_value(); }, 10s));
  ASSERT_TRUE(out->ok()) << out->status();
  ASSERT_EQ((*out)->result(), v1::PLACE_RESULT_UNKNOWN) << v1::PlaceResult_Name((*out)->result());
  ASSERT_EQ(h.engine.Placement("no-id-push")->state, OrderEngine::PlacementState::kUnknown);
  h.exchange.ClearFaults();
  h.sched.Advance(120s);  // reconciliation reads it
  EXPECT_EQ(h.engine.Placement("no-id-push")->state, OrderEngine::PlacementState::kAccepted);
  EXPECT_EQ(h.engine.Placement("no-id-push")->order_id, order_id);
  EXPECT_EQ(UnknownPlacementsGauge(h), 0);
  ASSERT_EQ(reconciled.size(), 1u);
  EXPECT_EQ(reconciled[0].order_id(), order_id);
  EXPECT_EQ(reconciled[0].client_id(), "no-id-push");
}

// The id-less push can be a newer view than the read that finds the order later: the placement
// keeps the push's view (status, time) but takes the order id the read gives it, so resubmissions
// get the order with its id.
TEST(OrderEngineResolution, AFoundReadOlderThanAnIdLessPushStillGivesTheOrderItsId) {
  EngineHarness h;
  h.LoadRules();
  h.exchange.InjectOrder("no-id-newer");  // placed before a restart: the exchange answers 30042
  const std::string order_id = h.exchange.orders().back().order_id;
  for (const char* path : {kDetailPath, kPendingPath, kHistoryPath}) {
    h.exchange.AddFault({path, FaultKind::kHttp500, false, 1000});
  }
  h.exchange.set_reply_delay(50ms);
  std::optional<absl::StatusOr<v1::PlaceOrderResponse>> out;
  h.engine.PlaceOrder(LimitBuy("no-id-newer"), h.In(3s), [&](auto r) { out = std::move(r); });
  h.sched.RunUntilIdle();
  // Newer than the exchange's record (1700000000000) that reconciliation reads below.
  h.engine.OnOrderUpdate(Push("", "no-id-newer", v1::ORDER_STATUS_PART_FILLED, 1700000000500));
  ASSERT_TRUE(h.sched.AdvanceUntil([&] { return out.has_value(); }, 10s));
  ASSERT_TRUE(out->ok() && (*out)->result() == v1::PLACE_RESULT_UNKNOWN);
  h.exchange.ClearFaults();
  h.sched.Advance(120s);
  ASSERT_EQ(h.engine.Placement("no-id-newer")->state, OrderEngine::PlacementState::kAccepted);
  EXPECT_EQ(h.engine.Placement("no-id-newer")->order_id, order_id);
  auto again = h.Place(LimitBuy("no-id-newer"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->result(), v1::PLACE_RESULT_DUPLICATE);
  EXPECT_EQ(again->order_id(), order_id);
  EXPECT_EQ(again->order().status(), v1::ORDER_STATUS_PART_FILLED) << "the newer view stays";
}

// A first attempt's answer is lost after it executed, every lookup fails, and meanwhile a push of
// the order arrives without an order id. The push proves the order exists but names no order the
// caller could be given: the answer is UNKNOWN (reconciled later), never ACCEPTED with an empty
// order id, the same rule as for a resubmission (PushProvesOrder).
TEST(OrderEngineResolution, ALostAnswerWithOnlyAnIdLessPushIsUnknownNotAcceptedWithoutAnId) {
  EngineHarness h;
  h.LoadRules();
  h.exchange.AddFault({kPlacePath, FaultKind::kReset, /*after=*/true});
  for (const char* path : {kDetailPath, kPendingPath, kHistoryPath}) {
    h.exchange.AddFault({path, FaultKind::kHttp500, false, 1000});
  }
  h.exchange.set_reply_delay(50ms);
  std::optional<absl::StatusOr<v1::PlaceOrderResponse>> out;
  h.engine.PlaceOrder(LimitBuy("id-less-lost"), h.In(3s), [&](auto r) { out = std::move(r); });
  h.sched.RunUntilIdle();
  h.engine.OnOrderUpdate(Push("", "id-less-lost", v1::ORDER_STATUS_NEW, 1700000000001));
  ASSERT_TRUE(h.sched.AdvanceUntil([&] { return out.has_value(); }, 10s));
  ASSERT_TRUE(out->ok()) << out->status();
  EXPECT_EQ((*out)->result(), v1::PLACE_RESULT_UNKNOWN)
      << "answered " << v1::PlaceResult_Name((*out)->result()) << " with order id '" << (*out)->order_id() << "'";
  // Reconciliation then finds it by client id, with its id.
  h.exchange.ClearFaults();
  h.sched.Advance(120s);
  ASSERT_EQ(h.engine.Placement("id-less-lost")->state, OrderEngine::PlacementState::kAccepted);
  ASSERT_EQ(h.exchange.orders().size(), 1u);
  EXPECT_EQ(h.engine.Placement("id-less-lost")->order_id, h.exchange.orders().back().order_id);
}

// A push seen while one attempt was in flight says nothing about a later attempt under the same
// client id: when that one's answer is lost and no view lists it, it is UNKNOWN, never ACCEPTED on
// the strength of the old push (with an order that has no order id).
TEST(OrderEngineResolution, APushSeenByARefusedAttemptDoesNotSettleALaterOne) {
  EngineHarness h;
  h.LoadRules();
  h.exchange.AddFault({kPlacePath, FaultKind::kRefuse});
  h.exchange.set_reply_delay(50ms);
  std::optional<absl::StatusOr<v1::PlaceOrderResponse>> first;
  h.engine.PlaceOrder(LimitBuy("seen-push"), h.In(10s), [&](auto r) { first = std::move(r); });
  h.sched.RunUntilIdle();
  // A push matching the request arrives before the refusal (a contradicting exchange).
  h.engine.OnOrderUpdate(Push("", "seen-push", v1::ORDER_STATUS_NEW, 1700000000001));
  h.sched.AdvanceUntil([&] { return first.has_value(); }, 5s);
  ASSERT_TRUE(first.has_value());
  ASSERT_FALSE(first->ok()) << "the refusal is the answer";
  // A corrected order under the same id; its request is lost before it executes.
  h.exchange.set_reply_delay(0ms);
  h.exchange.AddFault({kPlacePath, FaultKind::kReset, /*after=*/false});
  auto second = h.Place(LimitBuy("seen-push", "0.02"));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->result(), v1::PLACE_RESULT_UNKNOWN)
      << "answered " << v1::PlaceResult_Name(second->result()) << " with order id '" << second->order_id() << "'";
  EXPECT_TRUE(h.exchange.orders().empty());
}

// Hedge mode: a close order names the position it closes (BUY + CLOSE closes the long) while its
// trade goes the other way (it sells). The exchange's record of it may show either direction, its
// side as LONG/SHORT, and tradeSide/positionId or neither. Every form of this order is this order;
// a record of another position, of an opening order or of the other position's close is not.
struct HedgeClose {
  // The close of the long position pos-long, as the gateway sends it: BUY + CLOSE.
  static v1::PlaceOrderRequest Request(const std::string& client_id) {
    v1::PlaceOrderRequest r = LimitBuy(client_id);
    r.set_trade_side(v1::TRADE_SIDE_CLOSE);
    r.set_position_id("pos-long");
    return r;
  }
  // Its answer is lost after it executed; the exchange reports the order with `fields`. The
  // lookup by client id decides what the call answers.
  static absl::StatusOr<v1::PlaceOrderResponse> LostAnswer(const std::string& client_id, const nlohmann::json& fields) {
    EngineHarness h;
    h.LoadRules();
    h.exchange.AddFault({kPlacePath, FaultKind::kReset, /*after=*/true});
    h.exchange.set_report_fields(fields);
    auto r = h.Place(Request(client_id));
    EXPECT_EQ(h.exchange.CountClientId(client_id), 1u);
    EXPECT_EQ(h.exchange.calls(kPlacePath), 1) << "never sent twice";
    return r;
  }
};

TEST(OrderEngineResolution, AHedgeCloseIsFoundInEveryFormTheExchangeReportsItIn) {
  const std::vector<nlohmann::json> ours = {
      {{"side", "BUY"}},                                                                  // as sent
      {{"side", "BUY"}, {"tradeSide", "CLOSE"}, {"positionId", "pos-long"}},              // as sent, with both
      {{"side", "Buy"}, {"tradeSide", "CLOSE"}},                                          // mixed case
      {{"side", "SELL"}, {"tradeSide", "CLOSE"}, {"positionId", "pos-long"}},             // the trade's direction
      {{"side", "SELL"}, {"positionId", "pos-long"}, {"reduceOnly", true}},               // the same, no tradeSide
      {{"side", "LONG"}, {"tradeSide", "CLOSE"}},                                         // the position's side
      {{"side", "LONG"}, {"positionId", "pos-long"}, {"positionMode", "HEDGE"}},
  };
  for (const auto& fields : ours) {
    SCOPED_TRACE(fields.dump());
    auto r = HedgeClose::LostAnswer("hedge-close", fields);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->result(), v1::PLACE_RESULT_ACCEPTED);
    EXPECT_FALSE(r->order_id().empty());
  }
}

TEST(OrderEngineResolution, AHedgeCloseIsNotAnotherOrderUnderItsClientId) {
  const std::vector<nlohmann::json> others = {
      {{"side", "SELL"}, {"tradeSide", "CLOSE"}, {"positionId", "pos-short"}},  // closes another position
      {{"side", "BUY"}, {"tradeSide", "CLOSE"}, {"positionId", "pos-other"}},   // the same side, another position
      {{"side", "SELL"}, {"tradeSide", "CLOSE"}},                               // as documented: closes the short
      {{"side", "SHORT"}, {"tradeSide", "CLOSE"}},                              // the short's side
      {{"side", "BUY"}, {"tradeSide", "OPEN"}},                                 // opens a long
      {{"side", "SELL"}},                                                       // a sell, nothing more said
  };
  for (const auto& fields : others) {
    SCOPED_TRACE(fields.dump());
    auto r = HedgeClose::LostAnswer("hedge-other", fields);
    ASSERT_FALSE(r.ok()) << v1::PlaceResult_Name(r->result()) << " " << r->order().DebugString();
    EXPECT_EQ(r.status().code(), absl::StatusCode::kAlreadyExists) << r.status();
    auto detail = GetExchangeError(r.status());
    EXPECT_EQ(detail ? detail->reason() : "", "DUPLICATE_CLIENT_ID");
  }
}

// The same decisions for the exchange's 30042 (the id was used before a restart) and for a push.
TEST(OrderEngineResolution, AHedgeCloseFoundBy30042OrAPushInTheTradesDirectionIsOurs) {
  EngineHarness h;
  h.LoadRules();
  h.exchange.InjectOrder("hedge-30042", "BTCUSDT", "0.01", "60000.5", "SELL");
  h.exchange.set_report_fields({{"tradeSide", "CLOSE"}, {"positionId", "pos-long"}});
  auto dup = h.Place(HedgeClose::Request("hedge-30042"));
  ASSERT_TRUE(dup.ok()) << dup.status();
  EXPECT_EQ(dup->result(), v1::PLACE_RESULT_DUPLICATE);
  EXPECT_EQ(dup->order_id(), h.exchange.orders().front().order_id);

  // An UNKNOWN close resolved by a push that shows the trade's direction and the position.
  h.exchange.set_report_fields(nlohmann::json::object());
  h.exchange.AddFault({kPlacePath, FaultKind::kReset, /*after=*/false});
  ASSERT_EQ(h.Place(HedgeClose::Request("hedge-push"))->result(), v1::PLACE_RESULT_UNKNOWN);
  auto push = ParseJsonExact(
      R"({"event":"CREATE","orderId":"77","clientId":"hedge-push","symbol":"BTCUSDT","positionMode":"HEDGE","side":"SELL","tradeSide":"CLOSE","positionId":"pos-long","type":"LIMIT","qty":"0.01","price":"60000.5","orderStatus":"NEW"})");
  ASSERT_TRUE(push.ok());
  h.engine.OnOrderUpdate(ParseOrder(*push));
  EXPECT_EQ(h.engine.Placement("hedge-push")->state, OrderEngine::PlacementState::kAccepted);
  EXPECT_EQ(h.engine.Placement("hedge-push")->order_id, "77");
}

// Many placements UNKNOWN at once, a slow query budget: lookups that all start together used to
// run past their deadline on their last step, round after round, so none ever concluded
// (OrdersSimChaos seed 209 at 30 s). A few at a time each finish.
void RunManyUnknowns(int concurrency, size_t* absent_out) {
  RateLimiterOptions limits = testing::GenerousLimits();
  for (auto& b : limits.buckets) b = {3, 1};
  EngineOptions eo;
  eo.reconcile_window = 10s;
  eo.reconcile_max_interval = 2s;
  eo.background_call_timeout = 4s;
  eo.reconcile_concurrency = concurrency;
  EngineHarness h(limits, eo);
  h.LoadRules();
  // Two batches of five (the batch limit) whose requests hang: ten placements UNKNOWN together.
  std::vector<std::optional<absl::StatusOr<v1::BatchPlaceOrdersResponse>>> out(2);
  for (int k = 0; k < 2; ++k) {
    v1::BatchPlaceOrdersRequest b;
    b.set_symbol("BTCUSDT");
    for (int i = 0; i < 5; ++i) *b.add_orders() = LimitBuy("many-" + std::to_string(5 * k + i));
    h.exchange.AddFault({"/api/v1/futures/trade/batch_order", FaultKind::kHang, false});
    h.engine.BatchPlaceOrders(b, h.In(10s), [&out, k](auto r) { out[k] = std::move(r); });
  }
  h.sched.AdvanceUntil([&] { return out[0].has_value() && out[1].has_value(); }, 60s);
  size_t unknown = 0;
  for (const auto& o : out) {
    ASSERT_TRUE(o.has_value());
    ASSERT_TRUE(o->ok()) << o->status();
    for (const auto& r : (*o)->results()) unknown += r.result() == v1::PLACE_RESULT_UNKNOWN ? 1 : 0;
  }
  ASSERT_EQ(unknown, 10u);
  h.sched.Advance(120s);
  size_t absent = 0;
  for (int i = 0; i < 10; ++i) {
    absent += h.engine.Placement("many-" + std::to_string(i))->state == OrderEngine::PlacementState::kAbsent ? 1 : 0;
  }
  *absent_out = absent;
}

TEST(OrderEngineResolution, ManyUnknownPlacementsAreLookedUpAFewAtATimeAndAllConclude) {
  size_t absent = 0;
  RunManyUnknowns(/*concurrency=*/2, &absent);
  EXPECT_EQ(absent, 10u) << "every placement that never reached the exchange is concluded absent";
  size_t absent_all_at_once = 0;
  RunManyUnknowns(/*concurrency=*/1000, &absent_all_at_once);
  EXPECT_LT(absent_all_at_once, 10u) << "the scenario no longer shows the lockstep (the test lost its teeth)";
}

}  // namespace
}  // namespace bx::orders
