// A StreamUpdates stream's snapshot when a part of it cannot be read: the part is read again in
// the background (backoff, until the stream ends), live updates flow meanwhile, and the part
// arrives (less what a push carried since its read began) followed by RECOVERED.
#include "services/orders/stream_snapshot.h"

#include <gtest/gtest.h>

#include <set>

#include "tests/orders/engine_harness.h"

namespace bx::orders {
namespace {

using namespace std::chrono_literals;
namespace cv1 = ::bitunix::common::v1;
using testing::EngineHarness;
using testing::FaultKind;

constexpr const char* kPendingOrders = "/api/v1/futures/trade/get_pending_orders";
constexpr const char* kPositions = "/api/v1/futures/position/get_pending_positions";
constexpr const char* kAccount = "/api/v1/futures/account";
constexpr const char* kPendingTpsl = "/api/v1/futures/tpsl/get_pending_orders";

using FakeExchangeOrder = testing::FakeExchange::Order;

struct StreamSnapshotTest : ::testing::Test {
  void SetUp() override {
    h.LoadRules();
    hub.SetStatus(cv1::StreamStatus::STATE_LIVE, "private feed connected");
  }

  // A StreamUpdates call as the service starts it: into the hub, then its snapshot.
  void Open() {
    stream = std::make_shared<UpdateStream>(
        UpdateStream::Filter{}, 1000, 1000, h.clock,
        [this](const v1::StreamUpdatesResponse* m) {
          for (const auto& e : m->events()) events.push_back(e);
          h.sched.Post([this] { stream->OnWriteDone(true); });
        },
        [this] { finished = true; });
    hub.Add(stream);
    StreamSnapshotOptions o;
    o.timeout = 5s;
    o.retry = BackoffPolicy{1s, 8s, 2.0, 0.0};
    StartStreamSnapshot(h.sched, h.engine, stream, hub.CurrentStatus(), o);
    h.sched.RunUntilIdle();
  }

  // What the service's on_done does when the call ends.
  void End() {
    stream->Cancel();
    hub.Remove(stream.get());
  }

  HubEvent OrderPush(const FakeExchangeOrder& o, const std::string& status) {
    v1::UpdateEvent e;
    e.mutable_order()->set_order_id(o.order_id);
    e.mutable_order()->set_client_id(o.client_id);
    e.mutable_order()->set_symbol(o.symbol);
    e.mutable_order()->set_status(status == "FILLED" ? v1::ORDER_STATUS_FILLED : v1::ORDER_STATUS_NEW);
    return MakeHubEvent(std::move(e));
  }
  static bool IsState(const v1::UpdateEvent& e, cv1::StreamStatus::State s) {
    return e.has_status() && e.status().state() == s;
  }
  // Index of the first event matching `pred` from `from`, or -1.
  template <class Pred>
  int Find(Pred pred, size_t from = 0) const {
    for (size_t i = from; i < events.size(); ++i) {
      if (pred(events[i])) return static_cast<int>(i);
    }
    return -1;
  }
  int FindStatus(cv1::StreamStatus::State s, size_t from = 0) const {
    return Find([s](const v1::UpdateEvent& e) { return IsState(e, s); }, from);
  }
  std::string Timeline() const {
    std::string out;
    for (const auto& e : events) out += e.ShortDebugString() + "\n";
    return out;
  }

  EngineHarness h;
  UpdateHub hub{h.clock};
  std::shared_ptr<UpdateStream> stream;
  std::vector<v1::UpdateEvent> events;
  bool finished = false;
};

// The known weakness: a stream whose open-order listing failed got DEGRADED ("query
// ListOpenOrders...") and never anything more. Now the listing is read again, alone, and the
// orders arrive as snapshot events followed by RECOVERED.
TEST_F(StreamSnapshotTest, AFailedPartIsReadAgainAndDeliveredBeforeRecovered) {
  h.exchange.InjectOrder("resting-1");
  h.exchange.AddFault({kPendingOrders, FaultKind::kRefuse, false, 1});
  Open();
  ASSERT_EQ(events.size(), 3u) << Timeline();  // status, balance, DEGRADED
  EXPECT_TRUE(IsState(events[0], cv1::StreamStatus::STATE_LIVE));
  EXPECT_TRUE(events[1].has_balance() && events[1].snapshot());
  ASSERT_TRUE(IsState(events[2], cv1::StreamStatus::STATE_DEGRADED));
  EXPECT_NE(events[2].status().reason().find("open orders"), std::string::npos) << events[2].status().reason();
  EXPECT_TRUE(stream->incomplete());

  h.sched.Advance(1s);  // the retry
  h.sched.RunUntilIdle();
  ASSERT_EQ(events.size(), 5u) << Timeline();
  EXPECT_TRUE(events[3].has_order() && events[3].snapshot());
  EXPECT_EQ(events[3].order().client_id(), "resting-1");
  ASSERT_TRUE(IsState(events[4], cv1::StreamStatus::STATE_RECOVERED)) << Timeline();
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].seq(), i + 1);
  EXPECT_FALSE(stream->incomplete());
  // Only the missing part was read again; nothing more once it is complete.
  EXPECT_EQ(h.exchange.calls(kPendingOrders), 2);
  EXPECT_EQ(h.exchange.calls(kPositions), 1);
  EXPECT_EQ(h.exchange.calls(kAccount), 1);
  h.sched.Advance(120s);
  EXPECT_EQ(h.exchange.calls(kPendingOrders), 2);
  EXPECT_EQ(events.size(), 5u) << Timeline();
}

// Pending TP/SL orders are part of the snapshot (a stream used to start without them and learn of
// one only when it changed), marked NEW since the listing carries no status; a finished one is
// not. When their listing fails, they are a missing part like the others: read again, delivered,
// then RECOVERED.
TEST_F(StreamSnapshotTest, PendingTpslOrdersArePartOfTheSnapshotAndAFailedListingIsReadAgain) {
  h.exchange.UpsertTpsl({{"id", "tp-1"}, {"positionId", "p1"}, {"symbol", "BTCUSDT"}, {"status", "NEW"},
                         {"tpPrice", "70000"}, {"tpQty", "0.01"}, {"ctime", 1700000000000}});
  h.exchange.UpsertTpsl({{"id", "tp-done"}, {"positionId", "p1"}, {"symbol", "BTCUSDT"}, {"status", "CANCELED"}});
  h.exchange.AddFault({kPendingTpsl, FaultKind::kRefuse, false, 1});
  Open();
  const int degraded = FindStatus(cv1::StreamStatus::STATE_DEGRADED);
  ASSERT_GE(degraded, 0) << Timeline();
  EXPECT_NE(events[degraded].status().reason().find("pending TP/SL orders"), std::string::npos)
      << events[degraded].status().reason();
  EXPECT_EQ(Find([](const v1::UpdateEvent& e) { return e.has_tpsl(); }), -1) << Timeline();
  h.sched.Advance(1s);  // the retry
  h.sched.RunUntilIdle();
  const int tpsl = Find([](const v1::UpdateEvent& e) { return e.has_tpsl(); });
  ASSERT_GT(tpsl, degraded) << Timeline();
  EXPECT_TRUE(events[tpsl].snapshot());
  EXPECT_EQ(events[tpsl].tpsl().order_id(), "tp-1");
  EXPECT_EQ(events[tpsl].tpsl().status(), "NEW");
  EXPECT_EQ(Find([](const v1::UpdateEvent& e) { return e.has_tpsl(); }, tpsl + 1), -1) << "a finished TP/SL order";
  EXPECT_EQ(FindStatus(cv1::StreamStatus::STATE_RECOVERED), tpsl + 1) << Timeline();
  EXPECT_EQ(h.exchange.calls(kPendingTpsl), 2);
  EXPECT_EQ(h.exchange.calls(kPendingOrders), 1);
}

// Every part failing: all four are read again, with backoff (1, 2, 4, 8, 8 s), until they are
// read; the snapshot events come in the usual order, then RECOVERED.
TEST_F(StreamSnapshotTest, RetriesBackOffUntilEveryPartIsRead) {
  h.exchange.AddFault({"", FaultKind::kRefuse, false, 4 * 5});  // five attempts of four reads
  Open();
  ASSERT_EQ(FindStatus(cv1::StreamStatus::STATE_DEGRADED), 1) << Timeline();
  const std::vector<std::chrono::milliseconds> gaps = {1s, 2s, 4s, 8s};
  for (size_t i = 0; i < gaps.size(); ++i) {
    h.sched.Advance(gaps[i] - 1ms);
    EXPECT_EQ(h.exchange.calls(kAccount), static_cast<int>(i + 1)) << "attempt " << i + 2 << " came early";
    h.sched.Advance(1ms);
    h.sched.RunUntilIdle();
    EXPECT_EQ(h.exchange.calls(kAccount), static_cast<int>(i + 2));
  }
  EXPECT_EQ(FindStatus(cv1::StreamStatus::STATE_RECOVERED), -1) << Timeline();
  h.sched.Advance(8s);  // the cap
  h.sched.RunUntilIdle();
  EXPECT_EQ(h.exchange.calls(kAccount), 6);
  const int recovered = FindStatus(cv1::StreamStatus::STATE_RECOVERED);
  ASSERT_EQ(recovered, static_cast<int>(events.size()) - 1) << Timeline();
  EXPECT_TRUE(events[recovered - 1].has_balance() && events[recovered - 1].snapshot()) << Timeline();
}

// The retry stops when the call ends (client cancel, deadline, revoked token)...
TEST_F(StreamSnapshotTest, RetriesStopWhenTheStreamEnds) {
  h.exchange.AddFault({kPositions, FaultKind::kRefuse, false, 1000});
  Open();
  h.sched.Advance(1s);
  h.sched.RunUntilIdle();
  EXPECT_EQ(h.exchange.calls(kPositions), 2);
  End();
  h.sched.Advance(10min);
  EXPECT_EQ(h.exchange.calls(kPositions), 2);
  EXPECT_EQ(h.sched.pending_timers(), 1u) << "only the rules refresh should be left";
}

// ... and at shutdown, when the hub ends every stream.
TEST_F(StreamSnapshotTest, RetriesStopAtShutdown) {
  h.exchange.AddFault({kPositions, FaultKind::kRefuse, false, 1000});
  Open();
  hub.CloseAll("the order service is shutting down");
  h.sched.RunUntilIdle();
  EXPECT_TRUE(finished);
  h.sched.Advance(10min);
  EXPECT_EQ(h.exchange.calls(kPositions), 1);
  EXPECT_EQ(h.sched.pending_timers(), 1u) << "only the rules refresh should be left";
}

// Live updates are not held back while the rest of the snapshot is read again (the queue would
// overflow into a Gap in a long outage), and a push that arrived since the read began is as new as
// the read or newer: the read's state of that order is left out, so it never comes after the push
// and re-opens an order the client was told is filled.
TEST_F(StreamSnapshotTest, LiveUpdatesFlowMeanwhileAndAPushSinceTheReadBeganIsNotUndone) {
  h.exchange.InjectOrder("a");
  h.exchange.InjectOrder("b");
  h.exchange.InjectOrder("c");
  const FakeExchangeOrder a = h.exchange.orders()[0], b = h.exchange.orders()[1], c = h.exchange.orders()[2];
  h.exchange.AddFault({kPendingOrders, FaultKind::kRefuse, false, 1});
  Open();
  const int degraded = FindStatus(cv1::StreamStatus::STATE_DEGRADED);
  ASSERT_GE(degraded, 0) << Timeline();

  // Before the retry: written at once.
  hub.Publish(OrderPush(c, "NEW"));
  h.sched.RunUntilIdle();
  ASSERT_EQ(events.size(), static_cast<size_t>(degraded) + 2) << Timeline();
  EXPECT_TRUE(events.back().has_order() && !events.back().snapshot());

  // The retry's listing reads a and b as open; its reply is slow, and meanwhile a fills.
  h.exchange.set_reply_delay(500ms);
  h.sched.Advance(1s);
  ASSERT_EQ(h.exchange.calls(kPendingOrders), 2);
  ASSERT_TRUE(h.exchange.SetOrderStatus("a", "FILLED"));
  hub.Publish(OrderPush(a, "FILLED"));
  h.sched.RunUntilIdle();
  EXPECT_TRUE(events.back().has_order() && events.back().order().order_id() == a.order_id &&
              !events.back().snapshot())
      << "the push waited for the read:\n"
      << Timeline();
  h.sched.Advance(500ms);
  h.sched.RunUntilIdle();

  const int recovered = FindStatus(cv1::StreamStatus::STATE_RECOVERED);
  ASSERT_GT(recovered, degraded) << Timeline();
  EXPECT_EQ(recovered, static_cast<int>(events.size()) - 1) << Timeline();
  // a: only the push (FILLED), never the read's NEW after it; b and c: their listing.
  int a_events = 0, b_snapshots = 0, c_snapshots = 0;
  for (int i = degraded + 1; i < recovered; ++i) {
    if (!events[i].has_order()) continue;
    const auto& o = events[i].order();
    if (o.order_id() == a.order_id) {
      ++a_events;
      EXPECT_EQ(o.status(), v1::ORDER_STATUS_FILLED) << Timeline();
    }
    b_snapshots += o.order_id() == b.order_id && events[i].snapshot();
    c_snapshots += o.order_id() == c.order_id && events[i].snapshot();
  }
  EXPECT_EQ(a_events, 1) << Timeline();
  EXPECT_EQ(b_snapshots, 1) << Timeline();
  // c was pushed before this read began: the listing is newer, and comes after the push.
  EXPECT_EQ(c_snapshots, 1) << Timeline();
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].seq(), i + 1);
}

// An open-order listing that cannot be read in full (here the exchange does not page it) is a
// missing part of the snapshot -- DEGRADED, read again later -- never a partial list delivered
// as the whole (it used to deliver the first page twice, and any listing cut at 5,000 orders).
TEST_F(StreamSnapshotTest, AnOpenOrderListingNotReadInFullIsAMissingPartNotAPartialSnapshot) {
  for (int i = 0; i < 150; ++i) h.exchange.InjectOrder("unpaged-" + std::to_string(i));
  h.exchange.set_ignore_skip(true);
  Open();
  h.sched.Advance(100ms);
  const int degraded = FindStatus(cv1::StreamStatus::STATE_DEGRADED);
  ASSERT_GE(degraded, 0) << Timeline();
  EXPECT_NE(events[static_cast<size_t>(degraded)].status().reason().find("listing incomplete"), std::string::npos)
      << events[static_cast<size_t>(degraded)].status().reason();
  EXPECT_EQ(Find([](const v1::UpdateEvent& e) { return e.has_order(); }), -1) << "a partial listing was delivered";
  // The exchange pages again: the retry delivers every order once, then RECOVERED.
  h.exchange.set_ignore_skip(false);
  h.sched.Advance(2s);
  std::set<std::string> ids;
  int orders = 0;
  for (const auto& e : events) {
    if (!e.has_order()) continue;
    ++orders;
    ids.insert(e.order().order_id());
  }
  EXPECT_EQ(orders, 150);
  EXPECT_EQ(ids.size(), 150u);
  EXPECT_GE(FindStatus(cv1::StreamStatus::STATE_RECOVERED, static_cast<size_t>(degraded)), 0) << Timeline();
}

}  // namespace
}  // namespace bx::orders
