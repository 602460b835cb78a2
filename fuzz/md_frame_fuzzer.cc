// Public WebSocket frames -> FrameParser -> EventEncoder: what the market-data service does with
// every frame the exchange (or anyone between) sends. Properties:
// - Parse never crashes, leaks or hits undefined behaviour, whatever the bytes;
// - every decimal it accepts is exact decimal text (never reformatted), or empty where allowed;
// - whatever it accepts encodes into protobuf wire bytes that a client decodes back to the same
//   text, so a frame can never make the batch it lands in unreadable for every subscriber;
// - the plain trade path (read without simdjson) and the general parser give the same result:
//   the same error, or the same envelope and trades.
#include <cstdint>
#include <string>

#include "common/decimal.h"
#include "fuzz/fuzz_check.h"
#include "services/marketdata/event_encoder.h"
#include "services/marketdata/frame_parser.h"

namespace {

namespace v1 = ::bitunix::marketdata::v1;
using bx::md::EventLayout;

bool DecimalOrEmpty(std::string_view s) { return s.empty() || bx::IsDecimal(s); }

v1::MarketEvent Decode(const std::string& bytes, const EventLayout& layout) {
  v1::MarketEvent ev;
  FUZZ_CHECK(bx::md::DecodeEvent(bytes, layout, &ev), "encoded event (%zu bytes) does not decode", bytes.size());
  return ev;
}

void CheckLevels(const google::protobuf::RepeatedPtrField<v1::PriceLevel>& out,
                 const std::vector<bx::md::LevelView>& in) {
  FUZZ_CHECK(static_cast<size_t>(out.size()) <= in.size(), "%d levels out of %zu in", out.size(), in.size());
  for (int i = 0; i < out.size(); ++i) {
    FUZZ_CHECK(out[i].price() == in[static_cast<size_t>(i)].price && out[i].qty() == in[static_cast<size_t>(i)].qty,
               "level %d changed", i);
  }
}

bool SameTrades(const std::vector<bx::md::TradeView>& a, const std::vector<bx::md::TradeView>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].price != b[i].price || a[i].qty != b[i].qty || a[i].side != b[i].side || a[i].time_ms != b[i].time_ms) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bx::md::FrameParser parser;
  static bx::md::FrameParser general(bx::md::FrameParser::Options{.plain_trades = false});
  static bx::md::EventEncoder encoder;
  auto parsed = parser.Parse(bx::fuzz::AsText(data, size));
  auto reference = general.Parse(bx::fuzz::AsText(data, size));
  FUZZ_CHECK(parsed.ok() == reference.ok(), "plain path %s, general parser %s", parsed.status().ToString().c_str(),
             reference.status().ToString().c_str());
  if (parsed.ok()) {
    const bx::md::Frame& a = **parsed;
    const bx::md::Frame& b = **reference;
    FUZZ_CHECK(a.kind == b.kind && a.ch == b.ch && a.symbol == b.symbol && a.ts == b.ts &&
                   a.spec.has_value() == b.spec.has_value() && (!a.spec || a.spec->channel == b.spec->channel) &&
                   SameTrades(a.trades, b.trades),
               "the plain path and the general parser read the frame differently");
  } else {
    FUZZ_CHECK(parsed.status() == reference.status(), "different errors");
  }
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.status().code() == absl::StatusCode::kInvalidArgument, "unexpected status %s",
               parsed.status().ToString().c_str());
    return 0;
  }
  const bx::md::Frame& f = **parsed;
  if (f.kind != bx::md::FrameKind::kPush || !f.spec) return 0;

  bx::md::EventHeader h{.symbol = "BTCUSDT", .channel = f.spec->channel, .exchange_ts_ms = f.ts,
                        .gateway_ts_ns = 1, .snapshot = false};
  std::string out;
  switch (f.spec->channel) {
    case v1::CHANNEL_TRADE:
      for (const auto& t : f.trades) {
        FUZZ_CHECK(bx::IsDecimal(t.price) && bx::IsDecimal(t.qty), "trade decimals '%.*s' '%.*s'",
                   static_cast<int>(t.price.size()), t.price.data(), static_cast<int>(t.qty.size()), t.qty.data());
        const auto ev = Decode(out, encoder.Trade(h, t, &out));
        FUZZ_CHECK(ev.trade().price() == t.price && ev.trade().qty() == t.qty && ev.trade().side() == t.side &&
                       ev.trade().trade_time_ms() == t.time_ms,
                   "trade changed by the encoder");
      }
      break;
    case v1::CHANNEL_ORDER_BOOK: {
      for (const auto* side : {&f.bids, &f.asks}) {
        for (const auto& l : *side) {
          FUZZ_CHECK(DecimalOrEmpty(l.price) && DecimalOrEmpty(l.qty), "book decimals");
        }
      }
      const auto ev = Decode(out, encoder.Book(h, f.bids, f.asks, f.spec->depth, &out));
      CheckLevels(ev.order_book().bids(), f.bids);
      CheckLevels(ev.order_book().asks(), f.asks);
      break;
    }
    case v1::CHANNEL_TICKER: {
      const auto& t = f.ticker;
      for (auto s : {t.last, t.open, t.high, t.low, t.base_volume, t.quote_volume, t.change_percent}) {
        FUZZ_CHECK(DecimalOrEmpty(s), "ticker decimal '%.*s'", static_cast<int>(s.size()), s.data());
      }
      const auto ev = Decode(out, encoder.Ticker(h, t, "", &out));
      FUZZ_CHECK(ev.ticker().last_price() == t.last, "ticker last changed");
      break;
    }
    case v1::CHANNEL_MARK_PRICE: {
      const auto& p = f.price;
      for (auto s : {p.mark_price, p.index_price, p.funding_rate_percent}) {
        FUZZ_CHECK(DecimalOrEmpty(s), "price decimal '%.*s'", static_cast<int>(s.size()), s.data());
      }
      Decode(out, encoder.MarkPrice(h, p, &out));
      break;
    }
    case v1::CHANNEL_KLINE: {
      const auto& k = f.kline;
      for (auto s : {k.open, k.high, k.low, k.close, k.base_volume, k.quote_volume}) {
        FUZZ_CHECK(DecimalOrEmpty(s), "kline decimal '%.*s'", static_cast<int>(s.size()), s.data());
      }
      Decode(out, encoder.Kline(h, k, f.spec->interval, f.spec->price_type, f.ts, &out));
      break;
    }
    default:
      break;
  }
  return 0;
}
