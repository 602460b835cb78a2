// The fan-out core: rings, per-subscriber cursors, batching, snapshots, overflow policies, age
// bound, status ordering, and the dispatcher waking idle streams.
#include "services/marketdata/hub.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "tests/marketdata/recording_sink.h"

namespace bx::md {
namespace {

using common_v1::Gap;
using common_v1::StreamStatus;
using testing::RecordingSink;

constexpr ChannelSpec kTradeSpec{.channel = v1::CHANNEL_TRADE};
constexpr ChannelSpec kBookSpec{.channel = v1::CHANNEL_ORDER_BOOK, .depth = 15};

class HubTest : public ::testing::Test {
 protected:
  void MakeHub(HubOptions opt = {}) { hub_ = std::make_unique<Hub>(opt, clock_); }

  EventLayout EncodeTrade(TopicRing* ring, const std::string& price, std::string* bytes) {
    TradeView t{price, "1", common_v1::SIDE_BUY, 1};
    return enc_.Trade({.symbol = ring->symbol(), .channel = v1::CHANNEL_TRADE, .exchange_ts_ms = 1,
                       .gateway_ts_ns = clock_.NowNs()},
                      t, bytes);
  }
  uint64_t PublishTrade(TopicRing* ring, const std::string& price) {
    std::string bytes;
    const EventLayout layout = EncodeTrade(ring, price, &bytes);
    return hub_->Publish(ring, bytes, layout, clock_.NowNs());
  }
  uint64_t PublishBook(TopicRing* ring, const std::string& bid) {
    std::string bytes;
    std::vector<LevelView> bids = {{bid, "1"}};
    auto layout = enc_.Book({.symbol = ring->symbol(), .channel = v1::CHANNEL_ORDER_BOOK,
                             .gateway_ts_ns = clock_.NowNs()},
                            bids, {}, 15, &bytes);
    return hub_->Publish(ring, bytes, layout, clock_.NowNs());
  }

  std::shared_ptr<Stream> NewStream(std::vector<TopicRing*> rings, bool snapshots = true) {
    std::vector<Stream::TopicSub> subs;
    std::vector<std::string> symbols;
    for (TopicRing* r : rings) {
      subs.push_back({r, hub_->options().PolicyFor(r->spec().channel)});
      if (std::find(symbols.begin(), symbols.end(), r->symbol()) == symbols.end()) symbols.push_back(r->symbol());
    }
    auto s = std::make_shared<Stream>(hub_.get(), ++ids_, "test", std::move(subs), std::move(symbols), snapshots,
                                      std::vector<InitialStatus>{{StreamStatus::STATE_LIVE, "subscribed", {}}});
    hub_->AddStream(s);
    return s;
  }

  static std::vector<std::string> TradePrices(const std::vector<v1::MarketEvent>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) {
      if (e.has_trade()) out.push_back(e.trade().price());
    }
    return out;
  }
  static void ExpectSeqContiguous(const std::vector<v1::MarketEvent>& events) {
    for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].seq(), i + 1) << "at " << i;
  }

  /// Two trade topics (AUSDT, BUSDT) and a started stream on both whose sink holds each write
  /// until acked.
  struct TwoTopics {
    TopicRing* a;
    TopicRing* b;
    RecordingSink* sink;
  };
  TwoTopics TwoTradeTopicsAndAHeldStream() {
    TopicRing* a = hub_->Topic("trade:AUSDT", "AUSDT", kTradeSpec);
    TopicRing* b = hub_->Topic("trade:BUSDT", "BUSDT", kTradeSpec);
    return {a, b, &StartWith(NewStream({a, b}), false)};
  }

  /// A sink owned by the fixture (it must outlive the hub's dispatcher), already started.
  RecordingSink& StartWith(const std::shared_ptr<Stream>& s, bool auto_ack) {
    sinks_.push_back(std::make_unique<RecordingSink>(auto_ack));
    sinks_.back()->set_stream(s.get());
    s->Start(sinks_.back().get());
    return *sinks_.back();
  }

  void TearDown() override {
    if (hub_) {
      for (const auto& s : *hub_->Streams()) s->Detach();
      hub_.reset();
    }
  }

  FakeClock clock_;
  EventEncoder enc_;
  std::vector<std::unique_ptr<RecordingSink>> sinks_;
  std::unique_ptr<Hub> hub_;
  uint64_t ids_ = 0;
};

TEST_F(HubTest, RingGrowsAndOverwritesOldest) {
  MakeHub({.trade_queue_events = 8});
  TopicRing* ring = hub_->Topic("trade:X", "X", kTradeSpec);
  EXPECT_EQ(hub_->Topic("trade:X", "X", kTradeSpec), ring);
  for (int i = 0; i < 20; ++i) PublishTrade(ring, std::to_string(i));
  EXPECT_EQ(ring->size(), 8u);
  EXPECT_EQ(ring->head(), 20u);
  BatchBuilder b;
  b.Reset(100, 1 << 20);
  uint64_t cursor = 0;
  ReadOutcome r = ring->Read(&cursor, 0, false, &b);
  EXPECT_EQ(r.overflowed, 12u);
  EXPECT_EQ(cursor, 20u);
  EXPECT_EQ(b.events(), 8u);
}

TEST_F(HubTest, LateJoinerGetsSnapshotThenLiveStatusThenUpdates) {
  MakeHub();
  TopicRing* book = hub_->Topic("depth_book15:BTCUSDT", "BTCUSDT", kBookSpec);
  TopicRing* trades = hub_->Topic("trade:BTCUSDT", "BTCUSDT", kTradeSpec);
  PublishBook(book, "100");
  PublishBook(book, "101");
  PublishTrade(trades, "5");  // before the join: not replayed (trades are not state)
  auto s = NewStream({book, trades});
  RecordingSink& sink = StartWith(s, true);
  ASSERT_TRUE(sink.WaitEvents(2));
  auto ev = sink.events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(ev[0].snapshot());
  EXPECT_EQ(ev[0].order_book().bids(0).price(), "101");
  EXPECT_EQ(ev[1].status().state(), StreamStatus::STATE_LIVE);
  PublishTrade(trades, "6");
  PublishBook(book, "102");
  ASSERT_TRUE(sink.WaitEvents(4));
  ev = sink.events();
  EXPECT_FALSE(ev[2].snapshot());
  EXPECT_EQ(ev[2].trade().price(), "6");
  EXPECT_EQ(ev[3].order_book().bids(0).price(), "102");
  ExpectSeqContiguous(ev);
  EXPECT_TRUE(sink.parse_ok());
}

TEST_F(HubTest, SkipSnapshotStartsWithStatusOnly) {
  MakeHub();
  TopicRing* book = hub_->Topic("depth_book15:BTCUSDT", "BTCUSDT", kBookSpec);
  PublishBook(book, "100");
  auto s = NewStream({book}, /*snapshots=*/false);
  RecordingSink& sink = StartWith(s, true);
  ASSERT_TRUE(sink.WaitEvents(1));
  EXPECT_TRUE(sink.events()[0].has_status());
}

// A join on more state topics than one write holds: the snapshots go out over several writes,
// each within the batch budget (one write of every snapshot could exceed --max-batch-bytes and a
// client's message limit), then the status, then live events; none older than its snapshot.
TEST_F(HubTest, ALateJoinersSnapshotsSpanSeveralWritesWithinTheBatchBudget) {
  MakeHub({.max_batch_events = 4});
  std::vector<TopicRing*> books;
  for (int i = 0; i < 10; ++i) {
    const std::string sym = "S" + std::to_string(i);
    books.push_back(hub_->Topic("depth_book15:" + sym, sym, kBookSpec));
    PublishBook(books.back(), "1");
  }
  auto s = NewStream(books);
  RecordingSink& sink = StartWith(s, false);
  ASSERT_TRUE(sink.WaitInFlight());
  // While the first write is in flight: one topic surely snapshotted already, one surely not.
  PublishBook(books[0], "2");
  PublishBook(books[9], "2");
  for (int i = 0; i < 20 && sink.in_flight(); ++i) sink.Ack();  // each Ack starts the next write inline
  for (const auto& batch : sink.batches()) EXPECT_LE(batch.events_size(), 4);
  auto ev = sink.events();
  ExpectSeqContiguous(ev);
  ASSERT_GE(ev.size(), 12u);
  std::map<std::string, std::vector<std::string>> bids;
  for (size_t i = 0; i < 10; ++i) {
    ASSERT_TRUE(ev[i].has_order_book()) << i;
    EXPECT_TRUE(ev[i].snapshot()) << i;
    bids[ev[i].symbol()].push_back(ev[i].order_book().bids(0).price());
  }
  EXPECT_EQ(bids.size(), 10u);  // one snapshot per topic
  EXPECT_EQ(ev[10].status().state(), StreamStatus::STATE_LIVE);
  for (size_t i = 11; i < ev.size(); ++i) {
    ASSERT_TRUE(ev[i].has_order_book()) << i;
    EXPECT_FALSE(ev[i].snapshot()) << i;
    bids[ev[i].symbol()].push_back(ev[i].order_book().bids(0).price());
  }
  for (const auto& [sym, seen] : bids) {
    EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end())) << sym;  // never an older state after a newer
    EXPECT_EQ(seen.back(), sym == "S0" || sym == "S9" ? "2" : "1") << sym;
  }
}

TEST_F(HubTest, EventsQueuedDuringAWriteGoOutAsOneBatch) {
  MakeHub();
  TopicRing* trades = hub_->Topic("trade:X", "X", kTradeSpec);
  auto s = NewStream({trades});
  RecordingSink& sink = StartWith(s, false);
  ASSERT_TRUE(sink.WaitInFlight());
  for (int i = 0; i < 100; ++i) PublishTrade(trades, std::to_string(i));
  sink.Ack();
  ASSERT_TRUE(sink.WaitEvents(101));
  auto batches = sink.batches();
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[1].events_size(), 100);
  auto ev = sink.events();
  ExpectSeqContiguous(ev);
  EXPECT_EQ(TradePrices(ev).front(), "0");
  EXPECT_EQ(TradePrices(ev).back(), "99");
}

// Coalescing: a stream whose writes carry many events (sustained load) waits up to the delay
// for a fuller batch when few are queued; a quiet stream, a long queue and a status never wait.
TEST_F(HubTest, BusyStreamWaitsForAFullerBatchQuietStreamDoesNot) {
  // A long delay: the test publishes within it (nothing here depends on being fast).
  MakeHub({.coalesce_delay = std::chrono::milliseconds(300), .coalesce_events = 128, .coalesce_busy_events = 8});
  TopicRing* trades = hub_->Topic("trade:X", "X", kTradeSpec);
  auto s = NewStream({trades});
  RecordingSink& sink = StartWith(s, false);
  ASSERT_TRUE(sink.WaitInFlight());  // the initial status
  int price = 0;
  auto publish = [&](int n) {
    for (int i = 0; i < n; ++i) PublishTrade(trades, std::to_string(price++));
  };
  // Quiet: one event per write. Each completed write starts the next one at once.
  for (int i = 0; i < 10; ++i) {
    publish(1);
    sink.Ack();
    EXPECT_TRUE(sink.in_flight()) << "quiet write " << i << " waited";
  }
  // Busy: 20 events per write until the moving average passes 8 (four writes from ~1).
  int waited_at = -1;
  for (int i = 0; i < 10 && waited_at < 0; ++i) {
    publish(20);
    sink.Ack();
    if (!sink.in_flight()) waited_at = i;
  }
  ASSERT_GE(waited_at, 3) << "coalesced before the load was sustained";
  // The write waits: what arrives meanwhile joins the same batch.
  const size_t before = sink.batches().size();
  publish(10);
  EXPECT_FALSE(sink.in_flight());
  ASSERT_TRUE(sink.WaitInFlight());
  auto batches = sink.batches();
  ASSERT_EQ(batches.size(), before + 1);
  EXPECT_EQ(batches.back().events_size(), 30);  // 20 queued at the Ack + 10 during the wait
  // A queue of coalesce_events or more is written at once.
  publish(200);
  sink.Ack();
  EXPECT_TRUE(sink.in_flight());
  // So is a status, whatever the load.
  publish(5);
  s->PostStatus(StreamStatus::STATE_STALE, "test", {});
  sink.Ack();
  EXPECT_TRUE(sink.in_flight());
  // Lossless and in order throughout.
  sink.Ack();
  ASSERT_TRUE(sink.WaitFor([&](const std::vector<v1::MarketEvent>& e) { return TradePrices(e).size() == static_cast<size_t>(price); }));
  auto ev = sink.events();
  ExpectSeqContiguous(ev);
  auto prices = TradePrices(ev);
  for (int i = 0; i < price; ++i) ASSERT_EQ(prices[i], std::to_string(i));
}

TEST_F(HubTest, CoalescingOffWritesAtOnce) {
  MakeHub({.coalesce_delay = std::chrono::microseconds(0)});
  TopicRing* trades = hub_->Topic("trade:X", "X", kTradeSpec);
  auto s = NewStream({trades});
  RecordingSink& sink = StartWith(s, false);
  ASSERT_TRUE(sink.WaitInFlight());
  for (int i = 0; i < 20; ++i) {
    for (int k = 0; k < 50; ++k) PublishTrade(trades, std::to_string(i * 50 + k));
    sink.Ack();
    EXPECT_TRUE(sink.in_flight()) << "write " << i << " waited";
  }
}

TEST_F(HubTest, BatchesRespectTheEventBudget) {
  MakeHub({.max_batch_events = 10});
  TopicRing* trades = hub_->Topic("trade:X", "X", kTradeSpec);
  auto s = NewStream({trades});
  RecordingSink& sink = StartWith(s, false);
  ASSERT_TRUE(sink.WaitInFlight());
  for (int i = 0; i < 35; ++i) PublishTrade(trades, std::to_string(i));
  for (int i = 0; i < 4; ++i) {
    sink.Ack();
    ASSERT_TRUE(sink.WaitInFlight());
  }
  auto batches = sink.batches();
  ASSERT_EQ(batches.size(), 5u);
  EXPECT_EQ(batches[1].events_size(), 10);
  EXPECT_EQ(batches[4].events_size(), 5);
  auto prices = TradePrices(sink.events());
  ASSERT_EQ(prices.size(), 35u);
  for (int i = 0; i < 35; ++i) EXPECT_EQ(prices[i], std::to_string(i));
}

TEST_F(HubTest, IdleStreamIsWokenByTheDispatcher) {
  MakeHub({.inline_write_streams = 0});
  TopicRing* trades = hub_->Topic("trade:X", "X", kTradeSpec);
  auto s = NewStream({trades});
  RecordingSink& sink = StartWith(s, true);
  ASSERT_TRUE(sink.WaitEvents(1));
  ASSERT_TRUE(sink.WaitFor([&](const auto&) { return s->idle(); }));
  EXPECT_EQ(trades->idle_subscribers().load(), 1);
  for (int round = 0; round < 50; ++round) {
    PublishTrade(trades, std::to_string(round));
    ASSERT_TRUE(sink.WaitEvents(2 + round)) << "round " << round;
  }
  ExpectSeqContiguous(sink.events());
  const auto threads = sink.write_threads();
  for (size_t i = 1; i < threads.size(); ++i) EXPECT_NE(threads[i], std::this_thread::get_id()) << "write " << i;
  EXPECT_GT(hub_->stats().dispatcher_wakeups.load(), 0u);
  EXPECT_EQ(hub_->stats().inline_pumps.load(), 0u);
}

// While the hub has few streams, the publisher starts an idle stream's write itself (no
// dispatcher wake-up in between); with more streams than the option allows, the dispatcher does.
TEST_F(HubTest, FewStreamsAreWrittenByThePublisherThread) {
  MakeHub({.inline_write_streams = 2});
  TopicRing* trades = hub_->Topic("trade:X", "X", kTradeSpec);
  std::vector<std::shared_ptr<Stream>> streams = {NewStream({trades}), NewStream({trades})};
  std::vector<RecordingSink*> sinks = {&StartWith(streams[0], true), &StartWith(streams[1], true)};
  for (size_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(sinks[i]->WaitEvents(1));
    ASSERT_TRUE(sinks[i]->WaitFor([&](const auto&) { return streams[i]->idle(); }));
  }
  const uint64_t wakeups = hub_->stats().dispatcher_wakeups.load();
  for (int round = 0; round < 20; ++round) {
    PublishTrade(trades, std::to_string(round));
    // Written before Publish returned, on this thread.
    for (RecordingSink* sink : sinks) {
      ASSERT_EQ(sink->events().size(), 2u + round) << "round " << round;
      EXPECT_EQ(sink->write_threads().back(), std::this_thread::get_id());
    }
  }
  EXPECT_EQ(hub_->stats().inline_pumps.load(), 20u);
  EXPECT_EQ(hub_->stats().dispatcher_wakeups.load(), wakeups);
  for (RecordingSink* sink : sinks) ExpectSeqContiguous(sink->events());

  // A third stream: more than the option allows, so the dispatcher writes from now on.
  auto third = NewStream({trades});
  RecordingSink& sink3 = StartWith(third, true);
  ASSERT_TRUE(sink3.WaitEvents(1));
  for (size_t i = 0; i < 2; ++i) ASSERT_TRUE(sinks[i]->WaitFor([&](const auto&) { return streams[i]->idle(); }));
  ASSERT_TRUE(sink3.WaitFor([&](const auto&) { return third->idle(); }));
  PublishTrade(trades, "last");
  for (RecordingSink* sink : {sinks[0], sinks[1], &sink3}) {
    ASSERT_TRUE(sink->WaitFor([](const auto& e) { return !e.empty() && e.back().trade().price() == "last"; }));
    EXPECT_NE(sink->write_threads().back(), std::this_thread::get_id());
  }
  EXPECT_EQ(hub_->stats().inline_pumps.load(), 20u);
  EXPECT_GT(hub_->stats().dispatcher_wakeups.load(), wakeups);
}

// A socket read's events for several topics reach an idle stream in one write: the publisher
// starts it after the last append of the flush, not after the first topic's.
TEST_F(HubTest, AFlushReachesAnIdleStreamAsOneWrite) {
  MakeHub({.inline_write_streams = 4});
  TopicRing* a = hub_->Topic("trade:AUSDT", "AUSDT", kTradeSpec);
  TopicRing* b = hub_->Topic("trade:BUSDT", "BUSDT", kTradeSpec);
  auto s = NewStream({a, b});
  RecordingSink& sink = StartWith(s, true);
  ASSERT_TRUE(sink.WaitEvents(1));
  ASSERT_TRUE(sink.WaitFor([&](const auto&) { return s->idle(); }));
  PublishBatch batch;
  for (const auto& [ring, price] : std::vector<std::pair<TopicRing*, std::string>>{{a, "1"}, {b, "2"}, {a, "3"}}) {
    std::string bytes;
    const EventLayout layout = EncodeTrade(ring, price, &bytes);
    batch.Add(ring, bytes, layout, clock_.NowNs());
  }
  batch.Flush(*hub_);
  const auto batches = sink.batches();
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(TradePrices({batches[1].events().begin(), batches[1].events().end()}),
            (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ(hub_->stats().inline_pumps.load(), 1u);
}

TEST_F(HubTest, SlowConsumerDoesNotSlowAFastOne) {
  MakeHub({.trade_queue_events = 64});
  TopicRing* trades = hub_->Topic("trade:X", "X", kTradeSpec);
  auto fast = NewStream({trades});
  auto slow = NewStream({trades});
  RecordingSink& fast_sink = StartWith(fast, true);
  RecordingSink& slow_sink = StartWith(slow, false);
  ASSERT_TRUE(slow_sink.WaitInFlight());
  // Published in chunks the fast reader can keep up with (its ring holds 64).
  for (int i = 0; i < 200; ++i) {
    PublishTrade(trades, std::to_string(i));
    if (i % 20 == 19) {
      ASSERT_TRUE(fast_sink.WaitFor([i](const auto& e) { return TradePrices(e).size() == size_t(i) + 1; }));
    }
  }
  ASSERT_TRUE(fast_sink.WaitFor([](const auto& e) { return TradePrices(e).size() == 200; }));
  ExpectSeqContiguous(fast_sink.events());
  // The slow one (its first write never acknowledged) now reads: it lost 200 - 64 trades.
  slow_sink.Ack();
  ASSERT_TRUE(slow_sink.WaitFor([](const auto& e) { return TradePrices(e).size() == 64; }));
  auto ev = slow_sink.events();
  ExpectSeqContiguous(ev);
  ASSERT_GE(ev.size(), 3u);
  EXPECT_TRUE(ev[1].has_gap());
  EXPECT_EQ(ev[1].gap().reason(), Gap::REASON_SLOW_CONSUMER);
  EXPECT_EQ(ev[1].gap().missed_events(), 136u);
  EXPECT_EQ(ev[1].symbol(), "X");
  EXPECT_EQ(ev[1].channel(), v1::CHANNEL_TRADE);
  EXPECT_EQ(ev[2].trade().price(), "136");
  EXPECT_EQ(hub_->stats().dropped_slow_consumer.load(), 136u);
  EXPECT_EQ(hub_->stats().gaps_slow_consumer.load(), 1u);
}

TEST_F(HubTest, EndStreamPolicyEndsASlowStreamWithResourceExhausted) {
  MakeHub({.trade_queue_events = 16, .trade_policy = OverflowPolicy::kEndStream});
  TopicRing* trades = hub_->Topic("trade:X", "X", kTradeSpec);
  auto s = NewStream({trades});
  RecordingSink& sink = StartWith(s, false);
  ASSERT_TRUE(sink.WaitInFlight());
  for (int i = 0; i < 40; ++i) PublishTrade(trades, std::to_string(i));
  sink.Ack();
  ASSERT_TRUE(sink.WaitFinished());
  EXPECT_EQ(sink.finished()->code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(sink.finished()->message().find("trade:X"), std::string::npos) << sink.finished()->message();
}

TEST_F(HubTest, QueuedTradesOlderThanTheAgeBoundBecomeAGap) {
  MakeHub({.max_queue_age = std::chrono::milliseconds(500)});
  TopicRing* trades = hub_->Topic("trade:X", "X", kTradeSpec);
  auto s = NewStream({trades});
  RecordingSink& sink = StartWith(s, false);
  ASSERT_TRUE(sink.WaitInFlight());
  for (int i = 0; i < 5; ++i) PublishTrade(trades, "old" + std::to_string(i));
  clock_.Advance(std::chrono::milliseconds(600));
  PublishTrade(trades, "new");
  sink.Ack();
  ASSERT_TRUE(sink.WaitEvents(3));
  auto ev = sink.events();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[1].gap().reason(), Gap::REASON_STALE_QUEUE);
  EXPECT_EQ(ev[1].gap().missed_events(), 5u);
  EXPECT_EQ(ev[2].trade().price(), "new");
}

TEST_F(HubTest, StateChannelsConflateForASlowReader) {
  MakeHub({.state_queue_events = 4});
  TopicRing* book = hub_->Topic("depth_book15:X", "X", kBookSpec);
  auto s = NewStream({book});
  RecordingSink& sink = StartWith(s, false);
  ASSERT_TRUE(sink.WaitInFlight());
  for (int i = 0; i < 10; ++i) PublishBook(book, std::to_string(100 + i));
  sink.Ack();
  ASSERT_TRUE(sink.WaitEvents(2));
  auto ev = sink.events();
  ASSERT_EQ(ev.size(), 2u);  // the status, then only the newest book: no gap
  EXPECT_EQ(ev[1].order_book().bids(0).price(), "109");
  EXPECT_EQ(hub_->stats().conflated.load(), 9u);
}

TEST_F(HubTest, StatusIsOrderedAfterEarlierEventsAndListsAffectedSymbols) {
  MakeHub();
  auto [a, b, held] = TwoTradeTopicsAndAHeldStream();
  RecordingSink& sink = *held;
  ASSERT_TRUE(sink.WaitInFlight());
  PublishTrade(a, "1");
  PublishTrade(b, "2");
  hub_->BroadcastStatus({a}, StreamStatus::STATE_RECONNECTING, "websocket closed", /*gap=*/false);
  PublishTrade(b, "3");
  hub_->BroadcastStatus({a}, StreamStatus::STATE_RECOVERED, "reconnected", /*gap=*/true);
  PublishTrade(a, "4");
  sink.Ack();
  ASSERT_TRUE(sink.WaitEvents(8));
  auto ev = sink.events();
  ASSERT_EQ(ev.size(), 8u);
  EXPECT_EQ(ev[1].trade().price(), "1");
  EXPECT_EQ(ev[2].trade().price(), "2");
  EXPECT_EQ(ev[3].status().state(), StreamStatus::STATE_RECONNECTING);
  ASSERT_EQ(ev[3].status().symbols_size(), 1);
  EXPECT_EQ(ev[3].status().symbols(0), "AUSDT");
  ASSERT_EQ(ev[3].status().topics_size(), 1);
  EXPECT_EQ(ev[3].status().topics(0), "trade:AUSDT");
  EXPECT_EQ(ev[4].trade().price(), "3");
  EXPECT_EQ(ev[5].gap().reason(), Gap::REASON_UPSTREAM_RECONNECT);
  ASSERT_EQ(ev[5].gap().topics_size(), 1);
  EXPECT_EQ(ev[5].gap().topics(0), "trade:AUSDT");
  EXPECT_EQ(ev[6].status().state(), StreamStatus::STATE_RECOVERED);
  EXPECT_EQ(ev[7].trade().price(), "4");
  ExpectSeqContiguous(ev);
  // A status covering every symbol of the stream lists none.
  sink.Ack();
  hub_->BroadcastStatus({a, b}, StreamStatus::STATE_STALE, "no data", false);
  ASSERT_TRUE(sink.WaitEvents(9));
  EXPECT_EQ(sink.events()[8].status().symbols_size(), 0);
  EXPECT_EQ(sink.events()[8].status().topics_size(), 0);
}

// A status about one channel of a symbol names no symbol (the stream has only that one) but
// names the topic, so a stream over trades and the book of one symbol can tell which went stale.
TEST_F(HubTest, AStatusAboutOneChannelOfASymbolNamesItsTopic) {
  MakeHub();
  TopicRing* trades = hub_->Topic("trade:X", "X", kTradeSpec);
  TopicRing* book = hub_->Topic("depth_book15:X", "X", kBookSpec);
  RecordingSink& sink = StartWith(NewStream({trades, book}), true);
  ASSERT_TRUE(sink.WaitEvents(1));
  hub_->BroadcastStatus({trades}, StreamStatus::STATE_STALE, "no data", false);
  ASSERT_TRUE(sink.WaitEvents(2));
  const auto st = sink.events()[1].status();
  EXPECT_EQ(st.state(), StreamStatus::STATE_STALE);
  EXPECT_EQ(st.symbols_size(), 0);
  ASSERT_EQ(st.topics_size(), 1);
  EXPECT_EQ(st.topics(0), "trade:X");
}

TEST_F(HubTest, AStatusIsNeitherOvertakenNorStarvedByABacklogLargerThanABatch) {
  // A lagging stream on two busy trade topics, batches of 4: the status posted after the first
  // 20 events comes right after them, before any later event, though every batch is full.
  MakeHub({.max_batch_events = 4});
  TopicRing* a = hub_->Topic("trade:AUSDT", "AUSDT", kTradeSpec);
  TopicRing* b = hub_->Topic("trade:BUSDT", "BUSDT", kTradeSpec);
  auto stream = NewStream({a, b});
  RecordingSink& sink = StartWith(stream, false);
  ASSERT_TRUE(sink.WaitInFlight());
  for (int i = 0; i < 10; ++i) {
    PublishTrade(a, "a" + std::to_string(i));
    PublishTrade(b, "b" + std::to_string(i));
  }
  stream->PostStatus(StreamStatus::STATE_RECONNECTING, "websocket closed", {});
  for (int i = 10; i < 20; ++i) {
    PublishTrade(a, "a" + std::to_string(i));
    PublishTrade(b, "b" + std::to_string(i));
  }
  // The client reads on while both topics keep receiving more than a batch per write.
  int next = 20;
  for (int round = 0; round < 15; ++round) {
    sink.Ack();
    ASSERT_TRUE(sink.WaitInFlight());
    for (int k = 0; k < 3; ++k, ++next) {
      PublishTrade(a, "a" + std::to_string(next));
      PublishTrade(b, "b" + std::to_string(next));
    }
  }
  auto ev = sink.events();
  size_t status_at = ev.size();
  for (size_t i = 0; i < ev.size(); ++i) {
    if (ev[i].has_status() && ev[i].status().state() == StreamStatus::STATE_RECONNECTING) status_at = i;
  }
  EXPECT_TRUE(sink.parse_ok());
  ASSERT_LT(status_at, ev.size()) << "the status never came while the backlog lasted";
  int before = 0;
  for (size_t i = 0; i < status_at; ++i) {
    if (!ev[i].has_trade()) continue;
    ++before;
    EXPECT_LT(std::stoi(ev[i].trade().price().substr(1)), 10) << "a later trade overtook the status";
  }
  EXPECT_EQ(before, 20);
  // Every event of every batch parsed (a held status once went out as an empty event: its seq
  // used, the event gone).
  size_t in_batches = 0;
  for (const auto& batch : sink.batches()) in_batches += static_cast<size_t>(batch.events_size());
  EXPECT_EQ(in_batches, ev.size());
  ExpectSeqContiguous(ev);
}

// A read's events staged and published together come out exactly as if published one by one:
// same order across topics, consecutive gseqs, every ring holding its own events.
TEST_F(HubTest, StagedEventsArePublishedInOrderWithConsecutiveGseqs) {
  MakeHub();
  auto [a, b, held] = TwoTradeTopicsAndAHeldStream();
  RecordingSink& sink = *held;
  ASSERT_TRUE(sink.WaitInFlight());
  const uint64_t before = hub_->last_gseq();
  PublishBatch batch;
  const std::vector<std::pair<TopicRing*, std::string>> order = {{a, "1"}, {a, "2"}, {b, "3"}, {a, "4"}, {b, "5"}, {b, "6"}};
  for (const auto& [ring, price] : order) {
    std::string bytes;
    const EventLayout layout = EncodeTrade(ring, price, &bytes);
    batch.Add(ring, bytes, layout, clock_.NowNs());
  }
  EXPECT_EQ(a->head(), 0u) << "nothing is visible before the flush";
  EXPECT_EQ(batch.size(), 6u);
  batch.Flush(*hub_);
  EXPECT_TRUE(batch.empty());
  EXPECT_EQ(hub_->last_gseq(), before + 6);
  EXPECT_EQ(a->head(), 3u);
  EXPECT_EQ(b->head(), 3u);
  EXPECT_EQ(hub_->stats().published.load(), 6u);
  sink.Ack();
  ASSERT_TRUE(sink.WaitEvents(7));
  auto ev = sink.events();
  ASSERT_EQ(ev.size(), 7u);
  for (size_t i = 0; i < order.size(); ++i) {
    EXPECT_EQ(ev[i + 1].trade().price(), order[i].second) << i;
    EXPECT_EQ(ev[i + 1].symbol(), order[i].first->symbol()) << i;
  }
  ExpectSeqContiguous(ev);
  // The batch is reusable once flushed.
  std::string bytes;
  const EventLayout layout = EncodeTrade(a, "7", &bytes);
  batch.Add(a, bytes, layout, clock_.NowNs());
  batch.Flush(*hub_);
  EXPECT_EQ(hub_->last_gseq(), before + 7);
  EXPECT_EQ(a->head(), 4u);
}

TEST_F(HubTest, CloseDrainsQueuedStatusThenFinishes) {
  MakeHub();
  TopicRing* trades = hub_->Topic("trade:X", "X", kTradeSpec);
  auto s = NewStream({trades});
  RecordingSink& sink = StartWith(s, true);
  ASSERT_TRUE(sink.WaitEvents(1));
  PublishTrade(trades, "before");
  s->Close(absl::UnavailableError("server shutting down"), StreamStatus::STATE_SHUTTING_DOWN, "server shutting down");
  PublishTrade(trades, "after");  // published after the close: never sent
  ASSERT_TRUE(sink.WaitFinished());
  auto ev = sink.events();
  ASSERT_GE(ev.size(), 3u);
  EXPECT_EQ(ev[ev.size() - 2].trade().price(), "before");
  EXPECT_EQ(ev.back().status().state(), StreamStatus::STATE_SHUTTING_DOWN);
  EXPECT_EQ(sink.finished()->code(), absl::StatusCode::kUnavailable);
  ExpectSeqContiguous(ev);
}

// Trades that aged in the queue before a close are reported lost before the last status, and
// those published after the close not at all: the stream's last event is STATE_SHUTTING_DOWN.
TEST_F(HubTest, ALossBeforeACloseIsReportedBeforeTheLastStatus) {
  MakeHub({.max_queue_age = std::chrono::milliseconds(500)});
  TopicRing* trades = hub_->Topic("trade:X", "X", kTradeSpec);
  auto s = NewStream({trades});
  RecordingSink& sink = StartWith(s, false);
  ASSERT_TRUE(sink.WaitInFlight());
  for (int i = 0; i < 3; ++i) PublishTrade(trades, "before" + std::to_string(i));
  s->Close(absl::UnavailableError("server shutting down"), StreamStatus::STATE_SHUTTING_DOWN, "server shutting down");
  for (int i = 0; i < 2; ++i) PublishTrade(trades, "after" + std::to_string(i));  // never sent
  clock_.Advance(std::chrono::milliseconds(600));
  sink.Ack();
  ASSERT_TRUE(sink.WaitEvents(3));
  sink.Ack();
  ASSERT_TRUE(sink.WaitFinished());
  auto ev = sink.events();
  ExpectSeqContiguous(ev);
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[1].gap().reason(), Gap::REASON_STALE_QUEUE);
  EXPECT_EQ(ev[1].gap().missed_events(), 3u);
  EXPECT_EQ(ev[2].status().state(), StreamStatus::STATE_SHUTTING_DOWN);
  EXPECT_EQ(sink.finished()->code(), absl::StatusCode::kUnavailable);
}

TEST_F(HubTest, CancelFinishesAfterTheWriteInFlight) {
  MakeHub();
  TopicRing* trades = hub_->Topic("trade:X", "X", kTradeSpec);
  auto s = NewStream({trades});
  RecordingSink& sink = StartWith(s, false);
  ASSERT_TRUE(sink.WaitInFlight());
  s->Cancel();
  EXPECT_FALSE(sink.finished().has_value());  // never Finish with a write in flight
  sink.Ack(false);
  ASSERT_TRUE(sink.WaitFinished());
  EXPECT_EQ(sink.finished()->code(), absl::StatusCode::kCancelled);
  s->Detach();
  hub_->RemoveStream(s.get());
  EXPECT_EQ(trades->idle_subscribers().load(), 0);
}

// A client that stops reading entirely (its HTTP/2 window closed) never completes the write in
// flight, so no Gap, status or RESOURCE_EXHAUSTED can reach it. After stalled_write_timeout the
// call is cancelled, once, and the stream ends; a stream that merely reads slowly is left alone.
TEST_F(HubTest, AStreamWhoseWriteStallsPastTheBoundIsAbandoned) {
  MakeHub({.stalled_write_timeout = std::chrono::milliseconds(30000)});
  TopicRing* trades = hub_->Topic("trade:X", "X", kTradeSpec);
  auto stalled = NewStream({trades});
  RecordingSink& sink = StartWith(stalled, false);
  ASSERT_TRUE(sink.WaitInFlight());  // never acked: the client does not read
  auto reading = NewStream({trades});
  RecordingSink& other = StartWith(reading, false);
  ASSERT_TRUE(other.WaitInFlight());
  clock_.Advance(std::chrono::seconds(20));
  other.Ack();  // slow, but reading
  PublishTrade(trades, "1");
  ASSERT_TRUE(other.WaitInFlight());
  hub_->TrimRings();
  EXPECT_EQ(sink.abandons(), 0);
  clock_.Advance(std::chrono::seconds(11));
  hub_->TrimRings();
  EXPECT_EQ(sink.abandons(), 1);
  EXPECT_EQ(other.abandons(), 0);  // its write started 11 s ago
  EXPECT_EQ(hub_->stats().streams_abandoned.load(), 1u);
  // The cancellation's callbacks ran inline (the sink's Abandon): the stream finished once
  // Abandon had returned, with CANCELLED.
  ASSERT_TRUE(sink.WaitFinished());
  EXPECT_EQ(sink.finished()->code(), absl::StatusCode::kCancelled);
  clock_.Advance(std::chrono::seconds(60));
  hub_->TrimRings();
  EXPECT_EQ(sink.abandons(), 1);  // once
}

TEST_F(HubTest, TrimFreesOldTradesButKeepsTheLatestState) {
  MakeHub({.max_queue_age = std::chrono::milliseconds(100)});
  TopicRing* trades = hub_->Topic("trade:X", "X", kTradeSpec);
  TopicRing* book = hub_->Topic("depth_book15:X", "X", kBookSpec);
  for (int i = 0; i < 1000; ++i) PublishTrade(trades, std::to_string(i));
  PublishBook(book, "1");
  PublishBook(book, "2");
  const size_t grown = trades->memory_bytes();
  clock_.Advance(std::chrono::seconds(1));
  hub_->TrimRings();
  EXPECT_EQ(trades->size(), 0u);
  EXPECT_LT(trades->memory_bytes(), grown / 10);
  EXPECT_EQ(book->size(), 1u);
  auto latest = book->LatestCopy();
  ASSERT_TRUE(latest);
  v1::MarketEvent e;
  ASSERT_TRUE(DecodeEvent(latest->bytes, latest->layout, &e));
  EXPECT_EQ(e.order_book().bids(0).price(), "2");
  // A reader still behind the freed events is told they aged out.
  BatchBuilder b;
  b.Reset(10, 1 << 20);
  uint64_t cursor = 0;
  ReadOutcome r = trades->Read(&cursor, 0, false, &b);
  EXPECT_EQ(r.aged, 1000u);
  EXPECT_EQ(r.overflowed, 0u);
}

// Conflation skips a kline update only for a newer update of the same candle. A candle's final
// update freed before a slow reader got to it (by age or overwritten) is a loss: the reader is
// told so, and never silently misses how a candle closed.
TEST_F(HubTest, AFreedFinalUpdateOfACandleIsALossNotAConflation) {
  MakeHub({.max_queue_age = std::chrono::milliseconds(100)});
  constexpr ChannelSpec kKlineSpec{.channel = v1::CHANNEL_KLINE, .interval = v1::KLINE_INTERVAL_1M};
  TopicRing* kl = hub_->Topic("market_kline_1min:X", "X", kKlineSpec);
  const EventLayout layout{};
  uint64_t gseq = 1;
  auto publish = [&](int64_t candle) { kl->Publish("k", layout, gseq++, clock_.NowNs(), candle); };
  auto read = [&](uint64_t* cursor) {
    BatchBuilder b;
    b.Reset(100, 1 << 20);
    return kl->Read(cursor, 0, /*conflate=*/true, &b);
  };
  publish(60'000);
  publish(60'000);
  clock_.Advance(std::chrono::seconds(1));
  publish(60'000);  // the candle's final update
  publish(120'000);
  uint64_t behind = 0;
  uint64_t past_final = 3;  // has read the final update of 60'000
  // Trimming only updates a newer one of the same candle replaced: conflation, no loss.
  kl->Trim(clock_.NowNs() - 1);
  EXPECT_EQ(kl->size(), 2u);
  uint64_t c = 0;
  ReadOutcome r = read(&c);
  EXPECT_EQ(r.conflated, 2u);
  EXPECT_EQ(r.aged + r.overflowed, 0u);
  // Now the final update of 60'000 ages out too: a reader that had not read it lost it.
  clock_.Advance(std::chrono::seconds(1));
  publish(120'000);
  kl->Trim(clock_.NowNs() - 1);
  EXPECT_EQ(kl->size(), 1u);
  r = read(&behind);
  EXPECT_EQ(r.aged, 4u);
  EXPECT_EQ(r.conflated, 0u);
  EXPECT_EQ(r.first_kept_gseq, 5u);
  r = read(&past_final);  // only 120'000's first update was freed under it: replaced, no loss
  EXPECT_EQ(r.aged + r.overflowed, 0u);
  EXPECT_EQ(r.conflated, 1u);

  // The same when a full ring overwrites a candle's final update.
  TopicRing small("market_kline_1min:Y", "Y", kKlineSpec, 4);
  for (int64_t candle : {60'000, 60'000, 120'000, 120'000, 120'000, 120'000}) {
    small.Publish("k", layout, gseq++, clock_.NowNs(), candle);
  }
  uint64_t slow = 0;  // the two updates of 60'000 were overwritten, its final one among them
  BatchBuilder b;
  b.Reset(100, 1 << 20);
  r = small.Read(&slow, 0, /*conflate=*/true, &b);
  EXPECT_EQ(r.overflowed, 2u);
  EXPECT_EQ(r.conflated, 3u);  // of 120'000's four updates only the newest is taken
  EXPECT_EQ(b.events(), 1u);
}

// The ring's byte count (the bitunix_md_ring_bytes gauge) stays exact through freeing and reusing
// slots: it used to lose an emptied string's inline capacity on every reuse and wrap around.
TEST_F(HubTest, RingByteCountStaysExactThroughTrimAndReuse) {
  MakeHub({.max_queue_age = std::chrono::milliseconds(100)});
  TopicRing* trades = hub_->Topic("trade:X", "X", kTradeSpec);
  std::vector<size_t> after_cycle;
  for (int cycle = 0; cycle < 50; ++cycle) {
    for (int i = 0; i < 5; ++i) PublishTrade(trades, std::to_string(cycle * 10 + i));
    clock_.Advance(std::chrono::seconds(1));
    hub_->TrimRings();
    after_cycle.push_back(trades->memory_bytes());
  }
  EXPECT_GT(after_cycle[1], 0u);
  EXPECT_LT(after_cycle[1], size_t{1} << 20);
  EXPECT_EQ(after_cycle[49], after_cycle[1]) << "the count drifts";
  trades->DropCache();
  EXPECT_EQ(trades->memory_bytes(), after_cycle[49]);
}

// After a reconnect the pre-outage state is hidden from late joiners and unary reads, but a
// stream that had not read it yet still gets it (no event is taken from under a reader).
TEST_F(HubTest, HiddenCacheIsNoSnapshotButUnreadEventsStillArrive) {
  MakeHub();
  TopicRing* book = hub_->Topic("depth_book15:X", "X", kBookSpec);
  auto lagging = NewStream({book}, /*snapshots=*/false);
  RecordingSink& lag = StartWith(lagging, false);
  ASSERT_TRUE(lag.WaitInFlight());  // holds its first write: the books below wait unread
  PublishBook(book, "1");
  book->HideCache();
  EXPECT_FALSE(book->LatestCopy());
  auto late = NewStream({book});
  RecordingSink& joiner = StartWith(late, true);
  ASSERT_TRUE(joiner.WaitEvents(1));
  lag.Ack();
  ASSERT_TRUE(lag.WaitEvents(2));
  EXPECT_EQ(lag.events()[1].order_book().bids(0).price(), "1");  // still delivered
  PublishBook(book, "2");
  ASSERT_TRUE(joiner.WaitEvents(2));
  auto ev = joiner.events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].status().state(), StreamStatus::STATE_LIVE);  // no snapshot of the hidden book
  EXPECT_EQ(ev[1].order_book().bids(0).price(), "2");
  auto latest = book->LatestCopy();
  ASSERT_TRUE(latest);
  v1::MarketEvent e;
  ASSERT_TRUE(DecodeEvent(latest->bytes, latest->layout, &e));
  EXPECT_EQ(e.order_book().bids(0).price(), "2");
}

TEST_F(HubTest, ManyStreamsManyEventsStayLosslessAndOrdered) {
  MakeHub();
  TopicRing* trades = hub_->Topic("trade:X", "X", kTradeSpec);
  std::vector<RecordingSink*> sinks;
  for (int i = 0; i < 8; ++i) sinks.push_back(&StartWith(NewStream({trades}), true));
  constexpr int kEvents = 5000;
  for (int i = 0; i < kEvents; ++i) PublishTrade(trades, std::to_string(i));
  for (RecordingSink* sink : sinks) {
    ASSERT_TRUE(sink->WaitFor([](const auto& e) { return TradePrices(e).size() == kEvents; }));
    auto ev = sink->events();
    ExpectSeqContiguous(ev);
    auto prices = TradePrices(ev);
    for (int i = 0; i < kEvents; ++i) ASSERT_EQ(prices[i], std::to_string(i));
  }
}

}  // namespace
}  // namespace bx::md
