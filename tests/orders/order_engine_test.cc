// The order engine against FakeExchange on a manual scheduler: idempotency, ambiguous outcomes,
// reconciliation, validation, dry runs, batches, rate limiting.
#include "services/orders/order_engine.h"

#include <gtest/gtest.h>

#include <optional>
#include <set>

#include "common/signing.h"
#include "services/orders/call_scope.h"
#include "services/orders/errors.h"
#include "tests/orders/engine_harness.h"

namespace bx::orders {
namespace {

using namespace std::chrono_literals;
using testing::EngineHarness;
using testing::Fault;
using testing::FaultKind;
using testing::LimitBuy;

// The bitunix_orders_unknown_placements gauge as a scrape would read it.
double UnknownPlacementsGauge(EngineHarness& h) {
  for (const auto& family : h.registry.Collect()) {
    if (family.name == "bitunix_orders_unknown_placements" && family.metric.size() == 1) {
      return family.metric[0].gauge.value;
    }
  }
  ADD_FAILURE() << "no bitunix_orders_unknown_placements gauge";
  return -1;
}

std::string Reason(const absl::Status& s) {
  auto d = GetExchangeError(s);
  return d ? d->reason() : "";
}

TEST(OrderEngine, PlaceAcceptedWithGeneratedClientId) {
  EngineHarness h;
  h.LoadRules();
  auto r = h.Place(LimitBuy());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->result(), v1::PLACE_RESULT_ACCEPTED);
  EXPECT_EQ(r->client_id().size(), 32u);
  EXPECT_EQ(r->client_id().rfind("gw", 0), 0u);
  EXPECT_EQ(r->order().client_id(), r->client_id());
  EXPECT_FALSE(r->order_id().empty());
  EXPECT_EQ(h.exchange.CountClientId(r->client_id()), 1u);
  EXPECT_EQ(h.exchange.bad_signatures(), 0);
  // The exact body: our client id went to the exchange.
  const auto& req = h.exchange.requests().back();
  EXPECT_NE(req.body.find("\"clientId\":\"" + r->client_id() + "\""), std::string::npos) << req.body;
}

TEST(OrderEngine, SameClientIdTwiceReturnsTheOriginal) {
  EngineHarness h;
  h.LoadRules();
  auto first = h.Place(LimitBuy("bot1-0001"));
  auto second = h.Place(LimitBuy("bot1-0001"));
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->result(), v1::PLACE_RESULT_ACCEPTED);
  EXPECT_EQ(second->result(), v1::PLACE_RESULT_DUPLICATE);
  EXPECT_EQ(second->order_id(), first->order_id());
  EXPECT_EQ(h.exchange.calls("/api/v1/futures/trade/place_order"), 1);
  EXPECT_EQ(h.exchange.CountClientId("bot1-0001"), 1u);
}

TEST(OrderEngine, DuplicateWhileInFlightWaitsForTheOriginal) {
  EngineHarness h;
  h.LoadRules();
  std::vector<absl::StatusOr<v1::PlaceOrderResponse>> out;
  for (int i = 0; i < 3; ++i) {
    h.engine.PlaceOrder(LimitBuy("same-id"), h.In(5s), [&](auto r) { out.push_back(std::move(r)); });
  }
  h.sched.AdvanceUntil([&] { return out.size() == 3; }, 10s);
  ASSERT_EQ(out.size(), 3u);
  int accepted = 0, duplicate = 0;
  for (auto& r : out) {
    ASSERT_TRUE(r.ok());
    accepted += r->result() == v1::PLACE_RESULT_ACCEPTED;
    duplicate += r->result() == v1::PLACE_RESULT_DUPLICATE;
    EXPECT_EQ(r->order_id(), out[0]->order_id());
  }
  EXPECT_EQ(accepted, 1);
  EXPECT_EQ(duplicate, 2);
  EXPECT_EQ(h.exchange.calls("/api/v1/futures/trade/place_order"), 1);
}

TEST(OrderEngine, ReusedClientIdForADifferentOrderIsRefused) {
  EngineHarness h;
  h.LoadRules();
  ASSERT_TRUE(h.Place(LimitBuy("cid-x", "0.01")).ok());
  auto r = h.Place(LimitBuy("cid-x", "0.02"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Reason(r.status()), "DUPLICATE_CLIENT_ID");
  EXPECT_EQ(h.exchange.CountClientId("cid-x"), 1u);
}

TEST(OrderEngine, Exchange30042MapsToTheOriginalOrder) {
  EngineHarness h;
  h.LoadRules();
  // Placed before a restart (the local cache does not know it); the exchange does.
  h.exchange.InjectOrder("before-restart");
  auto r = h.Place(LimitBuy("before-restart"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->result(), v1::PLACE_RESULT_DUPLICATE);
  EXPECT_EQ(r->order_id(), h.exchange.orders().front().order_id);
  EXPECT_EQ(h.exchange.CountClientId("before-restart"), 1u);
}

TEST(OrderEngine, Exchange30042ForADifferentOrderIsAlreadyExistsNotTheOtherOrder) {
  EngineHarness h;
  h.LoadRules();
  // Before a restart, this client id was used for a sell; now it comes with a buy.
  h.exchange.InjectOrder("reuse-1", "BTCUSDT", "0.5", "61000", "SELL");
  auto r = h.Place(LimitBuy("reuse-1"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAlreadyExists) << r.status();
  EXPECT_EQ(Reason(r.status()), "DUPLICATE_CLIENT_ID");
  EXPECT_NE(r.status().message().find(h.exchange.orders().front().order_id), std::string::npos) << r.status();
  EXPECT_EQ(h.exchange.CountClientId("reuse-1"), 1u);
  // The same again is still refused; the order the exchange holds is a duplicate of itself.
  r = h.Place(LimitBuy("reuse-1"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAlreadyExists);
  auto sell = LimitBuy("reuse-1", "0.50", "61000.0");
  sell.set_side(bitunix::common::v1::SIDE_SELL);
  auto same = h.Place(sell);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(same->result(), v1::PLACE_RESULT_DUPLICATE);
  EXPECT_EQ(same->order_id(), h.exchange.orders().front().order_id);
  EXPECT_EQ(h.exchange.calls("/api/v1/futures/trade/place_order"), 1);
}

TEST(OrderEngine, Exchange30042ForAModifiedOrderReturnsItAsTheExchangeHoldsIt) {
  EngineHarness h;
  h.LoadRules();
  // Placed before a restart as 0.01 @ 60000.5, then modified to 0.5 @ 61000 (ModifyOrder): the
  // same order under the same id, not "a different order, nothing was placed".
  h.exchange.InjectOrder("mod-1", "BTCUSDT", "0.5", "61000");
  auto r = h.Place(LimitBuy("mod-1"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->result(), v1::PLACE_RESULT_DUPLICATE);
  EXPECT_EQ(r->order_id(), h.exchange.orders().front().order_id);
  EXPECT_EQ(r->order().qty(), "0.5");
  EXPECT_EQ(r->order().price(), "61000");
  EXPECT_EQ(h.exchange.CountClientId("mod-1"), 1u);
}

TEST(OrderEngine, LostReplyOfAnOrderWhoseQtyTheExchangeClampedIsAccepted) {
  EngineHarness h;
  h.LoadRules();
  // A reduce-only order for 1 BTC executes as 0.01 (the position's size); its reply is lost and
  // the lookup finds the clamped order. That is this call's order, not somebody else's.
  h.exchange.AddFault({"/api/v1/futures/trade/place_order", FaultKind::kReset, /*after=*/false});
  h.exchange.InjectOrder("clamp-1", "BTCUSDT", "0.01", "60000.5");
  auto req = LimitBuy("clamp-1", "1");
  req.set_reduce_only(true);
  auto r = h.Place(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->result(), v1::PLACE_RESULT_ACCEPTED);
  EXPECT_EQ(r->order().qty(), "0.01");
  EXPECT_EQ(h.exchange.CountClientId("clamp-1"), 1u);
  // And a resubmission of the same request is that order again.
  auto again = h.Place(req);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->result(), v1::PLACE_RESULT_DUPLICATE);
  EXPECT_EQ(again->order_id(), r->order_id());
}

// Readiness reads "the exchange answered a signed request lately" when its own probe finds the
// budget busy. A business refusal (insufficient balance) is such an answer: it comes after the
// exchange accepted the key and signature, and sends no lookup that could count instead.
TEST(OrderEngine, ABusinessRefusalCountsAsASignedAnswer) {
  EngineHarness h;
  h.LoadRules();
  const auto before = h.rest.LastSignedAnswer();
  h.sched.Advance(2s);
  h.exchange.AddFault({"/api/v1/futures/trade/place_order", FaultKind::kRefuse, false});
  auto refused = h.Place(LimitBuy("r-20003"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_EQ(h.exchange.calls("/api/v1/futures/trade/get_order_detail"), 0) << "no lookup after a refusal";
  ASSERT_TRUE(h.rest.LastSignedAnswer().has_value());
  EXPECT_NE(h.rest.LastSignedAnswer(), before);
  EXPECT_EQ(*h.rest.LastSignedAnswer(), h.clock.Steady());
}

TEST(OrderEngine, RefusedResendOfAnUnknownPlacementStaysUnknownAndIsReconciled) {
  EngineHarness h;
  h.LoadRules();
  h.exchange.AddFault({"/api/v1/futures/trade/place_order", FaultKind::kReset, false});
  ASSERT_EQ(h.Place(LimitBuy("unk-1"))->result(), v1::PLACE_RESULT_UNKNOWN);
  // The caller re-sends; the lookup finds nothing and the re-send is refused outright.
  h.exchange.AddFault({"/api/v1/futures/trade/place_order", FaultKind::kRefuse, false});
  auto again = h.Place(LimitBuy("unk-1"));
  // That refusal says nothing about the first attempt: the caller hears UNKNOWN, not "refused"
  // (which it would read as "not placed"), and the placement is still reconciled.
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->result(), v1::PLACE_RESULT_UNKNOWN);
  EXPECT_EQ(again->client_id(), "unk-1");
  ASSERT_TRUE(h.engine.Placement("unk-1").has_value());
  EXPECT_EQ(h.engine.Placement("unk-1")->state, OrderEngine::PlacementState::kUnknown);
  EXPECT_EQ(h.engine.unknown_placements(), 1u);
  EXPECT_EQ(UnknownPlacementsGauge(h), 1.0);  // what an alert watches
  h.exchange.InjectOrder("unk-1");  // the first attempt landed late
  h.sched.Advance(5s);
  EXPECT_EQ(h.engine.Placement("unk-1")->state, OrderEngine::PlacementState::kAccepted);
  EXPECT_EQ(h.engine.unknown_placements(), 0u);
  EXPECT_EQ(UnknownPlacementsGauge(h), 0.0);
  EXPECT_EQ(h.exchange.CountClientId("unk-1"), 1u);
}

TEST(OrderEngine, RefusedResendInABatchKeepsTheUnknownPlacement) {
  EngineHarness h;
  h.LoadRules();
  h.exchange.AddFault({"/api/v1/futures/trade/place_order", FaultKind::kReset, false});
  ASSERT_EQ(h.Place(LimitBuy("unk-b"))->result(), v1::PLACE_RESULT_UNKNOWN);
  h.exchange.AddFault({"/api/v1/futures/trade/batch_order", FaultKind::kRefuse, false});
  v1::BatchPlaceOrdersRequest b;
  b.set_symbol("BTCUSDT");
  *b.add_orders() = LimitBuy("unk-b");
  *b.add_orders() = LimitBuy("new-b");
  auto r = h.Run(&OrderEngine::BatchPlaceOrders, b);
  // The whole batch was refused; the re-sent item is still unknown, the new one was refused.
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->results_size(), 2);
  EXPECT_EQ(r->results(0).result(), v1::PLACE_RESULT_UNKNOWN);
  EXPECT_FALSE(r->results(0).has_error());
  EXPECT_EQ(r->results(1).result(), v1::PLACE_RESULT_UNSPECIFIED);
  EXPECT_EQ(r->results(1).error().code(), 20003) << r->results(1).DebugString();
  EXPECT_EQ(h.engine.Placement("unk-b")->state, OrderEngine::PlacementState::kUnknown);
  EXPECT_EQ(h.engine.Placement("new-b")->state, OrderEngine::PlacementState::kAbsent);
  EXPECT_EQ(h.engine.unknown_placements(), 1u);
  // A batch refused as a whole with no unknown item still fails as a whole.
  h.exchange.AddFault({"/api/v1/futures/trade/batch_order", FaultKind::kRefuse, false});
  v1::BatchPlaceOrdersRequest fresh;
  fresh.set_symbol("BTCUSDT");
  *fresh.add_orders() = LimitBuy("new-c");
  EXPECT_EQ(h.Run(&OrderEngine::BatchPlaceOrders, fresh).status().code(), absl::StatusCode::kFailedPrecondition);
}

// A batch whose request is refused as a whole (here: by the exchange) while one of its items is a
// known order answered locally: that item keeps its DUPLICATE and the order id, the refused one
// gets the refusal as its own error. The call used to fail as a whole, telling the caller nothing
// about its live order.
TEST(OrderEngine, ARefusedBatchKeepsTheAnswersOfItsItemsAnsweredLocally) {
  EngineHarness h;
  h.LoadRules();
  auto placed = h.Place(LimitBuy("known-a"));
  ASSERT_TRUE(placed.ok() && placed->result() == v1::PLACE_RESULT_ACCEPTED) << placed.status();
  h.exchange.AddFault({"/api/v1/futures/trade/batch_order", FaultKind::kRefuse, false});
  v1::BatchPlaceOrdersRequest b;
  b.set_symbol("BTCUSDT");
  *b.add_orders() = LimitBuy("known-a");
  *b.add_orders() = LimitBuy("new-b");
  auto r = h.Run(&OrderEngine::BatchPlaceOrders, b);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->results_size(), 2);
  EXPECT_EQ(r->results(0).result(), v1::PLACE_RESULT_DUPLICATE);
  EXPECT_EQ(r->results(0).order_id(), placed->order_id());
  EXPECT_FALSE(r->results(0).has_error());
  ASSERT_TRUE(r->results(1).has_error()) << r->ShortDebugString();
  EXPECT_EQ(r->results(1).result(), v1::PLACE_RESULT_UNSPECIFIED);
  EXPECT_EQ(h.exchange.CountClientId("new-b"), 0);
  // Nothing of it was placed: the refused id is free for a new attempt.
  h.exchange.ClearFaults();
  v1::BatchPlaceOrdersRequest again;
  again.set_symbol("BTCUSDT");
  *again.add_orders() = LimitBuy("new-b");
  auto r2 = h.Run(&OrderEngine::BatchPlaceOrders, again);
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_EQ(r2->results(0).result(), v1::PLACE_RESULT_ACCEPTED);
}

TEST(OrderEngine, ADuplicateIsAnsweredAtItsOwnDeadlineWhileTheOriginalIsStillInFlight) {
  EngineHarness h;
  h.LoadRules();
  // The first call's exchange request hangs; its deadline is 20 s.
  h.exchange.AddFault({"/api/v1/futures/trade/place_order", FaultKind::kHang, false});
  std::optional<absl::StatusOr<v1::PlaceOrderResponse>> first, second;
  std::optional<absl::StatusOr<v1::BatchPlaceOrdersResponse>> batch;
  h.engine.PlaceOrder(LimitBuy("slow-1"), h.In(20s), [&](auto r) { first = std::move(r); });
  h.sched.RunUntilIdle();
  const SteadyTime t0 = h.clock.Steady();
  // A duplicate with a 2 s deadline, and a batch with the same id plus a new order.
  h.engine.PlaceOrder(LimitBuy("slow-1"), h.In(2s), [&](auto r) { second = std::move(r); });
  v1::BatchPlaceOrdersRequest b;
  b.set_symbol("BTCUSDT");
  *b.add_orders() = LimitBuy("slow-1");
  *b.add_orders() = LimitBuy("");
  h.engine.BatchPlaceOrders(b, h.In(2s), [&](auto r) { batch = std::move(r); });
  ASSERT_TRUE(h.sched.AdvanceUntil([&] { return second.has_value() && batch.has_value(); }, 5s));
  EXPECT_LE(h.clock.Steady() - t0, 2s);
  EXPECT_FALSE(first.has_value());
  ASSERT_TRUE(second->ok()) << second->status();
  EXPECT_EQ((*second)->result(), v1::PLACE_RESULT_UNKNOWN);
  EXPECT_EQ((*second)->client_id(), "slow-1");
  // The batch answers in time, with every item's client id: the new order was placed.
  ASSERT_TRUE(batch->ok()) << batch->status();
  ASSERT_EQ((*batch)->results_size(), 2);
  EXPECT_EQ((*batch)->results(0).result(), v1::PLACE_RESULT_UNKNOWN);
  EXPECT_EQ((*batch)->results(1).result(), v1::PLACE_RESULT_ACCEPTED);
  const std::string generated = (*batch)->results(1).client_id();
  EXPECT_EQ(generated.rfind("gw", 0), 0u);
  EXPECT_EQ(h.exchange.CountClientId(generated), 1u);
  EXPECT_EQ(h.exchange.CountClientId("slow-1"), 0u);  // still hanging: never sent twice
  EXPECT_EQ(h.exchange.calls("/api/v1/futures/trade/place_order"), 1);
  // The first call still gets its own answer later.
  ASSERT_TRUE(h.sched.AdvanceUntil([&] { return first.has_value(); }, 25s));
}

TEST(OrderEngine, AQueuedBatchIsWithdrawnOnlyWhenItsOwnCallerHasGone) {
  RateLimiterOptions limits = testing::GenerousLimits();
  limits.buckets[static_cast<size_t>(Bucket::kBatch)] = {1, 1};
  EngineHarness h(limits);
  h.LoadRules();
  auto batch_of = [](const std::string& cid) {
    v1::BatchPlaceOrdersRequest b;
    b.set_symbol("BTCUSDT");
    *b.add_orders() = LimitBuy(cid);
    return b;
  };
  ASSERT_TRUE(h.Run(&OrderEngine::BatchPlaceOrders, batch_of("bw-0")).ok());  // uses the token
  // A batch waits for the next token; a duplicate of its order attaches, then leaves.
  bool batch_gone = false, dup_gone = false;
  std::optional<absl::StatusOr<v1::BatchPlaceOrdersResponse>> batch;
  std::optional<absl::StatusOr<v1::PlaceOrderResponse>> dup;
  {
    CallScope scope([&] { return batch_gone; });
    h.engine.BatchPlaceOrders(batch_of("bw-1"), h.In(10s), [&](auto r) { batch = std::move(r); });
  }
  {
    CallScope scope([&] { return dup_gone; });
    h.engine.PlaceOrder(LimitBuy("bw-1"), h.In(10s), [&](auto r) { dup = std::move(r); });
  }
  dup_gone = true;
  ASSERT_TRUE(h.sched.AdvanceUntil([&] { return batch.has_value(); }, 5s));
  ASSERT_TRUE(batch->ok()) << batch->status();
  EXPECT_EQ((*batch)->results(0).result(), v1::PLACE_RESULT_ACCEPTED);
  EXPECT_EQ(h.exchange.CountClientId("bw-1"), 1u);
  // A batch whose own caller has gone while it waits is withdrawn: never sent.
  h.sched.Advance(2s);
  const int sent = h.exchange.calls("/api/v1/futures/trade/batch_order");
  ASSERT_TRUE(h.Run(&OrderEngine::BatchPlaceOrders, batch_of("bw-2")).ok());  // uses the token
  batch.reset();
  batch_gone = false;
  {
    CallScope scope([&] { return batch_gone; });
    h.engine.BatchPlaceOrders(batch_of("bw-3"), h.In(10s), [&](auto r) { batch = std::move(r); });
  }
  batch_gone = true;
  ASSERT_TRUE(h.sched.AdvanceUntil([&] { return batch.has_value(); }, 5s));
  EXPECT_FALSE(batch->ok());
  EXPECT_EQ(Reason(batch->status()), "WITHDRAWN") << batch->status();
  EXPECT_EQ(h.exchange.calls("/api/v1/futures/trade/batch_order"), sent + 1);  // bw-2 only
  EXPECT_EQ(h.exchange.CountClientId("bw-3"), 0u);
}

TEST(OrderEngine, AResubmissionIsItsPlacementEvenWhenTodaysRulesRefuseTheOrder) {
  EngineHarness h;
  h.engine.StartRulesRefresh(10s);
  h.sched.RunUntilIdle();
  ASSERT_EQ(h.Place(LimitBuy("acc-1"))->result(), v1::PLACE_RESULT_ACCEPTED);
  h.exchange.AddFault({"/api/v1/futures/trade/place_order", FaultKind::kReset, false});
  ASSERT_EQ(h.Place(LimitBuy("unk-r"))->result(), v1::PLACE_RESULT_UNKNOWN);
  // The symbol stops trading, and the rules are refreshed.
  h.exchange.set_btc_status("STOP");
  h.sched.Advance(11s);
  const int sent = h.exchange.calls("/api/v1/futures/trade/place_order");
  auto fresh = h.Place(LimitBuy("new-r"));
  EXPECT_EQ(fresh.status().code(), absl::StatusCode::kFailedPrecondition) << fresh.status();
  auto acc = h.Place(LimitBuy("acc-1"));
  ASSERT_TRUE(acc.ok()) << acc.status();
  EXPECT_EQ(acc->result(), v1::PLACE_RESULT_DUPLICATE);
  auto unk = h.Place(LimitBuy("unk-r"));
  ASSERT_TRUE(unk.ok()) << unk.status();
  EXPECT_EQ(unk->result(), v1::PLACE_RESULT_UNKNOWN);
  EXPECT_EQ(h.exchange.calls("/api/v1/futures/trade/place_order"), sent);  // nothing re-sent
  EXPECT_EQ(h.engine.Placement("unk-r")->state, OrderEngine::PlacementState::kUnknown);
  // A different order under a known id is still refused by the rules first.
  EXPECT_EQ(h.Place(LimitBuy("acc-1", "0.02")).status().code(), absl::StatusCode::kFailedPrecondition);
  // The same in a batch: known ids are answered, nothing is sent; a new order fails the batch.
  v1::BatchPlaceOrdersRequest b;
  b.set_symbol("BTCUSDT");
  *b.add_orders() = LimitBuy("acc-1");
  *b.add_orders() = LimitBuy("unk-r");
  auto batch = h.Run(&OrderEngine::BatchPlaceOrders, b);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->results(0).result(), v1::PLACE_RESULT_DUPLICATE);
  EXPECT_EQ(batch->results(1).result(), v1::PLACE_RESULT_UNKNOWN);
  EXPECT_EQ(h.exchange.calls("/api/v1/futures/trade/batch_order"), 0);
  *b.add_orders() = LimitBuy("new-b");
  EXPECT_EQ(h.Run(&OrderEngine::BatchPlaceOrders, b).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(h.exchange.calls("/api/v1/futures/trade/batch_order"), 0);
}

TEST(OrderEngine, AfterCloseNothingReachesTheTransport) {
  // Shutdown: the transport is about to be destroyed while a placement waits for its reply.
  EngineHarness h;
  h.LoadRules();
  h.exchange.AddFault({"/api/v1/futures/trade/place_order", FaultKind::kHang, /*after=*/true});
  std::optional<absl::StatusOr<v1::PlaceOrderResponse>> out;
  h.engine.PlaceOrder(LimitBuy("at-exit"), h.In(10s), [&](absl::StatusOr<v1::PlaceOrderResponse> r) { out = r; });
  h.sched.RunUntilIdle();
  const size_t sent = h.exchange.requests().size();
  h.engine.Shutdown();
  h.rest.Close(absl::UnavailableError("shutting down"));
  // The lost reply starts a lookup by client id; it must complete without a request.
  ASSERT_TRUE(h.sched.AdvanceUntil([&] { return out.has_value(); }, 20s));
  EXPECT_EQ(h.exchange.requests().size(), sent);
  ASSERT_TRUE(out->ok()) << out->status();
  EXPECT_EQ((*out)->result(), v1::PLACE_RESULT_UNKNOWN);
  EXPECT_EQ((*out)->client_id(), "at-exit");
  // Later calls are refused the same way.
  std::optional<absl::StatusOr<v1::GetAccountResponse>> acct;
  h.engine.GetAccount({}, h.In(1s), [&](absl::StatusOr<v1::GetAccountResponse> r) { acct = r; });
  ASSERT_TRUE(h.sched.AdvanceUntil([&] { return acct.has_value(); }, 2s));
  EXPECT_EQ(acct->status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(h.exchange.requests().size(), sent);
}

TEST(OrderEngine, LostReplyAfterExecutionIsResolvedByClientId) {
  EngineHarness h;
  h.LoadRules();
  h.exchange.AddFault({"/api/v1/futures/trade/place_order", FaultKind::kReset, /*after=*/true});
  auto r = h.Place(LimitBuy("lost-after"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->result(), v1::PLACE_RESULT_ACCEPTED);
  EXPECT_EQ(r->order_id(), h.exchange.orders().front().order_id);
  EXPECT_EQ(h.exchange.calls("/api/v1/futures/trade/place_order"), 1);  // never re-sent
  EXPECT_GE(h.exchange.calls("/api/v1/futures/trade/get_order_detail"), 1);
}

TEST(OrderEngine, LostRequestBeforeExecutionIsUnknownThenSafeToResubmit) {
  EngineHarness h;
  h.LoadRules();
  h.exchange.AddFault({"/api/v1/futures/trade/place_order", FaultKind::kHttp500, /*after=*/false});
  auto r = h.Place(LimitBuy("lost-before"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->result(), v1::PLACE_RESULT_UNKNOWN);
  EXPECT_EQ(r->client_id(), "lost-before");
  EXPECT_EQ(h.exchange.CountClientId("lost-before"), 0u);
  EXPECT_EQ(h.exchange.calls("/api/v1/futures/trade/place_order"), 1);
  ASSERT_TRUE(h.engine.Placement("lost-before").has_value());
  EXPECT_EQ(h.engine.Placement("lost-before")->state, OrderEngine::PlacementState::kUnknown);
  EXPECT_EQ(h.engine.unknown_placements(), 1u);
  EXPECT_EQ(UnknownPlacementsGauge(h), 1.0);
  // The caller resubmits with the same client id (the documented safe move).
  auto again = h.Place(LimitBuy("lost-before"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->result(), v1::PLACE_RESULT_ACCEPTED);
  EXPECT_EQ(h.exchange.CountClientId("lost-before"), 1u);
  EXPECT_EQ(h.engine.unknown_placements(), 0u);
  EXPECT_EQ(UnknownPlacementsGauge(h), 0.0);
}

TEST(OrderEngine, ResubmitAfterUnknownFindsALateFirstAttempt) {
  EngineHarness h;
  h.LoadRules();
  h.exchange.AddFault({"/api/v1/futures/trade/place_order", FaultKind::kReset, false});
  auto r = h.Place(LimitBuy("late"));
  ASSERT_EQ(r->result(), v1::PLACE_RESULT_UNKNOWN);
  h.exchange.InjectOrder("late");  // the first attempt landed after all
  auto again = h.Place(LimitBuy("late"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->result(), v1::PLACE_RESULT_DUPLICATE);
  EXPECT_EQ(h.exchange.CountClientId("late"), 1u);
  EXPECT_EQ(h.exchange.calls("/api/v1/futures/trade/place_order"), 1);
}

TEST(OrderEngine, BackgroundReconciliationFindsTheOrderAndPublishesIt) {
  EngineHarness h;
  h.LoadRules();
  std::vector<v1::Order> reconciled;
  h.engine.set_reconciled_sink([&](const v1::Order& o) { reconciled.push_back(o); });
  h.exchange.AddFault({"/api/v1/futures/trade/place_order", FaultKind::kHang, false});
  auto r = h.Place(LimitBuy("bg"));
  ASSERT_EQ(r->result(), v1::PLACE_RESULT_UNKNOWN);
  h.exchange.InjectOrder("bg");
  h.sched.AdvanceUntil([&] { return !reconciled.empty(); }, 60s, 100ms);
  ASSERT_EQ(reconciled.size(), 1u);
  EXPECT_EQ(reconciled[0].client_id(), "bg");
  EXPECT_EQ(h.engine.Placement("bg")->state, OrderEngine::PlacementState::kAccepted);
  EXPECT_EQ(h.engine.unknown_placements(), 0u);
}

TEST(OrderEngine, BackgroundReconciliationGivesUpAfterTheWindow) {
  EngineOptions eo;
  eo.reconcile_window = 20s;
  EngineHarness h(testing::GenerousLimits(), eo);
  h.LoadRules();
  h.exchange.AddFault({"/api/v1/futures/trade/place_order", FaultKind::kReset, false});
  ASSERT_EQ(h.Place(LimitBuy("never"))->result(), v1::PLACE_RESULT_UNKNOWN);
  EXPECT_EQ(UnknownPlacementsGauge(h), 1.0);
  h.sched.Advance(60s);
  EXPECT_EQ(h.engine.Placement("never")->state, OrderEngine::PlacementState::kAbsent);
  EXPECT_EQ(h.engine.unknown_placements(), 0u);
  EXPECT_EQ(UnknownPlacementsGauge(h), 0.0);
  EXPECT_EQ(h.exchange.CountClientId("never"), 0u);
}

TEST(OrderEngine, PushResolvesAnUnknownPlacement) {
  EngineHarness h;
  h.LoadRules();
  h.exchange.AddFault({"/api/v1/futures/trade/place_order", FaultKind::kReset, false});
  ASSERT_EQ(h.Place(LimitBuy("pushed"))->result(), v1::PLACE_RESULT_UNKNOWN);
  v1::Order o;
  o.set_order_id("777");
  o.set_client_id("pushed");
  o.set_status(v1::ORDER_STATUS_NEW);
  h.engine.OnOrderUpdate(o);
  EXPECT_EQ(h.engine.Placement("pushed")->state, OrderEngine::PlacementState::kAccepted);
  auto dup = h.Place(LimitBuy("pushed"));
  EXPECT_EQ(dup->result(), v1::PLACE_RESULT_DUPLICATE);
  EXPECT_EQ(dup->order_id(), "777");
}

// Pushes and REST reads of one order arrive in any order: the view a DUPLICATE answer returns
// is the newest, and a finished order does not go back to open on a view of the same millisecond.
TEST(OrderEngine, AnOlderViewOfAnOrderDoesNotReplaceANewerOne) {
  EngineHarness h;
  h.LoadRules();
  h.exchange.AddFault({"/api/v1/futures/trade/place_order", FaultKind::kReset, false});
  ASSERT_EQ(h.Place(LimitBuy("views"))->result(), v1::PLACE_RESULT_UNKNOWN);
  auto view = [](v1::OrderStatus status, int64_t updated) {
    v1::Order o;
    o.set_order_id("888");
    o.set_client_id("views");
    o.set_status(status);
    o.set_update_time_ms(updated);
    return o;
  };
  h.engine.OnOrderUpdate(view(v1::ORDER_STATUS_NEW, 1000));
  h.engine.OnOrderUpdate(view(v1::ORDER_STATUS_FILLED, 2000));
  h.engine.OnOrderUpdate(view(v1::ORDER_STATUS_NEW, 1500));       // an older read
  h.engine.OnOrderUpdate(view(v1::ORDER_STATUS_PART_FILLED, 2000));  // same ms, not finished
  auto dup = h.Place(LimitBuy("views"));
  ASSERT_TRUE(dup.ok());
  EXPECT_EQ(dup->result(), v1::PLACE_RESULT_DUPLICATE);
  EXPECT_EQ(dup->order().status(), v1::ORDER_STATUS_FILLED);
  EXPECT_EQ(dup->order().update_time_ms(), 2000);
}

TEST(OrderEngine, DetailLagFallsBackToOpenOrders) {
  EngineHarness h;
  h.LoadRules();
  h.exchange.AddFault({"/api/v1/futures/trade/place_order", FaultKind::kHttp500, true});
  h.exchange.set_detail_lag(5);  // order detail does not see it yet; the open-orders list does
  auto r = h.Place(LimitBuy("lag"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->result(), v1::PLACE_RESULT_ACCEPTED);
  EXPECT_GE(h.exchange.calls("/api/v1/futures/trade/get_pending_orders"), 1);
}

// Every fault, before and after execution, many times: never a duplicate, never a lost order.
TEST(OrderEngine, RepeatedAmbiguousFaultsNeverDuplicateNorLose) {
  EngineHarness h;
  h.LoadRules();
  const FaultKind kinds[] = {FaultKind::kReset, FaultKind::kHttp500, FaultKind::kHttp429, FaultKind::kCode10005,
                             FaultKind::kHang, FaultKind::kBadJson};
  int n = 0;
  for (FaultKind kind : kinds) {
    for (bool after : {false, true}) {
      for (int i = 0; i < 5; ++i) {
        const std::string cid = "loop" + std::to_string(n++);
        h.exchange.AddFault({"/api/v1/futures/trade/place_order", kind, after});
        auto r = h.Place(LimitBuy(cid), 8s);
        ASSERT_TRUE(r.ok()) << cid << ": " << r.status();
        const size_t on_exchange = h.exchange.CountClientId(cid);
        ASSERT_LE(on_exchange, 1u) << cid;
        if (after) {
          // It was placed: the caller must be told so (found by client id).
          EXPECT_EQ(r->result(), v1::PLACE_RESULT_ACCEPTED) << cid;
          EXPECT_EQ(r->order_id(), h.exchange.orders().back().order_id) << cid;
        } else {
          EXPECT_EQ(r->result(), v1::PLACE_RESULT_UNKNOWN) << cid;
          EXPECT_EQ(on_exchange, 0u) << cid;
          // Resubmitting the same client id places it exactly once.
          auto again = h.Place(LimitBuy(cid), 8s);
          ASSERT_TRUE(again.ok());
          EXPECT_EQ(again->result(), v1::PLACE_RESULT_ACCEPTED) << cid;
          EXPECT_EQ(h.exchange.CountClientId(cid), 1u) << cid;
        }
        h.limiter.State(Bucket::kPrivate);
        h.sched.Advance(3s);  // let throttled buckets recover
      }
    }
  }
  EXPECT_EQ(h.exchange.bad_signatures(), 0);
}

TEST(OrderEngine, ValidationRefusesBeforeTheExchangeWithTheRuleAndAFix) {
  EngineHarness h;
  h.LoadRules();
  struct Case {
    v1::PlaceOrderRequest req;
    absl::StatusCode code;
    std::vector<std::string> words;
  };
  auto with = [](std::function<void(v1::PlaceOrderRequest&)> f) {
    v1::PlaceOrderRequest r = LimitBuy();
    f(r);
    return r;
  };
  std::vector<Case> cases = {
      {LimitBuy("", "0.12345"), absl::StatusCode::kInvalidArgument, {"basePrecision", "at most 4", "e.g. 0.1234"}},
      {LimitBuy("", "0.00001"), absl::StatusCode::kInvalidArgument, {"basePrecision", "the smallest step is 0.0001"}},
      {LimitBuy("", "0.0005"), absl::StatusCode::kInvalidArgument, {"minTradeVolume", "at least 0.001"}},
      {LimitBuy("", "101"), absl::StatusCode::kInvalidArgument, {"maxLimitOrderVolume", "100"}},
      {LimitBuy("", "0.01", "60000.55"), absl::StatusCode::kInvalidArgument, {"quotePrecision", "60000.5"}},
      {LimitBuy("", "1e-3"), absl::StatusCode::kInvalidArgument, {"plain decimal"}},
      {LimitBuy("", "-1"), absl::StatusCode::kInvalidArgument, {"greater than 0"}},
      {with([](auto& r) { r.set_symbol("HALTUSDT"); r.set_qty("1"); r.set_price("1"); }),
       absl::StatusCode::kFailedPrecondition, {"HALTUSDT", "STOP"}},
      {with([](auto& r) { r.set_symbol("NOPEUSDT"); }), absl::StatusCode::kInvalidArgument, {"unknown symbol"}},
      {with([](auto& r) { r.set_type(v1::ORDER_TYPE_MARKET); }), absl::StatusCode::kInvalidArgument, {"MARKET"}},
      {with([](auto& r) { r.clear_price(); }), absl::StatusCode::kInvalidArgument, {"LIMIT", "price"}},
      {with([](auto& r) { r.set_side(bitunix::common::v1::SIDE_UNSPECIFIED); }), absl::StatusCode::kInvalidArgument, {"side"}},
      {with([](auto& r) { r.set_client_id(std::string(33, 'a')); }), absl::StatusCode::kInvalidArgument, {"client_id"}},
      {with([](auto& r) { r.set_client_id("bad id!"); }), absl::StatusCode::kInvalidArgument, {"client_id"}},
      {with([](auto& r) { r.set_trade_side(v1::TRADE_SIDE_CLOSE); }), absl::StatusCode::kInvalidArgument, {"position_id"}},
      {with([](auto& r) { r.mutable_tpsl()->set_tp_price("61000.25"); }), absl::StatusCode::kInvalidArgument, {"tp_price", "quotePrecision"}},
      {with([](auto& r) {
         r.mutable_tpsl()->set_sl_price("59000");
         r.mutable_tpsl()->set_sl_order_type(v1::ORDER_TYPE_LIMIT);
       }),
       absl::StatusCode::kInvalidArgument, {"sl_order_price"}},
  };
  for (const auto& c : cases) {
    auto r = h.Place(c.req);
    ASSERT_FALSE(r.ok()) << c.req.ShortDebugString();
    EXPECT_EQ(r.status().code(), c.code) << r.status();
    EXPECT_EQ(Reason(r.status()), "VALIDATION") << r.status();
    for (const auto& w : c.words) EXPECT_NE(r.status().message().find(w), std::string::npos) << w << " in " << r.status();
  }
  EXPECT_EQ(h.exchange.calls("/api/v1/futures/trade/place_order"), 0);
}

TEST(OrderEngine, NoRulesYetMeansNothingIsSent) {
  EngineHarness h;  // rules not loaded
  auto r = h.Place(LimitBuy());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(h.exchange.calls("/api/v1/futures/trade/place_order"), 0);
}

TEST(OrderEngine, DryRunSignsButSendsNothing) {
  EngineHarness h;
  h.LoadRules();
  v1::PlaceOrderRequest req = LimitBuy("dry-1");
  req.set_dry_run(true);
  auto r = h.Place(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->result(), v1::PLACE_RESULT_DRY_RUN);
  EXPECT_EQ(r->dry_run().method(), "POST");
  EXPECT_EQ(r->dry_run().path(), "/api/v1/futures/trade/place_order");
  EXPECT_NE(r->dry_run().body().find("\"clientId\":\"dry-1\""), std::string::npos);
  EXPECT_EQ(r->dry_run().sign(), RestSign(r->dry_run().nonce(), r->dry_run().timestamp(), "test-api-key", "",
                                          r->dry_run().body(), "test-secret-0123456789"));
  EXPECT_EQ(r->dry_run().body().find("test-secret"), std::string::npos);
  EXPECT_EQ(h.exchange.calls("/api/v1/futures/trade/place_order"), 0);
}

TEST(OrderEngine, DryRunModeRefusesOtherStateChanges) {
  EngineOptions eo;
  eo.mode = Mode::kDryRun;
  EngineHarness h(testing::GenerousLimits(), eo);
  h.LoadRules();
  EXPECT_EQ(h.Place(LimitBuy())->result(), v1::PLACE_RESULT_DRY_RUN);
  v1::CancelOrdersRequest c;
  c.set_symbol("BTCUSDT");
  c.add_orders()->set_order_id("1");
  auto r = h.Run(&OrderEngine::CancelOrders, c);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("cancel_orders"), std::string::npos);
  EXPECT_EQ(h.exchange.calls("/api/v1/futures/trade/cancel_orders"), 0);
  // Reads still work in dry-run mode.
  EXPECT_TRUE(h.Run(&OrderEngine::GetAccount, v1::GetAccountRequest()).ok());
}

TEST(OrderEngine, BatchDedupesPerItemAndResolvesLostReplies) {
  EngineHarness h;
  h.LoadRules();
  ASSERT_TRUE(h.Place(LimitBuy("b-known")).ok());
  v1::BatchPlaceOrdersRequest b;
  b.set_symbol("BTCUSDT");
  for (const char* cid : {"b-1", "b-known", "b-2"}) *b.add_orders() = LimitBuy(cid);
  h.exchange.AddFault({"/api/v1/futures/trade/batch_order", FaultKind::kReset, true});
  auto r = h.Run(&OrderEngine::BatchPlaceOrders, b);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->results_size(), 3);
  EXPECT_EQ(r->results(0).result(), v1::PLACE_RESULT_ACCEPTED);
  EXPECT_EQ(r->results(1).result(), v1::PLACE_RESULT_DUPLICATE);
  EXPECT_EQ(r->results(2).result(), v1::PLACE_RESULT_ACCEPTED);
  for (const char* cid : {"b-1", "b-known", "b-2"}) EXPECT_EQ(h.exchange.CountClientId(cid), 1u) << cid;
  // The known id was not sent again.
  EXPECT_EQ(h.exchange.requests()[h.exchange.requests().size() - 1].body.find("b-known"), std::string::npos);
  EXPECT_EQ(h.exchange.calls("/api/v1/futures/trade/batch_order"), 1);
}

TEST(OrderEngine, BatchItemPlacedByAnotherCallRightNowWaitsForItsOutcome) {
  EngineHarness h;
  h.LoadRules();
  h.exchange.set_reply_delay(50ms);  // the single placement is still in flight when the batch comes
  std::optional<absl::StatusOr<v1::PlaceOrderResponse>> single;
  h.engine.PlaceOrder(LimitBuy("b-race"), h.In(10s), [&](absl::StatusOr<v1::PlaceOrderResponse> r) { single = r; });
  h.sched.RunUntilIdle();
  ASSERT_FALSE(single.has_value());
  v1::BatchPlaceOrdersRequest b;
  b.set_symbol("BTCUSDT");
  for (const char* cid : {"b-race", "b-other"}) *b.add_orders() = LimitBuy(cid);
  auto r = h.Run(&OrderEngine::BatchPlaceOrders, b);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(single.has_value() && single->ok());
  EXPECT_EQ((*single)->result(), v1::PLACE_RESULT_ACCEPTED);
  EXPECT_EQ(r->results(0).result(), v1::PLACE_RESULT_DUPLICATE);
  EXPECT_EQ(r->results(0).order_id(), (*single)->order_id());
  EXPECT_EQ(r->results(1).result(), v1::PLACE_RESULT_ACCEPTED);
  EXPECT_EQ(h.exchange.CountClientId("b-race"), 1u);
  // Only the in-flight item: no exchange call at all, the answer still comes.
  h.exchange.AddFault({"/api/v1/futures/trade/place_order", FaultKind::kHang, true});
  single.reset();
  h.engine.PlaceOrder(LimitBuy("b-race-2"), h.In(10s), [&](absl::StatusOr<v1::PlaceOrderResponse> x) { single = x; });
  h.sched.RunUntilIdle();
  v1::BatchPlaceOrdersRequest only;
  only.set_symbol("BTCUSDT");
  *only.add_orders() = LimitBuy("b-race-2");
  const int batches = h.exchange.calls("/api/v1/futures/trade/batch_order");
  auto o = h.Run(&OrderEngine::BatchPlaceOrders, only, 20000ms);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(h.exchange.calls("/api/v1/futures/trade/batch_order"), batches);
  EXPECT_EQ(o->results(0).result(), v1::PLACE_RESULT_DUPLICATE);
  EXPECT_EQ(h.exchange.CountClientId("b-race-2"), 1u);
}

TEST(OrderEngine, BatchLimitsAndSymbols) {
  EngineHarness h;
  h.LoadRules();
  v1::BatchPlaceOrdersRequest b;
  b.set_symbol("BTCUSDT");
  for (int i = 0; i < 6; ++i) *b.add_orders() = LimitBuy();
  EXPECT_EQ(h.Run(&OrderEngine::BatchPlaceOrders, b).status().code(), absl::StatusCode::kInvalidArgument);
  b.mutable_orders()->DeleteSubrange(1, 5);
  b.mutable_orders(0)->set_symbol("ETHUSDT");
  EXPECT_EQ(h.Run(&OrderEngine::BatchPlaceOrders, b).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(h.exchange.calls("/api/v1/futures/trade/batch_order"), 0);
}

TEST(OrderEngine, RateLimitRefusesFastWhenTheDeadlineCannotBeMet) {
  RateLimiterOptions lim = testing::GenerousLimits();
  lim.buckets[static_cast<size_t>(Bucket::kPrivate)] = {1, 1};
  EngineHarness h(lim);
  h.LoadRules();
  ASSERT_TRUE(h.Place(LimitBuy("rl-1"), 3s).ok());
  const auto before = h.clock.Steady();
  auto r = h.Place(LimitBuy("rl-2"), 500ms);  // next token in ~1 s: refused now, not after 500 ms
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(Reason(r.status()), "RATE_LIMITED");
  EXPECT_LT(h.clock.Steady() - before, 100ms);
  EXPECT_EQ(h.exchange.CountClientId("rl-2"), 0u);
  // Nothing was sent, so the same client id can be placed later.
  EXPECT_EQ(h.engine.Placement("rl-2")->state, OrderEngine::PlacementState::kAbsent);
  h.sched.Advance(2s);
  EXPECT_EQ(h.Place(LimitBuy("rl-2"), 3s)->result(), v1::PLACE_RESULT_ACCEPTED);
}

TEST(OrderEngine, ReadsAreRetriedWritesAreNot) {
  EngineHarness h;
  h.LoadRules();
  h.exchange.AddFault({"/api/v1/futures/account", FaultKind::kHttp500, false, 2});
  auto a = h.Run(&OrderEngine::GetAccount, v1::GetAccountRequest());
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(h.exchange.calls("/api/v1/futures/account"), 3);
  ASSERT_TRUE(h.Place(LimitBuy("mod-1")).ok());
  h.exchange.AddFault({"/api/v1/futures/account/change_leverage", FaultKind::kHttp500, false});
  v1::SetLeverageRequest lev;
  lev.set_symbol("BTCUSDT");
  lev.set_leverage(10);
  auto l = h.Run(&OrderEngine::SetLeverage, lev);
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(Reason(l.status()), "AMBIGUOUS");
  EXPECT_EQ(h.exchange.calls("/api/v1/futures/account/change_leverage"), 1);
  lev.set_leverage(500);
  auto bad = h.Run(&OrderEngine::SetLeverage, lev);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("[1, 125]"), std::string::npos);
}

// A path the exchange does not know (retired or moved endpoint) is UNIMPLEMENTED whether the
// exchange says so with code 404 (HTTP 200, as captured) or a front end with HTTP 404 (which used
// to be an unreadable reply: UNAVAILABLE, retried for reads and AMBIGUOUS for writes). Market
// data maps it the same way. Nothing ran, so it is neither retried nor ambiguous.
TEST(OrderEngine, AnEndpointTheExchangeDoesNotKnowIsUnimplementedAndNotRetried) {
  EngineHarness h;
  h.LoadRules();
  h.exchange.AddFault({"/api/v1/futures/account", FaultKind::kHttp404, false, 5});
  auto a = h.Run(&OrderEngine::GetAccount, v1::GetAccountRequest());
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kUnimplemented) << a.status();
  EXPECT_EQ(Reason(a.status()), "EXCHANGE_REJECTED");
  EXPECT_NE(a.status().message().find("moved or was retired"), std::string::npos) << a.status();
  EXPECT_EQ(h.exchange.calls("/api/v1/futures/account"), 1) << "a retry cannot find the path";
  auto detail = GetExchangeError(a.status());
  ASSERT_TRUE(detail.has_value());
  EXPECT_EQ(detail->http_status(), 404);
  h.exchange.ClearFaults();

  h.exchange.AddFault({"/api/v1/futures/account/change_leverage", FaultKind::kHttp404, false});
  v1::SetLeverageRequest lev;
  lev.set_symbol("BTCUSDT");
  lev.set_leverage(10);
  auto l = h.Run(&OrderEngine::SetLeverage, lev);
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.status().code(), absl::StatusCode::kUnimplemented) << l.status();
  EXPECT_EQ(Reason(l.status()), "EXCHANGE_REJECTED") << "an unknown path executed nothing";

  // The exchange's own answer to an unknown path: code 404 with HTTP 200.
  h.exchange.AddFault({"/api/v1/futures/account", FaultKind::kCode404, false});
  auto c = h.Run(&OrderEngine::GetAccount, v1::GetAccountRequest());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnimplemented) << c.status();
  EXPECT_NE(c.status().message().find("moved or was retired"), std::string::npos) << c.status();
}

TEST(OrderEngine, AmbiguousModifyIsResolvedByReadingTheOrder) {
  EngineHarness h;
  h.LoadRules();
  auto placed = h.Place(LimitBuy("m-1"));
  ASSERT_TRUE(placed.ok());
  h.exchange.AddFault({"/api/v1/futures/trade/modify_order", FaultKind::kReset, true});
  v1::ModifyOrderRequest m;
  m.set_symbol("BTCUSDT");
  m.mutable_order()->set_client_id("m-1");
  m.set_price("61000");
  auto r = h.Run(&OrderEngine::ModifyOrder, m);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->order_id(), placed->order_id());
  EXPECT_EQ(h.exchange.calls("/api/v1/futures/trade/modify_order"), 1);
  // Lost before execution: the change is not there, and the error says so.
  h.exchange.AddFault({"/api/v1/futures/trade/modify_order", FaultKind::kReset, false});
  m.set_price("62000");
  auto lost = h.Run(&OrderEngine::ModifyOrder, m);
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(Reason(lost.status()), "AMBIGUOUS");
  EXPECT_NE(lost.status().message().find("61000"), std::string::npos) << lost.status();
  // A TP/SL change the order read back does not show is not confirmed either.
  h.exchange.AddFault({"/api/v1/futures/trade/modify_order", FaultKind::kReset, false});
  v1::ModifyOrderRequest tp;
  tp.set_symbol("BTCUSDT");
  tp.mutable_order()->set_client_id("m-1");
  tp.mutable_tpsl()->set_tp_price("90000");
  auto tp_lost = h.Run(&OrderEngine::ModifyOrder, tp);
  ASSERT_FALSE(tp_lost.ok());
  EXPECT_EQ(Reason(tp_lost.status()), "AMBIGUOUS");
  EXPECT_NE(tp_lost.status().message().find("TP/SL"), std::string::npos) << tp_lost.status();
}

TEST(OrderEngine, AModifyWhoseAnswerNeverComesIsStillReadBackWithinAShortDeadline) {
  // The exchange applies the change and never answers. The request is sent with part of the
  // call's deadline kept back, so the order can still be read and the change confirmed.
  EngineHarness h;
  h.LoadRules();
  ASSERT_TRUE(h.Place(LimitBuy("m-2")).ok());
  h.exchange.AddFault({"/api/v1/futures/trade/modify_order", FaultKind::kHang, /*after=*/true});
  v1::ModifyOrderRequest m;
  m.set_symbol("BTCUSDT");
  m.mutable_order()->set_client_id("m-2");
  m.set_price("61000");
  auto r = h.Run(&OrderEngine::ModifyOrder, m, std::chrono::milliseconds(4000));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(h.exchange.calls("/api/v1/futures/trade/modify_order"), 1);
}

TEST(OrderEngine, CancelByClientIdAndUnknownOrder) {
  EngineHarness h;
  h.LoadRules();
  ASSERT_TRUE(h.Place(LimitBuy("c-1")).ok());
  v1::CancelOrdersRequest c;
  c.set_symbol("BTCUSDT");
  c.add_orders()->set_client_id("c-1");
  c.add_orders()->set_order_id("404404");
  auto r = h.Run(&OrderEngine::CancelOrders, c);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->results_size(), 2);
  EXPECT_TRUE(r->results(0).accepted());
  EXPECT_FALSE(r->results(1).accepted());
  EXPECT_EQ(r->results(1).error().code(), 20007);
  EXPECT_EQ(h.exchange.orders().front().status, "CANCELED");
}

TEST(OrderEngine, CancelOfAnOrderTheReplyDoesNotMentionIsNotReportedAsAccepted) {
  EngineHarness h;
  h.LoadRules();
  auto placed = h.Place(LimitBuy("c-quiet"));
  ASSERT_TRUE(placed.ok()) << placed.status();
  ASSERT_TRUE(h.Place(LimitBuy("c-listed")).ok());
  h.exchange.OmitFromCancelReply("c-quiet");
  v1::CancelOrdersRequest c;
  c.set_symbol("BTCUSDT");
  c.add_orders()->set_order_id(placed->order_id());
  c.add_orders()->set_client_id("c-listed");
  auto r = h.Run(&OrderEngine::CancelOrders, c);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->results_size(), 2);
  EXPECT_FALSE(r->results(0).accepted());
  EXPECT_EQ(r->results(0).error().reason(), "UNCONFIRMED");
  EXPECT_EQ(r->results(0).error().code(), 0);
  EXPECT_NE(r->results(0).error().message().find("neither"), std::string::npos) << r->results(0).error().message();
  EXPECT_TRUE(r->results(1).accepted());
  EXPECT_FALSE(r->results(1).has_error());
  EXPECT_FALSE(r->results(1).order().order_id().empty());
}

TEST(OrderEngine, PageSizesOverTheExchangeLimitAreRefused) {
  EngineHarness h;
  h.LoadRules();
  v1::ListOpenOrdersRequest open;
  open.set_limit(1000);
  auto r = h.Run(&OrderEngine::ListOpenOrders, open);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("limit 1000"), std::string::npos) << r.status();
  v1::ListOrderHistoryRequest hist;
  hist.set_limit(101);
  EXPECT_EQ(h.Run(&OrderEngine::ListOrderHistory, hist).status().code(), absl::StatusCode::kInvalidArgument);
  open.set_limit(100);
  EXPECT_TRUE(h.Run(&OrderEngine::ListOpenOrders, open).ok());
  EXPECT_EQ(h.exchange.calls("/api/v1/futures/trade/get_pending_orders"), 1);
}

TEST(OrderEngine, GetOrderAndNotFound) {
  EngineHarness h;
  h.LoadRules();
  auto placed = h.Place(LimitBuy("g-1"));
  v1::GetOrderRequest g;
  g.mutable_order()->set_client_id("g-1");
  auto r = h.Run(&OrderEngine::GetOrder, g);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->order().order_id(), placed->order_id());
  EXPECT_EQ(r->order().status(), v1::ORDER_STATUS_NEW);
  g.mutable_order()->set_client_id("nope");
  auto nf = h.Run(&OrderEngine::GetOrder, g);
  EXPECT_EQ(nf.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(nf.status().message().find("reconciled"), std::string::npos) << nf.status();
  // A client id whose placement is UNKNOWN: "not found" says it may still appear, and keeps the
  // exchange's error details.
  h.exchange.AddFault({"/api/v1/futures/trade/place_order", FaultKind::kReset, false});
  ASSERT_EQ(h.Place(LimitBuy("g-unk"))->result(), v1::PLACE_RESULT_UNKNOWN);
  g.mutable_order()->set_client_id("g-unk");
  auto unk = h.Run(&OrderEngine::GetOrder, g);
  EXPECT_EQ(unk.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(unk.status().message().find("still being reconciled"), std::string::npos) << unk.status();
  auto detail = GetExchangeError(unk.status());
  ASSERT_TRUE(detail.has_value());
  EXPECT_EQ(detail->code(), 20007);
}

TEST(OrderEngine, SkewFromDateHeadersCorrectsTimestamps) {
  EngineHarness h;
  h.exchange.set_clock_offset_ms(20'000);
  h.LoadRules();
  ASSERT_TRUE(h.Run(&OrderEngine::GetAccount, v1::GetAccountRequest()).ok());
  EXPECT_NEAR(static_cast<double>(h.skew.OffsetMs()), 20'000, 1'000);
  EXPECT_NEAR(static_cast<double>(h.signer.TimestampMs() - h.clock.NowMs()), 20'000, 1'000);
}

TEST(OrderEngine, RefusalAfterAClockStepIsReSignedOnce) {
  EngineHarness h;
  h.exchange.set_time_window_ms(5000);
  h.LoadRules();
  ASSERT_TRUE(h.Place(LimitBuy("before-step")).ok());
  // The exchange clock steps 20 s ahead: the next request is refused for its timestamp; its reply's
  // Date moves the estimate and the request goes again, once, with a corrected timestamp.
  h.exchange.set_clock_offset_ms(20'000);
  auto r = h.Place(LimitBuy("after-step"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->result(), v1::PLACE_RESULT_ACCEPTED);
  EXPECT_EQ(h.exchange.calls("/api/v1/futures/trade/place_order"), 3);
  EXPECT_EQ(h.exchange.CountClientId("after-step"), 1u);
  // A refusal that has nothing to do with the clock is not re-sent.
  auto bad = h.Place(LimitBuy("after-step", "0.02"));
  EXPECT_FALSE(bad.ok());
  h.exchange.set_clock_offset_ms(20'000);
  v1::CancelOrdersRequest c;
  c.set_symbol("BTCUSDT");
  c.add_orders()->set_order_id("1");
  const int before = h.exchange.calls("/api/v1/futures/trade/cancel_orders");
  ASSERT_TRUE(h.Run(&OrderEngine::CancelOrders, c).ok());
  EXPECT_EQ(h.exchange.calls("/api/v1/futures/trade/cancel_orders"), before + 1);
}

}  // namespace
}  // namespace bx::orders

namespace bx::orders {
namespace {

using namespace std::chrono_literals;
using testing::EngineHarness;

template <class T, class Fetch>
absl::StatusOr<std::vector<T>> FetchAll(EngineHarness& h, Fetch fetch, std::chrono::milliseconds timeout) {
  std::optional<absl::StatusOr<std::vector<T>>> out;
  fetch(h.In(timeout), [&out](absl::StatusOr<std::vector<T>> r) { out = std::move(r); });
  h.sched.AdvanceUntil([&] { return out.has_value(); }, timeout + 5s);
  EXPECT_TRUE(out.has_value()) << "the listing never completed";
  if (!out) return absl::InternalError("never completed");
  return *out;
}

absl::StatusOr<std::vector<v1::Order>> OpenOrders(EngineHarness& h, std::chrono::milliseconds timeout = 60s) {
  return FetchAll<v1::Order>(
      h, [&h](SteadyTime d, Reply<std::vector<v1::Order>> cb) { h.engine.FetchAllOpenOrders(d, std::move(cb)); },
      timeout);
}

absl::StatusOr<std::vector<v1::TpslOrder>> PendingTpsl(EngineHarness& h) {
  return FetchAll<v1::TpslOrder>(
      h, [&h](SteadyTime d, Reply<std::vector<v1::TpslOrder>> cb) { h.engine.FetchAllPendingTpsl(d, std::move(cb)); },
      60s);
}

size_t DistinctOrderIds(const std::vector<v1::Order>& orders) {
  std::set<std::string> ids;
  for (const auto& o : orders) ids.insert(o.order_id());
  return ids.size();
}

// The open-order listing used to stop silently after 50 pages (5,000 orders) and hand the
// partial list on as complete: reconciliation took the orders beyond it as gone, a stream's
// snapshot lacked them. Now every page is read, until the listing ends.
TEST(OrderEngineListing, EveryOpenOrderIsReadBeyondFiftyPages) {
  EngineHarness h;
  h.LoadRules();
  for (int i = 0; i < 5150; ++i) h.exchange.InjectOrder("many-" + std::to_string(i));
  auto r = OpenOrders(h);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->size(), 5150u);
  EXPECT_EQ(DistinctOrderIds(*r), 5150u);
  EXPECT_EQ(h.exchange.calls("/api/v1/futures/trade/get_pending_orders"), 52);
}

// Without `total` the listing used to end after its first full page (100 orders).
TEST(OrderEngineListing, AListingWithoutATotalIsReadUntilAShortPage) {
  EngineHarness h;
  h.LoadRules();
  h.exchange.set_omit_total(true);
  for (int i = 0; i < 250; ++i) h.exchange.InjectOrder("no-total-" + std::to_string(i));
  auto r = OpenOrders(h);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->size(), 250u);
  EXPECT_EQ(DistinctOrderIds(*r), 250u);
}

// A listing that does not advance (the exchange ignores `skip`) is an error, not the first page
// (nor that page twice) taken for the whole.
TEST(OrderEngineListing, AListingThatDoesNotAdvanceIsAnError) {
  EngineHarness h;
  h.LoadRules();
  h.exchange.set_ignore_skip(true);
  for (int i = 0; i < 150; ++i) h.exchange.InjectOrder("stuck-" + std::to_string(i));
  auto r = OpenOrders(h);
  ASSERT_FALSE(r.ok()) << r->size() << " orders taken for the whole listing";
  EXPECT_NE(r.status().message().find("listing incomplete"), std::string_view::npos) << r.status();
}

// A listing not read in full by the deadline is an error, never the part read so far.
TEST(OrderEngineListing, AListingCutShortByTheDeadlineIsAnError) {
  EngineHarness h;
  h.LoadRules();
  for (int i = 0; i < 350; ++i) h.exchange.InjectOrder("slow-" + std::to_string(i));
  h.exchange.set_reply_delay(400ms);  // four pages take 1.6 s
  auto r = OpenOrders(h, 1s);
  EXPECT_FALSE(r.ok()) << r->size() << " orders taken for the whole listing";
}

// Pending TP/SL orders: the exchange lists 10 by default and reports no total; every page is read.
TEST(OrderEngineListing, EveryPendingTpslOrderIsRead) {
  EngineHarness h;
  h.LoadRules();
  for (int i = 0; i < 230; ++i) {
    h.exchange.UpsertTpsl({{"id", "tpsl-" + std::to_string(i)}, {"positionId", "p1"}, {"symbol", "BTCUSDT"},
                           {"status", "NEW"}, {"tpPrice", "70000"}, {"tpQty", "0.01"}, {"ctime", 1700000000000}});
  }
  h.exchange.UpsertTpsl({{"id", "tpsl-done"}, {"positionId", "p1"}, {"symbol", "BTCUSDT"}, {"status", "CANCELED"}});
  auto r = PendingTpsl(h);
  ASSERT_TRUE(r.ok()) << r.status();
  std::set<std::string> ids;
  for (const auto& t : *r) ids.insert(t.order_id());
  EXPECT_EQ(ids.size(), 230u);
  EXPECT_FALSE(ids.count("tpsl-done"));
  EXPECT_EQ(h.exchange.calls("/api/v1/futures/tpsl/get_pending_orders"), 3);
}

// ListTpslOrders without history used to send one request without a limit: the exchange lists 10
// by default, so a position with more pending TP/SL orders showed only 10. Now every page is read.
TEST(OrderEngineListing, ListTpslOrdersReturnsEveryPendingTpslOrder) {
  EngineHarness h;
  h.LoadRules();
  for (int i = 0; i < 25; ++i) {
    h.exchange.UpsertTpsl({{"id", "p1-tpsl-" + std::to_string(i)}, {"positionId", "p1"}, {"symbol", "BTCUSDT"},
                           {"status", "NEW"}, {"slPrice", "50000"}, {"slQty", "0.001"}});
  }
  h.exchange.UpsertTpsl({{"id", "p2-tpsl"}, {"positionId", "p2"}, {"symbol", "BTCUSDT"}, {"status", "NEW"}});
  v1::ListTpslOrdersRequest req;
  req.set_symbol("BTCUSDT");
  req.set_position_id("p1");
  auto r = h.Run(&OrderEngine::ListTpslOrders, req);
  ASSERT_TRUE(r.ok()) << r.status();
  std::set<std::string> ids;
  for (const auto& t : r->orders()) ids.insert(t.order_id());
  EXPECT_EQ(ids.size(), 25u);
  EXPECT_EQ(r->total(), 25);
  EXPECT_FALSE(ids.count("p2-tpsl"));
  // Paging stays the history's: refused without it.
  req.set_limit(10);
  EXPECT_EQ(h.Run(&OrderEngine::ListTpslOrders, req).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace bx::orders
