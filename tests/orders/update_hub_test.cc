#include "services/orders/update_hub.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace bx::orders {
namespace {

namespace cv1 = ::bitunix::common::v1;

// A transport that completes writes when the test says so.
struct FakeWriter {
  std::vector<v1::StreamUpdatesResponse> written;
  bool in_flight = false;
  bool finished = false;
  UpdateStream::WriteFn write() {
    return [this](const v1::StreamUpdatesResponse* m) {
      EXPECT_FALSE(in_flight) << "two writes in flight";
      in_flight = true;
      written.push_back(*m);
    };
  }
  UpdateStream::FinishFn finish() {
    return [this] { finished = true; };
  }
  std::vector<v1::UpdateEvent> events() const {
    std::vector<v1::UpdateEvent> out;
    for (const auto& w : written) out.insert(out.end(), w.events().begin(), w.events().end());
    return out;
  }
};

HubEvent OrderEvent(const std::string& symbol, const std::string& id) {
  v1::UpdateEvent e;
  e.mutable_order()->set_symbol(symbol);
  e.mutable_order()->set_order_id(id);
  return MakeHubEvent(std::move(e));
}

HubEvent BalanceEvent() {
  v1::UpdateEvent e;
  e.mutable_balance()->set_coin("USDT");
  return MakeHubEvent(std::move(e));
}

struct HubTest : ::testing::Test {
  FakeClock clock;
  FakeWriter w;
  std::shared_ptr<UpdateStream> Make(UpdateStream::Filter f = {}, size_t max_queue = 100, size_t max_batch = 100) {
    return std::make_shared<UpdateStream>(std::move(f), max_queue, max_batch, clock, w.write(), w.finish());
  }
};

TEST_F(HubTest, SnapshotFirstThenLiveWithSequenceNumbers) {
  UpdateHub hub(clock);
  auto s = Make();
  hub.Add(s);
  hub.Publish(OrderEvent("BTCUSDT", "live-1"));  // arrives while the snapshot is being built
  EXPECT_TRUE(w.written.empty());
  s->DeliverSnapshot({hub.CurrentStatus(), OrderEvent("BTCUSDT", "snap-1")});
  ASSERT_EQ(w.written.size(), 1u);
  w.in_flight = false;
  s->OnWriteDone(true);
  hub.Publish(OrderEvent("BTCUSDT", "live-2"));
  w.in_flight = false;
  s->OnWriteDone(true);
  auto ev = w.events();
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_TRUE(ev[0].has_status());
  EXPECT_EQ(ev[0].status().state(), cv1::StreamStatus::STATE_RECONNECTING);  // feed not connected yet
  EXPECT_EQ(ev[1].order().order_id(), "snap-1");
  EXPECT_EQ(ev[2].order().order_id(), "live-1");
  EXPECT_EQ(ev[3].order().order_id(), "live-2");
  for (size_t i = 0; i < ev.size(); ++i) EXPECT_EQ(ev[i].seq(), i + 1);
}

TEST_F(HubTest, OneWriteInFlightAndBatching) {
  auto s = Make();
  s->DeliverSnapshot({});
  for (int i = 0; i < 10; ++i) s->Deliver(OrderEvent("BTCUSDT", std::to_string(i)));
  ASSERT_EQ(w.written.size(), 1u);  // the first event went out alone; 9 waited
  EXPECT_EQ(w.written[0].events_size(), 1);
  w.in_flight = false;
  s->OnWriteDone(true);
  ASSERT_EQ(w.written.size(), 2u);
  EXPECT_EQ(w.written[1].events_size(), 9);  // everything queued since, in one write
  EXPECT_EQ(w.written[1].events(8).seq(), 10u);
}

TEST_F(HubTest, FiltersByChannelAndSymbolButBalanceAndStatusAlwaysPass) {
  UpdateStream::Filter f;
  f.channels = {v1::UPDATE_CHANNEL_ORDER, v1::UPDATE_CHANNEL_BALANCE};
  f.symbols = {"ETHUSDT"};
  auto s = Make(f);
  EXPECT_FALSE(s->Wants(OrderEvent("BTCUSDT", "1")));
  EXPECT_TRUE(s->Wants(OrderEvent("ETHUSDT", "2")));
  EXPECT_TRUE(s->Wants(BalanceEvent()));
  v1::UpdateEvent pos;
  pos.mutable_position()->set_symbol("ETHUSDT");
  EXPECT_FALSE(s->Wants(MakeHubEvent(pos)));
  UpdateHub hub(clock);
  EXPECT_TRUE(s->Wants(hub.CurrentStatus()));
}

TEST_F(HubTest, SlowConsumerDropsOldestAndGetsAGap) {
  auto s = Make({}, /*max_queue=*/5);
  s->DeliverSnapshot({});
  s->Deliver(OrderEvent("BTCUSDT", "first"));  // in flight, never completed for a while
  for (int i = 0; i < 20; ++i) s->Deliver(OrderEvent("BTCUSDT", "q" + std::to_string(i)));
  EXPECT_EQ(s->dropped(), 15u);
  w.in_flight = false;
  s->OnWriteDone(true);
  auto ev = w.events();
  ASSERT_EQ(ev.size(), 7u);  // first + gap + 5 newest
  EXPECT_TRUE(ev[1].has_gap());
  EXPECT_EQ(ev[1].gap().reason(), cv1::Gap::REASON_SLOW_CONSUMER);
  EXPECT_EQ(ev[1].gap().missed_events(), 15u);
  EXPECT_EQ(ev[2].order().order_id(), "q15");
  EXPECT_EQ(ev[6].order().order_id(), "q19");
  for (size_t i = 0; i < ev.size(); ++i) EXPECT_EQ(ev[i].seq(), i + 1);
}

// Live events that overflow the queue while the snapshot is being read were lost after the
// snapshot's state: the Gap goes where they were, after the status and the snapshot, never
// before the status the stream starts with.
TEST_F(HubTest, AnOverflowWhileTheSnapshotIsReadGivesAGapAfterTheSnapshot) {
  UpdateHub hub(clock);
  auto s = Make({}, /*max_queue=*/3);
  hub.Add(s);
  for (int i = 0; i < 5; ++i) hub.Publish(OrderEvent("BTCUSDT", "live-" + std::to_string(i)));
  EXPECT_EQ(s->dropped(), 2u);
  s->DeliverSnapshot({hub.CurrentStatus(), OrderEvent("BTCUSDT", "snap-1")});
  auto ev = w.events();
  ASSERT_EQ(ev.size(), 6u);  // status, snapshot, gap, 3 newest live events
  EXPECT_TRUE(ev[0].has_status());
  EXPECT_EQ(ev[1].order().order_id(), "snap-1");
  ASSERT_TRUE(ev[2].has_gap());
  EXPECT_EQ(ev[2].gap().reason(), cv1::Gap::REASON_SLOW_CONSUMER);
  EXPECT_EQ(ev[2].gap().missed_events(), 2u);
  EXPECT_EQ(ev[3].order().order_id(), "live-2");
  EXPECT_EQ(ev[5].order().order_id(), "live-4");
  for (size_t i = 0; i < ev.size(); ++i) EXPECT_EQ(ev[i].seq(), i + 1);
}

TEST_F(HubTest, CloseAllDrainsThenFinishes) {
  UpdateHub hub(clock);
  auto s = Make();
  hub.Add(s);
  s->DeliverSnapshot({});
  hub.Publish(OrderEvent("BTCUSDT", "1"));
  hub.CloseAll("bye");
  EXPECT_FALSE(w.finished);  // a write is still in flight
  w.in_flight = false;
  s->OnWriteDone(true);
  w.in_flight = false;
  s->OnWriteDone(true);
  EXPECT_TRUE(w.finished);
  auto ev = w.events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[1].status().state(), cv1::StreamStatus::STATE_SHUTTING_DOWN);
  EXPECT_EQ(hub.size(), 0u);
  // A stream added after the hub closed ends at once.
  FakeWriter w2;
  auto late = std::make_shared<UpdateStream>(UpdateStream::Filter{}, 10, 10, clock, w2.write(), w2.finish());
  hub.Add(late);
  EXPECT_EQ(w2.events().size(), 1u);
  w2.in_flight = false;
  late->OnWriteDone(true);
  EXPECT_TRUE(w2.finished);
}

TEST_F(HubTest, AStreamThatStartsAfterARecoveryStartsLive) {
  UpdateHub hub(clock);
  EXPECT_EQ(hub.CurrentStatus().event->status().state(), cv1::StreamStatus::STATE_RECONNECTING);
  hub.SetStatus(cv1::StreamStatus::STATE_LIVE, "up");
  hub.SetStatus(cv1::StreamStatus::STATE_RECONNECTING, "down");
  EXPECT_EQ(hub.CurrentStatus().event->status().state(), cv1::StreamStatus::STATE_RECONNECTING);
  hub.SetStatus(cv1::StreamStatus::STATE_RECOVERED, "back");
  // Streams open through the outage got RECOVERED; a new one starts from its own snapshot.
  EXPECT_EQ(hub.CurrentStatus().event->status().state(), cv1::StreamStatus::STATE_LIVE);
  EXPECT_EQ(hub.CurrentStatus().event->status().reason(), "back");
}

// A stream whose snapshot is incomplete must not read "recovered" before it has the rest: the
// feed's RECOVERED (a reconnect's reconciliation publishes only what changed, not the part this
// stream never got) reaches it as DEGRADED, naming what is still missing. Once the rest is
// delivered the stream says RECOVERED itself, and the feed's statuses pass unchanged again.
TEST_F(HubTest, WhileTheSnapshotIsIncompleteTheFeedsRecoveryReadsDegraded) {
  UpdateHub hub(clock);
  hub.SetStatus(cv1::StreamStatus::STATE_LIVE, "up");
  auto s = Make();
  hub.Add(s);
  s->DeliverSnapshot({hub.CurrentStatus(), BalanceEvent()}, "open orders: boom");
  hub.SetStatus(cv1::StreamStatus::STATE_RECONNECTING, "down");
  hub.SetStatus(cv1::StreamStatus::STATE_RECOVERED, "back");
  w.in_flight = false;
  s->OnWriteDone(true);
  auto ev = w.events();
  ASSERT_EQ(ev.size(), 5u);
  EXPECT_EQ(ev[2].status().state(), cv1::StreamStatus::STATE_DEGRADED);
  EXPECT_NE(ev[2].status().reason().find("open orders: boom"), std::string::npos) << ev[2].status().reason();
  EXPECT_EQ(ev[3].status().state(), cv1::StreamStatus::STATE_RECONNECTING);
  EXPECT_EQ(ev[4].status().state(), cv1::StreamStatus::STATE_DEGRADED) << ev[4].DebugString();
  EXPECT_NE(ev[4].status().reason().find("back"), std::string::npos) << ev[4].status().reason();
  EXPECT_NE(ev[4].status().reason().find("open orders: boom"), std::string::npos) << ev[4].status().reason();

  s->BeginRest();
  s->DeliverRest({OrderEvent("BTCUSDT", "rest-1")});
  hub.SetStatus(cv1::StreamStatus::STATE_RECONNECTING, "down again");
  hub.SetStatus(cv1::StreamStatus::STATE_RECOVERED, "back again");
  w.in_flight = false;
  s->OnWriteDone(true);
  ev = w.events();
  ASSERT_EQ(ev.size(), 9u);
  EXPECT_EQ(ev[5].order().order_id(), "rest-1");
  EXPECT_EQ(ev[6].status().state(), cv1::StreamStatus::STATE_RECOVERED);
  EXPECT_EQ(ev[8].status().state(), cv1::StreamStatus::STATE_RECOVERED);
  EXPECT_EQ(ev[8].status().reason(), "back again");
  for (size_t i = 0; i < ev.size(); ++i) EXPECT_EQ(ev[i].seq(), i + 1);
}

// The rest arriving while the feed is down: no RECOVERED from the stream (the client is still
// missing what the feed would push); the feed's own RECOVERED then passes as it is.
TEST_F(HubTest, TheRestOfASnapshotDeliveredWhileTheFeedIsDownWaitsForTheFeedsRecovery) {
  UpdateHub hub(clock);
  hub.SetStatus(cv1::StreamStatus::STATE_LIVE, "up");
  auto s = Make();
  hub.Add(s);
  s->DeliverSnapshot({hub.CurrentStatus()}, "positions: boom");
  hub.SetStatus(cv1::StreamStatus::STATE_RECONNECTING, "down");
  s->BeginRest();
  s->DeliverRest({OrderEvent("BTCUSDT", "rest-1")});
  w.in_flight = false;
  s->OnWriteDone(true);
  hub.SetStatus(cv1::StreamStatus::STATE_RECOVERED, "back");
  w.in_flight = false;
  s->OnWriteDone(true);
  auto ev = w.events();
  ASSERT_EQ(ev.size(), 5u);
  EXPECT_EQ(ev[2].status().state(), cv1::StreamStatus::STATE_RECONNECTING);
  EXPECT_EQ(ev[3].order().order_id(), "rest-1");
  EXPECT_EQ(ev[4].status().state(), cv1::StreamStatus::STATE_RECOVERED);
  EXPECT_EQ(ev[4].status().reason(), "back");
}

// A recovery published while the snapshot was being read waits behind it; when the snapshot turns
// out incomplete, that queued RECOVERED must not follow its DEGRADED as it is.
TEST_F(HubTest, ARecoveryQueuedBehindAnIncompleteSnapshotReadsDegraded) {
  UpdateHub hub(clock);
  hub.SetStatus(cv1::StreamStatus::STATE_RECONNECTING, "down");
  auto s = Make();
  hub.Add(s);
  HubEvent initial = hub.CurrentStatus();
  hub.SetStatus(cv1::StreamStatus::STATE_RECOVERED, "back");  // while the snapshot is read
  s->DeliverSnapshot({initial}, "account: boom");
  auto ev = w.events();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].status().state(), cv1::StreamStatus::STATE_RECONNECTING);
  EXPECT_EQ(ev[1].status().state(), cv1::StreamStatus::STATE_DEGRADED);
  EXPECT_EQ(ev[2].status().state(), cv1::StreamStatus::STATE_DEGRADED) << ev[2].DebugString();
  // The feed is back: the rest, once read, ends with RECOVERED.
  w.in_flight = false;
  s->OnWriteDone(true);
  s->BeginRest();
  s->DeliverRest({BalanceEvent()});
  ev = w.events();
  ASSERT_EQ(ev.size(), 5u);
  EXPECT_EQ(ev[4].status().state(), cv1::StreamStatus::STATE_RECOVERED);
}

// A slow consumer loses updates, never its statuses: a RECOVERED dropped with the updates around
// it left the client believing the feed was still down (RECONNECTING) until the next status. Once
// the dropped updates leave RECONNECTING and RECOVERED side by side, they are collapsed into the
// RECOVERED, whose reason says it stands for the RECONNECTING too.
TEST_F(HubTest, ASlowConsumerLosesUpdatesButNotItsStatus) {
  UpdateHub hub(clock);
  auto s = Make({}, /*max_queue=*/3);
  hub.Add(s);
  s->DeliverSnapshot({});
  hub.Publish(OrderEvent("BTCUSDT", "first"));  // in flight, never completed for a while
  hub.SetStatus(cv1::StreamStatus::STATE_RECONNECTING, "down");
  for (int i = 0; i < 5; ++i) hub.Publish(OrderEvent("BTCUSDT", "a" + std::to_string(i)));
  hub.SetStatus(cv1::StreamStatus::STATE_RECOVERED, "back");
  for (int i = 0; i < 5; ++i) hub.Publish(OrderEvent("BTCUSDT", "b" + std::to_string(i)));
  w.in_flight = false;
  s->OnWriteDone(true);
  auto ev = w.events();
  std::vector<cv1::StreamStatus::State> states;
  bool gap = false;
  for (const auto& e : ev) {
    if (e.has_status()) states.push_back(e.status().state());
    gap |= e.has_gap() && e.gap().reason() == cv1::Gap::REASON_SLOW_CONSUMER;
  }
  EXPECT_TRUE(gap);
  EXPECT_EQ(states, (std::vector<cv1::StreamStatus::State>{cv1::StreamStatus::STATE_RECOVERED}));
  EXPECT_EQ(ev.back().order().order_id(), "b4");
  EXPECT_EQ(s->dropped(), 8u);
  EXPECT_EQ(s->collapsed_statuses(), 1u);
  for (const auto& e : ev) {
    if (e.has_status()) {
      EXPECT_EQ(e.status().reason().rfind("back [", 0), 0u) << e.status().reason();
      EXPECT_NE(e.status().reason().find("1 STATE_RECONNECTING"), std::string::npos) << e.status().reason();
    }
  }
  for (size_t i = 0; i < ev.size(); ++i) EXPECT_EQ(ev[i].seq(), i + 1);
}

// The feed flaps while the client does not read. The statuses used to pile up in the queue and
// push every update out (all of them lost, a Gap, then a queue of stale statuses, the oldest of
// them dropped too): consecutive statuses now collapse into the latest, the updates stay, and the
// queue stays within its bound however long it lasts.
TEST_F(HubTest, AFlappingFeedBehindAStalledConsumerKeepsTheUpdatesAndTheLatestStatus) {
  UpdateHub hub(clock);
  auto s = Make({}, /*max_queue=*/8, /*max_batch=*/4);
  hub.Add(s);
  s->DeliverSnapshot({});
  hub.Publish(OrderEvent("BTCUSDT", "first"));  // in flight, stalled
  for (int i = 0; i < 4; ++i) hub.Publish(OrderEvent("BTCUSDT", "u" + std::to_string(i)));
  for (int i = 0; i < 10000; ++i) {
    hub.SetStatus(cv1::StreamStatus::STATE_RECONNECTING, "down");
    hub.SetStatus(cv1::StreamStatus::STATE_RECOVERED, "back");
  }
  hub.SetStatus(cv1::StreamStatus::STATE_DEGRADED, "reconciliation failed");
  hub.Publish(OrderEvent("BTCUSDT", "last"));
  while (w.in_flight) {
    w.in_flight = false;
    s->OnWriteDone(true);
  }
  auto ev = w.events();
  const auto non_gap = std::count_if(ev.begin(), ev.end(), [](const v1::UpdateEvent& e) { return !e.has_gap(); });
  ASSERT_LE(non_gap, 1 + 8) << "more than the event in flight and a full queue were written";
  EXPECT_EQ(s->dropped(), 0u) << "updates lost to statuses";
  std::vector<std::string> ids;
  std::vector<v1::UpdateEvent> statuses;
  for (const auto& e : ev) {
    EXPECT_FALSE(e.has_gap());
    if (e.has_order()) ids.push_back(e.order().order_id());
    if (e.has_status()) statuses.push_back(e);
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"first", "u0", "u1", "u2", "u3", "last"}));
  ASSERT_FALSE(statuses.empty());
  // The statuses written end with the feed's state; together they stand for all 20001.
  EXPECT_EQ(statuses.back().status().state(), cv1::StreamStatus::STATE_DEGRADED);
  EXPECT_EQ(statuses.back().status().reason().rfind("reconciliation failed", 0), 0u);
  EXPECT_EQ(statuses.size() + s->collapsed_statuses(), 20001u);
  EXPECT_TRUE(std::any_of(statuses.begin(), statuses.end(), [](const v1::UpdateEvent& e) {
    return e.status().reason().find("status events were collapsed into this one") != std::string::npos;
  })) << "no status says that others were collapsed into it";
  for (size_t i = 0; i < ev.size(); ++i) EXPECT_EQ(ev[i].seq(), i + 1);
}

TEST_F(HubTest, CancelledStreamStopsWriting) {
  auto s = Make();
  s->DeliverSnapshot({});
  s->Deliver(OrderEvent("BTCUSDT", "1"));
  s->Cancel();
  w.in_flight = false;
  s->OnWriteDone(true);
  s->Deliver(OrderEvent("BTCUSDT", "2"));
  EXPECT_EQ(w.written.size(), 1u);
  EXPECT_FALSE(w.finished);
}

}  // namespace
}  // namespace bx::orders
