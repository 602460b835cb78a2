// Continuity promises of the upstream: every interruption of a topic a stream relies on (a
// reconnect, a subscription moved by a refusal, a dropped frame, a delisting) is told to the
// stream, by a status and a Gap where data may have been missed, and no stale state is served as
// live. Each test was written against the code that broke the promise (stop-23 review).
#include <gtest/gtest.h>

#include <set>

#include "tests/marketdata/outage_check.h"
#include "tests/marketdata/upstream_fixture.h"

namespace bx::md {
namespace {

using common_v1::Gap;
using common_v1::StreamStatus;
using testing::Book;
using testing::kPairs;
using testing::RecordingSink;
using testing::Trade;
using testing::UpstreamTest;
using Ms = std::chrono::milliseconds;


constexpr const char* kGreeting = R"({"op":"connect","data":{"result":true}})";

std::vector<std::string> StatusesNaming(const std::vector<v1::MarketEvent>& ev, const std::string& topic,
                                        const std::set<std::string>& all) {
  std::vector<std::string> out;
  for (const auto& e : ev) {
    if (e.has_gap()) {
      auto t = testing::Affected(e.gap().topics(), all);
      if (t.contains(topic)) out.push_back("GAP");
    }
    if (!e.has_status()) continue;
    auto t = testing::Affected(e.status().topics(), all);
    if (t.contains(topic)) out.push_back(StreamStatus::State_Name(e.status().state()));
  }
  return out;
}

// A refusal moves an unconfirmed (quiet but subscribed) trade topic to another, already open
// connection with room. Until the exchange processes the paced unsubscribe on the old connection
// and the paced subscribe on the new one, the old connection keeps delivering that topic's trades
// and the gateway drops them as "stray" frames. The stream gets neither a Gap nor any status: it
// silently misses trades (promise 1).
TEST_F(UpstreamTest, ATradeTopicMovedToAnOpenConnectionGetsAGapAtItsFirstTrade) {
  UpstreamOptions opt;
  opt.max_subscriptions_per_connection = 2;
  Make(opt);
  Ws(0).Open();
  Run();
  auto& sink = Subscribe({Ref("trade", "A"), Ref("trade", "B"), Ref("trade", "C")});
  ASSERT_EQ(ws_.clients.size(), 2u);
  Ws(1).Open();
  Run();
  Ws(0).Text(kGreeting);
  Ws(1).Text(kGreeting);
  Run();
  Advance(Ms(300));
  ASSERT_EQ(SubscribeArgs(0, "subscribe", "trade", "B"), 1);
  ASSERT_EQ(SubscribeArgs(1, "subscribe", "trade", "C"), 1);
  Ws(0).Text(Trade("A", "1"));  // A confirmed; B subscribed on the exchange, no trade yet
  Run();
  Ws(0).Text(R"({"op":"subscribe","data":{"msg":"subscribe channel > 1","nonce":"","result":false}})");
  Run();
  // B now belongs to connection 1 (open, room for 2). The exchange still feeds B on connection 0.
  Ws(0).Text(Trade("B", "10"));
  Run();
  Advance(Ms(600));
  ASSERT_EQ(SubscribeArgs(1, "subscribe", "trade", "B"), 1);
  Ws(1).Text(Trade("B", "11"));
  Run();
  ASSERT_TRUE(sink.WaitFor([](const auto& ev) {
    for (const auto& e : ev) {
      if (e.has_trade() && e.trade().price() == "11") return true;
    }
    return false;
  }));
  const auto ev = sink.events();
  bool saw10 = false, gap_for_b = false;
  const std::set<std::string> all = {"trade:A", "trade:B", "trade:C"};
  for (const auto& e : ev) {
    if (e.has_trade() && e.symbol() == "B" && e.trade().price() == "10") saw10 = true;
    if (e.has_gap() && testing::Affected(e.gap().topics(), all).contains("trade:B")) gap_for_b = true;
  }
  EXPECT_EQ(up_->stats().other_connection_frames.load(), 1u) << "the exchange's trade B@10 was dropped as stray";
  EXPECT_TRUE(saw10 || gap_for_b) << "trade B@10 was delivered by the exchange and dropped by the gateway, "
                                     "and the stream got no Gap for trade:B. statuses for trade:B: "
                                  << ::testing::PrintToString(StatusesNaming(ev, "trade:B", all));
  for (size_t k = 0; k < ev.size(); ++k) EXPECT_EQ(ev[k].seq(), k + 1);
}

// A refusal moves an existing, live topic that was fed by the exchange and no connection has
// room: RECONNECTING. It waits (no subscription at all) until a slot frees, then its first data
// comes with RECOVERED but no Gap, although its trades during the wait were lost. (The accepted
// exception covers only a brand-new topic.)
TEST_F(UpstreamTest, ALiveTopicThatLostItsPlaceRecoversWithAGap) {
  UpstreamOptions opt;
  opt.max_subscriptions_per_connection = 2;
  opt.max_connections = 1;
  opt.linger = Ms(0);
  opt.rest_fallback = false;
  Make(opt);
  Ws(0).Open();
  Run();
  Ws(0).Text(kGreeting);
  Run();
  auto& keep = Subscribe({Ref("trade", "B")});
  Subscribe({Ref("trade", "A")});
  Advance(Ms(600));
  ASSERT_EQ(SubscribeArgs(0, "subscribe", "trade", "B"), 1);
  ASSERT_EQ(SubscribeArgs(0, "subscribe", "trade", "A"), 1);
  Ws(0).Text(Trade("A", "1"));  // A confirmed, B quiet (unconfirmed)
  Run();
  Ws(0).Text(R"({"op":"subscribe","data":{"msg":"subscribe channel > 1","nonce":"","result":false}})");
  Run();
  ASSERT_TRUE(keep.WaitFor([](const auto& ev) { return HasStatus(ev, StreamStatus::STATE_RECONNECTING); }));
  Ws(0).Text(Trade("B", "10"));  // still subscribed on the exchange until the unsubscribe: dropped
  Run();
  Advance(Ms(2000));
  // The other stream leaves: A's slot frees, B is subscribed again there.
  auto streams = hub_->Streams();
  streams->at(1)->Detach();
  hub_->RemoveStream(streams->at(1).get());
  up_->Release({Ref("trade", "A")});
  Run();
  Advance(Ms(1000));
  ASSERT_EQ(SubscribeArgs(0, "subscribe", "trade", "B"), 2);
  Ws(0).Text(Trade("B", "11"));
  Run();
  ASSERT_TRUE(keep.WaitFor([](const auto& ev) { return HasStatus(ev, StreamStatus::STATE_RECOVERED); }));
  const auto ev = keep.events();
  const std::set<std::string> all = {"trade:B"};
  for (const auto& p : testing::CheckOutagesExplained(ev, all, true)) {
    ADD_FAILURE() << p << "; statuses for trade:B: " << ::testing::PrintToString(StatusesNaming(ev, "trade:B", all));
  }
}

// After an upstream reconnect the docs promise "After a gap, stateful channels arrive as
// snapshots": the first fresh push is published with snapshot=true. A stream with the default
// (conflate) book policy that has a write in flight when the first two fresh books arrive gets
// only the second one, and with snapshot=false: the flag is lost by conflation.
TEST_F(UpstreamTest, ConflationKeepsTheSnapshotAfterAReconnectGap) {
  UpstreamOptions opt;
  opt.rest_fallback = false;
  opt.backoff = {Ms(100), Ms(100), 2.0, 0.0};
  Make(opt);
  Ws(0).Open();
  Run();
  Ws(0).Text(kGreeting);
  Run();
  TopicRef book = Ref("depth_book15", "BTCUSDT");
  auto s = std::make_shared<Stream>(hub_.get(), 1, "t",
                                    std::vector<Stream::TopicSub>{{book.ring, OverflowPolicy::kConflate}},
                                    std::vector<std::string>{"BTCUSDT"}, true,
                                    std::vector<InitialStatus>{InitialStatus{}});
  hub_->AddStream(s);
  sinks_.push_back(std::make_unique<RecordingSink>(false));
  RecordingSink& sink = *sinks_.back();
  sink.set_stream(s.get());
  s->Start(&sink);
  up_->Acquire({book});
  Run();
  Advance(Ms(300));
  ASSERT_TRUE(sink.WaitInFlight());
  sink.Ack();  // LIVE
  Ws(0).Text(Book("BTCUSDT", "1"));
  Run();
  ASSERT_TRUE(sink.WaitInFlight());
  sink.Ack();  // book 1
  Ws(0).Drop(absl::UnavailableError("reset by peer"));
  Run();
  ASSERT_TRUE(sink.WaitInFlight());  // RECONNECTING: the client is a moment slow to read it
  Advance(Ms(150));
  ASSERT_EQ(Ws(0).connects, 2);
  Ws(0).Open();
  Run();
  Ws(0).Text(kGreeting);
  Ws(0).Text(Book("BTCUSDT", "2"));  // first fresh push: published as a snapshot
  Ws(0).Text(Book("BTCUSDT", "3"));
  Run();
  for (int i = 0; i < 10; ++i) {
    sink.Ack();
    if (!sink.WaitInFlight(Ms(200))) break;
  }
  const auto ev = sink.events();
  std::vector<std::string> seen;
  bool after_gap = false, first_book_after_gap_is_snapshot = false, checked = false;
  for (const auto& e : ev) {
    if (e.has_gap()) {
      seen.push_back("GAP");
      after_gap = true;
    } else if (e.has_status()) {
      seen.push_back(StreamStatus::State_Name(e.status().state()));
    } else if (e.has_order_book()) {
      seen.push_back("book" + e.order_book().bids(0).price() + (e.snapshot() ? "(snapshot)" : ""));
      if (after_gap && !checked) {
        checked = true;
        first_book_after_gap_is_snapshot = e.snapshot();
      }
    }
  }
  ASSERT_TRUE(checked) << ::testing::PrintToString(seen);
  EXPECT_TRUE(first_book_after_gap_is_snapshot)
      << "the first book after the reconnect Gap is not flagged snapshot: " << ::testing::PrintToString(seen);
  for (size_t k = 0; k < ev.size(); ++k) EXPECT_EQ(ev[k].seq(), k + 1);
}

// A symbol that leaves trading_pairs: its streams get STATE_STALE "no data will come", but the
// topic's health (ring) stays LIVE. (a) When it is listed again and data resumes promptly, no
// RECOVERED ever follows: the stream's last word on that topic stays "STALE, no data will come"
// while books flow. (b) Meanwhile the pre-delisting book is still the cache of a LIVE topic: a late
// joiner gets it as its snapshot with STATE_LIVE, and GetOrderBook (CachedEvent: health LIVE and a
// cached event) would serve it as SOURCE_STREAM_CACHE.
TEST_F(UpstreamTest, ARelistedSymbolRecoversAndItsOldBookIsNeverServedAsLive) {
  UpstreamOptions opt;
  opt.stale_book = Ms(1000);
  opt.symbol_refresh = Ms(2000);
  Make(opt);
  Ws(0).Open();
  Run();
  auto& sink = Subscribe({Ref("depth_book15", "ETHUSDT"), Ref("depth_book15", "BTCUSDT")});
  Advance(Ms(300));
  Ws(0).Text(Book("ETHUSDT", "1"));  // the last ETH book before the halt
  Ws(0).Text(Book("BTCUSDT", "1"));
  Run();
  Advance(Ms(100));
  ASSERT_TRUE(up_->ready());
  pairs_ = R"({"code":0,"msg":"Success","data":[{"symbol":"BTCUSDT","base":"BTC","quote":"USDT","basePrecision":4,"quotePrecision":1,"symbolStatus":"OPEN"}]})";
  auto live_for = [&](int tenths) {
    for (int i = 0; i < tenths; ++i) {
      Ws(0).Text(Book("BTCUSDT", "1"));
      Ws(0).Text(R"({"op":"ping","pong":1,"ping":1})");
      Run();
      Advance(Ms(100));
    }
  };
  // The exchange keeps pushing the (frozen) ETH book until the delisting is seen, then stops.
  for (int i = 0; i < 40 && symbols_.CheckStreamable("ETHUSDT").ok(); ++i) {
    Ws(0).Text(Book("ETHUSDT", "1"));
    live_for(1);
  }
  ASSERT_FALSE(symbols_.CheckStreamable("ETHUSDT").ok());
  live_for(80);  // 8 s halted
  const std::string eth = TopicKey("depth_book15", "ETHUSDT");
  const std::set<std::string> all = {eth, TopicKey("depth_book15", "BTCUSDT")};
  ASSERT_TRUE(sink.WaitFor([&](const auto& ev) {
    auto st = StatusesNaming(ev, eth, all);
    return !st.empty() && st.back() == "STATE_STALE";
  }));
  // Listed again: advance just until the refresh lands.
  pairs_ = kPairs;
  TopicRing* ring = hub_->FindTopic(eth);
  for (int i = 0; i < 40 && !symbols_.CheckStreamable("ETHUSDT").ok(); ++i) live_for(1);
  ASSERT_TRUE(symbols_.CheckStreamable("ETHUSDT").ok());
  // (b) right after relisting: the pre-halt book is served as the live cache.
  {
    auto latest = ring->LatestCopy();
    v1::MarketEvent cached;
    const bool served_by_get_order_book =
        ring->health() == TopicHealth::kLive && latest && DecodeEvent(latest->bytes, latest->layout, &cached);
    EXPECT_FALSE(served_by_get_order_book && cached.order_book().bids(0).price() == "1")
        << "GetOrderBook would answer SOURCE_STREAM_CACHE with the book from before the halt (~8 s old), and a late "
           "joiner gets it as a snapshot under STATE_LIVE";
    auto& late = Subscribe({Ref("depth_book15", "ETHUSDT")});
    ASSERT_TRUE(late.WaitEvents(1));
    const auto lev = late.events();
    EXPECT_FALSE(lev[0].has_order_book() && lev[0].snapshot() && lev[0].order_book().bids(0).price() == "1" &&
                 ring->health() == TopicHealth::kLive)
        << "late joiner's snapshot is the pre-halt book, and the topic's health says LIVE";
  }
  // (a) data resumes at once.
  Ws(0).Text(Book("ETHUSDT", "2"));
  Run();
  live_for(5);
  ASSERT_TRUE(sink.WaitFor([](const auto& ev) {
    for (const auto& e : ev) {
      if (e.has_order_book() && e.symbol() == "ETHUSDT" && e.order_book().bids(0).price() == "2") return true;
    }
    return false;
  }));
  const auto st = StatusesNaming(sink.events(), eth, all);
  ASSERT_FALSE(st.empty());
  EXPECT_NE(st.back(), "STATE_STALE") << "ETH books flow again but the stream's last status for " << eth
                                      << " is still STALE ('no data will come'): " << ::testing::PrintToString(st);
}

// A delisted symbol ("no data will come") on a connection that drops and reconnects is told
// RECONNECTING, then Gap + RECOVERED ("the exchange answers again"), although it stays delisted and
// no data will come.
TEST_F(UpstreamTest, ADelistedTopicIsNotToldRecoveredByAReconnect) {
  UpstreamOptions opt;
  opt.stale_book = Ms(1000);
  opt.symbol_refresh = Ms(2000);
  opt.backoff = {Ms(100), Ms(100), 2.0, 0.0};
  opt.rest_fallback = false;
  Make(opt);
  Ws(0).Open();
  Run();
  auto& sink = Subscribe({Ref("depth_book15", "ETHUSDT"), Ref("depth_book15", "BTCUSDT")});
  Advance(Ms(300));
  Ws(0).Text(Book("ETHUSDT", "1"));
  Ws(0).Text(Book("BTCUSDT", "1"));
  Run();
  pairs_ = R"({"code":0,"msg":"Success","data":[{"symbol":"BTCUSDT","base":"BTC","quote":"USDT","basePrecision":4,"quotePrecision":1,"symbolStatus":"OPEN"}]})";
  for (int i = 0; i < 30; ++i) {
    Ws(0).Text(Book("BTCUSDT", "1"));
    Ws(0).Text(R"({"op":"ping","pong":1,"ping":1})");
    Run();
    Advance(Ms(100));
  }
  ASSERT_FALSE(symbols_.CheckStreamable("ETHUSDT").ok());
  Ws(0).Drop(absl::UnavailableError("reset by peer"));
  Run();
  Advance(Ms(150));
  Ws(0).Open();
  Run();
  Ws(0).Text(kGreeting);
  Run();
  Advance(Ms(100));
  const std::string eth = TopicKey("depth_book15", "ETHUSDT");
  const std::set<std::string> all = {eth, TopicKey("depth_book15", "BTCUSDT")};
  ASSERT_TRUE(sink.WaitFor([](const auto& ev) { return HasStatus(ev, StreamStatus::STATE_RECOVERED); }));
  const auto st = StatusesNaming(sink.events(), eth, all);
  EXPECT_NE(st.back(), "STATE_RECOVERED") << "a delisted topic (no data will come) was declared RECOVERED: "
                                          << ::testing::PrintToString(st);
}

// The stated-limit refusal path ("subscribe channel > 3" on a connection that asked for 4): the
// connection keeps its confirmed topic and the unconfirmed ones up to the limit, without
// unsubscribing them (moving a topic and assigning it back to the same socket used to send
// "unsubscribe C" and then "subscribe C": a window with no subscription the stream was not told
// of). Only the topic past the limit moves, and its first trade on the new connection comes
// after a Gap.
TEST_F(UpstreamTest, ARefusalKeepsTopicsUpToTheStatedLimitAndTheMovedOneGetsAGap) {
  UpstreamOptions opt;
  opt.max_subscriptions_per_connection = 4;
  Make(opt);
  Ws(0).Open();
  Run();
  Ws(0).Text(kGreeting);
  Run();
  auto& sink = Subscribe({Ref("trade", "A"), Ref("trade", "B"), Ref("trade", "C"), Ref("trade", "D")});
  Advance(Ms(300));
  Ws(0).Text(Trade("A", "1"));
  Run();
  ASSERT_EQ(SubscribeArgs(0, "subscribe", "trade", "D"), 1);
  Ws(0).Text(R"({"op":"subscribe","data":{"msg":"subscribe channel > 3","nonce":"","result":false}})");
  Run();
  ASSERT_EQ(ws_.clients.size(), 2u);
  Ws(1).Open();
  Run();
  Ws(1).Text(kGreeting);
  Run();
  Advance(Ms(2000));
  for (const char* kept : {"A", "B", "C"}) {
    EXPECT_EQ(SubscribeArgs(0, "subscribe", "trade", kept), 1) << kept;
    EXPECT_EQ(SubscribeArgs(0, "unsubscribe", "trade", kept), 0) << kept;
  }
  EXPECT_EQ(SubscribeArgs(0, "unsubscribe", "trade", "D"), 1);
  EXPECT_EQ(SubscribeArgs(1, "subscribe", "trade", "D"), 1);
  Ws(1).Text(Trade("D", "5"));
  Run();
  ASSERT_TRUE(sink.WaitFor([](const auto& ev) { return !ev.empty() && ev.back().has_trade() && ev.back().trade().price() == "5"; }));
  const std::set<std::string> all = {"trade:A", "trade:B", "trade:C", "trade:D"};
  // D waited for the new connection (RECONNECTING, then Gap + RECOVERED at its greeting), then
  // its first trade came after a second Gap: the one for the time until the subscribe took hold.
  EXPECT_EQ(StatusesNaming(sink.events(), "trade:D", all),
            (std::vector<std::string>{"STATE_LIVE", "STATE_RECONNECTING", "GAP", "STATE_RECOVERED", "GAP"}));
  EXPECT_EQ(StatusesNaming(sink.events(), "trade:C", all), std::vector<std::string>{"STATE_LIVE"});
}

// Staleness is only checked for topics with streams (refs > 0). A lingering book whose
// exchange subscription went silent (the connection still answers pings) stays LIVE for the whole
// linger: GetOrderBook (CachedEvent: LIVE + cached) serves the silent book as SOURCE_STREAM_CACHE,
// and a late joiner gets it as its snapshot under STATE_LIVE, although it is many staleness
// thresholds old.
TEST_F(UpstreamTest, ALingeringBookThatGoesSilentIsNotServedAsLive) {
  UpstreamOptions opt;
  opt.stale_book = Ms(1000);
  opt.linger = Ms(30000);
  opt.rest_fallback = false;
  Make(opt);
  Ws(0).Open();
  Run();
  Ws(0).Text(kGreeting);
  Run();
  Subscribe({Ref("depth_book15", "BTCUSDT")});
  Advance(Ms(300));
  Ws(0).Text(Book("BTCUSDT", "1"));
  Run();
  Advance(Ms(100));
  // The stream leaves; the book lingers, and the exchange sends no more of it.
  auto streams = hub_->Streams();
  streams->front()->Detach();
  hub_->RemoveStream(streams->front().get());
  up_->Release({Ref("depth_book15", "BTCUSDT")});
  Run();
  for (int i = 0; i < 200; ++i) {  // 20 s, connection healthy
    Ws(0).Text(R"({"op":"ping","pong":1,"ping":1})");
    Run();
    Advance(Ms(100));
  }
  TopicRing* ring = hub_->FindTopic(TopicKey("depth_book15", "BTCUSDT"));
  auto latest = ring->LatestCopy();
  EXPECT_FALSE(ring->health() == TopicHealth::kLive && latest.has_value())
      << "a book silent for 20 s (threshold 1 s) is LIVE and cached: GetOrderBook answers SOURCE_STREAM_CACHE with it";
  auto& late = Subscribe({Ref("depth_book15", "BTCUSDT")});
  ASSERT_TRUE(late.WaitEvents(1));
  const auto ev = late.events();
  // Older than the threshold, it is not a late joiner's snapshot either (only its status is).
  EXPECT_FALSE(ev[0].has_order_book()) << "late joiner: 20 s old book as snapshot";
}

// After a reconnect, the reconnect's Gap and STATE_RECOVERED go out at the exchange's first
// word on the new socket (its greeting), before the topics are even subscribed again (paced, 50
// per message, 4 messages/s) and well before the exchange starts feeding them (103-598 ms after a
// subscribe, reference section 8). Trades the exchange executes in between are never delivered:
// the first trade after the resubscription must come after a second Gap. Shown with one topic per
// message so that the third subscribe leaves 500 ms after RECOVERED.
TEST_F(UpstreamTest, TradesBeforeTheResubscribeTookEffectAreCoveredByAGap) {
  UpstreamOptions opt;
  opt.max_args_per_message = 1;
  opt.backoff = {Ms(100), Ms(100), 2.0, 0.0};
  opt.rest_fallback = false;
  Make(opt);
  Ws(0).Open();
  Run();
  Ws(0).Text(kGreeting);
  Run();
  auto& sink = Subscribe({Ref("trade", "A"), Ref("trade", "B"), Ref("trade", "C")});
  Advance(Ms(1000));
  Ws(0).Text(Trade("C", "1"));
  Run();
  Ws(0).Drop(absl::UnavailableError("reset by peer"));
  Run();
  Advance(Ms(150));
  ASSERT_EQ(Ws(0).connects, 2);
  Ws(0).Open();
  Run();
  Ws(0).Text(kGreeting);
  Run();
  ASSERT_TRUE(sink.WaitFor([](const auto& ev) { return HasStatus(ev, StreamStatus::STATE_RECOVERED); }));
  Advance(Ms(600));
  ASSERT_EQ(SubscribeArgs(0, "subscribe", "trade", "C"), 2);
  Ws(0).Text(Trade("C", "2"));  // the new subscription's first trade
  Ws(0).Text(Trade("C", "3"));
  Run();
  ASSERT_TRUE(sink.WaitFor([](const auto& ev) { return !ev.empty() && ev.back().has_trade() && ev.back().trade().price() == "3"; }));
  const std::set<std::string> all = {"trade:A", "trade:B", "trade:C"};
  std::vector<std::string> seen;  // trade:C's statuses, Gaps and trades, in order
  for (const auto& e : sink.events()) {
    if (e.has_trade()) {
      if (e.symbol() == "C") seen.push_back(e.trade().price());
    } else if (e.has_gap() && testing::Affected(e.gap().topics(), all).contains("trade:C")) {
      seen.push_back("GAP");
    } else if (e.has_status() && testing::Affected(e.status().topics(), all).contains("trade:C")) {
      seen.push_back(StreamStatus::State_Name(e.status().state()));
    }
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"STATE_LIVE", "1", "STATE_RECONNECTING", "GAP", "STATE_RECOVERED", "GAP",
                                            "2", "3"}));
  // A and B, resubscribed and quiet, have had no trade: no second Gap for them yet.
  EXPECT_EQ(StatusesNaming(sink.events(), "trade:A", all),
            (std::vector<std::string>{"STATE_LIVE", "STATE_RECONNECTING", "GAP", "STATE_RECOVERED"}));
}

// A trade frame of a subscribed topic whose envelope (ch, symbol, ts) is fine but one of its
// items is malformed is dropped whole: its valid trades are lost, and the stream gets no Gap
// (only the bad-frame counter moves).
TEST_F(UpstreamTest, AMalformedTradeFrameOfAKnownTopicGetsAGap) {
  Make();
  Ws(0).Open();
  Run();
  Ws(0).Text(kGreeting);
  Run();
  auto& sink = Subscribe({Ref("trade", "BTCUSDT")});
  Advance(Ms(300));
  Ws(0).Text(Trade("BTCUSDT", "1"));
  Ws(0).Text(
      R"({"ch":"trade","symbol":"BTCUSDT","ts":1790126515693,"data":[{"t":"2026-09-23T00:00:01Z","p":"2","v":"1","s":"buy"},{"t":"2026-09-23T00:00:01Z","p":"3","s":"buy"}]})");
  Ws(0).Text(Trade("BTCUSDT", "4"));
  Run();
  ASSERT_TRUE(sink.WaitFor([](const auto& ev) { return !ev.empty() && ev.back().has_trade() && ev.back().trade().price() == "4"; }));
  std::vector<std::string> seen;
  for (const auto& e : sink.events()) {
    if (e.has_trade()) seen.push_back(e.trade().price());
    if (e.has_gap()) seen.push_back("GAP");
  }
  EXPECT_EQ(up_->stats().parse_errors.load(), 1u);
  EXPECT_TRUE(std::find(seen.begin(), seen.end(), "2") != seen.end() ||
              std::find(seen.begin(), seen.end(), "GAP") != seen.end())
      << "valid trade 2 of a frame with one bad item was dropped without a Gap: " << ::testing::PrintToString(seen);
}

// A refusal lowers a connection's capacity for good: nothing ever raises it again, not even a
// new socket (where the exchange holds nothing). A refusal without a stated limit just after a
// reconnect (when almost nothing is confirmed yet) shrinks connection 0 to 1 subscription; with
// --max-connections reached, every other topic then waits "no room" (RECONNECTING, readiness
// NOT_SERVING) forever, across any number of later reconnects.
TEST_F(UpstreamTest, ARefusalWithoutAStatedLimitLastsOnlyUntilTheNextSocket) {
  UpstreamOptions opt;
  opt.max_subscriptions_per_connection = 4;
  opt.max_connections = 1;
  opt.backoff = {Ms(100), Ms(100), 2.0, 0.0};
  opt.rest_fallback = false;
  Make(opt);
  Ws(0).Open();
  Run();
  Ws(0).Text(kGreeting);
  Run();
  Subscribe({Ref("trade", "A"), Ref("trade", "B"), Ref("trade", "C"), Ref("trade", "D")});
  Advance(Ms(500));
  Ws(0).Text(Trade("A", "1"));
  Run();
  Ws(0).Text(R"({"op":"subscribe","data":{"msg":"too many","result":false}})");  // one spurious refusal
  Run();
  Advance(Ms(500));
  ASSERT_EQ(up_->SubscriptionsPerConnection(), std::vector<int>{1});
  for (int round = 0; round < 3; ++round) {  // the socket is replaced three times
    Ws(0).Drop(absl::UnavailableError("reset by peer"));
    Run();
    Advance(Ms(200));
    Ws(0).Open();
    Run();
    Ws(0).Text(kGreeting);
    Run();
    Advance(Ms(2000));
  }
  EXPECT_EQ(up_->SubscriptionsPerConnection(), std::vector<int>{4})
      << "after three fresh sockets the connection still holds only what one old refusal allowed";
  EXPECT_TRUE(up_->ready());
}

}  // namespace
}  // namespace bx::md
