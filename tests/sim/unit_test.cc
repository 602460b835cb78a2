// Unit tests for the simulator's protocol pieces: decimals, frame builders, WS framing, client
// message parsing, subscription sets, inbound rate rule, REST/WS signature checks, rate limiter,
// kline intervals and the market model's determinism and consistency.
#include <gtest/gtest.h>

#include <set>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/config.h"
#include "common/signing.h"
#include "common/time_util.h"
#include "sim/decimal.h"
#include "sim/frames.h"
#include "sim/gzip.h"
#include "sim/hub.h"
#include "sim/kline_interval.h"
#include "sim/market_model.h"
#include "sim/message_log.h"
#include "sim/rate_limiter.h"
#include "sim/rest_api.h"
#include "sim/signature.h"
#include "sim/sim_config.h"
#include "sim/symbols.h"
#include "sim/ws_framing.h"
#include "sim/ws_protocol.h"

namespace bx::sim {
namespace {

using nlohmann::ordered_json;

Dec D(const char* s) {
  auto d = Dec::Parse(s);
  EXPECT_TRUE(d.has_value()) << s;
  return d.value_or(Dec());
}

TEST(Decimal, ParsesAndFormatsExactly) {
  EXPECT_EQ(D("86688").ToString(), "86688");
  EXPECT_EQ(D("0.7095").ToString(), "0.7095");
  EXPECT_EQ(D("-0.00077").ToString(), "-0.00077");
  EXPECT_EQ(D("1.50000000").ToString(), "1.5");
  EXPECT_EQ(D("0.1").ToFixed(4), "0.1000");
  EXPECT_EQ(D("2.345").ToString(2), "2.35");
  EXPECT_EQ(D("-2.345").ToString(2), "-2.35");
  EXPECT_EQ(D("0.0001").ToString(2), "0");
  EXPECT_EQ((D("0.1") + D("0.2")).ToString(), "0.3");
  EXPECT_EQ((D("86699.6") * D("0.009")).ToString(), "780.2964");
  EXPECT_EQ((D("1") / D("3")).ToString(), "0.33333333");
  EXPECT_EQ(D("1.23456").Truncate(2).ToString(), "1.23");
  EXPECT_TRUE(D("1.2").IsMultipleOf(1));
  EXPECT_FALSE(D("1.25").IsMultipleOf(1));
  EXPECT_EQ(Dec::FractionDigits("1.2500"), 2);
}

TEST(Decimal, RejectsMalformed) {
  for (const char* bad : {"", "-", ".", "1e5", "NaN", " 1", "1 ", "1.2.3", "0x10", "1.000000001", "99999999999999"}) {
    EXPECT_FALSE(Dec::Parse(bad).has_value()) << bad;
  }
  EXPECT_TRUE(Dec::Parse("1.000000000").has_value());  // extra zeros lose nothing
}

TEST(Frames, ControlFramesAsCaptured) {
  EXPECT_EQ(ConnectFrame(), R"({"op":"connect","data":{"result":true}})");
  EXPECT_EQ(PongFrame("1790126498", 1790126491), R"({"op":"ping","pong":1790126498,"ping":1790126491})");
  EXPECT_EQ(UnsubscribeReply(1790126500916), R"({"op":"unsubscribe","ts":1790126500916,"data":"success"})");
  EXPECT_EQ(SubscribeRefused(300), R"({"op":"subscribe","data":{"msg":"subscribe channel > 300","nonce":"","result":false}})");
}

TEST(Frames, PushShapesMatchCapturedBytes) {
  // Rebuild the captured depth_book15 frame from its values: byte-identical.
  std::vector<Level> bids = {{D("86699.6"), D("2.274")}, {D("86699.5"), D("2.7407")}, {D("86699.4"), D("3.093")}};
  std::vector<Level> asks = {{D("86699.7"), D("0.7095")}, {D("86699.8"), D("2.1992")}, {D("86699.9"), D("1.457")}};
  EXPECT_EQ(DepthFrame("depth_book15", "BTCUSDT", 1790126515693, bids, asks, 1, 4),
            R"({"ch":"depth_book15","symbol":"BTCUSDT","ts":1790126515693,"data":{"b":[["86699.6","2.274"],["86699.5","2.7407"],["86699.4","3.093"]],"a":[["86699.7","0.7095"],["86699.8","2.1992"],["86699.9","1.457"]]}})");
  EXPECT_EQ(EmptyDepthFrame("depth_book15", "NOPEUSDT", 1790126491101, 3),
            R"({"ch":"depth_book15","symbol":"NOPEUSDT","ts":1790126491101,"data":{"b":[["",""],["",""],["",""]],"a":[["",""],["",""],["",""]]}})");
  Ticker24h t;
  t.open = D("85567");
  t.last = D("86688.2");
  t.high = D("86815.6");
  t.low = D("85080");
  t.base_vol = D("27478.1701");
  t.quote_vol = D("2362759522.50052");
  t.change_pct = "1.3103182302";
  EXPECT_EQ(TickerFrame("BTCUSDT", 1790126515684, t, 1, 4),
            R"({"ch":"ticker","symbol":"BTCUSDT","ts":1790126515684,"data":{"s":"BTCUSDT","o":"85567","la":"86688.2","h":"86815.6","l":"85080","b":"27478.1701","q":"2362759522.50052","r":"1.3103182302"}})");
  FundingInfo f;
  f.settled_rate_pct = D("-0.00077");
  f.last_settle_ms = 1790121600000;  // 2026-09-23T00:00:00Z
  f.next_settle_ms = 1790150400000;
  EXPECT_EQ(PriceFrame("BTCUSDT", 1790126515695, D("86720.6"), D("86688.3"), f, 1),
            R"({"ch":"price","symbol":"BTCUSDT","ts":1790126515695,"data":{"ip":"86720.6","mp":"86688.3","fr":"-0.00077","ft":"2026-09-23T00:00:00Z","nft":"2026-09-23T08:00:00Z"}})");
  Candle c{0, D("63404.6"), D("63404.8"), D("63404.5"), D("63404.7"), D("0.2413"), D("15299.54977")};
  EXPECT_EQ(KlineFrame("market_kline_1min", "BTCUSDT", 1786650732204, c, 1, 4),
            R"({"ch":"market_kline_1min","symbol":"BTCUSDT","ts":1786650732204,"data":{"o":"63404.6","c":"63404.7","h":"63404.8","l":"63404.5","b":"0.2413","q":"15299.54977"}})");
  PublicTrade tr{0, 1748803492000, D("104350"), D("1.1536"), true};
  EXPECT_EQ(TradeFrame("BTCUSDT", 1748803492958, {tr}, 1, 4),
            R"({"ch":"trade","symbol":"BTCUSDT","ts":1748803492958,"data":[{"t":"2025-06-01T18:44:52Z","p":"104350","v":"1.1536","s":"buy"}]})");
  // Built from strings formatted once (the model trades' log and push share them): the same bytes.
  const TradeItemText text = FormatTrade(tr, 1, 4);
  EXPECT_EQ(TradeFrame("BTCUSDT", 1748803492958, std::vector<const TradeItemText*>{&text}),
            TradeFrame("BTCUSDT", 1748803492958, {tr}, 1, 4));
}

TEST(Frames, IsoTimes) {
  EXPECT_EQ(FormatIso8601Seconds(1790150400000), "2026-09-23T08:00:00Z");
  EXPECT_EQ(FormatIso8601Nanos(1715847189123456789), "2024-05-16T08:13:09.123456789Z");
}

std::string MaskedClientFrame(uint8_t first_byte, std::string_view payload) {
  std::string out;
  out.push_back(static_cast<char>(first_byte));
  const char mask[4] = {0x11, 0x22, 0x33, 0x44};
  if (payload.size() < 126) {
    out.push_back(static_cast<char>(0x80 | payload.size()));
  } else {
    out.push_back(static_cast<char>(0x80 | 126));
    out.push_back(static_cast<char>(payload.size() >> 8));
    out.push_back(static_cast<char>(payload.size() & 0xFF));
  }
  out.append(mask, 4);
  for (size_t i = 0; i < payload.size(); ++i) out.push_back(static_cast<char>(payload[i] ^ mask[i & 3]));
  return out;
}

// drop_connections reaches every connection a client may already see as open, including one
// whose 101 was sent but whose session has not registered yet (the drop epoch).
TEST(SimHub, DropReachesRegisteredAndUpgradingConnections) {
  struct Conn : WsConnection {
    Conn(uint64_t i, bool p) : id_(i), private_(p) {}
    uint64_t id() const override { return id_; }
    bool is_private() const override { return private_; }
    void Send(std::shared_ptr<const std::string>, std::string_view) override {}
    void Abort() override { ++aborted; }
    uint64_t id_;
    bool private_;
    int aborted = 0;
  };
  Hub hub;
  auto pub = std::make_shared<Conn>(1, false);
  auto priv = std::make_shared<Conn>(2, true);
  ASSERT_TRUE(hub.Add(pub, hub.DropEpoch(false)));
  ASSERT_TRUE(hub.Add(priv, hub.DropEpoch(true)));
  // A public upgrade in flight (epoch taken when its 101 went out), then a public drop.
  const uint64_t upgrading_public = hub.DropEpoch(false);
  const uint64_t upgrading_private = hub.DropEpoch(true);
  auto dropped = hub.TakeForDrop(ConnScope::kPublic);
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_EQ(dropped[0]->id(), 1u);
  // The upgrading public connection must not register; a private one is not affected.
  auto late_public = std::make_shared<Conn>(3, false);
  auto late_private = std::make_shared<Conn>(4, true);
  EXPECT_FALSE(hub.Add(late_public, upgrading_public));
  EXPECT_TRUE(hub.Add(late_private, upgrading_private));
  // A connection whose upgrade starts after the drop registers normally.
  auto next_public = std::make_shared<Conn>(5, false);
  EXPECT_TRUE(hub.Add(next_public, hub.DropEpoch(false)));
  // Still registered: 1 (its session removes itself when it closes), 2, 4, 5; never 3.
  std::set<uint64_t> ids;
  for (const auto& c : hub.TakeForDrop(ConnScope::kAll)) ids.insert(c->id());
  EXPECT_EQ(ids, (std::set<uint64_t>{1, 2, 4, 5}));
}

TEST(WsFraming, EncodesServerFramesOfEverySize) {
  for (size_t n : {size_t{0}, size_t{125}, size_t{126}, size_t{65535}, size_t{65536}, size_t{300000}}) {
    std::string payload(n, 'x');
    std::string f = EncodeServerFrame(WsOpcode::kText, payload);
    EXPECT_EQ(static_cast<uint8_t>(f[0]), 0x81);
    EXPECT_EQ(f.size(), ServerFrameHeaderSize(n) + n);
    EXPECT_EQ(static_cast<uint8_t>(f[1]) & 0x80, 0) << "server frames are never masked";
  }
}

TEST(WsFraming, AcceptKeyRfcExample) {
  EXPECT_EQ(WsAcceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WsFraming, ParsesMaskedFragmentedAndSplitInput) {
  WsFrameParser p;
  std::string bytes = MaskedClientFrame(0x01, "{\"op\":") + MaskedClientFrame(0x89, "hi") +
                      MaskedClientFrame(0x80, "\"ping\"}") + MaskedClientFrame(0x81, std::string(300, 'a'));
  std::string error;
  std::vector<WsFrameParser::Message> got;
  for (char c : bytes) {  // one byte at a time: every split point
    p.Feed(std::string_view(&c, 1));
    while (auto m = p.Next(&error)) got.push_back(*m);
    ASSERT_TRUE(error.empty()) << error;
  }
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].opcode, WsOpcode::kPing);  // control frames may interleave fragments
  EXPECT_EQ(got[0].payload, "hi");
  EXPECT_EQ(got[1].opcode, WsOpcode::kText);
  EXPECT_EQ(got[1].payload, "{\"op\":\"ping\"}");
  EXPECT_EQ(got[2].payload, std::string(300, 'a'));
}

TEST(WsFraming, RejectsProtocolViolations) {
  {
    WsFrameParser p;
    p.Feed(std::string("\x81\x02hi", 4));  // unmasked
    std::string error;
    EXPECT_FALSE(p.Next(&error).has_value());
    EXPECT_EQ(error, "client frame not masked");
  }
  {
    WsFrameParser p(100);
    p.Feed(MaskedClientFrame(0x81, std::string(200, 'a')));
    std::string error;
    EXPECT_FALSE(p.Next(&error).has_value());
    EXPECT_EQ(error, "message too big");
  }
  {
    WsFrameParser p;
    p.Feed(MaskedClientFrame(0x80, "x"));  // continuation without a start
    std::string error;
    EXPECT_FALSE(p.Next(&error).has_value());
    EXPECT_FALSE(error.empty());
  }
}

TEST(WsProtocol, ParsesClientMessages) {
  auto ping = ParseClientMessage(R"({"op":"ping","ping":1790126498})");
  EXPECT_EQ(ping.kind, ClientMessage::Kind::kPing);
  EXPECT_EQ(ping.ping_value, "1790126498");
  auto sub = ParseClientMessage(R"({"op":"subscribe","args":[{"symbol":"btcusdt","ch":"depth_book15"},{"ch":"order"},7]})");
  EXPECT_EQ(sub.kind, ClientMessage::Kind::kSubscribe);
  ASSERT_EQ(sub.args.size(), 2u);
  EXPECT_EQ(sub.args[0].symbol, "BTCUSDT");
  EXPECT_EQ(sub.args[0].Key(), "depth_book15:BTCUSDT");
  EXPECT_EQ(sub.args[1].Key(), "order");
  auto unsub = ParseClientMessage(R"({"op":"unsubscribe","args":[{"symbol":"BTCUSDT","channel":"trade"}]})");
  ASSERT_EQ(unsub.args.size(), 1u);
  EXPECT_EQ(unsub.args[0].ch, "trade");
  auto login = ParseClientMessage(R"({"op":"login","args":[{"apiKey":"k","timestamp":1747402389,"nonce":"n","sign":"s"}]})");
  EXPECT_EQ(login.kind, ClientMessage::Kind::kLogin);
  EXPECT_EQ(login.login.timestamp, "1747402389");
  EXPECT_EQ(ParseClientMessage("{not json").kind, ClientMessage::Kind::kInvalid);
  EXPECT_EQ(ParseClientMessage("[1,2]").kind, ClientMessage::Kind::kInvalid);
  EXPECT_EQ(ParseClientMessage(R"({"op":"dance"})").kind, ClientMessage::Kind::kUnknownOp);
}

TEST(WsProtocol, ClassifiesChannels) {
  EXPECT_EQ(ClassifyPublicChannel("depth_book15")->depth_levels, 15);
  EXPECT_EQ(ClassifyPublicChannel("depth_books")->depth_levels, 0);
  EXPECT_EQ(ClassifyPublicChannel("market_kline_60min")->interval->ms, 3'600'000);
  EXPECT_EQ(ClassifyPublicChannel("mark_kline_1month")->kind, ChannelKind::kMarkKline);
  EXPECT_FALSE(ClassifyPublicChannel("market_kline_7min").has_value());
  EXPECT_FALSE(ClassifyPublicChannel("last_kline_1min").has_value());
  EXPECT_FALSE(ClassifyPublicChannel("depth_book20").has_value());
  EXPECT_TRUE(IsPrivateChannel("tpsl"));
  EXPECT_FALSE(IsPrivateChannel("wallet"));
}

TEST(WsProtocol, SubscriptionSetDedupesAndCaps) {
  SubscriptionSet s(3);
  auto r = s.Add({{"trade", "A"}, {"trade", "A"}, {"trade", "B"}});
  EXPECT_EQ(r.added.size(), 2u);
  EXPECT_EQ(r.refused, 0u);
  r = s.Add({{"trade", "B"}, {"trade", "C"}, {"trade", "D"}, {"trade", "E"}});
  EXPECT_EQ(r.added.size(), 1u);
  EXPECT_EQ(r.refused, 2u);
  EXPECT_EQ(s.size(), 3u);
  EXPECT_EQ(s.Remove({{"trade", "A"}, {"trade", "Z"}}).size(), 1u);
  EXPECT_EQ(s.Add({{"trade", "D"}}).added.size(), 1u);
}

TEST(WsProtocol, InboundRateRuleSlidingWindow) {
  InboundRateRule rule(5);
  const auto t0 = std::chrono::steady_clock::time_point(std::chrono::seconds(100));
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(rule.Record(t0 + std::chrono::milliseconds(i * 100)));
  EXPECT_FALSE(rule.Record(t0 + std::chrono::milliseconds(900)));  // 6th within one second
  InboundRateRule steady(5);
  for (int i = 0; i < 50; ++i) EXPECT_TRUE(steady.Record(t0 + std::chrono::milliseconds(i * 250)));  // 4/s
}

TEST(Signature, AcceptsOfficialVectorsAndRejectsOthers) {
  // The official Go demo vector (§2 example 1) verified by the server side.
  SignedRestRequest req;
  req.api_key = "11111111111111111";
  req.nonce = "33333333333333333";
  req.timestamp = "1747104711262";
  req.sign = "40e87256554e263e39201a3979469b7fbb640d1c7c41759abf5c6a18f937f922";
  req.query = {{"marginCoin", "USDT"}};
  Credentials creds{"11111111111111111", "22222222222222222"};
  EXPECT_TRUE(VerifyRestRequest(req, creds, 1747104711262, 60'000).ok());
  // Doc sign-page vector (§2 example 2): query id1uid200 sorted from uid=200&id=1, body verbatim.
  SignedRestRequest doc;
  doc.api_key = "yourApiKey";
  doc.nonce = "123456";
  doc.timestamp = "20241120123045";
  doc.query = {{"uid", "200"}, {"id", "1"}};
  doc.body = R"({"uid":"2899","arr":[{"id":1,"name":"maple"},{"id":2,"name":"lily"}]})";
  doc.sign = "00397cd1e52c7dce3258067324363b6361fabc9178a0912b330c138db8745655";
  EXPECT_TRUE(VerifyRestRequest(doc, {"yourApiKey", "yourSecretKey"}, 20241120123045, 60'000).ok());

  auto bad = req;
  bad.sign[0] = bad.sign[0] == '4' ? '5' : '4';
  EXPECT_EQ(VerifyRestRequest(bad, creds, 1747104711262, 60'000).code, 10007);
  auto body_changed = req;
  body_changed.body = " ";
  EXPECT_EQ(VerifyRestRequest(body_changed, creds, 1747104711262, 60'000).code, 10007);
  auto no_key = req;
  no_key.api_key = "";
  EXPECT_EQ(VerifyRestRequest(no_key, creds, 1747104711262, 60'000).code, 10003);
  auto other_key = req;
  other_key.api_key = "99999999999999999";
  EXPECT_EQ(VerifyRestRequest(other_key, creds, 1747104711262, 60'000).code, 10003);
  EXPECT_EQ(VerifyRestRequest(req, creds, 1747104711262 + 61'000, 60'000).code, 10002);
  EXPECT_TRUE(VerifyRestRequest(req, creds, 1747104711262 - 59'000, 60'000).ok());
  auto no_nonce = req;
  no_nonce.nonce = "";
  EXPECT_EQ(VerifyRestRequest(no_nonce, creds, 1747104711262, 60'000).code, 10007);
}

// shared/bitunix-api.md §2: `sign` is 64 lowercase hex characters. The same digits in upper case
// are a different string, refused like any other wrong sign (REST and WS login).
TEST(Signature, UpperCaseSignIsRefused) {
  SignedRestRequest req;
  req.api_key = "11111111111111111";
  req.nonce = "33333333333333333";
  req.timestamp = "1747104711262";
  req.sign = "40E87256554E263E39201A3979469B7FBB640D1C7C41759ABF5C6A18F937F922";  // the official vector, upper-cased
  req.query = {{"marginCoin", "USDT"}};
  EXPECT_EQ(VerifyRestRequest(req, {"11111111111111111", "22222222222222222"}, 1747104711262, 60'000).code, 10007);
  LoginArgs l{"yourApiKey", "1747402389", "o9jnhu8ijko2nbhy36fgt0mnjuyhgtsh",
              "A3BFB87EDFC362B67C66042164E4321715B063D31CFB7B8BB44FBCAFFD2EA44C"};
  EXPECT_EQ(VerifyWsLogin(l, {"yourApiKey", "yourSecretKey"}, 1747402389'000, 60'000).code, 10007);
}

TEST(Signature, WsLoginSecondsAndMilliseconds) {
  LoginArgs l{"yourApiKey", "1747402389", "o9jnhu8ijko2nbhy36fgt0mnjuyhgtsh",
              "a3bfb87edfc362b67c66042164e4321715b063d31cfb7b8bb44fbcaffd2ea44c"};
  Credentials creds{"yourApiKey", "yourSecretKey"};
  EXPECT_TRUE(VerifyWsLogin(l, creds, 1747402389'000, 60'000).ok());
  LoginArgs ms = l;
  ms.timestamp = "1747402389500";
  ms.sign = WsLoginSign(ms.nonce, ms.timestamp, ms.api_key, "yourSecretKey");
  EXPECT_TRUE(VerifyWsLogin(ms, creds, 1747402389'000, 60'000).ok());
  LoginArgs wrong = l;
  wrong.sign = WsLoginSign(l.nonce, l.timestamp, l.api_key, "otherSecret");
  EXPECT_EQ(VerifyWsLogin(wrong, creds, 1747402389'000, 60'000).code, 10007);
  EXPECT_EQ(VerifyWsLogin(l, creds, 1747402389'000 + 3'600'000, 60'000).code, 10002);
}

TEST(RateLimiter, SlidingWindowWithFakeClock) {
  FakeClock clock;
  RateLimiter lim(clock);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(lim.Allow("k", 10));
  EXPECT_FALSE(lim.Allow("k", 10));
  EXPECT_TRUE(lim.Allow("other", 10));
  clock.Advance(std::chrono::milliseconds(999));
  EXPECT_FALSE(lim.Allow("k", 10));
  clock.Advance(std::chrono::milliseconds(1));
  EXPECT_TRUE(lim.Allow("k", 10));
}

TEST(KlineInterval, CalendarAlignment) {
  const int64_t t = 1790126515693;  // 2026-09-23 (a Wednesday) 01:21:55 UTC
  EXPECT_EQ(KlineFromRest("1m")->OpenTime(t), 1790126460000);
  EXPECT_EQ(KlineFromRest("1w")->OpenTime(t), 1789948800000);  // Monday 2026-09-21
  EXPECT_EQ(KlineFromRest("1M")->OpenTime(t), 1788220800000);  // 2026-09-01
  EXPECT_EQ(KlineFromRest("1M")->NextOpen(1788220800000), 1790812800000);  // 2026-10-01
  EXPECT_FALSE(KlineFromRest("3m").has_value());
  EXPECT_TRUE(KlineFromWs("3min").has_value());
}

TEST(MarketModel, DeterministicForASeedAndConsistent) {
  auto cat = SymbolCatalog::FromList("BTCUSDT,DOGEUSDT");
  ASSERT_TRUE(cat.ok());
  const int64_t now = 1790126515693;
  MarketModel a(*cat, {7, 200, 600}, now), b(*cat, {7, 200, 600}, now), c(*cat, {8, 200, 600}, now);
  for (int i = 0; i < 50; ++i) {
    a.Step(now + i * 300);
    b.Step(now + i * 300);
    c.Step(now + i * 300);
    a.GenerateTrades(now + i * 300);
    b.GenerateTrades(now + i * 300);
    c.GenerateTrades(now + i * 300);
  }
  EXPECT_EQ(a.BestBid(0), b.BestBid(0));
  EXPECT_EQ(a.Last(1), b.Last(1));
  EXPECT_NE(a.BestBid(0), c.BestBid(0));
  for (int sym = 0; sym < 2; ++sym) {
    auto bids = a.Bids(sym, 0);
    auto asks = a.Asks(sym, 0);
    ASSERT_EQ(bids.size(), 200u);
    ASSERT_EQ(asks.size(), 200u);
    EXPECT_LT(bids[0].price, asks[0].price);
    const Dec tick = cat->all()[static_cast<size_t>(sym)].tick();
    for (size_t i = 1; i < bids.size(); ++i) {
      EXPECT_LT(bids[i].price, bids[i - 1].price);
      EXPECT_LT(asks[i - 1].price, asks[i].price);
      EXPECT_TRUE(bids[i].price.IsMultipleOf(cat->all()[static_cast<size_t>(sym)].quote_precision));
      EXPECT_GT(bids[i].qty, Dec());
    }
    EXPECT_EQ(asks[0].price - bids[0].price, tick);
  }
  // Klines: newest first, quote = base x close on synthetic history, limit honoured.
  auto k = a.Klines(0, *KlineFromRest("1m"), 0, 0, 5, false, now + 50 * 300);
  ASSERT_EQ(k.size(), 5u);
  for (size_t i = 1; i < k.size(); ++i) EXPECT_EQ(k[i - 1].open_ms - k[i].open_ms, 60'000);
  for (const auto& candle : k) {
    EXPECT_LE(candle.low, candle.open);
    EXPECT_LE(candle.low, candle.close);
    EXPECT_GE(candle.high, candle.open);
    EXPECT_GE(candle.high, candle.close);
  }
  auto hourly = a.Klines(0, *KlineFromRest("1h"), 0, 0, 200, false, now);
  EXPECT_GE(hourly.size(), 9u);  // 600 minutes of history
  EXPECT_LE(hourly.size(), 12u);
}

TEST(MarketModel, TakeWalksTheBook) {
  auto cat = SymbolCatalog::FromList("BTCUSDT");
  ASSERT_TRUE(cat.ok());
  MarketModel m(*cat, {1, 50, 10}, 1790126515693);
  auto fills = m.Take(0, true, D("5"));
  ASSERT_FALSE(fills.empty());
  Dec total;
  for (size_t i = 0; i < fills.size(); ++i) {
    total += fills[i].qty;
    if (i > 0) { EXPECT_GT(fills[i].price, fills[i - 1].price); }
  }
  EXPECT_EQ(total, D("5"));
  EXPECT_EQ(fills[0].price, m.BestAsk(0));
  m.SetMid(0, D("65000"), 1790126515693);
  EXPECT_EQ(m.BestBid(0), D("65000"));
  EXPECT_EQ(m.Last(0), D("65000"));
}

TEST(MessageLog, BoundedAndPaged) {
  MessageLog log(3, 10);
  for (int i = 0; i < 5; ++i) log.Add(i, 1, "out", "ws_public", "frame-" + std::to_string(i) + "-long-text");
  uint64_t next = 0;
  auto e = log.Read(0, 100, &next);
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0].seq, 3u);
  EXPECT_EQ(next, 6u);
  EXPECT_EQ(e[0].text, "frame-2-lo...(17 bytes)");
  EXPECT_TRUE(log.Read(next, 100, &next).empty());
  EXPECT_EQ(next, 6u);
  e = log.Read(4, 1, &next);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(next, 5u);
}

TEST(RestApi, ParseTargetDecodes) {
  std::string path;
  std::vector<std::pair<std::string, std::string>> q;
  ParseTarget("/api/v1/futures/market/depth?symbol=BTC%55SDT&limit=5&flag&x=a+b", &path, &q);
  EXPECT_EQ(path, "/api/v1/futures/market/depth");
  ASSERT_EQ(q.size(), 4u);
  EXPECT_EQ(q[0].second, "BTCUSDT");
  EXPECT_EQ(q[2].first, "flag");
  EXPECT_EQ(q[3].second, "a+b");
  EXPECT_EQ(ErrorBody(404, "Not Found"), R"({"code":404,"data":null,"msg":"Not Found"})");
  EXPECT_EQ(MarketOk(ordered_json::array()), R"({"code":0,"msg":"Success","data":[]})");
  EXPECT_EQ(TradeOk(nullptr), R"({"code":0,"data":null,"msg":"Success"})");
}

TEST(Gzip, AcceptEncodingNegotiation) {
  for (const char* yes : {"gzip", "GZIP", "deflate, gzip", "gzip;q=0.5", "br , x-gzip ; q=1", "*", "identity, *;q=0.1"}) {
    EXPECT_TRUE(AcceptsGzip(yes)) << yes;
  }
  for (const char* no : {"", "identity", "deflate, br", "gzip;q=0", "gzip; q=0.0, *", "*;q=0", "gzipx", "x-gzip;Q=0"}) {
    EXPECT_FALSE(AcceptsGzip(no)) << no;
  }
}

TEST(Gzip, CompressesToAGzipMember) {
  const std::string body(5000, 'a');
  const std::string gz = GzipCompress(body);
  ASSERT_GE(gz.size(), 18u);  // 10-byte header + 8-byte trailer
  EXPECT_EQ(static_cast<unsigned char>(gz[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(gz[1]), 0x8b);
  EXPECT_LT(gz.size(), 100u);
  EXPECT_EQ(GzipCompress("").size(), 20u);  // an empty deflate block inside header and trailer
}

absl::StatusOr<SimConfig> LoadSim(std::vector<const char*> argv) {
  argv.insert(argv.begin(), "bitunix-sim");
  auto cfg = Config::Load("bitunix-sim", SimOptionSpecs(), static_cast<int>(argv.size()), argv.data(),
                          [](const std::string&) { return std::optional<std::string>(); }, "BITUNIX_SIM_");
  if (!cfg.ok()) return cfg.status();
  return SimConfigFrom(*cfg);
}

TEST(SimConfig, RestConnectionOptions) {
  auto def = LoadSim({});
  ASSERT_TRUE(def.ok()) << def.status();
  EXPECT_FALSE(def->gzip_replies);
  EXPECT_EQ(def->rest_idle_timeout, std::chrono::seconds(300));
  auto set = LoadSim({"--gzip-replies", "--rest-idle-timeout=2s"});
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_TRUE(set->gzip_replies);
  EXPECT_EQ(set->rest_idle_timeout, std::chrono::seconds(2));
  EXPECT_FALSE(LoadSim({"--rest-idle-timeout=0"}).ok());
  EXPECT_FALSE(LoadSim({"--gzip-replies=maybe"}).ok());
  // Over TLS an idle close sends close_notify unless told to be abrupt.
  EXPECT_TRUE(def->rest_idle_close_notify);
  auto abrupt = LoadSim({"--rest-idle-close=abrupt"});
  ASSERT_TRUE(abrupt.ok()) << abrupt.status();
  EXPECT_FALSE(abrupt->rest_idle_close_notify);
  EXPECT_FALSE(LoadSim({"--rest-idle-close=polite"}).ok());
}

}  // namespace
}  // namespace bx::sim
