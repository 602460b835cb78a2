// Freshness promises of the upstream (the md-fixes review): no cached state older than its
// channel's staleness threshold is served as a current snapshot, readiness needs an exchange that
// has spoken, a rejoin racing the linger expiry never loses its feed, and the DEGRADED reason states
// the poll cadence the REST budget allows. Each test was written against the code that broke the
// promise and failed there.
#include <gtest/gtest.h>

#include <set>

#include "tests/marketdata/upstream_fixture.h"

namespace bx::md {
namespace {

using common_v1::StreamStatus;
using testing::Book;
using testing::RecordingSink;
using testing::Trade;
using testing::UpstreamTest;
using Ms = std::chrono::milliseconds;

constexpr const char* kGreeting = R"({"op":"connect","data":{"result":true}})";

bool HasBook(const std::vector<v1::MarketEvent>& ev) {
  for (const auto& e : ev) {
    if (e.has_order_book()) return true;
  }
  return false;
}

// The WebSocket is down and the REST polls that should replace it fail too. A late joiner used to
// get the book from before the outage as its snapshot (under DEGRADED: only exchange_ts_ms told its
// age), however old it was. Within the book's staleness threshold the cached book is still served
// (with the status); past it, none is, until a fresh one (here a REST poll) arrives.
TEST_F(UpstreamTest, ADegradedBookWhoseRestPollsFailIsNotServedToLateJoiners) {
  UpstreamOptions opt;
  opt.stale_book = Ms(3000);
  opt.rest_poll_interval = Ms(1000);
  opt.backoff = {Ms(600000), Ms(600000), 2.0, 0.0};  // the socket stays down
  Make(opt);
  bool depth_fails = true;
  auto ok = http_.responder;
  http_.responder = [&, ok](const net::HttpRequest& r) {
    if (depth_fails && r.target.rfind("/api/v1/futures/market/depth", 0) == 0) return rest_fail_;
    return ok(r);
  };
  Ws(0).Open();
  Ws(0).Text(kGreeting);
  Run();
  auto& first = Subscribe({Ref("depth_book15", "BTCUSDT")});
  Advance(Ms(300));
  Ws(0).Text(Book("BTCUSDT", "1"));  // the last book before the outage
  Run();
  ASSERT_TRUE(first.WaitFor(HasBook));
  TopicRing* ring = hub_->FindTopic(TopicKey("depth_book15", "BTCUSDT"));
  Ws(0).Drop(absl::UnavailableError("reset by peer"));
  Run();
  Advance(Ms(500));
  // Half a second old, within the threshold: a late joiner still gets it (then RECONNECTING).
  {
    auto& late = Subscribe({Ref("depth_book15", "BTCUSDT")});
    ASSERT_TRUE(late.WaitEvents(1));
    EXPECT_TRUE(late.events()[0].has_order_book());
  }
  Advance(Ms(3000));  // DEGRADED, every depth poll failing; the book is 3.5 s old
  ASSERT_TRUE(first.WaitFor([](const auto& ev) { return UpstreamTest::HasStatus(ev, StreamStatus::STATE_DEGRADED); }));
  ASSERT_GE(http_.CountTarget("/api/v1/futures/market/depth"), 2);
  {
    auto& late = Subscribe({Ref("depth_book15", "BTCUSDT")});
    ASSERT_TRUE(late.WaitEvents(1));
    const auto ev = late.events();
    EXPECT_FALSE(ev[0].has_order_book())
        << "a late joiner got a book " << ev[0].order_book().ShortDebugString()
        << " from before the outage as its snapshot, 3.5 s old (threshold 3 s), while every REST poll failed";
    EXPECT_FALSE(ring->LatestCopy().has_value());
  }
  // A poll succeeds: that book is fresh and served.
  depth_fails = false;
  Advance(Ms(1100));
  {
    auto& late = Subscribe({Ref("depth_book15", "BTCUSDT")});
    ASSERT_TRUE(late.WaitEvents(1));
    const auto ev = late.events();
    ASSERT_TRUE(ev[0].has_order_book());
    EXPECT_EQ(ev[0].order_book().bids(0).price(), "100");  // the REST book
    EXPECT_EQ(ev[0].exchange_ts_ms(), 0);
  }
  // The polls fail again: past the threshold that book is not served either.
  depth_fails = true;
  Advance(Ms(3200));
  {
    auto& late = Subscribe({Ref("depth_book15", "BTCUSDT")});
    ASSERT_TRUE(late.WaitEvents(1));
    EXPECT_FALSE(late.events()[0].has_order_book()) << "a REST book 3.2 s old was served as a snapshot";
  }
}

// An accepted upgrade proves nothing (a stalled exchange accepts and stays silent): readiness used
// to go SERVING at the bare upgrade, at start and after every reconnect, with no topic to hold it
// down. It now waits for the exchange to say something on the socket (its greeting, here).
TEST_F(UpstreamTest, ReadinessWaitsForTheExchangeToSpeakOnANewSocket) {
  UpstreamOptions opt;
  opt.backoff = {Ms(100), Ms(100), 2.0, 0.0};
  Make(opt);
  Ws(0).Open();
  Run();
  Advance(Ms(1000));
  EXPECT_FALSE(up_->ready()) << "SERVING on a bare WebSocket upgrade, before the exchange said anything";
  Ws(0).Text(kGreeting);
  Run();
  EXPECT_TRUE(up_->ready());
  Ws(0).Drop(absl::UnavailableError("reset by peer"));
  Run();
  EXPECT_FALSE(up_->ready());
  Advance(Ms(150));
  ASSERT_EQ(Ws(0).connects, 2);
  Ws(0).Open();  // accepted again, and silent
  Run();
  Advance(Ms(1000));
  EXPECT_FALSE(up_->ready()) << "SERVING on the silent new socket";
  Ws(0).Text(R"({"op":"ping","pong":1,"ping":1})");  // any word counts (here a pong)
  Run();
  EXPECT_TRUE(up_->ready());
}

// A trade topic has no staleness threshold (it may be quiet for minutes), so the freshness of one
// the exchange never fed is its connection's: the exchange must answer a ping sent after the
// subscribe. It used to wait for the next regular ping (--ping-interval), so a socket that went
// silent right after its greeting stayed SERVING that long with a never-confirmed subscription.
// Now each confirm timeout without data probes the connection at once: no pong within
// --pong-timeout drops it (NOT_SERVING, RECONNECTING); a pong keeps the quiet topic ready.
TEST_F(UpstreamTest, ANeverFedTradeTopicHoldsReadinessOnlyWhileItsConnectionAnswersAProbe) {
  UpstreamOptions opt;
  opt.ping_interval = Ms(60000);
  opt.pong_timeout = Ms(5000);
  opt.confirm_timeout = Ms(10000);
  opt.backoff = {Ms(600000), Ms(600000), 2.0, 0.0};
  Make(opt);
  Ws(0).Open();
  Ws(0).Text(kGreeting);
  Run();
  Subscribe({Ref("trade", "BTCUSDT")});
  ASSERT_TRUE(up_->ready());
  // The quiet case: the connection answers every ping at once; the topic stays ready.
  int answered = 0;
  auto live_for = [&](int tenths) {
    for (int i = 0; i < tenths; ++i) {
      for (; answered < Count(0, R"("op":"ping")"); ++answered) Ws(0).Text(R"({"op":"ping","pong":1,"ping":1})");
      Run();
      Advance(Ms(100));
    }
  };
  live_for(98);  // 9.8 s after the subscribe
  EXPECT_EQ(Count(0, R"("op":"ping")"), 0);
  live_for(5);
  EXPECT_EQ(Count(0, R"("op":"ping")"), 1) << "no probe at the confirm timeout of a never-fed subscription";
  live_for(150);  // past the re-send's confirm timeout: probed again, answered
  EXPECT_EQ(Count(0, R"("op":"ping")"), 2);
  EXPECT_EQ(SubscribeArgs(0, "subscribe", "trade", "BTCUSDT"), 2);  // sent again once, as before
  EXPECT_EQ(Ws(0).aborts, 0);
  EXPECT_TRUE(up_->ready()) << "a quiet trade topic on a connection that answers pings is live";
  // The silent case: another trade topic is subscribed, never fed, and the socket answers nothing
  // from now on. Its confirm timeout probes; the pong timeout drops the connection.
  up_->Acquire({Ref("trade", "ETHUSDT")});
  Run();
  Advance(Ms(10200));
  EXPECT_EQ(Count(0, R"("op":"ping")"), 3);
  Advance(Ms(5200));
  EXPECT_EQ(Ws(0).aborts, 1) << "a silent socket with a never-fed subscription was not dropped";
  EXPECT_FALSE(up_->ready()) << "SERVING 15 s after a subscribe on a socket that answers nothing";
}

// The linger-expiry race. Subscribe (service.cc) registers its stream, posts Acquire to the io
// thread and starts the stream at once: the stream takes the ring's snapshot and head as its
// cursor, so it reads the topic's live feed from that moment. If the io thread runs the tick that
// expires the topic's linger before it runs the posted Acquire, the subscription ended under the
// new stream (unsubscribe, cache dropped) and the Acquire subscribed it afresh: the trades between
// the exchange applying the unsubscribe and the new subscribe were lost with no Gap. With linger 0
// the same happens when the last other stream's Release is queued ahead of the Acquire.
TEST_F(UpstreamTest, ASubscribeRacingTheLingerExpiryKeepsTheFeedItAlreadyReads) {
  for (const Ms linger : {Ms(5000), Ms(0)}) {
    SCOPED_TRACE(linger.count());
    UpstreamOptions opt;
    opt.linger = linger;
    Make(opt);
    Ws(0).Open();
    Ws(0).Text(kGreeting);
    Run();
    const TopicRef trade = Ref("trade", "BTCUSDT");
    auto& first = Subscribe({trade});
    Advance(Ms(300));
    Ws(0).Text(Trade("BTCUSDT", "1"));
    Run();
    ASSERT_TRUE(first.WaitFor([](const auto& ev) { return ev.size() >= 2; }));
    // The first stream leaves.
    LeaveAll({trade});
    if (linger.count() > 0) {
      Run();
      Advance(linger - Ms(50));  // the next tick expires the linger
    }
    // A new stream, as Subscribe starts it: registered, Acquire posted (not run yet), reading.
    auto s = std::make_shared<Stream>(hub_.get(), 99, "t", std::vector<Stream::TopicSub>{{trade.ring, OverflowPolicy::kDrop}},
                                      std::vector<std::string>{"BTCUSDT"}, true,
                                      std::vector<InitialStatus>{InitialStatus{}});
    hub_->AddStream(s);
    sinks_.push_back(std::make_unique<RecordingSink>(true));
    RecordingSink& late = *sinks_.back();
    late.set_stream(s.get());
    up_->Acquire({trade});
    s->Start(&late);
    if (linger.count() > 0) {
      clock_.Advance(Ms(50));
      up_->Tick();  // the linger expires before the io thread gets to the Acquire
    }
    Run();
    Advance(Ms(1000));
    EXPECT_EQ(SubscribeArgs(0, "unsubscribe", "trade", "BTCUSDT"), 0)
        << "the subscription the new stream already reads was ended under it";
    EXPECT_EQ(SubscribeArgs(0, "subscribe", "trade", "BTCUSDT"), 1) << "subscribed afresh: a hole with no Gap";
    Ws(0).Text(Trade("BTCUSDT", "2"));
    Run();
    ASSERT_TRUE(late.WaitFor([](const auto& ev) {
      for (const auto& e : ev) {
        if (e.has_trade() && e.trade().price() == "2") return true;
      }
      return false;
    }));
    for (const auto& e : late.events()) EXPECT_FALSE(e.has_gap()) << "the feed never stopped";
    TearDown();
    ws_.clients.clear();
    sinks_.clear();
    ready_changes_.clear();
  }
}

// A rejoin just after the linger ended the subscription (unsubscribe sent): the exchange stops the
// old feed before it applies the new subscribe, and frames of the old one still in flight are
// published to the new stream. Its first trade on the new subscription now comes after a Gap.
TEST_F(UpstreamTest, ARejoinRightAfterTheLingerEndedGetsAGapBeforeItsFirstTrade) {
  UpstreamOptions opt;
  opt.linger = Ms(1000);
  Make(opt);
  Ws(0).Open();
  Ws(0).Text(kGreeting);
  Run();
  const TopicRef trade = Ref("trade", "BTCUSDT");
  auto& first = Subscribe({trade});
  Advance(Ms(300));
  Ws(0).Text(Trade("BTCUSDT", "1"));
  Run();
  ASSERT_TRUE(first.WaitFor([](const auto& ev) { return ev.size() >= 2; }));
  LeaveAll({trade});
  Run();
  Advance(Ms(1300));
  ASSERT_EQ(SubscribeArgs(0, "unsubscribe", "trade", "BTCUSDT"), 1);
  auto& late = Subscribe({trade});
  Advance(Ms(600));
  ASSERT_EQ(SubscribeArgs(0, "subscribe", "trade", "BTCUSDT"), 2);
  Ws(0).Text(Trade("BTCUSDT", "2"));
  Run();
  ASSERT_TRUE(late.WaitFor([](const auto& ev) {
    for (const auto& e : ev) {
      if (e.has_trade()) return true;
    }
    return false;
  }));
  bool gap = false;
  for (const auto& e : late.events()) {
    if (e.has_gap()) gap = true;
    if (e.has_trade()) {
      EXPECT_TRUE(gap) << "first trade after a rejoin that re-subscribed, with no Gap before it";
      break;
    }
  }
}

// A rejoin after the linger ended the subscription but before its unsubscribe left the send queue
// (it is paced: at the earliest the next tick sends it). The unsubscribe used to go out anyway,
// followed by a fresh subscribe: the exchange stopped the feed and started it again, and the
// stream's first trade took a Gap for a hole the gateway itself opened. Now the queued unsubscribe
// is cancelled and the subscription kept as it was: no message at all, and no Gap (the feed never
// stopped). Ticks one at a time until the linger expiry queued the unsubscribe.
TEST_F(UpstreamTest, ARejoinBeforeTheQueuedUnsubscribeLeftKeepsTheSubscription) {
  UpstreamOptions opt;
  opt.linger = Ms(1000);
  Make(opt);
  Ws(0).Open();
  Ws(0).Text(kGreeting);
  Run();
  const TopicRef trade = Ref("trade", "BTCUSDT");
  auto& first = Subscribe({trade});
  Advance(Ms(300));
  Ws(0).Text(Trade("BTCUSDT", "1"));
  Run();
  ASSERT_TRUE(first.WaitFor([](const auto& ev) { return ev.size() >= 2; }));
  LeaveAll({trade});
  Run();
  ASSERT_TRUE(AdvanceUntilLingerExpired()) << "the linger never expired";
  ASSERT_EQ(SubscribeArgs(0, "unsubscribe", "trade", "BTCUSDT"), 0) << "the unsubscribe is not queued but sent";
  auto& late = Subscribe({trade});
  Advance(Ms(1000));
  EXPECT_EQ(SubscribeArgs(0, "unsubscribe", "trade", "BTCUSDT"), 0) << "the feed the rejoin wants was ended";
  EXPECT_EQ(SubscribeArgs(0, "subscribe", "trade", "BTCUSDT"), 1) << "subscribed again: the feed was interrupted";
  EXPECT_EQ(up_->SubscriptionsPerConnection(), std::vector<int>{1});
  EXPECT_EQ(up_->stats().subscribed_topics.load(), 1);
  Ws(0).Text(Trade("BTCUSDT", "2"));
  Run();
  ASSERT_TRUE(late.WaitFor([](const auto& ev) {
    for (const auto& e : ev) {
      if (e.has_trade() && e.trade().price() == "2") return true;
    }
    return false;
  }));
  for (const auto& e : late.events()) EXPECT_FALSE(e.has_gap()) << "the feed never stopped";
  // It is an ordinary subscription again: its last stream leaving ends it after the linger.
  LeaveAll({trade});
  Run();
  Advance(Ms(1500));
  EXPECT_EQ(SubscribeArgs(0, "unsubscribe", "trade", "BTCUSDT"), 1);
  EXPECT_EQ(up_->SubscriptionsPerConnection(), std::vector<int>{0});
}

// The same for a book: the subscription is kept, but EndFeed dropped the cache and the topic's
// health state; the rejoining stream gets no stale snapshot, the next push is published as the
// snapshot, and the kept topic is not taken for stale (its staleness counts from the rejoin).
TEST_F(UpstreamTest, ABookRejoinedBeforeItsUnsubscribeLeftGetsNoOldCacheAndItsNextPushAsSnapshot) {
  UpstreamOptions opt;
  opt.linger = Ms(1000);
  opt.stale_book = Ms(3000);
  Make(opt);
  Ws(0).Open();
  Ws(0).Text(kGreeting);
  Run();
  const TopicRef book = Ref("depth_book15", "BTCUSDT");
  auto& first = Subscribe({book});
  Advance(Ms(300));
  Ws(0).Text(Book("BTCUSDT", "100"));
  Run();
  ASSERT_TRUE(first.WaitFor([](const auto& ev) { return HasBook(ev); }));
  LeaveAll({book});
  Run();
  ASSERT_TRUE(AdvanceUntilLingerExpired()) << "the linger never expired";
  ASSERT_EQ(SubscribeArgs(0, "unsubscribe", "depth_book15", "BTCUSDT"), 0);
  auto& late = Subscribe({book});
  Advance(Ms(2000));
  EXPECT_EQ(SubscribeArgs(0, "unsubscribe", "depth_book15", "BTCUSDT"), 0);
  EXPECT_EQ(SubscribeArgs(0, "subscribe", "depth_book15", "BTCUSDT"), 1);
  EXPECT_FALSE(HasBook(late.events())) << "served the book cached before the subscription ended";
  EXPECT_FALSE(HasStatus(late.events(), StreamStatus::STATE_STALE)) << "staleness counted from before the rejoin";
  Ws(0).Text(Book("BTCUSDT", "101"));
  Run();
  ASSERT_TRUE(late.WaitFor([](const auto& ev) { return HasBook(ev); }));
  for (const auto& e : late.events()) {
    if (!e.has_order_book()) continue;
    EXPECT_TRUE(e.snapshot()) << "the first book after the cache was dropped is the snapshot";
    break;
  }
  for (const auto& e : late.events()) EXPECT_FALSE(e.has_gap());
}

// The DEGRADED reason claimed "serving REST snapshots every <--rest-poll-interval> ms" however
// many topics shared the poller's budget (--rest-poll-budget, 4 calls/s): six degraded books and
// the tickers' one call per round (7 calls) are polled every 1.75 s at best, not every 1 s. The
// reason now states the cadence the budget allows, and the polls keep to it.
TEST_F(UpstreamTest, TheDegradedReasonStatesThePollCadenceTheBudgetAllows) {
  UpstreamOptions opt;
  opt.rest_poll_interval = Ms(1000);
  opt.stale_book = Ms(60000);  // keep the REST books visible; not what this test is about
  opt.backoff = {Ms(600000), Ms(600000), 2.0, 0.0};
  Make(opt);
  Ws(0).Open();
  Ws(0).Text(kGreeting);
  Run();
  std::vector<TopicRef> refs;
  for (const char* sym : {"BTCUSDT", "ETHUSDT"}) {
    for (const char* ch : {"depth_book1", "depth_book5", "depth_book15", "ticker"}) refs.push_back(Ref(ch, sym));
  }
  auto& sink = Subscribe(refs);
  Ws(0).Drop(absl::UnavailableError("reset by peer"));
  Run();
  Advance(Ms(1100));
  ASSERT_TRUE(sink.WaitFor([](const auto& ev) { return UpstreamTest::HasStatus(ev, StreamStatus::STATE_DEGRADED); }));
  std::string reason;
  for (const auto& e : sink.events()) {
    if (e.has_status() && e.status().state() == StreamStatus::STATE_DEGRADED) reason = e.status().reason();
  }
  EXPECT_NE(reason.find("serving REST snapshots at best every 1750 ms"), std::string::npos) << reason;
  EXPECT_EQ(reason.find("snapshots every 1000 ms"), std::string::npos) << "claims the poll interval: " << reason;
  // And it is what happens: over 14 s, each book is polled about 14 / 1.75 = 8 times, never more.
  const int before = http_.CountTarget("/api/v1/futures/market/depth?symbol=BTCUSDT&limit=5");
  Advance(Ms(14000));
  const int polls = http_.CountTarget("/api/v1/futures/market/depth?symbol=BTCUSDT&limit=5") - before;
  EXPECT_GE(polls, 7);
  EXPECT_LE(polls, 9);
}

// A trade topic that found no room (RECONNECTING, "no exchange connection has room") and later
// got a slot on a connection the exchange already speaks on. Only its first trade recovered it:
// on a quiet symbol it stayed RECONNECTING, and readiness NOT_SERVING, for as long as nobody
// traded it, though the same topic subscribed there afresh is live at once (a trade topic's
// freshness is its connection's, and this one answers its pings).
TEST_F(UpstreamTest, AQuietTradeTopicThatWaitedForRoomIsLiveOnceSubscribedOnAnAnsweringConnection) {
  UpstreamOptions opt;
  opt.max_subscriptions_per_connection = 1;
  opt.max_connections = 1;
  opt.linger = Ms(0);
  opt.ping_interval = Ms(1000);
  Make(opt);
  Ws(0).Open();
  Ws(0).Text(kGreeting);
  Run();
  const TopicRef first = Ref("trade", "BTCUSDT");
  const TopicRef waiting_topic = Ref("trade", "ETHUSDT");
  Subscribe({first});
  auto& waiting = Subscribe({waiting_topic});
  ASSERT_TRUE(waiting.WaitFor([](const auto& ev) { return HasStatus(ev, StreamStatus::STATE_RECONNECTING); }));
  Advance(Ms(300));
  EXPECT_FALSE(up_->ready());
  // The first stream leaves: its slot frees and the waiting topic is subscribed there.
  auto streams = hub_->Streams();
  streams->front()->Detach();
  hub_->RemoveStream(streams->front().get());
  up_->Release({first});
  Run();
  // The exchange answers every ping; nobody trades ETHUSDT.
  int answered = 0;
  for (int i = 0; i < 50; ++i) {
    for (; answered < Count(0, R"("op":"ping")"); ++answered) Ws(0).Text(R"({"op":"ping","pong":1,"ping":1})");
    Run();
    Advance(Ms(100));
  }
  ASSERT_EQ(SubscribeArgs(0, "subscribe", "trade", "ETHUSDT"), 1);
  EXPECT_GE(answered, 4);
  EXPECT_EQ(Ws(0).aborts, 0);
  EXPECT_TRUE(up_->ready()) << "a quiet trade topic subscribed on a connection that answers kept readiness down";
  EXPECT_TRUE(waiting.WaitFor([](const auto& ev) { return HasStatus(ev, StreamStatus::STATE_RECOVERED); }))
      << "its stream was never told the topic is subscribed again";
}

// A rejoin right after the unsubscribe went out: the fresh subscribe waits for the pacing slot
// (the unsubscribe just took it). Meanwhile a trade of the old subscription, sent before the
// exchange applied the unsubscribe, arrives and was taken for the new subscription's first data:
// the queued subscribe was dropped as if confirmed, the exchange then stopped the feed, and the
// topic stayed subscribed on our side only. A trade topic has no staleness threshold, so nothing
// ever asked again: its stream got nothing more, with no status saying so.
TEST_F(UpstreamTest, ATradeOfTheEndedSubscriptionDoesNotConfirmTheRejoinsQueuedSubscribe) {
  UpstreamOptions opt;
  opt.linger = Ms(1000);
  Make(opt);
  Ws(0).Open();
  Ws(0).Text(kGreeting);
  Run();
  const TopicRef trade = Ref("trade", "BTCUSDT");
  auto& first = Subscribe({trade});
  Advance(Ms(300));
  Ws(0).Text(Trade("BTCUSDT", "1"));
  Run();
  ASSERT_TRUE(first.WaitFor([](const auto& ev) { return ev.size() >= 2; }));
  LeaveAll({trade});
  Run();
  ASSERT_TRUE(AdvanceUntilLingerExpired()) << "the linger never expired";
  Advance(Ms(50));  // the next tick sends the queued unsubscribe
  ASSERT_EQ(SubscribeArgs(0, "unsubscribe", "trade", "BTCUSDT"), 1);
  auto& late = Subscribe({trade});
  ASSERT_EQ(SubscribeArgs(0, "subscribe", "trade", "BTCUSDT"), 1) << "not paced behind the unsubscribe";
  Ws(0).Text(Trade("BTCUSDT", "2"));  // sent by the exchange before it applied the unsubscribe
  Run();
  Advance(Ms(1000));
  EXPECT_EQ(SubscribeArgs(0, "subscribe", "trade", "BTCUSDT"), 2)
      << "the rejoin's subscribe was never sent: the exchange no longer feeds the topic";
  EXPECT_EQ(up_->SubscriptionsPerConnection(), std::vector<int>{1});
  Ws(0).Text(Trade("BTCUSDT", "3"));  // the new subscription's first trade
  Run();
  ASSERT_TRUE(late.WaitFor([](const auto& ev) {
    for (const auto& e : ev) {
      if (e.has_trade() && e.trade().price() == "3") return true;
    }
    return false;
  }));
  // Trades between the exchange applying the unsubscribe and the new subscribe are lost: the Gap
  // saying so comes before the new subscription's first trade, not before the old one's last.
  bool gap = false;
  for (const auto& e : late.events()) {
    if (e.has_trade() && e.trade().price() == "2") gap = false;
    if (e.has_gap()) gap = true;
    if (e.has_trade() && e.trade().price() == "3") {
      EXPECT_TRUE(gap) << "no Gap before the new subscription's first trade";
    }
  }
}

}  // namespace
}  // namespace bx::md
