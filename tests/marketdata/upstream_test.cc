// The upstream state machine against a fake WebSocket, a fake REST API and a fake clock:
// demand-driven shared subscriptions, pacing, sharding, linger, pings and pong timeouts,
// staleness, backoff, the circuit breaker, resubscription, REST fallback and bad frames.
#include "services/marketdata/upstream.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "tests/marketdata/outage_check.h"
#include "tests/marketdata/upstream_fixture.h"

namespace bx::md {
namespace {

using common_v1::Gap;
using common_v1::StreamStatus;
using testing::FakeHttpClient;
using testing::HttpOk;
using testing::RecordingSink;
using testing::UpstreamTest;
using Ms = std::chrono::milliseconds;
using testing::Book;
using testing::Trade;
using testing::kPairs;
using testing::FakeWsClient;

TEST_F(UpstreamTest, StartsConnectedLoadsSymbolsAndBecomesReady) {
  Make();
  ASSERT_EQ(ws_.clients.size(), 1u);
  EXPECT_EQ(Ws(0).connects, 1);
  EXPECT_TRUE(symbols_.loaded());
  EXPECT_FALSE(up_->ready());
  Ws(0).Open();
  Run();
  EXPECT_FALSE(up_->ready());  // an accepted upgrade proves nothing: the exchange must speak
  Ws(0).Text(R"({"op":"connect","data":{"result":true}})");
  Run();
  EXPECT_TRUE(up_->ready());
  EXPECT_EQ(ready_changes_, std::vector<bool>{true});
  EXPECT_TRUE(symbols_.CheckStreamable("btcusdt").ok());
  EXPECT_EQ(symbols_.CheckStreamable("PREVIEWUSDT").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(symbols_.CheckStreamable("NOPEUSDT").code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(UpstreamTest, OneExchangeSubscriptionPerTopicWhateverTheDemand) {
  Make();
  Ws(0).Open();
  Run();
  for (int i = 0; i < 5; ++i) up_->Acquire({Ref("trade", "BTCUSDT"), Ref("depth_book15", "BTCUSDT")});
  Run();
  Advance(Ms(1000));
  EXPECT_EQ(SubscribeArgs(0, "subscribe", "trade", "BTCUSDT"), 1);
  EXPECT_EQ(SubscribeArgs(0, "subscribe", "depth_book15", "BTCUSDT"), 1);
  EXPECT_EQ(up_->SubscriptionsPerConnection(), std::vector<int>{2});
  // Four of five leave: still subscribed, nothing sent.
  for (int i = 0; i < 4; ++i) up_->Release({Ref("trade", "BTCUSDT")});
  Run();
  Advance(Ms(60000));
  EXPECT_EQ(SubscribeArgs(0, "unsubscribe", "trade", "BTCUSDT"), 0);
}

TEST_F(UpstreamTest, UnsubscribesOnlyAfterTheLingerAndRejoinCancelsIt) {
  UpstreamOptions opt;
  opt.linger = Ms(5000);
  Make(opt);
  Ws(0).Open();
  Run();
  up_->Acquire({Ref("trade", "BTCUSDT")});
  Run();
  Ws(0).Text(Trade("BTCUSDT", "1"));  // confirms the subscription
  Run();
  up_->Release({Ref("trade", "BTCUSDT")});
  Run();
  Advance(Ms(3000));
  up_->Acquire({Ref("trade", "BTCUSDT")});  // back within the linger: nothing to resend
  Run();
  Advance(Ms(10000));
  EXPECT_EQ(SubscribeArgs(0, "unsubscribe", "trade", "BTCUSDT"), 0);
  EXPECT_EQ(SubscribeArgs(0, "subscribe", "trade", "BTCUSDT"), 1);
  up_->Release({Ref("trade", "BTCUSDT")});
  Run();
  Advance(Ms(4900));
  EXPECT_EQ(SubscribeArgs(0, "unsubscribe", "trade", "BTCUSDT"), 0);
  Advance(Ms(500));
  EXPECT_EQ(SubscribeArgs(0, "unsubscribe", "trade", "BTCUSDT"), 1);
  EXPECT_EQ(up_->SubscriptionsPerConnection(), std::vector<int>{0});
}

// Once a topic's exchange subscription ends, its last state only grows older: it must not be
// served as live (GetOrderBook/GetTickers read LatestCopy; late joiners get AddLatest as their
// snapshot). It used to be kept forever and served hundreds of seconds old.
TEST_F(UpstreamTest, CachedStateIsDroppedWhenTheExchangeSubscriptionEnds) {
  for (const Ms linger : {Ms(1000), Ms(0)}) {
    SCOPED_TRACE(linger.count());
    UpstreamOptions opt;
    opt.linger = linger;
    Make(opt);
    Ws(0).Open();
    Run();
    auto& first = Subscribe({Ref("depth_book15", "BTCUSDT")});
    Ws(0).Text(Book("BTCUSDT", "1"));
    Run();
    ASSERT_TRUE(first.WaitEvents(2));
    TopicRing* ring = hub_->FindTopic(TopicKey("depth_book15", "BTCUSDT"));
    ASSERT_TRUE(ring->LatestCopy());
    // The stream leaves.
    LeaveAll({Ref("depth_book15", "BTCUSDT")});
    Run();
    if (linger.count() > 0) {
      Advance(linger / 2);
      EXPECT_TRUE(ring->LatestCopy()) << "still subscribed within the linger: the cache is live";
      Advance(linger);
    }
    Advance(Ms(300));  // the unsubscribe goes out on a tick (paced)
    EXPECT_EQ(SubscribeArgs(0, "unsubscribe", "depth_book15", "BTCUSDT"), 1);
    EXPECT_FALSE(ring->LatestCopy()) << "the state of an ended subscription is still cached";
    // A late joiner gets no snapshot of the old book: LIVE first, then fresh data.
    auto& late = Subscribe({Ref("depth_book15", "BTCUSDT")});
    ASSERT_TRUE(late.WaitEvents(1));
    EXPECT_TRUE(HasStatus(late.events(), StreamStatus::STATE_LIVE));
    Ws(0).Text(Book("BTCUSDT", "2"));
    Run();
    ASSERT_TRUE(late.WaitEvents(2));
    auto ev = late.events();
    ASSERT_EQ(ev.size(), 2u);
    EXPECT_FALSE(ev[0].has_order_book());
    EXPECT_EQ(ev[1].order_book().bids(0).price(), "2");
    ASSERT_TRUE(ring->LatestCopy());
    TearDown();
    ws_.clients.clear();
    sinks_.clear();
  }
}

// Every connection full: the topic that found no room must not look live to its streams or to
// readiness (it used to wait silently under STATE_LIVE with health SERVING).
TEST_F(UpstreamTest, TopicWithNoRoomOnAnyConnectionIsReportedAndServedOnceRoomFrees) {
  UpstreamOptions opt;
  opt.max_connections = 1;
  opt.max_subscriptions_per_connection = 2;
  opt.linger = Ms(0);
  opt.rest_fallback = false;
  Make(opt);
  Ws(0).Open();
  Run();
  Subscribe({Ref("ticker", "BTCUSDT"), Ref("ticker", "ETHUSDT")});
  auto& third = Subscribe({Ref("ticker", "XRPUSDT")});
  Advance(Ms(300));
  EXPECT_EQ(up_->SubscriptionsPerConnection(), std::vector<int>{2});
  EXPECT_EQ(ws_.clients.size(), 1u);
  ASSERT_TRUE(third.WaitFor([](const auto& ev) { return HasStatus(ev, StreamStatus::STATE_RECONNECTING); }));
  for (const auto& e : third.events()) {
    if (e.has_status() && e.status().state() == StreamStatus::STATE_RECONNECTING) {
      EXPECT_NE(e.status().reason().find("no exchange connection has room"), std::string::npos) << e.status().reason();
    }
  }
  EXPECT_FALSE(up_->ready());
  // The first stream leaves: its slots free, the waiting topic is subscribed and recovers.
  auto streams = hub_->Streams();
  streams->front()->Detach();
  hub_->RemoveStream(streams->front().get());
  up_->Release({Ref("ticker", "BTCUSDT"), Ref("ticker", "ETHUSDT")});
  Run();
  Advance(Ms(600));
  EXPECT_EQ(SubscribeArgs(0, "subscribe", "ticker", "XRPUSDT"), 1);
  Ws(0).Text(
      R"({"ch":"ticker","symbol":"XRPUSDT","ts":1732178884994,"data":{"s":"XRPUSDT","la":"2.5","o":"2.4","h":"2.6","l":"2.3","b":"100","q":"250","r":"1.2"}})");
  Run();
  ASSERT_TRUE(third.WaitFor([](const auto& ev) { return HasStatus(ev, StreamStatus::STATE_RECOVERED); }));
  Advance(Ms(100));
  EXPECT_TRUE(up_->ready());
}

// Frames still in flight when a topic is unsubscribed after its linger are expected: they must
// not count as bad frames (operators alert on any increase of those). Later ones still do.
TEST_F(UpstreamTest, FramesInFlightAfterAnUnsubscribeAreNotBadFrames) {
  UpstreamOptions opt;
  opt.linger = Ms(1000);
  Make(opt);
  Ws(0).Open();
  Run();
  up_->Acquire({Ref("trade", "BTCUSDT")});
  Run();
  Ws(0).Text(Trade("BTCUSDT", "1"));
  Run();
  up_->Release({Ref("trade", "BTCUSDT")});
  Run();
  Advance(Ms(1300));
  ASSERT_EQ(SubscribeArgs(0, "unsubscribe", "trade", "BTCUSDT"), 1);
  Ws(0).Text(Trade("BTCUSDT", "2"));
  Run();
  EXPECT_EQ(up_->stats().unsubscribed_frames.load(), 0u);
  EXPECT_EQ(up_->stats().after_unsubscribe_frames.load(), 1u);
  // Long after the unsubscribe, data for the topic is a real anomaly again.
  Advance(Ms(12000));
  Ws(0).Text(Trade("BTCUSDT", "3"));
  Run();
  EXPECT_EQ(up_->stats().unsubscribed_frames.load(), 1u);
}

// A read's events are published at its end. A read that an error ends has no end: its events
// still go out, before the RECONNECTING of their connection (and none is lost or reordered).
TEST_F(UpstreamTest, EventsOfAReadEndedByAnErrorArePublishedBeforeTheStatus) {
  Make();
  Ws(0).Open();
  Run();
  auto& sub = Subscribe({Ref("trade", "BTCUSDT")});
  Ws(0).Text(Trade("BTCUSDT", "1"));
  Run();
  ASSERT_TRUE(sub.WaitFor([](const auto& ev) {
    return std::any_of(ev.begin(), ev.end(), [](const auto& e) { return e.has_trade(); });
  }));
  Ws(0).Text(Trade("BTCUSDT", "2"), 0, /*end_read=*/false);
  Ws(0).Text(Trade("BTCUSDT", "3"), 0, /*end_read=*/false);
  Ws(0).Drop(absl::UnavailableError("connection reset by peer"));
  Run();
  ASSERT_TRUE(sub.WaitFor([](const auto& ev) { return HasStatus(ev, StreamStatus::STATE_RECONNECTING); }));
  std::vector<std::string> seen;
  for (const auto& e : sub.events()) {
    if (e.has_trade()) seen.push_back(e.trade().price());
    if (e.has_status() && e.status().state() == StreamStatus::STATE_RECONNECTING) seen.push_back("RECONNECTING");
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"1", "2", "3", "RECONNECTING"}));
}

TEST_F(UpstreamTest, MessagesArePacedUnderFivePerSecondIncludingPings) {
  UpstreamOptions opt;
  opt.ping_interval = Ms(1000);
  opt.max_args_per_message = 10;
  Make(opt);
  Ws(0).Open();
  Run();
  std::vector<TopicRef> refs;
  for (int i = 0; i < 120; ++i) refs.push_back(Ref("trade", "SYM" + std::to_string(i) + "USDT"));
  up_->Acquire(refs);
  Run();
  // Record when each message went out.
  std::vector<int64_t> sent_at_ms(Ws(0).sent.size(), 0);
  size_t seen = Ws(0).sent.size();
  for (int step = 1; step <= 200; ++step) {  // 10 s
    clock_.Advance(Ms(50));
    up_->Tick();
    io_.RunPending();
    // Pongs come back at once so pings keep flowing.
    for (; seen < Ws(0).sent.size(); ++seen) {
      sent_at_ms.push_back(step * 50);
      if (Ws(0).sent[seen].find("\"op\":\"ping\"") != std::string::npos) {
        Ws(0).Text(R"({"op":"ping","pong":1,"ping":1})");
      }
    }
  }
  ASSERT_GE(sent_at_ms.size(), 12u);
  for (size_t i = 0; i < sent_at_ms.size(); ++i) {
    int in_window = 0;
    for (size_t j = i; j < sent_at_ms.size() && sent_at_ms[j] < sent_at_ms[i] + 1000; ++j) ++in_window;
    EXPECT_LE(in_window, 4) << "messages in the second from " << sent_at_ms[i] << " ms";
  }
  int args = 0;
  for (int i = 0; i < 120; ++i) args += SubscribeArgs(0, "subscribe", "trade", "SYM" + std::to_string(i) + "USDT");
  EXPECT_EQ(args, 120);
  EXPECT_GE(Count(0, "\"op\":\"ping\""), 3);
  for (const auto& m : Ws(0).sent) {
    if (m.find("subscribe") == std::string::npos) continue;
    int n = 0;
    for (size_t at = m.find("\"ch\""); at != std::string::npos; at = m.find("\"ch\"", at + 1)) ++n;
    EXPECT_LE(n, 10);
  }
}

TEST_F(UpstreamTest, MoreTopicsThanOneConnectionHoldsSpreadOverConnections) {
  UpstreamOptions opt;
  opt.max_subscriptions_per_connection = 10;
  Make(opt);
  Ws(0).Open();
  Run();
  std::vector<TopicRef> refs;
  for (int i = 0; i < 25; ++i) refs.push_back(Ref("trade", "S" + std::to_string(i)));
  up_->Acquire(refs);
  Run();
  ASSERT_EQ(ws_.clients.size(), 3u);
  Ws(1).Open();
  Ws(2).Open();
  Run();
  Advance(Ms(2000));
  EXPECT_EQ(up_->SubscriptionsPerConnection(), (std::vector<int>{10, 10, 5}));
  for (int i = 0; i < 25; ++i) {
    const std::string s = "S" + std::to_string(i);
    EXPECT_EQ(SubscribeArgs(0, "subscribe", "trade", s) + SubscribeArgs(1, "subscribe", "trade", s) +
                  SubscribeArgs(2, "subscribe", "trade", s),
              1)
        << s;
  }
}

TEST_F(UpstreamTest, PushesArePublishedEncodedOnce) {
  Make();
  Ws(0).Open();
  Run();
  auto& sink = Subscribe({Ref("trade", "BTCUSDT"), Ref("depth_book15", "BTCUSDT"), Ref("market_kline_1min", "BTCUSDT")});
  Ws(0).Text(Trade("BTCUSDT", "68000.5"), 1790126515700'000'000);
  Ws(0).Text(Book("BTCUSDT", "68000.1"));
  Ws(0).Text(
      R"({"ch":"market_kline_1min","symbol":"BTCUSDT","ts":1786650732204,"data":{"o":"1","c":"2","h":"3","l":"0.5","b":"4","q":"8"}})");
  Run();
  ASSERT_TRUE(sink.WaitFor([](const auto& ev) { return ev.size() >= 4; }));
  auto ev = sink.events();
  EXPECT_EQ(ev[1].trade().price(), "68000.5");
  EXPECT_EQ(ev[1].gateway_ts_ns(), 1790126515700'000'000);
  EXPECT_EQ(ev[1].exchange_ts_ms(), 1790126515693);
  EXPECT_EQ(ev[2].order_book().bids(0).price(), "68000.1");
  EXPECT_EQ(ev[2].order_book().depth(), 15u);
  EXPECT_EQ(ev[3].kline().open_time_ms(), 1786650720000);
  EXPECT_EQ(ev[3].kline().close(), "2");
  EXPECT_EQ(up_->stats().frames[v1::CHANNEL_TRADE].load(), 1u);
  EXPECT_GT(up_->stats().exchange_latency.Counts()[0] + 1, 0u);
}

TEST_F(UpstreamTest, BadFramesAreCountedAndNeverPublished) {
  Make();
  Ws(0).Open();
  Run();
  auto& sink = Subscribe({Ref("depth_book15", "BTCUSDT")});
  Ws(0).Text("{not json");
  Ws(0).Text(R"({"ch":"trade","symbol":"BTCUSDT","ts":1,"data":[{"p":"x"}]})");
  Ws(0).Text(R"({"ch":"mystery","symbol":"BTCUSDT","ts":1,"data":{}})");
  Ws(0).Text(R"({"ch":"depth_book15","symbol":"BTCUSDT","ts":1,"data":{"b":[["",""]],"a":[["",""]]}})");
  Ws(0).Text(std::string("\x00\xff\x01", 3));
  Ws(0).Text(Book("BTCUSDT", "1"));
  Run();
  ASSERT_TRUE(sink.WaitEvents(2));
  EXPECT_EQ(up_->stats().parse_errors.load(), 3u);
  EXPECT_EQ(up_->stats().unknown_channel.load(), 1u);
  EXPECT_EQ(up_->stats().empty_books.load(), 1u);
  auto ev = sink.events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[1].order_book().bids(0).price(), "1");
}

// A streamed symbol delisted between two listings answers like an unknown one: one book frame of
// empty levels, then silence. That frame brings the listing refresh forward (at most once a
// minute), so its streams hear it is delisted within a tick, not at the next scheduled refresh
// (here 10 minutes away).
TEST_F(UpstreamTest, AnUnknownSymbolsBookFrameBringsTheListingRefreshForward) {
  UpstreamOptions opt;
  opt.symbol_refresh = Ms(600000);
  Make(opt);
  Ws(0).Open();
  Run();
  auto& eth = Subscribe({Ref("depth_book15", "ETHUSDT")});
  Subscribe({Ref("depth_book15", "BTCUSDT")});
  Advance(Ms(300));
  Ws(0).Text(Book("ETHUSDT", "1"));
  Ws(0).Text(Book("BTCUSDT", "1"));
  Run();
  const int refreshes = http_.CountTarget(kListingTarget);
  pairs_ = R"({"code":0,"msg":"Success","data":[{"symbol":"BTCUSDT","base":"BTC","quote":"USDT","symbolStatus":"OPEN"}]})";
  const std::string empty_eth = R"({"ch":"depth_book15","symbol":"ETHUSDT","ts":1,"data":{"b":[["",""]],"a":[["",""]]}})";
  const std::string empty_btc = R"({"ch":"depth_book15","symbol":"BTCUSDT","ts":1,"data":{"b":[["",""]],"a":[["",""]]}})";
  Ws(0).Text(empty_eth);
  Run();
  Advance(Ms(200));
  Run();
  EXPECT_EQ(http_.CountTarget(kListingTarget), refreshes + 1) << "the listing was not asked for";
  EXPECT_FALSE(symbols_.Find("ETHUSDT").has_value());
  EXPECT_TRUE(eth.WaitFor([](const auto& ev) { return HeardDelisted(ev); }))
      << "the stream was not told its symbol left the listing";
  // Within the minute another such frame asks nothing more; after it, it does.
  for (int i = 0; i < 30; ++i) {
    Ws(0).Text(Book("BTCUSDT", "1"));
    Run();
    Advance(Ms(1000));
  }
  Ws(0).Text(empty_btc);
  Run();
  Advance(Ms(200));
  EXPECT_EQ(http_.CountTarget(kListingTarget), refreshes + 1) << "early refreshes are not held to one a minute";
  for (int i = 0; i < 31; ++i) {
    Ws(0).Text(Book("BTCUSDT", "1"));
    Run();
    Advance(Ms(1000));
  }
  Ws(0).Text(empty_btc);
  Run();
  Advance(Ms(200));
  EXPECT_EQ(http_.CountTarget(kListingTarget), refreshes + 2);
}

// A ping every second, 500 ms for its pong, no REST fallback.
UpstreamOptions PingEverySecond() {
  UpstreamOptions opt;
  opt.ping_interval = std::chrono::milliseconds(1000);
  opt.pong_timeout = std::chrono::milliseconds(500);
  opt.rest_fallback = false;
  return opt;
}

// Data arriving after a ping proves the socket alive: a missing pong then costs no reconnect
// (an exchange that was stalled when the ping went out may never answer it).
TEST_F(UpstreamTest, DataAfterAPingCountsAsItsPong) {
  Make(PingEverySecond());
  Ws(0).Open();
  Run();
  Subscribe({Ref("depth_book15", "BTCUSDT")});
  Ws(0).Text(Book("BTCUSDT", "1"));
  Run();
  Advance(Ms(1000));
  ASSERT_EQ(Count(0, "\"op\":\"ping\""), 1);
  Advance(Ms(200));
  Ws(0).Text(Book("BTCUSDT", "2"));  // no pong, but data
  Run();
  Advance(Ms(600));
  EXPECT_EQ(Ws(0).aborts, 0);
  EXPECT_EQ(up_->stats().pong_timeouts.load(), 0u);
  EXPECT_TRUE(up_->ready());
}

TEST_F(UpstreamTest, PongTimeoutReconnectsResubscribesAndReportsTheGap) {
  Make(PingEverySecond());
  Ws(0).Open();
  Run();
  auto& sink = Subscribe({Ref("trade", "BTCUSDT"), Ref("depth_book15", "BTCUSDT")});
  Ws(0).Text(Book("BTCUSDT", "1"));
  Run();
  Advance(Ms(1000));
  ASSERT_EQ(Count(0, "\"op\":\"ping\""), 1);
  EXPECT_EQ(Ws(0).aborts, 0);
  Advance(Ms(600));  // no pong
  EXPECT_EQ(Ws(0).aborts, 1);
  EXPECT_EQ(up_->stats().pong_timeouts.load(), 1u);
  EXPECT_FALSE(up_->ready());
  ASSERT_TRUE(sink.WaitFor([](const auto& ev) { return HasStatus(ev, StreamStatus::STATE_RECONNECTING); }));
  // Backoff: no new attempt at once; then one.
  EXPECT_EQ(Ws(0).connects, 1);
  Advance(Ms(300));
  EXPECT_EQ(Ws(0).connects, 2);
  const size_t before = Ws(0).sent.size();
  Ws(0).Open();
  Run();
  Advance(Ms(500));
  // The upgrade alone proves nothing (a stalled exchange accepts and stays silent): still
  // reconnecting, not ready, until the exchange says something on the new socket.
  EXPECT_FALSE(up_->ready());
  EXPECT_FALSE(HasStatus(sink.events(), StreamStatus::STATE_RECOVERED));
  Ws(0).Text(R"({"op":"connect","data":{"result":true}})");
  Run();
  // Everything still wanted is subscribed again, in one message.
  int resub = 0;
  for (size_t i = before; i < Ws(0).sent.size(); ++i) {
    const auto& m = Ws(0).sent[i];
    if (m.find("\"op\":\"subscribe\"") != std::string::npos && m.find("trade") != std::string::npos &&
        m.find("depth_book15") != std::string::npos) {
      ++resub;
    }
  }
  EXPECT_EQ(resub, 1);
  ASSERT_TRUE(sink.WaitFor([](const auto& ev) { return HasStatus(ev, StreamStatus::STATE_RECOVERED); }));
  // Live again, but the book from before the outage is no longer served as the current one: a
  // late joiner gets no snapshot of it and the unary cache is empty until fresh data.
  TopicRing* ring = hub_->FindTopic(TopicKey("depth_book15", "BTCUSDT"));
  EXPECT_FALSE(ring->LatestCopy()) << "pre-outage book still cached after the reconnect";
  auto& late = Subscribe({Ref("depth_book15", "BTCUSDT")});
  ASSERT_TRUE(late.WaitEvents(1));
  for (const auto& e : late.events()) EXPECT_FALSE(e.has_order_book()) << "the late joiner got the old book";
  Ws(0).Text(Book("BTCUSDT", "2"));
  Run();
  ASSERT_TRUE(sink.WaitFor([](const auto& ev) { return ev.back().has_order_book(); }));
  ASSERT_TRUE(ring->LatestCopy());
  ASSERT_TRUE(late.WaitFor([](const auto& ev) { return !ev.empty() && ev.back().has_order_book(); }));
  EXPECT_EQ(late.events().back().order_book().bids(0).price(), "2");
  EXPECT_TRUE(late.events().back().snapshot());
  auto ev = sink.events();
  // ... RECONNECTING, Gap(UPSTREAM_RECONNECT), RECOVERED, then the fresh book as a snapshot.
  size_t i = 0;
  while (i < ev.size() && !(ev[i].has_status() && ev[i].status().state() == StreamStatus::STATE_RECONNECTING)) ++i;
  ASSERT_LT(i + 3, ev.size());
  EXPECT_EQ(ev[i + 1].gap().reason(), Gap::REASON_UPSTREAM_RECONNECT);
  EXPECT_EQ(ev[i + 2].status().state(), StreamStatus::STATE_RECOVERED);
  EXPECT_TRUE(ev[i + 3].snapshot());
  EXPECT_EQ(ev[i + 3].order_book().bids(0).price(), "2");
  for (size_t k = 0; k < ev.size(); ++k) EXPECT_EQ(ev[k].seq(), k + 1);
}

TEST_F(UpstreamTest, StaleTopicIsReportedProbedAndRecovers) {
  UpstreamOptions opt;
  opt.stale_book = Ms(1000);
  opt.rest_fallback = false;
  Make(opt);
  Ws(0).Open();
  Run();
  auto& sink = Subscribe({Ref("depth_book15", "BTCUSDT")});
  Advance(Ms(300));
  Ws(0).Text(Book("BTCUSDT", "1"));
  Run();
  Advance(Ms(900));
  EXPECT_TRUE(up_->ready());
  Advance(Ms(300));
  EXPECT_FALSE(up_->ready());
  EXPECT_EQ(up_->stats().stale_topics.load(), 1);
  ASSERT_TRUE(sink.WaitFor([](const auto& ev) { return HasStatus(ev, StreamStatus::STATE_STALE); }));
  EXPECT_GE(Count(0, "\"op\":\"ping\""), 1);  // probe
  Ws(0).Text(R"({"op":"ping","pong":1,"ping":1})");
  Ws(0).Text(Book("BTCUSDT", "2"));
  Run();
  ASSERT_TRUE(sink.WaitFor([](const auto& ev) { return HasStatus(ev, StreamStatus::STATE_RECOVERED); }));
  Advance(Ms(100));
  EXPECT_TRUE(up_->ready());
  EXPECT_EQ(up_->stats().stale_topics.load(), 0);
}

TEST_F(UpstreamTest, ATopicSilentOnALiveConnectionIsSubscribedAgain) {
  // The exchange stops sending one book while the connection answers pings (it dropped the
  // subscription): after the probe's pong and another threshold, it is asked for again, once.
  UpstreamOptions opt;
  opt.stale_book = Ms(1000);
  opt.rest_fallback = false;
  Make(opt);
  Ws(0).Open();
  Run();
  Subscribe({Ref("depth_book15", "BTCUSDT")});
  Advance(Ms(300));
  Ws(0).Text(Book("BTCUSDT", "1"));
  Run();
  ASSERT_EQ(SubscribeArgs(0, "subscribe", "depth_book15", "BTCUSDT"), 1);
  Advance(Ms(1200));  // stale: probe
  ASSERT_GE(Count(0, "\"op\":\"ping\""), 1);
  Ws(0).Text(R"({"op":"ping","pong":1,"ping":1})");
  Run();
  Advance(Ms(1500));
  EXPECT_EQ(SubscribeArgs(0, "subscribe", "depth_book15", "BTCUSDT"), 2);
  Advance(Ms(5000));  // once per silence
  EXPECT_EQ(SubscribeArgs(0, "subscribe", "depth_book15", "BTCUSDT"), 2);
  Ws(0).Text(Book("BTCUSDT", "2"));
  Run();
  Advance(Ms(100));
  EXPECT_TRUE(up_->ready());
}

TEST_F(UpstreamTest, ADelistedSymbolIsReportedAndDoesNotHoldReadinessDown) {
  UpstreamOptions opt;
  opt.stale_book = Ms(1000);
  opt.symbol_refresh = Ms(2000);
  Make(opt);
  Ws(0).Open();
  Run();
  auto& sink = Subscribe({Ref("depth_book15", "ETHUSDT"), Ref("depth_book15", "BTCUSDT")});
  Advance(Ms(300));
  Ws(0).Text(Book("ETHUSDT", "1"));
  Ws(0).Text(Book("BTCUSDT", "1"));
  Run();
  Advance(Ms(100));
  ASSERT_TRUE(up_->ready());
  // ETHUSDT leaves the exchange's list and goes silent; BTCUSDT goes on.
  pairs_ = R"({"code":0,"msg":"Success","data":[{"symbol":"BTCUSDT","base":"BTC","quote":"USDT","basePrecision":4,"quotePrecision":1,"symbolStatus":"OPEN"}]})";
  const int depth_polls = http_.CountTarget("/api/v1/futures/market/depth?symbol=ETHUSDT&limit=15");
  // BTCUSDT keeps flowing and the connection answers pings.
  auto live_for = [&](int tenths) {
    for (int i = 0; i < tenths; ++i) {
      Ws(0).Text(Book("BTCUSDT", "1"));
      Ws(0).Text(R"({"op":"ping","pong":1,"ping":1})");
      Run();
      Advance(Ms(100));
    }
  };
  live_for(80);
  ASSERT_TRUE(sink.WaitFor([](const auto& ev) {
    for (const auto& e : ev) {
      if (e.has_status() && e.status().state() == StreamStatus::STATE_STALE &&
          e.status().reason().find("ETHUSDT") != std::string::npos &&
          e.status().reason().find("no data will come") != std::string::npos) {
        return true;
      }
    }
    return false;
  }));
  EXPECT_TRUE(up_->ready()) << "one delisted symbol took the whole gateway out of service";
  EXPECT_EQ(http_.CountTarget("/api/v1/futures/market/depth?symbol=ETHUSDT&limit=15"), depth_polls);
  // Listed again: it counts again (silent, so stale, so not ready) until its data returns.
  pairs_ = kPairs;
  live_for(32);
  EXPECT_FALSE(up_->ready());
  Ws(0).Text(Book("ETHUSDT", "2"));
  Ws(0).Text(Book("BTCUSDT", "2"));
  Run();
  Advance(Ms(100));
  EXPECT_TRUE(up_->ready());
}

// A trading_pairs success that lists nothing used to replace the symbol list: every streamed
// symbol counted as delisted ("no data will come") and every unary call as an unknown symbol.
// It is not believed: the previous list stays and the refresh is tried again.
TEST_F(UpstreamTest, AnEmptySymbolListDoesNotDelistEverything) {
  UpstreamOptions opt;
  opt.symbol_refresh = Ms(2000);
  Make(opt);
  Ws(0).Open();
  Run();
  auto& sink = Subscribe({Ref("depth_book15", "BTCUSDT")});
  Advance(Ms(300));
  Ws(0).Text(Book("BTCUSDT", "1"));
  Run();
  Advance(Ms(100));
  ASSERT_TRUE(up_->ready());
  ASSERT_EQ(symbols_.size(), 3u);
  for (const char* empty : {R"({"code":0,"msg":"Success","data":[]})", R"({"code":0,"data":[],"msg":"Success"})"}) {
    pairs_ = empty;
    // Until the next refresh has been answered (2 s after a success, 30 s after a failure).
    ASSERT_TRUE(AdvanceUntilListingRefreshed("BTCUSDT")) << "no refresh was asked for";
    EXPECT_EQ(symbols_.size(), 3u) << empty;
    EXPECT_TRUE(symbols_.Find("BTCUSDT").has_value());
    EXPECT_TRUE(up_->ready());
  }
  EXPECT_FALSE(HeardDelisted(sink.events()));
}

// One row of the listing with a value that does not read (here a decimal with a comma): the
// whole listing used to be refused, so the symbol list never refreshed again while the exchange
// kept that row, and a service started meanwhile never loaded a list at all (never ready). The row
// is now left out; a symbol it names that was listed keeps its previous entry (its streams are
// not told it was delisted), and the other rows, new symbols too, are taken.
TEST_F(UpstreamTest, AnUnreadableRowOfTheSymbolListLeavesOutThatRowOnly) {
  UpstreamOptions opt;
  opt.symbol_refresh = Ms(2000);
  Make(opt);
  Ws(0).Open();
  Run();
  auto& sink = Subscribe({Ref("depth_book15", "BTCUSDT")});
  Advance(Ms(300));
  Ws(0).Text(Book("BTCUSDT", "1"));
  Run();
  Advance(Ms(100));
  ASSERT_TRUE(up_->ready());
  ASSERT_EQ(symbols_.size(), 3u);
  pairs_ = R"({"code":0,"msg":"Success","data":[)"
           R"({"symbol":"BTCUSDT","base":"BTC","quote":"USDT","minTradeVolume":"0,0001","symbolStatus":"OPEN"},)"
           R"({"symbol":"ETHUSDT","base":"ETH","quote":"USDT","symbolStatus":"OPEN"},)"
           R"({"symbol":"SOLUSDT","base":"SOL","quote":"USDT","minTradeVolume":"0.1","symbolStatus":"OPEN"},)"
           R"({"symbol":"XRPUSDT","maxLeverage":20,"minTradeVolume":"1O","symbolStatus":"OPEN"}]})";
  ASSERT_TRUE(AdvanceUntilListingRefreshed("BTCUSDT")) << "no refresh was asked for";
  EXPECT_TRUE(symbols_.Find("SOLUSDT").has_value()) << "the readable new row was not taken";
  EXPECT_FALSE(symbols_.Find("XRPUSDT").has_value()) << "an unreadable new row was taken";
  EXPECT_FALSE(symbols_.Find("PREVIEWUSDT").has_value()) << "a symbol the listing no longer has was kept";
  auto btc = symbols_.Find("BTCUSDT");
  ASSERT_TRUE(btc.has_value()) << "a listed symbol whose row did not read was dropped";
  EXPECT_EQ(btc->base_precision(), 4) << "its previous entry was not kept";
  EXPECT_TRUE(up_->ready());
  EXPECT_FALSE(HeardDelisted(sink.events()));
}

TEST_F(UpstreamTest, BackoffGrowsAndTheBreakerOpensAfterRepeatedFailures) {
  UpstreamOptions opt;
  opt.breaker_failures = 4;
  opt.breaker_cooldown = Ms(20000);
  opt.backoff = {Ms(100), Ms(1600), 2.0, 0.0};
  Make(opt);
  std::vector<int64_t> attempts_at;
  int64_t t = 0;
  int last = Ws(0).connects;
  attempts_at.push_back(0);
  for (int step = 0; step < 400 && attempts_at.size() < 6; ++step) {  // up to 20 s
    if (Ws(0).connecting()) Ws(0).Drop(absl::UnavailableError("connection refused"));
    clock_.Advance(Ms(50));
    t += 50;
    up_->Tick();
    io_.RunPending();
    if (Ws(0).connects != last) {
      last = Ws(0).connects;
      attempts_at.push_back(t);
    }
  }
  ASSERT_GE(attempts_at.size(), 4u);
  // 100, 200, 400 ms between the first attempts (no jitter in this test).
  EXPECT_NEAR(attempts_at[1] - attempts_at[0], 100, 60);
  EXPECT_NEAR(attempts_at[2] - attempts_at[1], 200, 60);
  EXPECT_NEAR(attempts_at[3] - attempts_at[2], 400, 60);
  EXPECT_TRUE(up_->stats().breaker_open.load());
  EXPECT_EQ(up_->stats().breaker_trips.load(), 1u);
  EXPECT_EQ(attempts_at.size(), 4u) << "no attempt while the breaker is open";
  // After the cooldown the breaker lets one attempt through, which succeeds.
  Advance(Ms(20000));
  EXPECT_EQ(Ws(0).connects, 5);
  Ws(0).Open();
  Run();
  Ws(0).Text(R"({"op":"ping","pong":1,"ping":1})");
  Run();
  Advance(Ms(100));
  EXPECT_FALSE(up_->stats().breaker_open.load());
  EXPECT_TRUE(up_->ready());
}

// A session that answers a ping and drops a second later is not a recovery: the backoff keeps
// growing until a session stays healthy for min_healthy_session (it used to reset on any pong or
// data, so a flapping exchange was hit at the initial delay forever).
TEST_F(UpstreamTest, OnlyASessionHealthyLongEnoughResetsTheBackoff) {
  UpstreamOptions opt;
  opt.backoff = {Ms(100), Ms(1600), 2.0, 0.0};
  opt.min_healthy_session = Ms(5000);
  opt.breaker_failures = 100;
  Make(opt);
  // One session: open, a pong, `length` healthy, dropped; returns the delay to the next attempt.
  auto session = [&](Ms length) {
    Ws(0).Open();
    Run();
    Ws(0).Text(R"({"op":"ping","pong":1,"ping":1})");
    Run();
    Advance(length);
    Ws(0).Drop(absl::UnavailableError("reset by peer"));
    Run();
    const int before = Ws(0).connects;
    int64_t waited = 0;
    while (Ws(0).connects == before && waited < 10000) {
      Advance(Ms(10), Ms(10));
      waited += 10;
    }
    return waited;
  };
  std::vector<int64_t> delays;
  for (int i = 0; i < 4; ++i) delays.push_back(session(Ms(1000)));
  EXPECT_NEAR(delays[0], 100, 30);
  EXPECT_NEAR(delays[1], 200, 30);
  EXPECT_NEAR(delays[2], 400, 30);
  EXPECT_NEAR(delays[3], 800, 30);
  // Healthy past the minimum: the next drop starts from the initial delay again.
  EXPECT_NEAR(session(Ms(5200)), 100, 30);
}

// Short sessions count toward the breaker like failed connects.
TEST_F(UpstreamTest, ShortSessionsOpenTheBreaker) {
  UpstreamOptions opt;
  opt.backoff = {Ms(50), Ms(50), 2.0, 0.0};
  opt.min_healthy_session = Ms(5000);
  opt.breaker_failures = 3;
  Make(opt);
  for (int i = 0; i < 3; ++i) {
    ASSERT_FALSE(up_->stats().breaker_open.load()) << "after " << i << " short sessions";
    Ws(0).Open();
    Run();
    Ws(0).Text(R"({"op":"ping","pong":1,"ping":1})");
    Run();
    Advance(Ms(500));
    Ws(0).Drop(absl::UnavailableError("reset by peer"));
    Run();
    Advance(Ms(100));
  }
  EXPECT_TRUE(up_->stats().breaker_open.load());
}

TEST_F(UpstreamTest, WhileDownBooksAndTickersComeFromRestMarkedDegraded) {
  UpstreamOptions opt;
  opt.rest_poll_interval = Ms(1000);
  opt.backoff = {Ms(60000), Ms(60000), 2.0, 0.0};
  Make(opt);
  Ws(0).Open();
  Run();
  auto& sink = Subscribe({Ref("depth_book5", "BTCUSDT"), Ref("ticker", "BTCUSDT"), Ref("trade", "BTCUSDT")});
  Ws(0).Drop(absl::UnavailableError("reset by peer"));
  Run();
  Advance(Ms(2500));
  ASSERT_TRUE(sink.WaitFor([](const auto& ev) { return HasStatus(ev, StreamStatus::STATE_DEGRADED); }));
  ASSERT_TRUE(sink.WaitFor([](const auto& ev) {
    bool book = false, ticker = false;
    for (const auto& e : ev) {
      book |= e.has_order_book() && e.snapshot();
      ticker |= e.has_ticker() && e.snapshot();
    }
    return book && ticker;
  }));
  EXPECT_GE(http_.CountTarget("/api/v1/futures/market/depth?symbol=BTCUSDT&limit=5"), 2);
  EXPECT_GE(http_.CountTarget("/api/v1/futures/market/tickers?symbols=BTCUSDT"), 2);
  auto ev = sink.events();
  for (const auto& e : ev) {
    if (e.has_order_book()) {
      EXPECT_EQ(e.order_book().bids(0).price(), "100");
      EXPECT_EQ(e.order_book().depth(), 5u);
    }
    if (e.has_ticker()) {
      EXPECT_EQ(e.ticker().last_price(), "100");
      EXPECT_EQ(e.ticker().mark_price(), "100.5");
    }
  }
  // The polls stay within the background budget (8/s minus a reserve of 3): over 2.5 s, a few.
  EXPECT_LE(http_.CountTarget("/api/v1/futures/market/"), 12);
}

// Found by MarketDataChaos (seed 5): the new socket opened while the book was still reconnecting,
// stayed silent past the REST poll interval (so the book went DEGRADED), and the book's first push
// then reported RECOVERED without the reconnect's Gap.
TEST_F(UpstreamTest, ABookDegradedWhileItsNewSocketIsSilentStillGetsTheReconnectsGap) {
  UpstreamOptions opt;
  opt.rest_poll_interval = Ms(300);
  opt.backoff = {Ms(100), Ms(100), 2.0, 0.0};
  Make(opt);
  Ws(0).Open();
  Run();
  auto& sink = Subscribe({Ref("depth_book15", "BTCUSDT"), Ref("trade", "BTCUSDT")});
  Ws(0).Text(Book("BTCUSDT", "1"));
  Ws(0).Text(Trade("BTCUSDT", "1"));
  Run();
  Ws(0).Drop(absl::UnavailableError("reset by peer"));
  Run();
  Advance(Ms(150));
  ASSERT_EQ(Ws(0).connects, 2);
  Ws(0).Open();  // accepted, then silent (a stalled exchange)
  Run();
  Advance(Ms(400));
  ASSERT_TRUE(sink.WaitFor([](const auto& ev) { return HasStatus(ev, StreamStatus::STATE_DEGRADED); }));
  Ws(0).Text(R"({"op":"connect","data":{"result":true}})");  // the exchange answers: trade recovers
  Ws(0).Text(Book("BTCUSDT", "2"));                          // the book's first push
  Run();
  const std::string book = TopicKey("depth_book15", "BTCUSDT");
  auto names = [&](const auto& topics) {
    return topics.empty() || std::find(topics.begin(), topics.end(), book) != topics.end();
  };
  ASSERT_TRUE(sink.WaitFor([&](const auto& ev) {
    for (const auto& e : ev) {
      if (e.has_status() && e.status().state() == StreamStatus::STATE_RECOVERED && names(e.status().topics())) return true;
    }
    return false;
  }));
  auto ev = sink.events();
  bool reconnecting = false, gap = false;
  for (const auto& e : ev) {
    if (e.has_gap() && names(e.gap().topics())) gap = true;
    if (!e.has_status() || !names(e.status().topics())) continue;
    if (e.status().state() == StreamStatus::STATE_RECONNECTING) reconnecting = true;
    if (e.status().state() == StreamStatus::STATE_RECOVERED) {
      EXPECT_TRUE(reconnecting);
      EXPECT_TRUE(gap) << "the book recovered from a reconnect without a Gap: " << e.ShortDebugString();
      break;
    }
  }
  EXPECT_TRUE(ev.back().has_order_book());
  EXPECT_TRUE(ev.back().snapshot());
  for (size_t k = 0; k < ev.size(); ++k) EXPECT_EQ(ev[k].seq(), k + 1);
}

// The REST fallback for tickers names the degraded symbols while they are few. With many, or
// once the exchange refused the named list (it refuses the whole call for one symbol it no
// longer trades, 20015), it polls every ticker and serves the degraded ones from that.
TEST_F(UpstreamTest, DegradedTickersArePolledAllAtOnceWhenManyOrWhenTheNamedListIsRefused) {
  for (const int symbols : {2, 60}) {
    SCOPED_TRACE(symbols);
    TearDown();
    sinks_.clear();
    http_.requests.clear();
    std::string pairs = R"({"code":0,"msg":"Success","data":[)";
    std::string tickers = R"({"code":0,"msg":"Success","data":[)";
    for (int i = 0; i < symbols; ++i) {
      const std::string sym = "S" + std::to_string(i) + "USDT";
      if (i) pairs += ",", tickers += ",";
      pairs += R"({"symbol":")" + sym + R"(","symbolStatus":"OPEN"})";
      tickers += R"({"symbol":")" + sym + R"(","markPrice":"1","lastPrice":")" + std::to_string(i) +
                 R"(","open":"1","last":"1","quoteVol":"1","baseVol":"1","high":"1","low":"1"})";
    }
    pairs_ = pairs + "]}";
    tickers += "]}";
    UpstreamOptions opt;
    opt.rest_poll_interval = Ms(1000);
    opt.backoff = {Ms(60000), Ms(60000), 2.0, 0.0};
    Make(opt);
    // The named list is refused (as for a delisted symbol); every ticker is served.
    http_.responder = [&](const net::HttpRequest& r) {
      if (r.target.find("?symbols=") != std::string::npos) {
        return HttpOk(R"({"code":20015,"msg":"this Futures is not allowed to trade.","data":null})");
      }
      if (r.target == "/api/v1/futures/market/tickers") return HttpOk(tickers);
      return rest_fail_;
    };
    FakeWsClient& ws = *ws_.clients.back();
    ws.Open();
    Run();
    std::vector<TopicRef> refs;
    for (int i = 0; i < symbols; ++i) refs.push_back(Ref("ticker", "S" + std::to_string(i) + "USDT"));
    auto& sink = Subscribe(refs);
    ws.Drop(absl::UnavailableError("reset by peer"));
    Run();
    Advance(Ms(4500));
    const int named = http_.CountTarget("/api/v1/futures/market/tickers?symbols=");
    EXPECT_EQ(named, symbols > 50 ? 0 : 1);  // refused once, then never named again
    EXPECT_GE(http_.CountTarget("/api/v1/futures/market/tickers"), named + 2);
    const std::string last = std::to_string(symbols - 1);
    ASSERT_TRUE(sink.WaitFor([&](const auto& ev) {
      for (const auto& e : ev) {
        if (e.has_ticker() && e.snapshot() && e.ticker().last_price() == last) return true;
      }
      return false;
    }));
  }
}

TEST_F(UpstreamTest, UnconfirmedSubscriptionIsSentAgainOnce) {
  UpstreamOptions opt;
  opt.confirm_timeout = Ms(2000);
  opt.stale_trade = Ms(0);
  Make(opt);
  Ws(0).Open();
  Run();
  up_->Acquire({Ref("trade", "ETHUSDT")});
  Run();
  Advance(Ms(2100));
  Advance(Ms(300));
  EXPECT_EQ(SubscribeArgs(0, "subscribe", "trade", "ETHUSDT"), 2);
  Advance(Ms(10000));
  EXPECT_EQ(SubscribeArgs(0, "subscribe", "trade", "ETHUSDT"), 2);
}

// A topic waiting for its second subscribe (no data came after the first) is still subscribed
// on the exchange. If its last stream leaves before the paced re-send goes out, it must still be
// unsubscribed, or the exchange keeps feeding (and counting) a topic nobody wants.
TEST_F(UpstreamTest, ATopicLeftWhileWaitingForItsResubscribeIsUnsubscribed) {
  UpstreamOptions opt;
  opt.confirm_timeout = Ms(1000);
  opt.stale_trade = Ms(0);
  opt.linger = Ms(0);
  opt.max_messages_per_second = 0.2;  // one message per 5 s: the re-send waits for its slot
  Make(opt);
  Ws(0).Open();
  Run();
  up_->Acquire({Ref("trade", "ETHUSDT")});
  Run();
  EXPECT_EQ(SubscribeArgs(0, "subscribe", "trade", "ETHUSDT"), 1);
  Advance(Ms(1500));  // unconfirmed: queued again, its slot 3.5 s away
  EXPECT_EQ(SubscribeArgs(0, "subscribe", "trade", "ETHUSDT"), 1);
  EXPECT_EQ(up_->SubscriptionsPerConnection(), std::vector<int>{1});  // still on the exchange
  up_->Release({Ref("trade", "ETHUSDT")});
  Run();
  Advance(Ms(20000));
  EXPECT_EQ(SubscribeArgs(0, "unsubscribe", "trade", "ETHUSDT"), 1);
  EXPECT_EQ(SubscribeArgs(0, "subscribe", "trade", "ETHUSDT"), 1);
  EXPECT_EQ(up_->SubscriptionsPerConnection(), std::vector<int>{0});
}

TEST_F(UpstreamTest, RefusalPast300MovesUnconfirmedTopicsToAnotherConnection) {
  Make();
  Ws(0).Open();
  Run();
  up_->Acquire({Ref("trade", "A")});
  Run();
  Ws(0).Text(Trade("A", "1"));
  Run();
  up_->Acquire({Ref("trade", "B")});
  Run();
  Advance(Ms(300));
  Ws(0).Text(R"({"op":"subscribe","data":{"msg":"subscribe channel > 300","nonce":"","result":false}})");
  Run();
  EXPECT_EQ(up_->stats().subscribe_refusals.load(), 1u);
  ASSERT_EQ(ws_.clients.size(), 2u);
  Ws(1).Open();
  Run();
  Advance(Ms(300));
  EXPECT_EQ(SubscribeArgs(1, "subscribe", "trade", "B"), 1);
  EXPECT_EQ(up_->SubscriptionsPerConnection(), (std::vector<int>{1, 1}));
  // B may well be subscribed on the first connection (unconfirmed is not refused): it is
  // unsubscribed there, and its data from there is not published twice.
  EXPECT_EQ(SubscribeArgs(0, "unsubscribe", "trade", "B"), 1);
}

// A refusal states the exchange's limit ("subscribe channel > N"). When the connection did ask for
// more than N, it keeps room for N: lowering it to what happened to be confirmed at that moment
// (one topic here, just after a reconnect) would spread the rest over one connection each.
TEST_F(UpstreamTest, ARefusalLowersTheConnectionToTheStatedLimitWhenItAskedForMore) {
  UpstreamOptions opt;
  opt.max_subscriptions_per_connection = 4;  // the service believes four fit; the exchange takes 3
  Make(opt);
  Ws(0).Open();
  Run();
  up_->Acquire({Ref("trade", "A")});
  Run();
  Ws(0).Text(Trade("A", "1"));  // A confirmed
  Run();
  up_->Acquire({Ref("trade", "B"), Ref("trade", "C"), Ref("trade", "D")});
  Run();
  Advance(Ms(300));
  ASSERT_EQ(SubscribeArgs(0, "subscribe", "trade", "D"), 1);
  Ws(0).Text(R"({"op":"subscribe","data":{"msg":"subscribe channel > 3","nonce":"","result":false}})");
  Run();
  ASSERT_EQ(ws_.clients.size(), 2u);
  Ws(1).Open();
  Run();
  Advance(Ms(2000));
  // Three on the first connection (the stated limit), the fourth on a second one.
  EXPECT_EQ(up_->SubscriptionsPerConnection(), (std::vector<int>{3, 1}));
  // Without a stated limit (or one the connection did not exceed), only what is confirmed stays.
  Ws(0).Text(R"({"op":"subscribe","data":{"msg":"too many","result":false}})");
  Run();
  Advance(Ms(2000));
  EXPECT_EQ(up_->SubscriptionsPerConnection()[0], 1);
  EXPECT_EQ(up_->stats().subscribe_refusals.load(), 2u);
}

TEST_F(UpstreamTest, OneDropOfManyConnectionsDoesNotOpenTheBreaker) {
  // Three connections (one topic each), all dropped at once by the exchange, which stays up:
  // that is one failure per connection, not three in a row; they reconnect after the backoff.
  UpstreamOptions opt;
  opt.max_subscriptions_per_connection = 1;
  opt.breaker_failures = 3;
  opt.breaker_cooldown = Ms(30000);
  opt.backoff = {Ms(100), Ms(1600), 2.0, 0.0};
  Make(opt);
  Ws(0).Open();
  Run();
  auto& sink = Subscribe({Ref("trade", "A"), Ref("trade", "B"), Ref("trade", "BTCUSDT")});
  ASSERT_EQ(ws_.clients.size(), 3u);
  for (size_t i = 1; i < 3; ++i) Ws(i).Open();
  Run();
  Advance(Ms(300));
  Ws(0).Text(Trade("A", "1"));
  Ws(1).Text(Trade("B", "1"));
  Ws(2).Text(Trade("BTCUSDT", "1"));
  Run();
  ASSERT_TRUE(sink.WaitEvents(3));
  for (size_t i = 0; i < 3; ++i) Ws(i).Drop(absl::UnavailableError("connection reset"));
  Run();
  EXPECT_FALSE(up_->stats().breaker_open.load());
  Advance(Ms(200));
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(Ws(i).connects, 2) << "connection " << i << " did not reconnect";
  // Each connection failing again and again still opens it.
  for (int round = 0; round < 3 && !up_->stats().breaker_open.load(); ++round) {
    for (size_t i = 0; i < 3; ++i) {
      if (Ws(i).connecting()) Ws(i).Drop(absl::UnavailableError("connection refused"));
    }
    Run();
    Advance(Ms(1700));
  }
  EXPECT_TRUE(up_->stats().breaker_open.load());
}

// A spare connection whose topics all left carries nothing: when the exchange drops it (it
// closes idle sockets), it is retired, not reconnected. Reconnecting it only to be dropped again
// counted each short session toward the breaker, which opened and held readiness down although
// the feed the clients need was fine.
TEST_F(UpstreamTest, AnIdleSpareConnectionDroppedByTheExchangeIsRetiredNotCountedAgainstTheBreaker) {
  ASSERT_NO_FATAL_FAILURE(StartWithASpareConnectionForB());
  Ws(1).Open();
  Run();
  Advance(Ms(300));
  Ws(0).Text(Trade("A", "1"));
  Ws(1).Text(Trade("B", "1"));
  Run();
  Advance(Ms(100));
  ASSERT_TRUE(up_->ready());
  // B's last user leaves: connection 1 has nothing to carry.
  up_->Release({Ref("trade", "B")});
  Run();
  Advance(Ms(300));
  ASSERT_EQ(SubscribeArgs(1, "unsubscribe", "trade", "B"), 1);
  // The exchange drops the idle socket, and would drop every new one the same way.
  for (int round = 0; round < 6; ++round) {
    if (Ws(1).connecting()) {
      Ws(1).Open();
      Run();
      Ws(1).Text(R"({"op":"ping","pong":1,"ping":1})");
      Run();
    }
    Ws(1).Drop(absl::UnavailableError("closed by the exchange: idle"));
    Run();
    Ws(0).Text(Trade("A", "2"));  // the feed in use stays fine
    Run();
    Advance(Ms(2000));
    EXPECT_TRUE(up_->ready()) << "round " << round;
  }
  EXPECT_EQ(Ws(1).connects, 1) << "an idle spare connection must not be reconnected";
  EXPECT_FALSE(up_->stats().breaker_open.load());
  EXPECT_EQ(up_->stats().breaker_trips.load(), 0u);
  EXPECT_EQ(up_->stats().connections.load(), 1);
  EXPECT_EQ(up_->SubscriptionsPerConnection(), std::vector<int>{1});
  // A topic wanted later gets a connection of its own again.
  auto& later = Subscribe({Ref("trade", "C")});
  ASSERT_EQ(ws_.clients.size(), 3u);
  Ws(2).Open();
  Run();
  Advance(Ms(300));
  EXPECT_EQ(SubscribeArgs(2, "subscribe", "trade", "C"), 1);
  Ws(2).Text(Trade("C", "1"));
  Run();
  EXPECT_TRUE(later.WaitEvents(1));
  Advance(Ms(100));
  EXPECT_TRUE(up_->ready());
}

// A spare connection that failed while it carried a topic, and whose topics then left while it
// was down, is retired: no reconnect, and its failures no longer count toward the breaker (they
// used to, and one more failed connect of the empty connection opened it).
TEST_F(UpstreamTest, ASpareConnectionLeftEmptyWhileDownIsRetiredAndItsFailuresStopCounting) {
  ASSERT_NO_FATAL_FAILURE(StartWithASpareConnectionForB());
  Ws(0).Text(Trade("A", "1"));
  Run();
  // Connection 1 cannot connect: two failures (one short of the breaker).
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(Ws(1).connecting());
    Ws(1).Drop(absl::UnavailableError("connection refused"));
    Run();
    Advance(Ms(500));
  }
  ASSERT_FALSE(up_->stats().breaker_open.load());
  const int connects = Ws(1).connects;
  // B's user leaves while connection 1 is down or connecting.
  up_->Release({Ref("trade", "B")});
  Run();
  for (int round = 0; round < 4; ++round) {
    if (Ws(1).connecting()) Ws(1).Drop(absl::UnavailableError("connection refused"));
    Run();
    Ws(0).Text(Trade("A", "2"));
    Run();
    Advance(Ms(2000));
  }
  EXPECT_LE(Ws(1).connects, connects) << "nothing to carry: no further connect";
  EXPECT_FALSE(up_->stats().breaker_open.load());
  EXPECT_EQ(up_->stats().breaker_trips.load(), 0u);
  EXPECT_EQ(up_->stats().connections.load(), 1);
  EXPECT_TRUE(up_->ready());
}

TEST_F(UpstreamTest, DataFromAConnectionTheTopicIsNotAssignedToIsDropped) {
  UpstreamOptions opt;
  opt.max_subscriptions_per_connection = 1;
  Make(opt);
  Ws(0).Open();
  Run();
  auto& sink = Subscribe({Ref("trade", "A"), Ref("trade", "B")});
  ASSERT_EQ(ws_.clients.size(), 2u);
  Ws(1).Open();
  Run();
  Advance(Ms(300));
  ASSERT_EQ(SubscribeArgs(1, "subscribe", "trade", "B"), 1);
  Ws(0).Text(Trade("B", "1"));  // a leftover subscription of B on the first connection
  Ws(1).Text(Trade("B", "2"));
  Run();
  ASSERT_TRUE(sink.WaitFor([](const auto& ev) { return !ev.empty() && ev.back().has_trade(); }));
  auto ev = sink.events();
  int trades = 0;
  for (const auto& e : ev) {
    if (!e.has_trade()) continue;
    ++trades;
    EXPECT_EQ(e.trade().price(), "2");
  }
  EXPECT_EQ(trades, 1);
  EXPECT_EQ(up_->stats().other_connection_frames.load(), 1u);
}

// Random event sequences against the state machine, many seeds, fake time (no sleeps): sockets
// that fail to connect, open, greet, go silent, drop, ignore pings or refuse subscriptions, while
// topics are acquired and released. Then everything heals and the promises are checked: the
// exchange (the subscribe/unsubscribe messages each socket sent since it opened) holds exactly the
// wanted topics, once each; long-lived streams have contiguous seq, a Gap before every RECOVERED
// that ends a RECONNECTING, and are live on every topic at the end. The chaos test
// (MarketDataChaos) does this against the real simulator; this one explores far more orderings.
TEST_F(UpstreamTest, RandomEventSequencesKeepEveryPromise) {
  const std::vector<std::pair<std::string, std::string>> kTopics = {
      {"trade", "BTCUSDT"}, {"depth_book15", "BTCUSDT"}, {"ticker", "BTCUSDT"},
      {"trade", "ETHUSDT"}, {"depth_book15", "ETHUSDT"}, {"ticker", "ETHUSDT"}};
  auto push = [](const std::string& ch, const std::string& sym, int n) {
    if (ch == "trade") return Trade(sym, std::to_string(n));
    if (ch == "depth_book15") return Book(sym, std::to_string(n));
    return R"({"ch":"ticker","symbol":")" + sym + R"(","ts":1732178884994,"data":{"s":")" + sym + R"(","la":")" +
           std::to_string(n) + R"(","o":"2.4","h":"2.6","l":"2.3","b":"100","q":"250","r":"1.2"}})";
  };
  // Variants: as shipped (scaled down), the circuit breaker opening, no REST fallback, and just
  // enough connections for every topic (no refusals there: they would shrink the room).
  enum Variant { kPlain, kBreaker, kNoRest, kTight };
  const uint64_t seeds = 60;
  for (uint64_t run = 0; run < 4 * seeds; ++run) {
    const auto variant = static_cast<Variant>(run % 4);
    const uint64_t seed = run / 4 + 1;
    SCOPED_TRACE(::testing::Message() << "seed " << seed << " variant " << variant);
    TearDown();
    sinks_.clear();
    ws_.clients.clear();
    UpstreamOptions opt;
    opt.max_subscriptions_per_connection = 2;
    opt.linger = Ms(300);
    opt.ping_interval = Ms(1000);
    opt.pong_timeout = Ms(500);
    opt.stale_book = Ms(700);
    opt.stale_ticker = Ms(700);
    opt.rest_poll_interval = Ms(300);
    opt.backoff = {Ms(100), Ms(400), 2.0, 0.2};
    opt.breaker_failures = variant == kBreaker ? 3 : 1000;
    opt.breaker_cooldown = Ms(1500);
    opt.rest_fallback = variant != kNoRest;
    if (variant == kTight) opt.max_connections = 3;
    opt.confirm_timeout = Ms(1500);
    Make(opt);
    std::mt19937_64 rng(seed);
    auto ref = [&](size_t i) { return Ref(kTopics[i].first, kTopics[i].second); };
    auto key = [&](size_t i) { return TopicKey(kTopics[i].first, kTopics[i].second); };

    // Two long-lived streams over random topic sets.
    std::vector<std::set<std::string>> keeper_topics;
    std::vector<RecordingSink*> keepers;
    std::map<size_t, int> refs, keeper_refs;  // acquired by this test; of those, by the keepers
    for (int k = 0; k < 2; ++k) {
      std::vector<TopicRef> r;
      std::set<std::string> keys;
      for (size_t i = 0; i < kTopics.size(); ++i) {
        if (rng() % 2 == 0 && !(i == kTopics.size() - 1 && r.empty())) continue;
        r.push_back(ref(i));
        keys.insert(key(i));
        ++refs[i];
        ++keeper_refs[i];
      }
      keepers.push_back(&Subscribe(r));
      keeper_topics.push_back(keys);
    }

    // The exchange's view: what each socket subscribed since it opened.
    std::vector<size_t> opened_at(64, 0);
    auto exchange_subs = [&](size_t c) {
      std::set<std::string> subs;
      const auto& sent = Ws(c).sent;
      for (size_t m = opened_at[c]; m < sent.size(); ++m) {
        auto j = nlohmann::json::parse(sent[m], nullptr, false);
        if (!j.is_object() || !j.contains("args")) continue;
        for (const auto& a : j["args"]) {
          const std::string k = TopicKey(a.value("ch", ""), a.value("symbol", ""));
          if (j.value("op", "") == "subscribe") subs.insert(k);
          if (j.value("op", "") == "unsubscribe") subs.erase(k);
        }
      }
      return subs;
    };
    auto open = [&](size_t c) {
      opened_at[c] = Ws(c).sent.size();
      Ws(c).Open();
      Run();
    };
    int n = 0;
    auto push_subscribed = [&](size_t c) {
      for (const auto& k : exchange_subs(c)) {
        const size_t colon = k.find(':');
        Ws(c).Text(push(k.substr(0, colon), k.substr(colon + 1), ++n));
      }
      Run();
    };

    for (int step = 0; step < 250; ++step) {
      const size_t c = rng() % ws_.clients.size();
      switch (rng() % 10) {
        case 0:  // a connect attempt succeeds or fails
          if (Ws(c).connecting()) {
            if (rng() % 3 == 0) {
              Ws(c).Drop(absl::UnavailableError("connect refused"));
              Run();
            } else {
              open(c);
            }
          }
          break;
        case 1:  // the exchange greets (proves the socket alive)
          if (Ws(c).is_open()) {
            Ws(c).Text(R"({"op":"connect","data":{"result":true}})");
            Run();
          }
          break;
        case 2:
        case 3:  // data on what the socket subscribed
          if (Ws(c).is_open()) push_subscribed(c);
          break;
        case 4:  // the socket drops
          if (rng() % 2 == 0) {
            Ws(c).Drop(absl::UnavailableError("reset by peer"));
            Run();
          }
          break;
        case 5:  // the exchange refuses a subscription on the socket
          if (Ws(c).is_open() && rng() % 3 == 0 && variant != kTight) {
            Ws(c).Text(R"({"op":"subscribe","data":{"msg":"subscribe channel > 2"},"code":-1})");
            Run();
          }
          break;
        case 6: {  // a topic acquired, or released (never below the keepers' own references)
          const size_t i = rng() % kTopics.size();
          if (rng() % 2 == 0) {
            up_->Acquire({ref(i)});
            ++refs[i];
          } else if (refs[i] > keeper_refs[i]) {
            up_->Release({ref(i)});
            --refs[i];
          }
          Run();
          break;
        }
        case 7:  // a ping answered (or not: the pong timeout reconnects)
          if (Ws(c).is_open() && rng() % 2 == 0) {
            Ws(c).Text(R"({"op":"ping","ping":1,"pong":1})");
            Run();
          }
          break;
        default:
          Advance(Ms(50 * (1 + static_cast<int>(rng() % 8))));
          break;
      }
    }

    // Heal: every socket opens, greets and carries data on what it subscribed, for long enough.
    for (int round = 0; round < 60; ++round) {
      for (size_t c = 0; c < ws_.clients.size(); ++c) {
        if (Ws(c).connecting()) open(c);
        if (!Ws(c).is_open()) continue;
        Ws(c).Text(R"({"op":"connect","data":{"result":true}})");
        push_subscribed(c);
      }
      Advance(Ms(200));
    }
    std::map<std::string, int> held, want_held;
    for (const auto& [i, r] : refs) {
      if (r > 0) want_held[key(i)] = 1;
    }
    for (size_t c = 0; c < ws_.clients.size(); ++c) {
      if (!Ws(c).is_open()) continue;
      for (const auto& k : exchange_subs(c)) ++held[k];
    }
    EXPECT_EQ(held, want_held) << "what the exchange holds vs the topics still wanted";

    for (size_t k = 0; k < keepers.size(); ++k) {
      // Streams are written by the hub's dispatcher thread: the last statuses may still be on
      // their way. Wait (bounded) until what arrived is consistent, then check what did.
      keepers[k]->WaitFor(
          [&](const auto& ev) { return testing::CheckOutagesExplained(ev, keeper_topics[k], true).empty(); },
          std::chrono::seconds(2));
      const auto ev = keepers[k]->events();
      for (size_t e = 0; e < ev.size(); ++e) ASSERT_EQ(ev[e].seq(), e + 1);
      for (const auto& p : testing::CheckOutagesExplained(ev, keeper_topics[k], /*live_at_end=*/true)) {
        ADD_FAILURE() << p;
      }
    }
    if (HasFailure()) return;
  }
}

}  // namespace
// The gate hands the HTTP client no more calls than it has connections (4 by default): behind a
// slow exchange, calls it let through used to pile up in the HTTP client's queue, unseen by the
// window, and went out together once the exchange answered quickly again (16 here, where the
// exchange allows 10 a second).
// Clients' calls come first, but never take the whole gate while background work (the
// degraded-mode poller) waits: a client keeping the gate full still leaves the poller its floor
// (2 calls/s by default), and the sliding window still holds.
TEST(MarketRestClientTest, ClientsFillingTheGateStillLeaveThePollerItsFloor) {
  for (const double floor : {2.0, 0.0}) {
    SCOPED_TRACE(floor);
    FakeClock clock;
    ManualExecutor io;
    FakeHttpClient http{&io};
    http.responder = [](const net::HttpRequest&) { return HttpOk(R"({"code":0,"data":[]})"); };
    RestClientOptions opt;  // 8/s, burst 8, window 1025 ms, poll budget 4/s with a reserve of 2
    opt.background_floor_per_second = floor;
    MarketRestClient rest(&http, &io, clock, opt);
    int client_done = 0, poll_done = 0;
    bool stopping = false;
    std::function<void()> client_call = [&] {  // a client that always has calls waiting
      rest.Get("/api/v1/futures/market/kline?symbol=BTCUSDT", RestPriority::kForeground,
               [&](absl::StatusOr<std::string> b) {
                 if (stopping) return;
                 EXPECT_TRUE(b.ok());
                 ++client_done;
                 client_call();
               });
    };
    for (int i = 0; i < 8; ++i) client_call();
    io.RunPending();
    std::vector<std::chrono::steady_clock::time_point> sent;
    for (int step = 0; step < 1000; ++step) {  // 10 s of 10 ms ticks
      while (rest.BackgroundBudgetAvailable()) {  // as the poller does, one call per degraded book
        rest.Get("/api/v1/futures/market/depth?symbol=BTCUSDT&limit=5", RestPriority::kBackground,
                 [&](absl::StatusOr<std::string> b) {
                   if (stopping) return;
                   EXPECT_TRUE(b.ok());
                   ++poll_done;
                 });
        io.RunPending();
      }
      rest.Tick();
      io.RunPending();
      while (sent.size() < http.requests.size()) sent.push_back(clock.Steady());
      clock.Advance(std::chrono::milliseconds(10));
    }
    if (floor > 0) {
      EXPECT_GE(poll_done, 18) << "the poller got " << poll_done << " calls in 10 s next to a busy client";
      EXPECT_LE(poll_done, 22);
      EXPECT_GE(client_done, 55) << "the floor must leave clients the rest of the budget";
    } else {
      EXPECT_EQ(poll_done, 0) << "without a floor, clients' calls always come first";
    }
    for (size_t i = 0; i < sent.size(); ++i) {
      size_t in_window = 0;
      for (size_t j = i; j < sent.size() && sent[j] - sent[i] < std::chrono::seconds(1); ++j) ++in_window;
      ASSERT_LE(in_window, 8u) << "from send " << i;
    }
    stopping = true;
  }
}

TEST(MarketRestClientTest, NoMoreCallsInFlightThanTheHttpClientHasConnections) {
  FakeClock clock;
  ManualExecutor io;
  FakeHttpClient http{&io};
  http.responder = [](const net::HttpRequest&) { return HttpOk(R"({"code":0,"data":[]})"); };
  http.hold = true;  // the exchange is slow: no reply for now
  RestClientOptions opt;  // 8/s, burst 8, window 1025 ms, 4 in flight
  MarketRestClient rest(&http, &io, clock, opt);
  int done = 0;
  for (int i = 0; i < 20; ++i) {
    rest.Get("/api/v1/futures/market/tickers", RestPriority::kForeground, [&](absl::StatusOr<std::string> b) {
      EXPECT_TRUE(b.ok());
      ++done;
    });
  }
  io.RunPending();
  // Send times: with a free connection each, the calls reach the exchange when handed over.
  std::vector<std::chrono::steady_clock::time_point> sent;
  for (int step = 0; step < 200; ++step) {  // 2 s of 10 ms ticks
    rest.Tick();
    io.RunPending();
    while (sent.size() < http.requests.size()) sent.push_back(clock.Steady());
    clock.Advance(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(http.requests.size(), 4u) << "calls were handed to an HTTP client with no free connection";
  EXPECT_FALSE(rest.BackgroundBudgetAvailable());
  // The exchange answers again: each reply frees a connection for the next call, within the budget.
  http.hold = false;
  for (int step = 0; step < 1000 && done < 20; ++step) {
    http.ReleaseHeld();
    rest.Tick();
    io.RunPending();
    while (sent.size() < http.requests.size()) sent.push_back(clock.Steady());
    clock.Advance(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(done, 20);
  for (size_t i = 0; i < sent.size(); ++i) {
    size_t in_window = 0;
    for (size_t j = i; j < sent.size() && sent[j] - sent[i] < std::chrono::seconds(1); ++j) ++in_window;
    EXPECT_LE(in_window, 8u) << "from send " << i;
  }
}

// The public REST budget holds in every sliding second: a token bucket alone would let a full
// burst and then a second of refill (2x the rate) into one second, and the exchange answers
// 10005 to that.
TEST(MarketRestClientTest, NoSecondHoldsMoreThanTheBudget) {
  FakeClock clock;
  ManualExecutor io;
  FakeHttpClient http{&io};
  http.responder = [](const net::HttpRequest&) { return HttpOk(R"({"code":0,"data":[]})"); };
  RestClientOptions opt;  // 8/s, burst 8, window 1025 ms
  MarketRestClient rest(&http, &io, clock, opt);
  int done = 0;
  for (int i = 0; i < 40; ++i) {
    rest.Get("/api/v1/futures/market/tickers", RestPriority::kForeground, [&](absl::StatusOr<std::string> b) {
      EXPECT_TRUE(b.ok());
      ++done;
    });
  }
  io.RunPending();
  std::vector<std::chrono::steady_clock::time_point> sent;
  size_t seen = 0;
  for (int step = 0; step < 1000 && done < 40; ++step) {  // 10 ms ticks, up to 10 s
    rest.Tick();
    io.RunPending();
    while (seen < http.requests.size()) {
      sent.push_back(clock.Steady());
      ++seen;
    }
    clock.Advance(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(done, 40);
  ASSERT_EQ(sent.size(), 40u);
  // Any 1-second window holds at most 8 sends.
  for (size_t i = 0; i < sent.size(); ++i) {
    size_t in_window = 0;
    for (size_t j = i; j < sent.size() && sent[j] - sent[i] < std::chrono::seconds(1); ++j) ++in_window;
    EXPECT_LE(in_window, 8u) << "from send " << i;
  }
  // And the budget is used: 40 calls take about 5 windows, not much more.
  EXPECT_LT(sent.back() - sent.front(), std::chrono::milliseconds(5200));
}

}  // namespace bx::md
