// The WebSocket frame parser on every captured fixture, both documented forms, and bad input.
#include "services/marketdata/frame_parser.h"

#include <gtest/gtest.h>

#include "common/decimal.h"
#include "common/time_util.h"
#include "tests/marketdata/fixtures.h"

namespace bx::md {
namespace {

using testing::LoadJsonl;
using Json = nlohmann::ordered_json;

void ExpectLevels(const std::vector<LevelView>& got, const Json& want) {
  size_t non_empty = 0;
  for (const auto& level : want) {
    if (level[0].get<std::string>().empty()) continue;
    ASSERT_LT(non_empty, got.size());
    EXPECT_EQ(got[non_empty].price, level[0].get<std::string>());
    EXPECT_EQ(got[non_empty].qty, level[1].get<std::string>());
    ++non_empty;
  }
  EXPECT_EQ(got.size(), non_empty);
}

TEST(FrameParser, EveryCapturedPush) {
  auto frames = LoadJsonl("ws-public.jsonl");
  ASSERT_GE(frames.size(), 10u);
  FrameParser parser;
  int checked = 0;
  for (const auto& fx : frames) {
    SCOPED_TRACE(fx.text);
    auto r = parser.Parse(fx.text);
    ASSERT_TRUE(r.ok()) << r.status();
    const Frame& f = **r;
    const Json& m = fx.message;
    const Json& d = m["data"];
    EXPECT_EQ(f.kind, FrameKind::kPush);
    EXPECT_EQ(f.ch, m["ch"].get<std::string>());
    EXPECT_EQ(f.symbol, m["symbol"].get<std::string>());
    EXPECT_EQ(f.ts, m["ts"].get<int64_t>());
    if (fx.kind.starts_with("depth_book")) {
      if (fx.kind == "depth_books") {
        EXPECT_TRUE(f.full_book);
        EXPECT_FALSE(f.spec);
      } else {
        ASSERT_TRUE(f.spec);
        EXPECT_EQ(f.spec->channel, v1::CHANNEL_ORDER_BOOK);
        EXPECT_EQ(f.spec->depth, 15u);
      }
      ExpectLevels(f.bids, d["b"]);
      ExpectLevels(f.asks, d["a"]);
      if (m["symbol"] == "NOPEUSDT") {
        // Unknown symbol: one frame of ["",""] levels.
        EXPECT_TRUE(f.bids.empty());
        EXPECT_TRUE(f.asks.empty());
        EXPECT_EQ(f.empty_levels, d["b"].size() + d["a"].size());
      } else {
        EXPECT_EQ(f.empty_levels, 0u);
      }
    } else if (fx.kind == "trade") {
      ASSERT_EQ(f.trades.size(), d.size());
      for (size_t i = 0; i < d.size(); ++i) {
        EXPECT_EQ(f.trades[i].price, d[i]["p"].get<std::string>());
        EXPECT_EQ(f.trades[i].qty, d[i]["v"].get<std::string>());
        EXPECT_EQ(f.trades[i].time_ms, *ParseIso8601Ms(d[i]["t"].get<std::string>()));
        EXPECT_EQ(f.trades[i].side, d[i]["s"] == "buy" ? bitunix::common::v1::SIDE_BUY
                                                       : bitunix::common::v1::SIDE_SELL);
      }
    } else if (fx.kind == "ticker") {
      EXPECT_EQ(f.spec->channel, v1::CHANNEL_TICKER);
      EXPECT_EQ(f.ticker.symbol, d["s"].get<std::string>());
      EXPECT_EQ(f.ticker.last, d["la"].get<std::string>());
      EXPECT_EQ(f.ticker.open, d["o"].get<std::string>());
      EXPECT_EQ(f.ticker.high, d["h"].get<std::string>());
      EXPECT_EQ(f.ticker.low, d["l"].get<std::string>());
      EXPECT_EQ(f.ticker.base_volume, d["b"].get<std::string>());
      EXPECT_EQ(f.ticker.quote_volume, d["q"].get<std::string>());
      EXPECT_EQ(f.ticker.change_percent, d["r"].get<std::string>());
    } else if (fx.kind == "price") {
      EXPECT_EQ(f.spec->channel, v1::CHANNEL_MARK_PRICE);
      EXPECT_EQ(f.price.mark_price, d["mp"].get<std::string>());
      EXPECT_EQ(f.price.index_price, d["ip"].get<std::string>());
      EXPECT_EQ(f.price.funding_rate_percent, d["fr"].get<std::string>());
      EXPECT_EQ(f.price.funding_time_ms, *ParseIso8601Ms(d["ft"].get<std::string>()));
      EXPECT_EQ(f.price.next_funding_time_ms, *ParseIso8601Ms(d["nft"].get<std::string>()));
    } else if (fx.kind.starts_with("market_kline_")) {
      EXPECT_EQ(f.spec->channel, v1::CHANNEL_KLINE);
      EXPECT_EQ(f.spec->interval, v1::KLINE_INTERVAL_1M);
      EXPECT_EQ(f.kline.open, d["o"].get<std::string>());
      EXPECT_EQ(f.kline.close, d["c"].get<std::string>());
      EXPECT_EQ(f.kline.high, d["h"].get<std::string>());
      EXPECT_EQ(f.kline.low, d["l"].get<std::string>());
      EXPECT_EQ(f.kline.base_volume, d["b"].get<std::string>());
      EXPECT_EQ(f.kline.quote_volume, d["q"].get<std::string>());
    } else {
      ADD_FAILURE() << "fixture kind without a check: " << fx.kind;
    }
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(frames.size()));
}

TEST(FrameParser, EveryCapturedControlFrame) {
  FrameParser parser;
  for (const auto& fx : LoadJsonl("ws-control.jsonl")) {
    SCOPED_TRACE(fx.text);
    auto r = parser.Parse(fx.text);
    ASSERT_TRUE(r.ok()) << r.status();
    const Frame& f = **r;
    if (fx.kind == "connect") {
      EXPECT_EQ(f.kind, FrameKind::kConnect);
      EXPECT_TRUE(f.has_result);
      EXPECT_TRUE(f.result);
    } else if (fx.kind == "ping") {
      // Our own ping, as sent: an op frame without pong.
      EXPECT_EQ(f.kind, FrameKind::kPingReply);
      EXPECT_EQ(f.pong, 0);
    } else if (fx.kind == "ping-reply") {
      EXPECT_EQ(f.kind, FrameKind::kPingReply);
      EXPECT_EQ(f.pong, fx.message["pong"].get<int64_t>());
    } else if (fx.kind == "subscribe") {
      EXPECT_EQ(f.kind, FrameKind::kSubscribeReply);  // the client's own message parses too
    } else if (fx.kind == "subscribe-refused") {
      EXPECT_EQ(f.kind, FrameKind::kSubscribeReply);
      EXPECT_TRUE(f.has_result);
      EXPECT_FALSE(f.result);
      EXPECT_EQ(f.msg, "subscribe channel > 300");
    } else if (fx.kind == "unsubscribe-reply") {
      EXPECT_EQ(f.kind, FrameKind::kUnsubscribeReply);
      EXPECT_EQ(f.msg, "success");
    } else {
      ADD_FAILURE() << "fixture kind without a check: " << fx.kind;
    }
  }
}

TEST(FrameParser, DocumentedSubscribeAck) {
  FrameParser parser;
  auto r = parser.Parse(R"({"op":"subscribe","ch":"trade","symbol":"BTCUSDT","data":{"result":true}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->kind, FrameKind::kSubscribeReply);
  EXPECT_TRUE((*r)->result);
}

TEST(FrameParser, AcceptsBothDocumentedForms) {
  FrameParser parser;
  // Levels as JSON numbers (doc example), ts as a digit string, keys in alphabetical order.
  auto r = parser.Parse(
      R"({"data":{"a":[[7405.96,3.340]],"b":[[7403.89, 0.002 ]]},"symbol":"BTCUSDT","ch":"depth_book1","ts":"1732178884994"})");
  ASSERT_TRUE(r.ok()) << r.status();
  const Frame& f = **r;
  EXPECT_EQ(f.ch, "depth_book1");
  EXPECT_EQ(f.symbol, "BTCUSDT");
  EXPECT_EQ(f.ts, 1732178884994);
  ASSERT_EQ(f.bids.size(), 1u);
  EXPECT_EQ(f.bids[0].price, "7403.89");
  EXPECT_EQ(f.bids[0].qty, "0.002");
  ASSERT_EQ(f.asks.size(), 1u);
  EXPECT_EQ(f.asks[0].qty, "3.340");  // the token as sent: no float round trip

  // A trade as a single object, t with nanoseconds, upper-case side.
  r = parser.Parse(
      R"({"ch":"trade","symbol":"BTCUSDT","ts":1775540872598,"data":{"t":"2026-04-07T05:47:47.959908526Z","p":"68621.4","v":"0.7142","s":"SELL"}})");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ((*r)->trades.size(), 1u);
  EXPECT_EQ((*r)->trades[0].time_ms, 1775540867959);
  EXPECT_EQ((*r)->trades[0].side, bitunix::common::v1::SIDE_SELL);

  // Trade time as ms.
  r = parser.Parse(R"({"ch":"trade","symbol":"X","ts":1,"data":[{"t":1775540867959,"p":"1","v":"2","s":"buy"}]})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->trades[0].time_ms, 1775540867959);

  // The doc's ticker example (envelope symbol disagrees with data.s; both are reported).
  r = parser.Parse(
      R"({"ch":"ticker","symbol":"BNBUSDT","ts":1732178884994,"data":{"s":"BTCUSDT","la":"68650.9","o":"69141.6","h":"70319.9","l":"68241.9","b":"26295.3977","q":"1823374525.0193","r":"-0.7097029863"}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->symbol, "BNBUSDT");
  EXPECT_EQ((*r)->ticker.symbol, "BTCUSDT");
}

TEST(FrameParser, MultipleTradesPerFrame) {
  FrameParser parser;
  auto r = parser.Parse(
      R"({"ch":"trade","symbol":"ETHUSDT","ts":5,"data":[{"t":"2026-04-07T05:47:52Z","p":"1","v":"2","s":"buy"},{"t":"2026-04-07T05:47:53Z","p":"3","v":"4","s":"sell"}]})");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ((*r)->trades.size(), 2u);
  EXPECT_EQ((*r)->trades[1].price, "3");
}

TEST(FrameParser, UnknownChannelIsAPushWithoutSpec) {
  FrameParser parser;
  auto r = parser.Parse(R"({"ch":"mystery","symbol":"BTCUSDT","ts":1,"data":{"x":[1,2,3]}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->kind, FrameKind::kPush);
  EXPECT_FALSE((*r)->spec);
}

TEST(FrameParser, RejectsMalformedInput) {
  FrameParser parser;
  const char* bad[] = {
      "",
      "not json",
      "[1,2,3]",
      "\x01\x02\x03\xff",
      R"({"ch":"trade","symbol":"BTCUSDT","ts":1,"data":[{"p":"1","v":"2","s":"buy","t":"2026-04-07T05:47:52Z"}])",  // truncated
      R"({"ch":"trade","symbol":"BTCUSDT","ts":1,"data":[{"p":"1","v":"2","s":"buy","t":"2026-04-07T05:47:52Z"}]}} )",
      R"({"symbol":"BTCUSDT","ts":1,"data":{}})",                                         // no ch
      R"({"ch":"trade","symbol":"BTCUSDT","data":[]})",                                    // no ts
      R"({"ch":"trade","symbol":"BTCUSDT","ts":1})",                                       // no data
      R"({"ch":"trade","ts":1,"data":[{"p":"1","v":"2","s":"buy","t":"2026-04-07T05:47:52Z"}]})",  // no symbol
      R"({"ch":"trade","symbol":"BTCUSDT","ts":1,"data":[]})",                             // no trades
      R"({"ch":"trade","symbol":"BTCUSDT","ts":1,"data":[{"p":"abc","v":"2","s":"buy","t":"2026-04-07T05:47:52Z"}]})",
      R"({"ch":"trade","symbol":"BTCUSDT","ts":1,"data":[{"p":"1","v":"2","s":"buy","t":"yesterday"}]})",
      R"({"ch":"trade","symbol":"BTCUSDT","ts":1,"data":[{"p":1e5,"v":"2","s":"buy","t":1}]})",
      R"({"ch":"trade","symbol":"BTCUSDT","ts":"soon","data":[{"p":"1","v":"2","s":"buy","t":1}]})",
      R"({"ch":"depth_book5","symbol":"BTCUSDT","ts":1,"data":{"b":[["1"]],"a":[]}})",
      R"({"ch":"depth_book5","symbol":"BTCUSDT","ts":1,"data":{"b":[["1",""]],"a":[]}})",
      R"({"ch":"depth_book5","symbol":"BTCUSDT","ts":1,"data":{"b":"x"}})",
      R"({"ch":"depth_book5","symbol":"BTCUSDT","ts":1,"data":[]})",
      R"({"ch":"ticker","symbol":"BTCUSDT","ts":1,"data":{"o":"1"}})",
      R"({"ch":"price","symbol":"BTCUSDT","ts":1,"data":{"ip":"1"}})",
      R"({"ch":"market_kline_1min","symbol":"BTCUSDT","ts":1,"data":{"o":"1","c":"2"}})",
      R"({"ch":7,"symbol":"BTCUSDT","ts":1,"data":{}})",
      // Well-formed JSON with invalid UTF-8 inside a string: it would reach clients in a protobuf
      // `string` field, which other languages' runtimes refuse to parse. The whole frame goes.
      "{\"ch\":\"trade\",\"symbol\":\"BTC\xffUSDT\",\"ts\":1,\"data\":[{\"p\":\"1\",\"v\":\"2\",\"s\":\"buy\",\"t\":1}]}",
      "{\"ch\":\"trade\",\"symbol\":\"BTCUSDT\xe2\x82\",\"ts\":1,\"data\":[{\"p\":\"1\",\"v\":\"2\",\"s\":\"buy\",\"t\":1}]}",
      "{\"ch\":\"ticker\",\"symbol\":\"BTCUSDT\",\"ts\":1,\"data\":{\"o\":\"1\xc0\xaf\",\"h\":\"2\",\"l\":\"1\",\"la\":\"1\",\"b\":\"1\",\"q\":\"1\",\"r\":\"0\"}}",
  };
  for (const char* text : bad) {
    auto r = parser.Parse(text);
    EXPECT_FALSE(r.ok()) << "accepted: " << text;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
  // The parser keeps working after errors.
  auto ok = parser.Parse(R"({"ch":"trade","symbol":"BTCUSDT","ts":1,"data":[{"p":"1","v":"2","s":"buy","t":1}]})");
  EXPECT_TRUE(ok.ok()) << ok.status();
}

TEST(FrameParser, RefusesDataTwice) {
  // The first "data" comes before "ch", so it is parsed after a rewind; the second one, after
  // "ch", was parsed at once, and its escaped price ("12", unescaped into simdjson's string
  // buffer) was overwritten by the first one's ("1") when the rewind reused that buffer: a trade
  // with price `1"` went out, and the frame carried both data's trades.
  FrameParser parser;
  const char* twice[] = {
      R"({"data":[{"p":"\u0031","v":"1","t":1}],"ch":"trade","ts":1,"symbol":"BTCUSDT","data":[{"p":"\u00312","v":"1","t":1}]})",
      R"({"ch":"trade","ts":1,"symbol":"BTCUSDT","data":[{"p":"1","v":"1","t":1}],"data":[{"p":"2","v":"1","t":1}]})",
      R"({"data":{"la":"\u0031"},"ch":"ticker","ts":1,"symbol":"BTCUSDT","data":{"la":"1","o":"\u00312"}})",
  };
  for (const char* text : twice) {
    auto r = parser.Parse(text);
    EXPECT_FALSE(r.ok()) << "accepted: " << text;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
  // One "data" after the envelope, escaped or not, is read as before.
  auto ok = parser.Parse(R"({"data":[{"p":"\u00312","v":"1","t":1}],"ch":"trade","ts":1,"symbol":"BTCUSDT"})");
  ASSERT_TRUE(ok.ok()) << ok.status();
  ASSERT_EQ((*ok)->trades.size(), 1u);
  EXPECT_EQ((*ok)->trades[0].price, "12");
}

TEST(FrameParser, RefusesAnyEnvelopeKeyOrBookSideTwice) {
  // A second "ch" after the data relabelled the items parsed for the first channel: trades went
  // out as an empty book (clearing subscribers' books), or a book as a trade frame with no trade.
  FrameParser parser;
  const std::pair<const char*, const char*> twice[] = {
      {R"({"ch":"trade","ts":1,"symbol":"BTCUSDT","data":[{"p":"1","v":"1","t":1}],"ch":"depth_book1"})", "ch twice"},
      {R"({"ch":"depth_book1","symbol":"BTCUSDT","ts":1,"data":{"b":[["1","1"]],"a":[["2","1"]]},"ch":"trade"})",
       "ch twice"},
      {R"({"ch":"trade","symbol":"BTCUSDT","ts":1,"data":[{"p":"1","v":"1","t":1}],"symbol":"ETHUSDT"})",
       "symbol twice"},
      {R"({"ch":"trade","symbol":"BTCUSDT","ts":1,"ts":2,"data":[{"p":"1","v":"1","t":1}]})", "ts twice"},
      {R"({"op":"ping","op":"pong","ping":1})", "op twice"},
      // A side twice appended its levels to the first's.
      {R"({"ch":"depth_book5","symbol":"BTCUSDT","ts":1,"data":{"b":[["1","1"]],"a":[["2","1"]],"b":[["1","1"]]}})",
       "book: b twice"},
      {R"({"ch":"depth_book5","symbol":"BTCUSDT","ts":1,"data":{"a":[["2","1"]],"b":[["1","1"]],"a":[["3","1"]]}})",
       "book: a twice"},
  };
  for (const auto& [text, why] : twice) {
    auto r = parser.Parse(text);
    ASSERT_FALSE(r.ok()) << "accepted: " << text;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message(), why) << text;
  }
  // Each key once, in any order, still reads.
  auto ok = parser.Parse(R"({"ts":1,"data":[{"p":"1","v":"1","t":1}],"symbol":"BTCUSDT","ch":"trade"})");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ((*ok)->trades.size(), 1u);
}

// The whole outcome of one Parse as text: the status, or every field a push fills.
std::string Outcome(const absl::StatusOr<const Frame*>& r) {
  if (!r.ok()) return "error: " + std::string(r.status().message());
  const Frame& f = **r;
  std::string out = "kind=" + std::to_string(static_cast<int>(f.kind)) + " op=" + std::string(f.op) +
                    " ch=" + std::string(f.ch) + " spec=" +
                    (f.spec ? std::to_string(static_cast<int>(f.spec->channel)) + "/" + std::to_string(f.spec->depth)
                            : "none") +
                    " full_book=" + std::to_string(f.full_book) + " symbol=" + std::string(f.symbol) +
                    " ts=" + std::to_string(f.ts) + " bids=" + std::to_string(f.bids.size()) +
                    " asks=" + std::to_string(f.asks.size()) + " empty=" + std::to_string(f.empty_levels);
  for (const TradeView& t : f.trades) {
    out += " [" + std::string(t.price) + " " + std::string(t.qty) + " " + std::to_string(t.side) + " " +
           std::to_string(t.time_ms) + "]";
  }
  return out;
}

// The plain trade path (read without simdjson) must give exactly what the general parser gives,
// on every frame it accepts; whatever it declines goes to the general parser. Checked on the
// captured trades, the simulator's form and several items per frame, and on every one-byte
// change of them: each byte replaced by each of the 256 values, deleted, or preceded by one of a
// few JSON-significant characters.
TEST(FrameParser, PlainTradePathAgreesWithTheGeneralParser) {
  std::vector<std::string> seeds;
  for (const auto& fx : LoadJsonl("ws-public.jsonl")) {
    if (fx.kind == "trade") seeds.push_back(fx.text);
  }
  ASSERT_FALSE(seeds.empty());
  // The simulator's order (ch, symbol, ts, data; t, p, v, s), two items, and a sell.
  seeds.push_back(R"({"ch":"trade","symbol":"BTCUSDT","ts":1748803492958,"data":[)"
                  R"({"t":"2025-06-01T18:44:52Z","p":"104350.5","v":"0.002","s":"buy"},)"
                  R"({"t":"2025-06-01T18:44:53Z","p":"104349","v":"1","s":"sell"}]})");
  // No side, and the keys in another order.
  seeds.push_back(R"({"data":[{"v":"3.5","p":"0.00012","t":"2025-12-31T23:59:59Z"}],)"
                  R"("ts":0,"ch":"trade","symbol":"X1"})");

  FrameParser fast;
  FrameParser general(FrameParser::Options{.plain_trades = false});
  for (const std::string& seed : seeds) {
    const uint64_t before = fast.plain_trades_read();
    ASSERT_EQ(Outcome(fast.Parse(seed)), Outcome(general.Parse(seed))) << seed;
    EXPECT_EQ(fast.plain_trades_read(), before + 1) << "not read by the plain path: " << seed;
  }

  // Declined (the general parser decides): a ts past 18 digits (the fuzzer's find: its digits
  // once overflowed a signed sum), a space, a number for p, an escape, an unknown key.
  const std::string head = R"({"ch":"trade","symbol":"BTCUSDT",)";
  const std::string item = R"({"p":"1","v":"1","t":"2025-06-01T18:44:52Z")";
  for (const std::string& text : std::vector<std::string>{
           head + R"("ts":77777777777771737770436299,"data":[)" + item + "}]}",
           head + R"("ts":1, "data":[)" + item + "}]}",
           head + R"("ts":1,"data":[{"p":1,"v":"1","t":"2025-06-01T18:44:52Z"}]})",
           R"({"ch":"trade","symbol":"BTC\u0055SDT","ts":1,"data":[)" + item + "}]}",
           head + R"("ts":1,"data":[)" + item + R"(,"x":"1"}]})",
  }) {
    const uint64_t before = fast.plain_trades_read();
    EXPECT_EQ(Outcome(fast.Parse(text)), Outcome(general.Parse(text))) << text;
    EXPECT_EQ(fast.plain_trades_read(), before) << "read by the plain path: " << text;
  }

  uint64_t compared = 0;
  const uint64_t plain_before = fast.plain_trades_read();
  auto check = [&](const std::string& text) {
    ++compared;
    const std::string want = Outcome(general.Parse(text));
    const std::string got = Outcome(fast.Parse(text));
    if (got != want) ADD_FAILURE() << "input: " << text << "\nplain: " << got << "\ngeneral: " << want;
  };
  for (const std::string& seed : seeds) {
    for (size_t i = 0; i < seed.size(); ++i) {
      for (int b = 0; b < 256; ++b) {
        if (static_cast<unsigned char>(seed[i]) == b) continue;
        std::string m = seed;
        m[i] = static_cast<char>(b);
        check(m);
      }
      check(seed.substr(0, i) + seed.substr(i + 1));
      for (char c : std::string(" ,:\"\\{}[]0-.e")) check(seed.substr(0, i) + c + seed.substr(i));
    }
  }
  // Both kinds of mutation happened: some still plain trades (a digit changed), most declined.
  const uint64_t plain = fast.plain_trades_read() - plain_before;
  EXPECT_GT(plain, 100u);
  EXPECT_LT(plain, compared / 2);
}

// Trade times in the "…Z" form: each field at and past its bound, through the plain path and the
// general parser (they share json::IsoDate / json::IsoTimeOfDayZ). Accepted values are the ones
// ParseIso8601Ms gives; out-of-range fields are refused.
TEST(FrameParser, TradeTimeFieldsAtTheirBounds) {
  FrameParser plain;
  FrameParser general(FrameParser::Options{.plain_trades = false});
  auto frame = [](const std::string& t) {
    return R"({"ch":"trade","symbol":"BTCUSDT","ts":1,"data":[{"p":"1","v":"1","t":")" + t + R"("}]})";
  };
  for (const std::string t : {"2025-06-01T00:00:00Z", "2025-06-01T23:59:59Z", "2025-06-01T23:59:60Z",
                              "2025-12-31T12:00:00Z", "2024-01-01T00:00:00Z", "2025-06-02T00:00:00Z"}) {
    const auto want = ParseIso8601Ms(t);
    ASSERT_TRUE(want.has_value()) << t;
    for (FrameParser* p : {&plain, &general}) {
      auto r = p->Parse(frame(t));
      ASSERT_TRUE(r.ok()) << t << ": " << r.status();
      EXPECT_EQ((*r)->trades.at(0).time_ms, *want) << t;
    }
  }
  for (const std::string t : {"2025-06-01T24:00:00Z", "2025-06-01T23:60:00Z", "2025-06-01T23:59:61Z",
                              "2025-13-01T00:00:00Z", "2025-00-01T00:00:00Z", "2025-06-32T00:00:00Z",
                              "2025-06-00T00:00:00Z"}) {
    for (FrameParser* p : {&plain, &general}) {
      EXPECT_FALSE(p->Parse(frame(t)).ok()) << "accepted: " << t;
    }
  }
  EXPECT_GT(plain.plain_trades_read(), 0u);
}

TEST(FrameParser, HandlesLargeWholeBook) {
  // depth_books frames are whole books (~460 KB live).
  std::string text = R"({"ch":"depth_books","symbol":"BTCUSDT","ts":1,"data":{"b":[)";
  for (int i = 0; i < 17000; ++i) {
    if (i) text += ',';
    text += "[\"" + std::to_string(100000 - i) + ".5\",\"1.25\"]";
  }
  text += R"(],"a":[["100001","2"]]}})";
  FrameParser parser;
  auto r = parser.Parse(text);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->bids.size(), 17000u);
  EXPECT_EQ((*r)->bids.back().price, "83001.5");
  EXPECT_EQ((*r)->asks.size(), 1u);
}

}  // namespace
}  // namespace bx::md
