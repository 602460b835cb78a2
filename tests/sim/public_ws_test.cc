// Integration: the public WebSocket against an in-process simulator, with a plain Beast client.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "sim/context.h"
#include "sim/sim_config.h"
#include "tests/sim/sim_test_util.h"

namespace bx::sim::testing {
namespace {

bool IsPush(const Json& j, const std::string& ch, const std::string& symbol) {
  return j.is_object() && j.value("ch", "") == ch && j.value("symbol", "") == symbol;
}

std::vector<std::string> Keys(const OrderedJson& j) {
  std::vector<std::string> out;
  for (auto it = j.begin(); it != j.end(); ++it) out.push_back(it.key());
  return out;
}

void ExpectAllStrings(const Json& levels) {
  for (const auto& l : levels) {
    ASSERT_TRUE(l.is_array());
    ASSERT_EQ(l.size(), 2u);
    EXPECT_TRUE(l[0].is_string());
    EXPECT_TRUE(l[1].is_string());
  }
}

class PublicWsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sim_ = StartSim();
    ASSERT_NE(sim_, nullptr);
  }
  // Connects and consumes the greeting.
  std::unique_ptr<WsTestClient> Connect() {
    auto c = std::make_unique<WsTestClient>();
    EXPECT_TRUE(c->Connect(sim_->public_ws_url())) << c->error();
    auto greeting = c->Read();
    EXPECT_EQ(greeting.value_or(""), R"({"op":"connect","data":{"result":true}})");
    return c;
  }
  std::unique_ptr<Simulator> sim_;
};

TEST_F(PublicWsTest, GreetingPingAndUnsubscribeAsCaptured) {
  auto c = Connect();
  ASSERT_TRUE(c->Send(R"({"op":"ping","ping":1790126498})"));
  auto pong = c->Read();
  ASSERT_TRUE(pong.has_value());
  auto j = OrderedJson::parse(*pong);
  EXPECT_EQ(Keys(j), (std::vector<std::string>{"op", "pong", "ping"}));
  EXPECT_EQ(j["op"], "ping");
  EXPECT_EQ(j["pong"], 1790126498);
  // "ping" is the second the socket opened, not now.
  EXPECT_NEAR(j["ping"].get<double>(), static_cast<double>(sim_->context().clock.NowMs() / 1000), 5);
  ASSERT_TRUE(c->Send(SubscribeMsg({{"trade", "BTCUSDT"}}, "unsubscribe")));
  auto unsub = c->Read();  // nothing else is subscribed: the reply is the next frame
  ASSERT_TRUE(unsub.has_value());
  auto u = OrderedJson::parse(*unsub);
  EXPECT_EQ(Keys(u), (std::vector<std::string>{"op", "ts", "data"}));
  EXPECT_EQ(u["op"], "unsubscribe");
  EXPECT_EQ(u["data"], "success");
  EXPECT_TRUE(u["ts"].is_number_integer());
}

TEST_F(PublicWsTest, SubscribeHasNoReplyAndDataStartsPromptly) {
  auto c = Connect();
  ASSERT_TRUE(c->Send(SubscribeMsg({{"depth_book15", "BTCUSDT"}})));
  auto first = c->Read();
  ASSERT_TRUE(first.has_value());
  auto j = OrderedJson::parse(*first);
  EXPECT_FALSE(j.contains("op")) << "a valid subscribe gets no acknowledgement: " << *first;
  EXPECT_EQ(Keys(j), (std::vector<std::string>{"ch", "symbol", "ts", "data"}));
  EXPECT_EQ(j["ch"], "depth_book15");
  EXPECT_EQ(Keys(j["data"]), (std::vector<std::string>{"b", "a"}));
  ASSERT_EQ(j["data"]["b"].size(), 15u);
  ASSERT_EQ(j["data"]["a"].size(), 15u);
  ExpectAllStrings(j["data"]["b"]);
  ExpectAllStrings(j["data"]["a"]);
  const double best_bid = std::stod(j["data"]["b"][0][0].get<std::string>());
  const double best_ask = std::stod(j["data"]["a"][0][0].get<std::string>());
  EXPECT_LT(best_bid, best_ask);
  for (size_t i = 1; i < 15; ++i) {
    EXPECT_LT(std::stod(j["data"]["b"][i][0].get<std::string>()), std::stod(j["data"]["b"][i - 1][0].get<std::string>()));
    EXPECT_GT(std::stod(j["data"]["a"][i][0].get<std::string>()), std::stod(j["data"]["a"][i - 1][0].get<std::string>()));
  }
  // Then timer-driven pushes of the same stream.
  EXPECT_TRUE(c->ReadUntil([](const Json& m) { return IsPush(m, "depth_book15", "BTCUSDT"); }).has_value());
}

TEST_F(PublicWsTest, EveryPublicChannelHasItsShape) {
  auto c = Connect();
  const std::vector<std::string> channels = {"depth_book1", "depth_book5",  "depth_books",          "ticker",
                                             "tickers",     "price",        "trade",                "market_kline_1min",
                                             "mark_kline_1min", "market_kline_1week", "market_kline_1month"};
  std::vector<std::pair<std::string, std::string>> subs;
  for (const auto& ch : channels) subs.emplace_back(ch, "ETHUSDT");
  ASSERT_TRUE(c->Send(SubscribeMsg(subs)));
  std::set<std::string> seen;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (seen.size() < channels.size() && std::chrono::steady_clock::now() < deadline) {
    auto text = c->Read();
    ASSERT_TRUE(text.has_value()) << "missing: " << seen.size();
    auto j = OrderedJson::parse(*text);
    ASSERT_EQ(Keys(j), (std::vector<std::string>{"ch", "symbol", "ts", "data"})) << *text;
    EXPECT_EQ(j["symbol"], "ETHUSDT");
    EXPECT_TRUE(j["ts"].is_number_integer());
    const std::string ch = j["ch"];
    const auto& d = j["data"];
    if (ch == "depth_book1" || ch == "depth_book5") {
      EXPECT_EQ(d["b"].size(), ch == "depth_book1" ? 1u : 5u);
    } else if (ch == "depth_books") {
      EXPECT_EQ(d["b"].size(), 2000u);  // the whole (test-sized) book every frame
      EXPECT_EQ(d["a"].size(), 2000u);
    } else if (ch == "ticker") {
      EXPECT_EQ(Keys(d), (std::vector<std::string>{"s", "o", "la", "h", "l", "b", "q", "r"}));
      EXPECT_EQ(d["s"], "ETHUSDT");
    } else if (ch == "tickers") {
      ASSERT_TRUE(d.is_array());
      EXPECT_EQ(Keys(d[0]), (std::vector<std::string>{"s", "o", "la", "h", "l", "b", "q", "r", "bd", "ak", "bv", "av"}));
    } else if (ch == "price") {
      EXPECT_EQ(Keys(d), (std::vector<std::string>{"ip", "mp", "fr", "ft", "nft"}));
      EXPECT_EQ(d["ft"].get<std::string>().size(), 20u);
      EXPECT_EQ(d["ft"].get<std::string>().back(), 'Z');
    } else if (ch == "trade") {
      ASSERT_TRUE(d.is_array());
      ASSERT_FALSE(d.empty());
      EXPECT_EQ(Keys(d[0]), (std::vector<std::string>{"t", "p", "v", "s"}));
      EXPECT_TRUE(d[0]["s"] == "buy" || d[0]["s"] == "sell");
    } else {
      EXPECT_EQ(Keys(d), (std::vector<std::string>{"o", "c", "h", "l", "b", "q"})) << ch;
      const double b = std::stod(d["b"].get<std::string>());
      const double q = std::stod(d["q"].get<std::string>());
      const double close = std::stod(d["c"].get<std::string>());
      if (b > 0 && ch == "market_kline_1min") {
        EXPECT_NEAR(q / b, close, close * 0.01);  // q = b x price
      }
    }
    for (auto it = d.begin(); it != d.end(); ++it) {
      if (it->is_primitive()) { EXPECT_TRUE(it->is_string()) << ch << "." << it.key(); }
    }
    seen.insert(ch);
  }
  EXPECT_EQ(seen.size(), channels.size());
}

TEST_F(PublicWsTest, UnknownSymbolGetsOneEmptyFrameThenSilence) {
  auto c = Connect();
  ASSERT_TRUE(c->Send(SubscribeMsg({{"depth_book15", "NOPEUSDT"}, {"depth_book5", "previewusdt"}, {"trade", "NOPEUSDT"}})));
  auto first = c->Read();
  ASSERT_TRUE(first.has_value());
  auto j = Json::parse(*first);
  EXPECT_EQ(j["symbol"], "NOPEUSDT");
  ASSERT_EQ(j["data"]["b"].size(), 15u);
  EXPECT_EQ(j["data"]["b"][0], Json::array({"", ""}));
  EXPECT_EQ(j["data"]["a"][14], Json::array({"", ""}));
  auto second = c->Read();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(Json::parse(*second)["symbol"], "PREVIEWUSDT");  // upper-cased, 5 empty levels
  EXPECT_EQ(Json::parse(*second)["data"]["a"].size(), 5u);
  // Silence: let five push intervals pass (observed on another socket), then our pong is next.
  auto clock = Connect();
  ASSERT_TRUE(clock->Send(SubscribeMsg({{"price", "BTCUSDT"}})));
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(clock->Read().has_value());
  ASSERT_TRUE(c->Send(R"({"op":"ping","ping":1})"));
  auto next = c->Read();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(Json::parse(*next)["op"], "ping");
}

TEST_F(PublicWsTest, UnknownChannelIsIgnoredAndDuplicatesDeliverOnce) {
  auto c = Connect();
  ASSERT_TRUE(c->Send(SubscribeMsg({{"depth_book20", "BTCUSDT"}, {"no_such_channel", "BTCUSDT"}})));
  ASSERT_TRUE(c->Send(R"({"op":"ping","ping":2})"));
  auto r = c->Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(Json::parse(*r)["op"], "ping") << "unknown channels get no reply at all";
  ASSERT_TRUE(c->Send(SubscribeMsg({{"price", "btcusdt"}, {"price", "BTCUSDT"}})));
  ASSERT_TRUE(c->Send(SubscribeMsg({{"price", "BTCUSDT"}})));
  ASSERT_TRUE(c->ReadUntil([](const Json& j) { return IsPush(j, "price", "BTCUSDT"); }).has_value());
  auto stats = Stats(*sim_);
  EXPECT_EQ(stats["subscriptions"]["price:BTCUSDT"], 1);
  EXPECT_FALSE(stats["subscriptions"].contains("depth_book20:BTCUSDT"));
  // Delivered once: consecutive frames of the stream never repeat a ts.
  int64_t last_ts = 0;
  for (int i = 0; i < 5; ++i) {
    auto m = c->ReadUntil([](const Json& j) { return IsPush(j, "price", "BTCUSDT"); });
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->value("symbol", ""), "BTCUSDT");
    EXPECT_NE((*m)["ts"].get<int64_t>(), last_ts);
    last_ts = (*m)["ts"];
  }
}

TEST_F(PublicWsTest, RefusalPast300StreamsAsCaptured) {
  auto c = Connect();
  std::vector<std::pair<std::string, std::string>> subs;
  for (int i = 0; i < 310; ++i) subs.emplace_back("trade", "X" + std::to_string(i) + "USDT");
  ASSERT_TRUE(c->Send(SubscribeMsg(subs)));
  auto r = c->Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, R"({"op":"subscribe","data":{"msg":"subscribe channel > 300","nonce":"","result":false}})");
  auto stats = Stats(*sim_);
  EXPECT_EQ(stats["subscriptions"].size(), 300u);
  EXPECT_TRUE(stats["subscriptions"].contains("trade:X299USDT"));
  EXPECT_FALSE(stats["subscriptions"].contains("trade:X300USDT"));
}

TEST_F(PublicWsTest, MoreThanFiveMessagesPerSecondDisconnects) {
  auto c = Connect();
  for (int i = 0; i < 15; ++i) c->Send(R"({"op":"ping","ping":)" + std::to_string(i) + "}");
  bool closed = false;
  for (int i = 0; i < 20 && !closed; ++i) {
    if (!c->Read(milliseconds(2000))) closed = c->closed();
  }
  EXPECT_TRUE(closed);
  EXPECT_FALSE(c->closed_with_frame());
}

TEST_F(PublicWsTest, ProtocolPingAsFirstFrameKillsTheSocket) {
  auto c = Connect();
  ASSERT_TRUE(c->SendProtocolPing());
  EXPECT_FALSE(c->Read(milliseconds(3000)).has_value());
  EXPECT_TRUE(c->closed());
  EXPECT_FALSE(c->closed_with_frame());
  // After a JSON frame, a protocol ping is answered (Beast consumes the pong) and the socket lives.
  auto d = Connect();
  ASSERT_TRUE(d->Send(R"({"op":"ping","ping":5})"));
  ASSERT_TRUE(d->Read().has_value());
  ASSERT_TRUE(d->SendProtocolPing());
  ASSERT_TRUE(d->Send(R"({"op":"ping","ping":6})"));
  auto r = d->Read();
  ASSERT_TRUE(r.has_value()) << d->error();
  EXPECT_EQ(Json::parse(*r)["pong"], 6);
}

TEST_F(PublicWsTest, LowercaseSymbolAcceptedFramesUppercase) {
  auto c = Connect();
  ASSERT_TRUE(c->Send(SubscribeMsg({{"ticker", "solusdt"}})));
  auto m = c->Read();
  ASSERT_TRUE(m.has_value());
  auto j = Json::parse(*m);
  EXPECT_EQ(j["symbol"], "SOLUSDT");
  EXPECT_EQ(j["data"]["s"], "SOLUSDT");
  EXPECT_EQ(Stats(*sim_)["subscriptions"]["ticker:SOLUSDT"], 1);
}

TEST(PublicWsIdle, IdleSocketClosedWithoutCloseFrameButPingsKeepItOpen) {
  SimConfig cfg = FastConfig();
  cfg.ws_idle_timeout = milliseconds(1200);
  auto sim = StartSim(cfg);
  ASSERT_NE(sim, nullptr);
  WsTestClient idle, pinger;
  ASSERT_TRUE(idle.Connect(sim->public_ws_url()));
  ASSERT_TRUE(pinger.Connect(sim->public_ws_url()));
  ASSERT_TRUE(idle.Read().has_value());
  ASSERT_TRUE(pinger.Read().has_value());
  // The pinger sends a JSON ping every ~300 ms (under the 5 messages/s rule) for ~2.4 s: twice
  // the idle timeout.
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(pinger.Send(R"({"op":"ping","ping":)" + std::to_string(i) + "}")) << "pinger closed at " << i;
    ASSERT_TRUE(pinger.Read().has_value()) << i;
    pinger.Read(milliseconds(300));  // nothing else arrives: a bounded wait
  }
  EXPECT_FALSE(pinger.closed());
  EXPECT_FALSE(idle.Read(milliseconds(3000)).has_value());
  EXPECT_TRUE(idle.closed());
  EXPECT_FALSE(idle.closed_with_frame());
}

TEST(PublicWsTls, WssAndHttpsWithSelfSignedCert) {
  SelfSignedCert cert;
  SimConfig cfg = FastConfig();
  cfg.tls_cert = cert.cert;
  cfg.tls_key = cert.key;
  auto sim = StartSim(cfg);
  ASSERT_NE(sim, nullptr);
  EXPECT_EQ(sim->public_ws_url().substr(0, 6), "wss://");
  EXPECT_EQ(sim->rest_url().substr(0, 8), "https://");
  WsTestClient c;
  ASSERT_TRUE(c.Connect(sim->public_ws_url())) << c.error();
  EXPECT_EQ(c.Read().value_or(""), R"({"op":"connect","data":{"result":true}})");
  ASSERT_TRUE(c.Send(SubscribeMsg({{"depth_book1", "BTCUSDT"}})));
  EXPECT_TRUE(c.ReadUntil([](const Json& j) { return IsPush(j, "depth_book1", "BTCUSDT"); }).has_value());
  HttpTestClient http(sim->rest_url());
  auto r = http.Get("/api/v1/futures/market/depth?symbol=BTCUSDT&limit=1");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.json()["code"], 0);
}

// --ws-subscribe-delay: like the live exchange (reference section 8: data 103-598 ms after the
// subscribe), a stream's first push comes no earlier than MIN after the subscribe was sent.
TEST(PublicWsSubscribeDelay, FirstPushOfEveryStreamComesNoEarlierThanTheDelay) {
  SimConfig cfg = FastConfig();
  cfg.ws_subscribe_delay_min = milliseconds(150);
  cfg.ws_subscribe_delay_max = milliseconds(300);
  auto sim = StartSim(cfg);
  ASSERT_NE(sim, nullptr);
  WsTestClient c;
  ASSERT_TRUE(c.Connect(sim->public_ws_url())) << c.error();
  ASSERT_TRUE(c.Read().has_value());  // greeting
  const std::set<std::string> topics = {"trade:BTCUSDT", "depth_book1:ETHUSDT", "price:SOLUSDT"};
  const auto sent = std::chrono::steady_clock::now();  // before the subscribe leaves: a lower bound
  ASSERT_TRUE(c.Send(SubscribeMsg({{"trade", "BTCUSDT"}, {"depth_book1", "ETHUSDT"}, {"price", "SOLUSDT"}})));
  const auto sent_done = std::chrono::steady_clock::now();
  std::map<std::string, std::chrono::steady_clock::duration> first;
  while (first.size() < topics.size()) {
    auto m = c.ReadUntil([&](const Json& j) { return j.is_object() && j.contains("ch") && !first.contains(
                                                       j.value("ch", "") + ":" + j.value("symbol", "")); });
    ASSERT_TRUE(m.has_value()) << "streams started: " << first.size();
    const std::string key = (*m)["ch"].get<std::string>() + ":" + (*m)["symbol"].get<std::string>();
    ASSERT_TRUE(topics.contains(key)) << key;
    first[key] = std::chrono::steady_clock::now() - sent;
  }
  for (const auto& [key, after] : first) {
    EXPECT_GE(after, milliseconds(150)) << key << " started before the delay";
    // Loose upper bound (a trade stream starts at the next trade tick after the delay).
    EXPECT_LE(after - (sent_done - sent), milliseconds(300 + 1000)) << key;
  }
}

// An unsubscribe before the delay has passed cancels the subscribe: the stream never starts.
TEST(PublicWsSubscribeDelay, UnsubscribedBeforeItTakesEffectNeverStarts) {
  SimConfig cfg = FastConfig();
  cfg.ws_subscribe_delay_min = milliseconds(300);  // fixed: timers fire in the order they were set
  cfg.ws_subscribe_delay_max = milliseconds(300);
  auto sim = StartSim(cfg);
  ASSERT_NE(sim, nullptr);
  WsTestClient c;
  ASSERT_TRUE(c.Connect(sim->public_ws_url())) << c.error();
  ASSERT_TRUE(c.Read().has_value());  // greeting
  ASSERT_TRUE(c.Send(SubscribeMsg({{"depth_book1", "BTCUSDT"}})));
  ASSERT_TRUE(c.Send(SubscribeMsg({{"depth_book1", "BTCUSDT"}}, "unsubscribe")));
  ASSERT_TRUE(c.Send(SubscribeMsg({{"price", "ETHUSDT"}})));
  // The cancelled stream's timer would have fired first, with an immediate depth_book1 push.
  bool saw_cancelled = false;
  auto m = c.ReadUntil([&](const Json& j) {
    if (j.value("ch", "") == "depth_book1") saw_cancelled = true;
    return j.value("ch", "") == "price";
  });
  ASSERT_TRUE(m.has_value());
  EXPECT_FALSE(saw_cancelled) << "a subscribe cancelled during its delay took effect";
  auto subs = Stats(*sim)["subscriptions"];
  EXPECT_EQ(subs.size(), 1u) << subs.dump();
  EXPECT_EQ(subs.value("price:ETHUSDT", 0), 1);
}

TEST(PublicWsSubscribeDelay, OptionParsesARangeOrOneValue) {
  auto r = ParseDelayRange("100-600");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->first, milliseconds(100));
  EXPECT_EQ(r->second, milliseconds(600));
  r = ParseDelayRange("0.1s-1s");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->first, milliseconds(100));
  EXPECT_EQ(r->second, milliseconds(1000));
  r = ParseDelayRange("250ms");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->first, milliseconds(250));
  EXPECT_EQ(r->second, milliseconds(250));
  EXPECT_FALSE(ParseDelayRange("600-100").ok());
  EXPECT_FALSE(ParseDelayRange("abc").ok());
  EXPECT_FALSE(ParseDelayRange("0-61s").ok());
  EXPECT_FALSE(ParseDelayRange("").ok());
}

}  // namespace
}  // namespace bx::sim::testing
