#include "services/orders/private_stream.h"

#include <gtest/gtest.h>

#include <functional>
#include <optional>

#include <nlohmann/json.hpp>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "absl/strings/str_cat.h"
#include "services/orders/orders_metrics.h"
#include "tests/orders/engine_harness.h"

namespace bx::orders {
namespace {

using namespace std::chrono_literals;
namespace cv1 = ::bitunix::common::v1;
using testing::EngineHarness;
using testing::FakeWsClient;

struct PrivateStreamTest : ::testing::Test {
  void SetUp() override {
    h.LoadRules();
    auto ws = std::make_unique<FakeWsClient>();
    fake = ws.get();
    owned = std::move(ws);
    PrivateStreamOptions o;
    o.ping_interval = 5s;
    o.idle_timeout = 15s;
    o.reconnect = BackoffPolicy{100ms, 1s, 2.0, 0.0};
    stream = std::make_unique<PrivateStream>(
        h.sched, [this] { return std::move(owned); }, h.signer, h.engine, hub, &metrics, o);
    sub = std::make_shared<UpdateStream>(
        UpdateStream::Filter{}, 1000, 1000, h.clock,
        [this](const v1::StreamUpdatesResponse* m) {
          for (const auto& e : m->events()) events.push_back(e);
          h.sched.Post([this] { sub->OnWriteDone(true); });
        },
        [] {});
  }

  // A StreamUpdates call arrives: its snapshot is the hub's current status (as the service
  // sends it). BringUp attaches one once the feed is live, unless a test attached it earlier.
  void Attach() {
    attached = true;
    hub.Add(sub);
    sub->DeliverSnapshot({hub.CurrentStatus()});
  }

  // Connect, greet, log in: the stream is live.
  void BringUp() {
    h.sched.RunUntilIdle();
    ASSERT_TRUE(fake->Open());
    h.sched.RunUntilIdle();
    ASSERT_TRUE(fake->Push(R"({"op":"connect","data":{"result":true}})"));
    h.sched.RunUntilIdle();
    ASSERT_TRUE(fake->Push(R"({"op":"login","data":{"result":true}})"));
    h.sched.RunUntilIdle();
    ASSERT_TRUE(stream->live());
    if (!attached) Attach();
  }

  std::vector<v1::UpdateEvent> Of(v1::UpdateEvent::PayloadCase c) const {
    std::vector<v1::UpdateEvent> out;
    for (const auto& e : events) {
      if (e.payload_case() == c) out.push_back(e);
    }
    return out;
  }

  std::string MetricsText() const { return prometheus::TextSerializer().Serialize(registry->Collect()); }

  EngineHarness h;
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  OrdersMetrics metrics{*registry};
  UpdateHub hub{h.clock};
  FakeWsClient* fake = nullptr;
  std::unique_ptr<net::WsClient> owned;
  std::unique_ptr<PrivateStream> stream;
  std::shared_ptr<UpdateStream> sub;
  std::vector<v1::UpdateEvent> events;
  bool attached = false;
};

TEST_F(PrivateStreamTest, LogsInWithSecondsThenSubscribesAllFourChannels) {
  stream->Start();
  BringUp();
  auto sent = fake->sent();
  ASSERT_GE(sent.size(), 2u);
  auto login = nlohmann::json::parse(sent[0]);
  EXPECT_EQ(login["op"], "login");
  EXPECT_EQ(login["args"][0]["apiKey"], "test-api-key");
  EXPECT_EQ(login["args"][0]["timestamp"].get<int64_t>(), h.clock.NowMs() / 1000);
  EXPECT_EQ(login["args"][0]["sign"].get<std::string>().size(), 64u);
  EXPECT_EQ(sent[0].find("test-secret"), std::string::npos);
  auto sub_msg = nlohmann::json::parse(sent[1]);
  EXPECT_EQ(sub_msg["op"], "subscribe");
  std::set<std::string> channels;
  for (const auto& a : sub_msg["args"]) channels.insert(a["ch"].get<std::string>());
  EXPECT_EQ(channels, (std::set<std::string>{"order", "position", "balance", "tpsl"}));
  auto status = Of(v1::UpdateEvent::kStatus);
  ASSERT_FALSE(status.empty());
  EXPECT_EQ(status.back().status().state(), cv1::StreamStatus::STATE_LIVE);
}

TEST_F(PrivateStreamTest, LogsInWithoutGreetingAndWithoutLoginReply) {
  stream->Start();
  h.sched.RunUntilIdle();
  ASSERT_TRUE(fake->Open());
  h.sched.Advance(1500ms);  // no greeting: log in anyway
  ASSERT_EQ(fake->sent().size(), 1u);
  h.sched.Advance(6s);  // no login reply: subscribe anyway
  EXPECT_TRUE(stream->live());
  int subscribes = 0;
  for (const auto& m : fake->sent()) subscribes += m.find("\"subscribe\"") != std::string::npos;
  EXPECT_EQ(subscribes, 1);
}

TEST_F(PrivateStreamTest, PushesReachStreamsAndTheEngine) {
  stream->Start();
  BringUp();
  // An UNKNOWN placement that the push resolves.
  h.exchange.AddFault({"/api/v1/futures/trade/place_order", testing::FaultKind::kReset, false});
  ASSERT_EQ(h.Place(testing::LimitBuy("ws-cid"))->result(), v1::PLACE_RESULT_UNKNOWN);
  fake->Push(
      R"({"ch":"order","ts":1732178884994,"data":{"event":"CREATE","orderId":"11111","clientId":"ws-cid","symbol":"BTCUSDT","side":"BUY","type":"LIMIT","qty":"0.01","price":"60000.5","orderStatus":"NEW","ctime":"2024-05-16T08:13:09.123456789Z","mtime":"2024-05-16T08:13:09.223456789Z"}})");
  fake->Push(R"({"ch":"balance","ts":1,"data":{"coin":"USDT","available":"99000","frozen":"600"}})");
  fake->Push(R"({"ch":"position","ts":2,"data":[{"event":"OPEN","positionId":"p1","symbol":"BTCUSDT","side":"LONG","qty":"0.01"}]})");
  fake->Push(R"({"ch":"tpsl","ts":3,"data":{"event":"CREATE","orderId":"t1","positionId":"p1","symbol":"BTCUSDT","status":"NEW","tpPrice":"70000"}})");
  fake->Push("{not json");
  fake->PushBinary(std::string("\x00\x01", 2));
  fake->Push(R"({"ch":"order","data":"garbage"})");
  fake->Push(R"({"op":"ping","pong":1,"ping":2})");
  h.sched.RunUntilIdle();
  // The unreadable and the binary frame are counted and dropped; nothing else is affected.
  const std::string text = MetricsText();
  EXPECT_NE(text.find(R"(bitunix_orders_private_ws_bad_frames_total{kind="malformed"} 1)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(bitunix_orders_private_ws_bad_frames_total{kind="binary"} 1)"), std::string::npos) << text;
  EXPECT_TRUE(stream->live());
  auto orders = Of(v1::UpdateEvent::kOrder);
  ASSERT_EQ(orders.size(), 1u);
  EXPECT_EQ(orders[0].order().client_id(), "ws-cid");
  EXPECT_EQ(orders[0].kind(), v1::UPDATE_KIND_CREATE);
  EXPECT_EQ(orders[0].exchange_ts_ms(), 1732178884994);
  EXPECT_FALSE(orders[0].snapshot());
  EXPECT_EQ(Of(v1::UpdateEvent::kBalance).size(), 1u);
  EXPECT_EQ(Of(v1::UpdateEvent::kPosition).size(), 1u);
  EXPECT_EQ(Of(v1::UpdateEvent::kTpsl).size(), 1u);
  EXPECT_EQ(h.engine.Placement("ws-cid")->state, OrderEngine::PlacementState::kAccepted);
  EXPECT_EQ(h.engine.Placement("ws-cid")->order_id, "11111");
}

TEST_F(PrivateStreamTest, ReconnectResubscribesAndReconcilesWhatChangedMeanwhile) {
  stream->Start();
  ASSERT_TRUE(h.Place(testing::LimitBuy("open-before")).ok());
  BringUp();  // the first login seeds the open-order view (open-before) silently
  h.sched.RunUntilIdle();
  const size_t before = events.size();
  fake->Drop();
  h.sched.RunUntilIdle();
  EXPECT_FALSE(stream->live());
  EXPECT_EQ(Of(v1::UpdateEvent::kStatus).back().status().state(), cv1::StreamStatus::STATE_RECONNECTING);
  // While the feed is down: one order is cancelled and another is placed.
  v1::CancelOrdersRequest c;
  c.set_symbol("BTCUSDT");
  c.add_orders()->set_client_id("open-before");
  ASSERT_TRUE(h.Run(&OrderEngine::CancelOrders, c).ok());
  ASSERT_TRUE(h.Place(testing::LimitBuy("placed-while-down")).ok());
  h.sched.Advance(200ms);  // backoff
  ASSERT_EQ(fake->connects(), 2);
  BringUp();
  h.sched.Advance(1s);
  EXPECT_EQ(stream->reconciliations(), 1u);
  // Resubscribed.
  int subscribes = 0;
  for (const auto& m : fake->sent()) subscribes += m.find("\"subscribe\"") != std::string::npos;
  EXPECT_EQ(subscribes, 2);
  std::vector<v1::UpdateEvent> after(events.begin() + static_cast<long>(before), events.end());
  bool gap = false, recovered = false, new_order = false, closed = false;
  for (const auto& e : after) {
    if (e.has_gap()) gap = e.gap().reason() == cv1::Gap::REASON_UPSTREAM_RECONNECT;
    if (e.has_status() && e.status().state() == cv1::StreamStatus::STATE_RECOVERED) recovered = true;
    if (e.has_order() && e.snapshot() && e.order().client_id() == "placed-while-down") new_order = true;
    if (e.has_order() && e.snapshot() && e.order().client_id() == "open-before") {
      closed = e.order().status() == v1::ORDER_STATUS_CANCELED && e.kind() == v1::UPDATE_KIND_CLOSE;
    }
  }
  EXPECT_TRUE(gap);
  EXPECT_TRUE(recovered);
  EXPECT_TRUE(new_order);
  EXPECT_TRUE(closed);
  for (size_t i = 1; i < events.size(); ++i) EXPECT_EQ(events[i].seq(), events[i - 1].seq() + 1);
}

// RECOVERED used to be published as soon as the feed was back, before the reconciliation had read
// anything: a client that takes RECOVERED to mean "I have seen everything" acted on a view that
// still lacked what changed during the outage. Now the Gap comes at once, RECOVERED only after
// what the reconciliation publishes.
TEST_F(PrivateStreamTest, RecoveredComesAfterWhatTheReconciliationPublishes) {
  stream->Start();
  BringUp();
  h.sched.RunUntilIdle();
  const size_t before = events.size();
  fake->Drop();
  h.sched.RunUntilIdle();
  ASSERT_TRUE(h.Place(testing::LimitBuy("placed-while-down")).ok());
  h.exchange.set_reply_delay(50ms);  // the reconciliation's reads are still out when the feed is up
  h.sched.Advance(200ms);            // backoff
  BringUp();
  auto index_of = [&](const std::function<bool(const v1::UpdateEvent&)>& pred) {
    for (size_t i = before; i < events.size(); ++i) {
      if (pred(events[i])) return static_cast<int>(i);
    }
    return -1;
  };
  auto is_recovered = [](const v1::UpdateEvent& e) {
    return e.has_status() && e.status().state() == cv1::StreamStatus::STATE_RECOVERED;
  };
  EXPECT_GE(index_of([](const v1::UpdateEvent& e) { return e.has_gap(); }), 0);
  EXPECT_EQ(index_of(is_recovered), -1) << "RECOVERED before the reconciliation has read anything";
  h.sched.Advance(1s);
  const int order = index_of([](const v1::UpdateEvent& e) {
    return e.has_order() && e.snapshot() && e.order().client_id() == "placed-while-down";
  });
  const int recovered = index_of(is_recovered);
  ASSERT_GE(order, 0);
  ASSERT_GE(recovered, 0);
  EXPECT_LT(order, recovered);
  EXPECT_EQ(Of(v1::UpdateEvent::kStatus).back().status().state(), cv1::StreamStatus::STATE_RECOVERED);
}

// A reconciliation whose reads answer after the feed was lost again must not say RECOVERED: the
// feed is down (RECONNECTING), and the next connect reconciles anyway. Both the first run after a
// reconnect and a repeat of a failed run (the client heard DEGRADED) are covered.
TEST_F(PrivateStreamTest, AReconciliationThatEndsAfterTheFeedWasLostAgainDoesNotSayRecovered) {
  auto last_status = [&] { return Of(v1::UpdateEvent::kStatus).back().status().state(); };
  stream->Start();
  BringUp();
  for (bool repeat : {false, true}) {
    SCOPED_TRACE(repeat ? "a repeated run" : "the first run");
    fake->Drop();
    h.sched.Advance(2s);  // backoff (reconnect policy: at most 1 s)
    if (repeat) {
      // The reconnect's run fails: DEGRADED, repeated after 1 s.
      h.exchange.AddFault({"/api/v1/futures/trade/get_pending_orders", testing::FaultKind::kRefuse, false, 1});
      BringUp();
      h.sched.RunUntilIdle();
      ASSERT_EQ(last_status(), cv1::StreamStatus::STATE_DEGRADED);
      h.exchange.set_reply_delay(500ms);
      h.sched.Advance(1s);  // the repeat is out (after 0.8 to 1 s), its replies late
    } else {
      h.exchange.set_reply_delay(500ms);
      BringUp();
    }
    fake->Drop();  // lost again before the replies come
    h.sched.RunUntilIdle();
    ASSERT_EQ(last_status(), cv1::StreamStatus::STATE_RECONNECTING);
    h.sched.Advance(600ms);  // the replies arrive; the run ends well
    EXPECT_EQ(last_status(), cv1::StreamStatus::STATE_RECONNECTING) << "RECOVERED while the feed is down";
    h.exchange.set_reply_delay(0ms);
    h.sched.Advance(2s);
    BringUp();  // back for real
    h.sched.Advance(1s);
    EXPECT_EQ(last_status(), cv1::StreamStatus::STATE_RECOVERED);
  }
}

TEST_F(PrivateStreamTest, AnOrderThatOpenedAndFinishedWhileTheFeedWasDownIsPublished) {
  stream->Start();
  BringUp();
  h.sched.RunUntilIdle();
  const size_t before = events.size();
  fake->Drop();
  h.sched.RunUntilIdle();
  // While the feed is down an order is placed and filled (a market order): it is open neither
  // when the feed went down nor when it comes back, so only the order history shows it.
  ASSERT_TRUE(h.Place(testing::LimitBuy("filled-while-down")).ok());
  ASSERT_TRUE(h.exchange.SetOrderStatus("filled-while-down", "FILLED"));
  h.sched.Advance(200ms);  // backoff
  BringUp();
  h.sched.Advance(1s);
  std::vector<v1::UpdateEvent> after(events.begin() + static_cast<long>(before), events.end());
  int published = 0;
  for (const auto& e : after) {
    if (e.has_order() && e.order().client_id() == "filled-while-down") {
      ++published;
      EXPECT_TRUE(e.snapshot());
      EXPECT_EQ(e.kind(), v1::UPDATE_KIND_CLOSE);
      EXPECT_EQ(e.order().status(), v1::ORDER_STATUS_FILLED);
    }
  }
  EXPECT_EQ(published, 1);
  EXPECT_EQ(Of(v1::UpdateEvent::kStatus).back().status().state(), cv1::StreamStatus::STATE_RECOVERED);
}

TEST_F(PrivateStreamTest, StreamsOpenedBeforeTheFeedFirstConnectsHearWhatChangedMeanwhile) {
  Attach();  // a StreamUpdates call while the feed is not connected yet: REST snapshot only
  EXPECT_EQ(Of(v1::UpdateEvent::kStatus).back().status().state(), cv1::StreamStatus::STATE_RECONNECTING);
  stream->Start();
  h.sched.RunUntilIdle();
  ASSERT_TRUE(h.Place(testing::LimitBuy("before-first-connect")).ok());  // its push is never seen
  BringUp();
  h.sched.Advance(1s);
  bool gap = false, recovered = false, order = false;
  for (const auto& e : events) {
    if (e.has_gap()) gap = e.gap().reason() == cv1::Gap::REASON_UPSTREAM_RECONNECT;
    if (e.has_status() && e.status().state() == cv1::StreamStatus::STATE_RECOVERED) recovered = true;
    if (e.has_order() && e.snapshot() && e.order().client_id() == "before-first-connect") order = true;
  }
  EXPECT_TRUE(gap);
  EXPECT_TRUE(recovered);
  EXPECT_TRUE(order);
}

// After a reconnect the REST reconciliation runs while the new socket already pushes. A reply
// that left the exchange before a push must not overwrite what the push said.
struct ReconcileRaceTest : PrivateStreamTest {
  // Drops the live feed and brings it back with every REST reply 50 ms late, so that the
  // reconciliation's reads are still in flight when BringUp returns.
  void ReconnectWithSlowReplies() {
    fake->Drop();
    h.sched.RunUntilIdle();
    h.sched.Advance(200ms);  // backoff
    h.exchange.set_reply_delay(50ms);
    BringUp();
  }
  // The last event of `payload` whose id (order or position id) is `id`.
  std::optional<v1::UpdateEvent> Last(v1::UpdateEvent::PayloadCase payload, const std::string& id) const {
    std::optional<v1::UpdateEvent> last;
    for (const auto& e : events) {
      if (e.payload_case() != payload) continue;
      if (e.has_order() && e.order().order_id() != id) continue;
      if (e.has_position() && e.position().position_id() != id) continue;
      last = e;
    }
    return last;
  }
};

TEST_F(ReconcileRaceTest, AnOrderClosedByAPushIsNotRevivedByAnOlderListing) {
  stream->Start();
  ASSERT_TRUE(h.Place(testing::LimitBuy("race-a")).ok());
  BringUp();
  h.sched.RunUntilIdle();
  const std::string id = h.exchange.orders().at(0).order_id;
  ReconnectWithSlowReplies();  // the open-order listing has read race-a as NEW
  ASSERT_TRUE(h.exchange.SetOrderStatus("race-a", "CANCELED"));
  ASSERT_TRUE(fake->Push(absl::StrCat(
      R"({"ch":"order","ts":5,"data":{"event":"CLOSE","orderId":")", id,
      R"(","clientId":"race-a","symbol":"BTCUSDT","side":"BUY","type":"LIMIT","qty":"0.01","price":"60000.5","orderStatus":"CANCELED"}})")));
  h.sched.Advance(1s);  // the listing arrives, older than the push
  auto last = Last(v1::UpdateEvent::kOrder, id);
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->order().status(), v1::ORDER_STATUS_CANCELED) << last->DebugString();
  EXPECT_FALSE(last->snapshot());
  // A later reconnect (nothing pushed meanwhile) still reads the exchange and agrees.
  h.exchange.set_reply_delay(0ms);
  const size_t before = events.size();
  fake->Drop();
  h.sched.RunUntilIdle();
  h.sched.Advance(1s);
  BringUp();
  h.sched.Advance(1s);
  for (size_t i = before; i < events.size(); ++i) {
    EXPECT_FALSE(events[i].has_order()) << "the order is closed on both sides: " << events[i].DebugString();
  }
}

TEST_F(ReconcileRaceTest, AnOrderOpenedByAPushIsNotClosedByAnOlderListing) {
  stream->Start();
  BringUp();
  ReconnectWithSlowReplies();  // the listing is empty
  ASSERT_TRUE(h.Place(testing::LimitBuy("race-b")).ok());  // reaches the exchange after the listing was read
  const std::string id = h.exchange.orders().at(0).order_id;
  ASSERT_TRUE(fake->Push(absl::StrCat(
      R"({"ch":"order","ts":6,"data":{"event":"CREATE","orderId":")", id,
      R"(","clientId":"race-b","symbol":"BTCUSDT","side":"BUY","type":"LIMIT","qty":"0.01","price":"60000.5","orderStatus":"NEW"}})")));
  h.sched.Advance(1s);
  auto last = Last(v1::UpdateEvent::kOrder, id);
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->order().status(), v1::ORDER_STATUS_NEW) << last->DebugString();
  EXPECT_NE(last->kind(), v1::UPDATE_KIND_CLOSE);
}

TEST_F(ReconcileRaceTest, APositionOpenedByAPushIsNotClosedByAnOlderListing) {
  stream->Start();
  BringUp();
  ReconnectWithSlowReplies();  // the position listing (empty) is read now
  ASSERT_TRUE(fake->Push(
      R"({"ch":"position","ts":7,"data":[{"event":"OPEN","positionId":"race-p","symbol":"BTCUSDT","side":"LONG","qty":"0.01"}]})"));
  h.sched.Advance(1s);
  auto last = Last(v1::UpdateEvent::kPosition, "race-p");
  ASSERT_TRUE(last.has_value());
  EXPECT_NE(last->kind(), v1::UPDATE_KIND_CLOSE) << last->DebugString();
  EXPECT_EQ(last->position().qty(), "0.01");
}

TEST_F(ReconcileRaceTest, ABalancePushIsNotFollowedByAnOlderBalance) {
  stream->Start();
  BringUp();
  ReconnectWithSlowReplies();  // the account is read now: 100000 available
  ASSERT_TRUE(fake->Push(R"({"ch":"balance","ts":8,"data":{"coin":"USDT","available":"99000","frozen":"600"}})"));
  h.sched.Advance(1s);
  auto balances = Of(v1::UpdateEvent::kBalance);
  ASSERT_FALSE(balances.empty());
  EXPECT_EQ(balances.back().balance().available(), "99000") << balances.back().DebugString();
}

// A push can reach the engine while a resubmission of an UNKNOWN placement is looking its client
// id up; when that lookup then fails the push settles the placement (the resubmission gets the
// order; it used to be UNKNOWN again), and StreamUpdates has carried the order already (the push).
// Whatever reads it later -- here the reconciliation after a reconnect, which reads the order's
// final state with GetOrder -- must not publish it a second time through the engine's reconciled
// sink: every state of the order reaches a stream once.
TEST_F(PrivateStreamTest, AnOrderAPushCarriedIsNotPublishedAgainWhenTheReconnectReadsItsFinalState) {
  // As OrdersApp wires it: orders the engine resolves go to the hub as snapshot events.
  h.engine.set_reconciled_sink([this](const v1::Order& order) {
    v1::UpdateEvent e;
    e.set_gateway_ts_ns(h.clock.NowNs());
    e.set_snapshot(true);
    e.set_kind(v1::UPDATE_KIND_CREATE);
    *e.mutable_order() = order;
    hub.Publish(MakeHubEvent(std::move(e)));
  });
  stream->Start();
  BringUp();
  // The first attempt's request is lost before it executes: UNKNOWN.
  h.exchange.AddFault({"/api/v1/futures/trade/place_order", testing::FaultKind::kReset, false});
  ASSERT_EQ(h.Place(testing::LimitBuy("pushed-then-unknown"))->result(), v1::PLACE_RESULT_UNKNOWN);
  // It lands late after all; its push comes while a resubmission looks the id up, and that lookup
  // fails (every read of the order detail answers 500).
  h.exchange.InjectOrder("pushed-then-unknown");
  const std::string id = h.exchange.orders().back().order_id;
  h.exchange.AddFault({"/api/v1/futures/trade/get_order_detail", testing::FaultKind::kHttp500, false, 1000});
  std::optional<absl::StatusOr<v1::PlaceOrderResponse>> again;
  h.engine.PlaceOrder(testing::LimitBuy("pushed-then-unknown"), h.In(3s), [&](auto r) { again = std::move(r); });
  ASSERT_TRUE(fake->Push(absl::StrCat(
      R"({"ch":"order","ts":9,"data":{"event":"CREATE","orderId":")", id,
      R"(","clientId":"pushed-then-unknown","symbol":"BTCUSDT","side":"BUY","type":"LIMIT","qty":"0.01","price":"60000.5","orderStatus":"NEW"}})")));
  h.sched.AdvanceUntil([&] { return again.has_value(); }, 10s);
  ASSERT_TRUE(again.has_value() && again->ok());
  EXPECT_EQ((*again)->result(), v1::PLACE_RESULT_DUPLICATE) << v1::PlaceResult_Name((*again)->result());
  EXPECT_EQ((*again)->order_id(), id);
  EXPECT_EQ(h.exchange.CountClientId("pushed-then-unknown"), 1u);
  h.exchange.ClearFaults();
  // The feed drops, the order fills meanwhile, the feed comes back: the reconciliation reads the
  // order (believed open, no longer listed) and publishes its final state.
  fake->Drop();
  h.sched.RunUntilIdle();
  ASSERT_TRUE(h.exchange.SetOrderStatus("pushed-then-unknown", "FILLED"));
  h.sched.Advance(200ms);  // backoff
  BringUp();
  h.sched.Advance(120s);  // and any background lookup
  std::vector<v1::UpdateEvent> seen;
  for (const auto& e : events) {
    if (e.has_order() && e.order().order_id() == id) seen.push_back(e);
  }
  std::string all;
  for (const auto& e : seen) {
    absl::StrAppend(&all, "\n", v1::UpdateKind_Name(e.kind()), e.snapshot() ? " snapshot " : " push ",
                    v1::OrderStatus_Name(e.order().status()));
  }
  ASSERT_EQ(seen.size(), 2u) << "each state once: the push (NEW), then the reconciliation (FILLED); got" << all;
  EXPECT_EQ(seen[0].order().status(), v1::ORDER_STATUS_NEW);
  EXPECT_FALSE(seen[0].snapshot());
  EXPECT_EQ(seen[1].order().status(), v1::ORDER_STATUS_FILLED);
  EXPECT_EQ(seen[1].kind(), v1::UPDATE_KIND_CLOSE);
  EXPECT_EQ(h.engine.Placement("pushed-then-unknown")->state, OrderEngine::PlacementState::kAccepted);
}

// After a reconnect the open-order listing is compared with what the stream has carried. A push and
// a REST read describe the same state with different fields (REST adds realizedPNL, the push names
// the margin mode positionType, decimals may carry trailing zeros...): an open order that did not
// change while the feed was down is not published again, one that did (modified here) is.
TEST_F(PrivateStreamTest, AnOpenOrderThatDidNotChangeWhileTheFeedWasDownIsNotPublishedAgain) {
  stream->Start();
  BringUp();
  ASSERT_TRUE(h.Place(testing::LimitBuy("unchanged")).ok());
  ASSERT_TRUE(h.Place(testing::LimitBuy("modified")).ok());
  // Their pushes (the fake exchange stamps its orders 1700000000000 = 2023-11-14T22:13:20Z).
  for (const auto& o : h.exchange.orders()) {
    ASSERT_TRUE(fake->Push(absl::StrCat(
        R"({"ch":"order","ts":10,"data":{"event":"CREATE","orderId":")", o.order_id, R"(","clientId":")",
        o.client_id,
        R"(","symbol":"BTCUSDT","positionType":"CROSS","positionMode":"HEDGE","side":"BUY","effect":"GTC","type":"LIMIT","qty":"0.0100","price":"60000.50","reductionOnly":false,"leverage":"10","orderStatus":"NEW","fee":"0","realizedPNL":"0","averagePrice":"0","dealAmount":"0","ctime":"2023-11-14T22:13:20.000000000Z","mtime":"2023-11-14T22:13:20.000000000Z"}})")));
  }
  h.sched.RunUntilIdle();
  const size_t before = events.size();
  fake->Drop();
  h.sched.RunUntilIdle();
  v1::ModifyOrderRequest m;
  m.set_symbol("BTCUSDT");
  m.mutable_order()->set_client_id("modified");
  m.set_price("60100");
  ASSERT_TRUE(h.Run(&OrderEngine::ModifyOrder, m).ok());
  h.sched.Advance(200ms);  // backoff
  BringUp();
  h.sched.Advance(1s);
  ASSERT_EQ(Of(v1::UpdateEvent::kStatus).back().status().state(), cv1::StreamStatus::STATE_RECOVERED);
  int unchanged = 0, modified = 0;
  for (size_t i = before; i < events.size(); ++i) {
    const auto& e = events[i];
    if (!e.has_order()) continue;
    if (e.order().client_id() == "unchanged") {
      ++unchanged;
      ADD_FAILURE() << "the same state again: " << e.DebugString();
    }
    if (e.order().client_id() == "modified") {
      ++modified;
      EXPECT_TRUE(e.snapshot());
      EXPECT_EQ(e.kind(), v1::UPDATE_KIND_UPDATE);
      EXPECT_EQ(e.order().price(), "60100");
    }
  }
  EXPECT_EQ(unchanged, 0);
  EXPECT_EQ(modified, 1);
}

// As for orders, a pushed position and the listing's record of it differ in their fields (the
// listing adds the liquidation price, margin rate and average open price and calls the fee
// `fees`; decimals may carry trailing zeros; the unrealised PnL follows the mark price): a
// position that did not change while the feed was down is not published again after the
// reconnect, one that did (grew here) is.
TEST_F(PrivateStreamTest, AnOpenPositionThatDidNotChangeWhileTheFeedWasDownIsNotPublishedAgain) {
  stream->Start();
  BringUp();
  h.sched.RunUntilIdle();
  ASSERT_TRUE(fake->Push(
      R"({"ch":"position","ts":11,"data":[)"
      R"({"event":"OPEN","positionId":"p-same","marginMode":"CROSS","positionMode":"HEDGE","side":"LONG","leverage":"10","margin":"60.0005","ctime":"2023-11-14T22:13:20.000000000Z","qty":"0.01","entryValue":"600.005","symbol":"BTCUSDT","realizedPNL":"-0.36","unrealizedPNL":"0","funding":"0","fee":"0.36"},)"
      R"({"event":"OPEN","positionId":"p-grown","marginMode":"CROSS","positionMode":"HEDGE","side":"SHORT","leverage":"10","margin":"60","ctime":"2023-11-14T22:13:20.000000000Z","qty":"0.01","entryValue":"600","symbol":"BTCUSDT","realizedPNL":"-0.36","unrealizedPNL":"0","funding":"0","fee":"0.36"}]})"));
  h.sched.RunUntilIdle();
  const size_t before = events.size();
  fake->Drop();
  h.sched.RunUntilIdle();
  h.exchange.set_positions(nlohmann::json::parse(R"([
    {"positionId":"p-same","symbol":"BTCUSDT","qty":"0.0100","entryValue":"600.0050","side":"LONG","marginMode":"CROSS",
     "positionMode":"HEDGE","leverage":10,"fees":"0.36","funding":"0","realizedPNL":"-0.36","margin":"60.0005",
     "unrealizedPNL":"12.75","liqPrice":"54012.3","marginRate":"0.0123","avgOpenPrice":"60000.5",
     "ctime":1700000000000,"mtime":1700000000000},
    {"positionId":"p-grown","symbol":"BTCUSDT","qty":"0.02","entryValue":"1200.5","side":"SHORT","marginMode":"CROSS",
     "positionMode":"HEDGE","leverage":10,"fees":"0.72","funding":"0","realizedPNL":"-0.72","margin":"120.05",
     "unrealizedPNL":"-3.1","liqPrice":"65000","marginRate":"0.02","avgOpenPrice":"60025",
     "ctime":1700000000000,"mtime":1700000060000}])"));
  h.sched.Advance(200ms);  // backoff
  BringUp();
  h.sched.Advance(1s);
  ASSERT_EQ(Of(v1::UpdateEvent::kStatus).back().status().state(), cv1::StreamStatus::STATE_RECOVERED);
  int same = 0, grown = 0;
  for (size_t i = before; i < events.size(); ++i) {
    const auto& e = events[i];
    if (!e.has_position()) continue;
    if (e.position().position_id() == "p-same") {
      ++same;
      ADD_FAILURE() << "the same state again: " << e.DebugString();
    }
    if (e.position().position_id() == "p-grown") {
      ++grown;
      EXPECT_TRUE(e.snapshot());
      EXPECT_EQ(e.kind(), v1::UPDATE_KIND_UPDATE);
      EXPECT_EQ(e.position().qty(), "0.02");
    }
  }
  EXPECT_EQ(same, 0);
  EXPECT_EQ(grown, 1);
}

// Wires the engine's reconciled sink as OrdersApp does: orders it resolves go to the hub as
// snapshot events.
void WireReconciledSink(EngineHarness& h, UpdateHub& hub) {
  h.engine.set_reconciled_sink([&h, &hub](const v1::Order& order) {
    v1::UpdateEvent e;
    e.set_gateway_ts_ns(h.clock.NowNs());
    e.set_snapshot(true);
    e.set_kind(v1::UPDATE_KIND_CREATE);
    *e.mutable_order() = order;
    hub.Publish(MakeHubEvent(std::move(e)));
  });
}

// A push that names the order but no client id cannot be matched to the placement waiting for it.
// It is on StreamUpdates all the same: when the background lookup later finds the UNKNOWN
// placement, the engine does not publish the order a second time.
TEST_F(PrivateStreamTest, AnOrderPushedWithoutAClientIdIsNotPublishedAgainWhenItsUnknownPlacementIsFound) {
  WireReconciledSink(h, hub);
  stream->Start();
  BringUp();
  h.exchange.AddFault({"/api/v1/futures/trade/place_order", testing::FaultKind::kReset, false});
  ASSERT_EQ(h.Place(testing::LimitBuy("pushed-without-cid"))->result(), v1::PLACE_RESULT_UNKNOWN);
  h.exchange.InjectOrder("pushed-without-cid");  // it landed after all
  const std::string id = h.exchange.orders().back().order_id;
  ASSERT_TRUE(fake->Push(absl::StrCat(
      R"({"ch":"order","ts":9,"data":{"event":"CREATE","orderId":")", id,
      R"(","symbol":"BTCUSDT","side":"BUY","type":"LIMIT","qty":"0.01","price":"60000.5","orderStatus":"NEW"}})")));
  h.sched.Advance(120s);  // the background lookups
  ASSERT_EQ(h.engine.Placement("pushed-without-cid")->state, OrderEngine::PlacementState::kAccepted);
  EXPECT_EQ(h.engine.Placement("pushed-without-cid")->order_id, id);
  int seen = 0;
  for (const auto& e : events) {
    if (e.has_order() && e.order().order_id() == id) ++seen;
  }
  EXPECT_EQ(seen, 1) << "the push, and not the lookup's find again";
}

// A push with the client id but no order id proves nothing a caller can use: it used to settle
// the UNKNOWN placement as accepted with an empty order id (a resubmission got DUPLICATE and no
// id), and StreamUpdates never carried the order with its id. Now the placement stays UNKNOWN
// until a lookup finds the order, and the stream gets the order with its id then.
TEST_F(PrivateStreamTest, APushWithoutAnOrderIdDoesNotSettleAnUnknownPlacement) {
  WireReconciledSink(h, hub);
  stream->Start();
  BringUp();
  h.exchange.AddFault({"/api/v1/futures/trade/place_order", testing::FaultKind::kReset, false});
  ASSERT_EQ(h.Place(testing::LimitBuy("pushed-without-oid"))->result(), v1::PLACE_RESULT_UNKNOWN);
  h.exchange.InjectOrder("pushed-without-oid");
  const std::string id = h.exchange.orders().back().order_id;
  ASSERT_TRUE(fake->Push(
      R"({"ch":"order","ts":9,"data":{"event":"CREATE","clientId":"pushed-without-oid","symbol":"BTCUSDT","side":"BUY","type":"LIMIT","qty":"0.01","price":"60000.5","orderStatus":"NEW"}})"));
  h.sched.RunUntilIdle();
  EXPECT_EQ(h.engine.Placement("pushed-without-oid")->state, OrderEngine::PlacementState::kUnknown);
  // A resubmission looks the id up and gets the order, with its id; nothing is sent again.
  std::optional<absl::StatusOr<v1::PlaceOrderResponse>> again;
  h.engine.PlaceOrder(testing::LimitBuy("pushed-without-oid"), h.In(3s), [&](auto r) { again = std::move(r); });
  h.sched.AdvanceUntil([&] { return again.has_value(); }, 10s);
  ASSERT_TRUE(again.has_value() && again->ok()) << (again ? again->status().ToString() : "no answer");
  EXPECT_EQ((*again)->result(), v1::PLACE_RESULT_DUPLICATE) << v1::PlaceResult_Name((*again)->result());
  EXPECT_EQ((*again)->order_id(), id);
  EXPECT_EQ(h.exchange.CountClientId("pushed-without-oid"), 1u);
  h.sched.Advance(120s);
  int with_id = 0;
  for (const auto& e : events) {
    if (e.has_order() && e.order().order_id() == id) ++with_id;
  }
  EXPECT_EQ(with_id, 1) << "StreamUpdates carries the order with its id once";
}

TEST_F(PrivateStreamTest, AFailedReconciliationIsRepeatedAndStreamsAreTold) {
  stream->Start();
  BringUp();
  fake->Drop();
  h.sched.RunUntilIdle();
  ASSERT_TRUE(h.Place(testing::LimitBuy("while-down")).ok());
  h.sched.Advance(200ms);  // backoff
  // The open-order listing fails, read retries included.
  h.exchange.AddFault({"/api/v1/futures/trade/get_pending_orders", testing::FaultKind::kHttp500, false, 20});
  BringUp();
  h.sched.Advance(500ms);
  auto status = Of(v1::UpdateEvent::kStatus);
  ASSERT_FALSE(status.empty());
  EXPECT_EQ(status.back().status().state(), cv1::StreamStatus::STATE_DEGRADED) << status.back().DebugString();
  bool listed = false;
  for (const auto& e : events) listed |= e.has_order() && e.order().client_id() == "while-down";
  EXPECT_FALSE(listed);
  // The exchange answers again: the next attempt publishes what changed, then RECOVERED.
  h.exchange.ClearFaults();
  h.sched.Advance(3s);
  for (const auto& e : events) listed |= e.has_order() && e.order().client_id() == "while-down";
  EXPECT_TRUE(listed);
  status = Of(v1::UpdateEvent::kStatus);
  EXPECT_EQ(status.back().status().state(), cv1::StreamStatus::STATE_RECOVERED) << status.back().DebugString();
  EXPECT_TRUE(stream->live());
}

TEST_F(PrivateStreamTest, RefusedLoginBacksOffAndRetries) {
  stream->Start();
  h.sched.RunUntilIdle();
  fake->Open();
  fake->Push(R"({"op":"connect","data":{"result":true}})");
  h.sched.RunUntilIdle();
  fake->Push(R"({"op":"login","data":{"result":false,"msg":"sign error"}})");
  h.sched.RunUntilIdle();
  EXPECT_FALSE(stream->live());
  EXPECT_EQ(stream->state(), PrivateStream::State::kWaitingToReconnect);
  h.sched.Advance(500ms);
  EXPECT_EQ(fake->connects(), 2);
}

// A socket that goes silent (half-open TCP, a stalled exchange) is replaced only after the idle
// timeout. What changed after its last frame was missed as well: the reconciliation reads the
// order and position history from that frame on, not from the moment the loss was noticed.
TEST_F(PrivateStreamTest, ASilentSocketsReconciliationReadsTheHistoryFromItsLastFrame) {
  stream->Start();
  BringUp();
  h.sched.RunUntilIdle();
  ASSERT_TRUE(fake->Push(R"({"op":"pong","pong":1})"));  // the last frame
  h.sched.RunUntilIdle();
  const int64_t last_frame_ms = h.clock.NowMs();
  h.sched.Advance(21s);  // silent: replaced after the 15 s idle timeout
  ASSERT_GE(fake->connects(), 2);
  const size_t before = h.exchange.requests().size();
  BringUp();
  h.sched.Advance(1s);
  int history_reads = 0;
  for (size_t i = before; i < h.exchange.requests().size(); ++i) {
    const auto& r = h.exchange.requests()[i];
    for (const char* path : {"/api/v1/futures/trade/get_history_orders", "/api/v1/futures/position/get_history_positions"}) {
      if (r.target.rfind(path, 0) != 0) continue;
      ++history_reads;
      const size_t at = r.target.find("startTime=");
      ASSERT_NE(at, std::string::npos) << r.target;
      const int64_t start = std::stoll(r.target.substr(at + 10));
      EXPECT_LE(start, last_frame_ms) << r.target << ": starts after the socket's last frame";
      EXPECT_GE(start, last_frame_ms - 5000) << r.target;
    }
  }
  EXPECT_EQ(history_reads, 2);
}

TEST_F(PrivateStreamTest, SilentSocketIsReplaced) {
  stream->Start();
  BringUp();
  h.sched.Advance(21s);  // pings are sent, but nothing comes back
  EXPECT_GE(fake->connects(), 2);
  int pings = 0;
  for (const auto& m : fake->sent()) pings += m.find("\"ping\"") != std::string::npos;
  EXPECT_GE(pings, 2);
}

// An order believed open and no longer listed used to be erased silently when its detail answered
// NOT_FOUND: streams went on believing it open. The detail may lag or lose an order the history
// still has: its final state is read there (by order id) and published.
TEST_F(PrivateStreamTest, AnOrderNoLongerListedWhoseDetailIsNotFoundIsReadFromTheHistory) {
  stream->Start();
  ASSERT_TRUE(h.Place(testing::LimitBuy("detail-lost")).ok());
  BringUp();  // believed open
  h.sched.RunUntilIdle();
  fake->Drop();
  h.sched.RunUntilIdle();
  ASSERT_TRUE(h.exchange.SetOrderStatus("detail-lost", "CANCELED"));
  h.exchange.set_detail_lag(1);  // the reconciliation's detail read answers "Order not found"
  h.sched.Advance(200ms);        // backoff
  const size_t before = events.size();
  BringUp();
  h.sched.Advance(1s);
  int closed = 0, recovered_at = -1, closed_at = -1;
  for (size_t i = before; i < events.size(); ++i) {
    const auto& e = events[i];
    if (e.has_status() && e.status().state() == cv1::StreamStatus::STATE_RECOVERED) recovered_at = static_cast<int>(i);
    if (e.has_order() && e.order().client_id() == "detail-lost") {
      ++closed;
      closed_at = static_cast<int>(i);
      EXPECT_TRUE(e.snapshot());
      EXPECT_EQ(e.kind(), v1::UPDATE_KIND_CLOSE);
      EXPECT_EQ(e.order().status(), v1::ORDER_STATUS_CANCELED) << v1::OrderStatus_Name(e.order().status());
    }
  }
  EXPECT_EQ(closed, 1) << "the order closed while the feed was down never reached the stream";
  ASSERT_GE(recovered_at, 0);
  EXPECT_LT(closed_at, recovered_at);
}

// Neither the open orders, the detail nor the history know an order believed open (the exchange
// purged it): it is published closed with status UNKNOWN and its last known state, before
// RECOVERED, and is not tracked any more (a later reconnect says nothing more about it).
TEST_F(PrivateStreamTest, AnOrderNoLongerListedThatNothingKnowsIsPublishedClosedWithStatusUnknown) {
  stream->Start();
  ASSERT_TRUE(h.Place(testing::LimitBuy("purged", "0.02", "59000")).ok());
  BringUp();
  h.sched.RunUntilIdle();
  fake->Drop();
  h.sched.RunUntilIdle();
  ASSERT_TRUE(h.exchange.ForgetOrder("purged"));
  h.sched.Advance(200ms);  // backoff
  const size_t before = events.size();
  BringUp();
  h.sched.Advance(1s);
  int closed = 0, recovered_at = -1, closed_at = -1;
  for (size_t i = before; i < events.size(); ++i) {
    const auto& e = events[i];
    if (e.has_status() && e.status().state() == cv1::StreamStatus::STATE_RECOVERED) recovered_at = static_cast<int>(i);
    if (e.has_order() && e.order().client_id() == "purged") {
      ++closed;
      closed_at = static_cast<int>(i);
      EXPECT_TRUE(e.snapshot());
      EXPECT_EQ(e.kind(), v1::UPDATE_KIND_CLOSE);
      EXPECT_EQ(e.order().status(), v1::ORDER_STATUS_UNKNOWN) << v1::OrderStatus_Name(e.order().status());
      EXPECT_TRUE(e.order().status_raw().empty()) << e.order().status_raw();
      EXPECT_EQ(e.order().symbol(), "BTCUSDT");  // the last state seen: symbol filters still apply
      EXPECT_EQ(e.order().qty(), "0.02");
    }
  }
  EXPECT_EQ(closed, 1) << "an order nobody knows any more stays open on the stream";
  ASSERT_GE(recovered_at, 0);
  EXPECT_LT(closed_at, recovered_at);
  // Not believed open any more: another outage publishes nothing about it.
  fake->Drop();
  h.sched.RunUntilIdle();
  h.sched.Advance(2s);
  const size_t again = events.size();
  BringUp();
  h.sched.Advance(1s);
  for (size_t i = again; i < events.size(); ++i) {
    EXPECT_FALSE(events[i].has_order() && events[i].order().client_id() == "purged");
  }
  EXPECT_EQ(Of(v1::UpdateEvent::kStatus).back().status().state(), cv1::StreamStatus::STATE_RECOVERED);
}

// TP/SL orders used not to be reconciled at all: one created, triggered, cancelled or changed
// while the private feed was down never reached StreamUpdates. Now the pending TP/SL orders and the
// TP/SL history are read after a reconnect and what changed is published before RECOVERED.
TEST_F(PrivateStreamTest, TpslOrdersThatChangedWhileTheFeedWasDownArePublished) {
  auto row = [&](const std::string& id, const std::string& status, const std::string& tp) {
    return nlohmann::json{{"id", id},          {"positionId", "p1"},        {"symbol", "BTCUSDT"},
                          {"status", status},  {"tpPrice", tp},             {"tpStopType", "MARK_PRICE"},
                          {"tpQty", "0.01"},   {"type", "TPSL"},            {"ctime", h.clock.NowMs()}};
  };
  auto push = [&](const std::string& id, const std::string& event, const std::string& status, const std::string& tp) {
    return absl::StrCat(R"({"ch":"tpsl","ts":1,"data":{"event":")", event, R"(","orderId":")", id,
                        R"(","positionId":"p1","symbol":"BTCUSDT","status":")", status, R"(","tpPrice":")", tp,
                        R"(","tpStopType":"MARK_PRICE","tpQty":"0.01","type":"TPSL","ctime":)", h.clock.NowMs(), "}}");
  };
  stream->Start();
  BringUp();
  // Pending before the outage, pushed and listed alike.
  for (const char* id : {"t-cancel", "t-trigger", "t-modify", "t-same", "t-purged"}) {
    h.exchange.UpsertTpsl(row(id, "NEW", "70000"));
    ASSERT_TRUE(fake->Push(push(id, "CREATE", "NEW", "70000")));
  }
  h.sched.RunUntilIdle();
  h.sched.Advance(10s);
  fake->Drop();
  h.sched.RunUntilIdle();
  h.sched.Advance(5s);
  // While the feed is down.
  h.exchange.UpsertTpsl({{"id", "t-cancel"}, {"status", "CANCELED"}});
  h.exchange.UpsertTpsl({{"id", "t-trigger"}, {"status", "FILLED"}});
  h.exchange.UpsertTpsl({{"id", "t-modify"}, {"tpPrice", "71000"}});
  h.exchange.ForgetTpsl("t-purged");
  h.exchange.UpsertTpsl(row("t-new", "NEW", "72000"));
  h.exchange.UpsertTpsl(row("t-flash", "CANCELED", "73000"));  // created and cancelled meanwhile
  const size_t before = events.size();
  BringUp();
  h.sched.Advance(1s);
  std::map<std::string, std::vector<v1::UpdateEvent>> by_id;
  int recovered_at = -1, last_tpsl_at = -1;
  for (size_t i = before; i < events.size(); ++i) {
    const auto& e = events[i];
    if (e.has_status() && e.status().state() == cv1::StreamStatus::STATE_RECOVERED) recovered_at = static_cast<int>(i);
    if (e.has_tpsl()) {
      EXPECT_TRUE(e.snapshot());
      by_id[e.tpsl().order_id()].push_back(e);
      last_tpsl_at = static_cast<int>(i);
    }
  }
  auto only = [&](const std::string& id) -> v1::UpdateEvent {
    auto it = by_id.find(id);
    if (it == by_id.end() || it->second.size() != 1) {
      ADD_FAILURE() << id << ": " << (it == by_id.end() ? 0 : it->second.size()) << " events, not 1";
      return {};
    }
    return it->second[0];
  };
  v1::UpdateEvent e = only("t-cancel");
  EXPECT_EQ(e.kind(), v1::UPDATE_KIND_CLOSE);
  EXPECT_EQ(e.tpsl().status(), "CANCELED");
  e = only("t-trigger");
  EXPECT_EQ(e.kind(), v1::UPDATE_KIND_CLOSE);
  EXPECT_EQ(e.tpsl().status(), "FILLED");
  e = only("t-modify");
  EXPECT_EQ(e.kind(), v1::UPDATE_KIND_UPDATE);
  EXPECT_EQ(e.tpsl().tpsl().tp_price(), "71000");
  EXPECT_EQ(e.tpsl().status(), "NEW");
  e = only("t-purged");
  EXPECT_EQ(e.kind(), v1::UPDATE_KIND_CLOSE);
  EXPECT_EQ(e.tpsl().status(), "UNKNOWN");
  EXPECT_EQ(e.tpsl().symbol(), "BTCUSDT");
  e = only("t-new");
  EXPECT_EQ(e.kind(), v1::UPDATE_KIND_CREATE);
  EXPECT_EQ(e.tpsl().tpsl().tp_price(), "72000");
  e = only("t-flash");
  EXPECT_EQ(e.kind(), v1::UPDATE_KIND_CLOSE);
  EXPECT_EQ(e.tpsl().status(), "CANCELED");
  EXPECT_FALSE(by_id.count("t-same")) << "an unchanged pending TP/SL order was published again";
  ASSERT_GE(recovered_at, 0);
  EXPECT_LT(last_tpsl_at, recovered_at);
  // Nothing is published twice: another outage with no change says nothing about TP/SL orders.
  fake->Drop();
  h.sched.RunUntilIdle();
  h.sched.Advance(2s);
  const size_t again = events.size();
  BringUp();
  h.sched.Advance(1s);
  for (size_t i = again; i < events.size(); ++i) {
    EXPECT_FALSE(events[i].has_tpsl()) << events[i].tpsl().order_id() << " published again";
  }
}

// A TP/SL push that arrives while the reconciliation's reads are out is newer than they are: a
// slower listing that still shows the order pending does not reopen it.
TEST_F(ReconcileRaceTest, ATpslOrderClosedByAPushIsNotRevivedByAnOlderListing) {
  stream->Start();
  BringUp();
  h.exchange.UpsertTpsl({{"id", "t-race"}, {"positionId", "p1"}, {"symbol", "BTCUSDT"}, {"status", "NEW"},
                         {"tpPrice", "70000"}, {"tpQty", "0.01"}, {"ctime", h.clock.NowMs()}});
  ReconnectWithSlowReplies();  // the pending listing has read t-race as NEW
  h.exchange.UpsertTpsl({{"id", "t-race"}, {"status", "CANCELED"}});
  ASSERT_TRUE(fake->Push(
      R"({"ch":"tpsl","ts":5,"data":{"event":"CLOSE","orderId":"t-race","positionId":"p1","symbol":"BTCUSDT","status":"CANCELED","tpPrice":"70000"}})"));
  h.sched.Advance(1s);
  std::vector<v1::UpdateEvent> seen;
  for (const auto& e : events) {
    if (e.has_tpsl() && e.tpsl().order_id() == "t-race") seen.push_back(e);
  }
  ASSERT_EQ(seen.size(), 1u) << "the older listing was published after the push";
  EXPECT_EQ(seen[0].tpsl().status(), "CANCELED");
  EXPECT_FALSE(seen[0].snapshot());
  EXPECT_EQ(Of(v1::UpdateEvent::kStatus).back().status().state(), cv1::StreamStatus::STATE_RECOVERED);
}

}  // namespace
}  // namespace bx::orders
