#include "services/marketdata/frame_parser.h"

#include <cstring>

#include "common/decimal.h"
#include "common/time_util.h"
#include "services/marketdata/json_util.h"

namespace bx::md {

namespace od = simdjson::ondemand;
using bitunix::common::v1::Side;

namespace {

using json::Err;
using json::kOk;
using json::ReadDecimal;
using json::ReadInt;
using json::ReadString;
using json::ReadTime;

Side ParseSide(std::string_view s) {
  if (s.size() == 3 && (s[0] | 0x20) == 'b' && (s[1] | 0x20) == 'u' && (s[2] | 0x20) == 'y') {
    return bitunix::common::v1::SIDE_BUY;
  }
  if (s.size() == 4 && (s[0] | 0x20) == 's' && (s[1] | 0x20) == 'e' && (s[2] | 0x20) == 'l' &&
      (s[3] | 0x20) == 'l') {
    return bitunix::common::v1::SIDE_SELL;
  }
  return bitunix::common::v1::SIDE_UNSPECIFIED;
}

// Fills the item in place: a TradeView built on the stack field by field and then pushed is
// copied with 16-byte moves over the narrower stores (a store-forwarding stall per trade). On an
// error the frame is refused, and the next Parse clears it.
Err ParseTradeItem(od::object& obj, Frame* f) {
  TradeView& t = f->trades.emplace_back();
  bool has_p = false, has_v = false, has_t = false;
  for (auto fr : obj) {
    if (fr.error()) return "trade: bad item";
    od::field& field = fr.value_unsafe();
    od::raw_json_string key = field.key();
    od::value& v = field.value();
    if (key == "p") {
      if (Err e = ReadDecimal(v, &t.price, false, "trade: bad p")) return e;
      has_p = true;
    } else if (key == "v") {
      if (Err e = ReadDecimal(v, &t.qty, false, "trade: bad v")) return e;
      has_v = true;
    } else if (key == "s") {
      std::string_view s;
      if (Err e = ReadString(v, &s, "trade: bad s")) return e;
      t.side = ParseSide(s);
    } else if (key == "t") {
      if (Err e = ReadTime(v, &t.time_ms, "trade: bad t")) return e;
      has_t = true;
    }
  }
  if (!has_p || !has_v || !has_t) return "trade: item needs p, v and t";
  return kOk;
}

Err ParseTrades(od::value& data, Frame* f) {
  od::json_type t;
  if (data.type().get(t)) return "trade: bad data";
  if (t == od::json_type::object) {
    od::object obj;
    if (data.get_object().get(obj)) return "trade: bad data";
    return ParseTradeItem(obj, f);
  }
  if (t != od::json_type::array) return "trade: data must be an array";
  od::array arr;
  if (data.get_array().get(arr)) return "trade: bad data";
  for (auto item : arr) {
    od::object obj;
    if (item.get_object().get(obj)) return "trade: item must be an object";
    if (Err e = ParseTradeItem(obj, f)) return e;
  }
  if (f->trades.empty()) return "trade: empty data";
  return kOk;
}

Err ParseLevels(od::value& v, std::vector<LevelView>* out, uint32_t* empty) {
  od::array levels;
  if (v.get_array().get(levels)) return "book: side must be an array";
  for (auto lr : levels) {
    od::array pair;
    if (lr.get_array().get(pair)) return "book: level must be [price, qty]";
    LevelView lv;
    int n = 0;
    for (auto xr : pair) {
      od::value x;
      if (xr.get(x)) return "book: bad level";
      if (n == 0) {
        if (Err e = ReadDecimal(x, &lv.price, true, "book: bad price")) return e;
      } else if (n == 1) {
        if (Err e = ReadDecimal(x, &lv.qty, true, "book: bad qty")) return e;
      }
      ++n;  // extra elements (order counts on some venues) are ignored
    }
    if (n < 2) return "book: level must be [price, qty]";
    if (lv.price.empty() || lv.qty.empty()) {
      if (!lv.price.empty() || !lv.qty.empty()) return "book: half-empty level";
      ++*empty;
      continue;
    }
    out->push_back(lv);
  }
  return kOk;
}

Err ParseBook(od::value& data, Frame* f) {
  od::object obj;
  if (data.get_object().get(obj)) return "book: data must be an object";
  // Each side once: a second "b" would append its levels to the first's.
  bool has_bids = false, has_asks = false;
  for (auto fr : obj) {
    if (fr.error()) return "book: bad data";
    od::field& field = fr.value_unsafe();
    od::raw_json_string key = field.key();
    if (key == "b") {
      if (has_bids) return "book: b twice";
      if (Err e = ParseLevels(field.value(), &f->bids, &f->empty_levels)) return e;
      has_bids = true;
    } else if (key == "a") {
      if (has_asks) return "book: a twice";
      if (Err e = ParseLevels(field.value(), &f->asks, &f->empty_levels)) return e;
      has_asks = true;
    }
  }
  return has_bids || has_asks ? kOk : "book: data needs b or a";
}

Err ParseTicker(od::value& data, Frame* f) {
  od::object obj;
  if (data.get_object().get(obj)) return "ticker: data must be an object";
  TickerView& t = f->ticker;
  for (auto fr : obj) {
    if (fr.error()) return "ticker: bad data";
    od::field& field = fr.value_unsafe();
    od::raw_json_string key = field.key();
    od::value& v = field.value();
    Err e = kOk;
    if (key == "s") {
      e = ReadString(v, &t.symbol, "ticker: bad s");
    } else if (key == "la") {
      e = ReadDecimal(v, &t.last, false, "ticker: bad la");
    } else if (key == "o") {
      e = ReadDecimal(v, &t.open, true, "ticker: bad o");
    } else if (key == "h") {
      e = ReadDecimal(v, &t.high, true, "ticker: bad h");
    } else if (key == "l") {
      e = ReadDecimal(v, &t.low, true, "ticker: bad l");
    } else if (key == "b") {
      e = ReadDecimal(v, &t.base_volume, true, "ticker: bad b");
    } else if (key == "q") {
      e = ReadDecimal(v, &t.quote_volume, true, "ticker: bad q");
    } else if (key == "r") {
      e = ReadDecimal(v, &t.change_percent, true, "ticker: bad r");
    }
    if (e) return e;
  }
  return t.last.empty() ? "ticker: missing la" : kOk;
}

Err ParsePrice(od::value& data, Frame* f) {
  od::object obj;
  if (data.get_object().get(obj)) return "price: data must be an object";
  PriceView& p = f->price;
  for (auto fr : obj) {
    if (fr.error()) return "price: bad data";
    od::field& field = fr.value_unsafe();
    od::raw_json_string key = field.key();
    od::value& v = field.value();
    Err e = kOk;
    if (key == "mp") {
      e = ReadDecimal(v, &p.mark_price, false, "price: bad mp");
    } else if (key == "ip") {
      e = ReadDecimal(v, &p.index_price, true, "price: bad ip");
    } else if (key == "fr") {
      e = ReadDecimal(v, &p.funding_rate_percent, true, "price: bad fr");
    } else if (key == "ft") {
      e = ReadTime(v, &p.funding_time_ms, "price: bad ft");
    } else if (key == "nft") {
      e = ReadTime(v, &p.next_funding_time_ms, "price: bad nft");
    }
    if (e) return e;
  }
  return p.mark_price.empty() ? "price: missing mp" : kOk;
}

Err ParseKline(od::value& data, Frame* f) {
  od::object obj;
  if (data.get_object().get(obj)) return "kline: data must be an object";
  KlineView& k = f->kline;
  for (auto fr : obj) {
    if (fr.error()) return "kline: bad data";
    od::field& field = fr.value_unsafe();
    od::raw_json_string key = field.key();
    od::value& v = field.value();
    Err e = kOk;
    if (key == "o") {
      e = ReadDecimal(v, &k.open, false, "kline: bad o");
    } else if (key == "c") {
      e = ReadDecimal(v, &k.close, false, "kline: bad c");
    } else if (key == "h") {
      e = ReadDecimal(v, &k.high, false, "kline: bad h");
    } else if (key == "l") {
      e = ReadDecimal(v, &k.low, false, "kline: bad l");
    } else if (key == "b") {
      e = ReadDecimal(v, &k.base_volume, true, "kline: bad b");
    } else if (key == "q") {
      e = ReadDecimal(v, &k.quote_volume, true, "kline: bad q");
    }
    if (e) return e;
  }
  if (k.open.empty() || k.close.empty() || k.high.empty() || k.low.empty()) {
    return "kline: needs o, h, l and c";
  }
  return kOk;
}

// `views_dirty` is set before the ticker, price or kline views are written, so the next Reset
// clears them (and only then: zeroing all three on every frame was a `rep stos` per trade).
Err ParseData(od::value& data, Frame* f, bool* views_dirty) {
  if (f->full_book) return ParseBook(data, f);
  if (!f->spec) return kOk;  // not streamed: counted by the caller, data left unread
  switch (f->spec->channel) {
    case v1::CHANNEL_TRADE: return ParseTrades(data, f);
    case v1::CHANNEL_ORDER_BOOK: return ParseBook(data, f);
    case v1::CHANNEL_TICKER: *views_dirty = true; return ParseTicker(data, f);
    case v1::CHANNEL_MARK_PRICE: *views_dirty = true; return ParsePrice(data, f);
    case v1::CHANNEL_KLINE: *views_dirty = true; return ParseKline(data, f);
    default: return kOk;
  }
}

Err ParseControlData(od::value& data, Frame* f) {
  od::json_type t;
  if (data.type().get(t)) return "control: bad data";
  if (t == od::json_type::string) return ReadString(data, &f->msg, "control: bad data");
  if (t != od::json_type::object) return kOk;
  od::object obj;
  if (data.get_object().get(obj)) return "control: bad data";
  for (auto fr : obj) {
    if (fr.error()) return "control: bad data";
    od::field& field = fr.value_unsafe();
    od::raw_json_string key = field.key();
    od::value& v = field.value();
    if (key == "result") {
      bool b = false;
      if (v.get_bool().get(b)) return "control: bad result";
      f->has_result = true;
      f->result = b;
    } else if (key == "msg") {
      od::json_type mt;
      if (!v.type().get(mt) && mt == od::json_type::string) {
        if (Err e = ReadString(v, &f->msg, "control: bad msg")) return e;
      }
    }
  }
  return kOk;
}

// Which envelope keys a frame had.
struct Envelope {
  bool has_ch = false, has_ts = false, has_data = false, data_pending = false;
  bool has_symbol = false, has_op = false;
  bool* views_dirty = nullptr;  // see ParseData
};

// The firehose channel inline: the spec ParseExchangeChannel returns comes back through memory in
// 4-byte fields and is copied on with a 16-byte load (a store-forwarding stall per frame).
std::optional<ChannelSpec> SpecOf(std::string_view ch) {
  if (ch == "trade") return ChannelSpec{.channel = v1::CHANNEL_TRADE};
  return ParseExchangeChannel(ch);
}

// The root object's keys, in whatever order they come. With this loop written in ParseDocument
// (flags as locals), g++ 12 kept each field the iterator returns in memory and copied it with
// 16-byte loads over narrower stores: a store-forwarding stall per key, ~40 % of a trade frame's
// parse (perf annotate, 2026-11-26). Written as a function of its own (still inlined) it does not.
// Codegen-dependent: re-check with perf annotate after changing this loop.
Err ParseEnvelope(od::object& root, Frame* f, Envelope* env) {
  for (auto fr : root) {
    if (fr.error()) return "not JSON";
    od::field& field = fr.value_unsafe();
    od::raw_json_string key = field.key();
    od::value& v = field.value();
    // Every key at most once. A repeated key is not something the exchange sends, and it would
    // be read on top of what the first one decided: a second "ch" after "data" would relabel the
    // items parsed for the first channel (trades taken for an empty book), a second "symbol"
    // would move them to another book.
    if (key == "ch") {
      if (env->has_ch) return "ch twice";
      if (Err e = ReadString(v, &f->ch, "ch must be a string")) return e;
      env->has_ch = true;
      f->spec = SpecOf(f->ch);
      f->full_book = f->ch == "depth_books";
    } else if (key == "symbol") {
      if (env->has_symbol) return "symbol twice";
      env->has_symbol = true;
      if (Err e = ReadString(v, &f->symbol, "symbol must be a string")) return e;
    } else if (key == "ts") {
      if (env->has_ts) return "ts twice";
      if (Err e = ReadInt(v, &f->ts, "ts must be an integer")) return e;
      env->has_ts = true;
    } else if (key == "op") {
      if (env->has_op) return "op twice";
      env->has_op = true;
      if (Err e = ReadString(v, &f->op, "op must be a string")) return e;
    } else if (key == "pong") {
      if (Err e = ReadInt(v, &f->pong, "pong must be an integer")) return e;
    } else if (key == "data") {
      // A second "data" is refused, not parsed on top of the first: with the first one pending,
      // the rewind that comes back for it reuses simdjson's string buffer, so the views the second
      // one left there (escaped strings) would then read other text, and both sets of items would
      // be kept.
      if (env->has_data) return "data twice";
      env->has_data = true;
      if (!f->op.empty()) {
        if (Err e = ParseControlData(v, f)) return e;
      } else if (env->has_ch) {
        if (Err e = ParseData(v, f, env->views_dirty)) return e;
      } else {
        env->data_pending = true;  // keys out of the live order: come back for it
      }
    }
  }
  return kOk;
}

void Reset(Frame* f, bool* views_dirty) {
  f->kind = FrameKind::kOtherOp;
  f->op = {};
  f->has_result = false;
  f->result = false;
  f->msg = {};
  f->pong = 0;
  f->ch = {};
  f->spec.reset();
  f->full_book = false;
  f->symbol = {};
  f->ts = 0;
  f->trades.clear();
  f->bids.clear();
  f->asks.clear();
  f->empty_levels = 0;
  if (*views_dirty) {
    f->ticker = {};
    f->price = {};
    f->kline = {};
    *views_dirty = false;
  }
}

// --- The plain trade push, read without a JSON library ---
//
// Trades are the feed's busiest channel, and the exchange sends every one in the same plain
// form: {"ch":"trade","symbol":"BTCUSDT","ts":1748803492958,"data":[{"p":"104350","s":"buy",
// "t":"2025-06-01T18:44:52Z","v":"1.1536"}]}. This reads that form directly, in about a third of
// the general parser's time (docs/MARKETDATA.md, "The plain trade path"). It accepts only a
// strict subset of JSON: no whitespace; the four envelope keys and the item keys p, v, t
// (required) and s, each once, in any order, and nothing else; strings of printable ASCII
// without escapes; `ts` a plain non-negative integer; p and v decimal strings, t an ISO-8601
// "…Z" string. Anything else (a number where a string is usual, an unknown key, a space, an
// escape, an error of any kind) is declined, and the general parser reads the frame and decides.
// On every frame it accepts, the general parser gives the same result
// (FrameParser.PlainTradePathAgreesWithTheGeneralParser over every one-byte change of the
// captured trades, and the md frame fuzzer on every input).

// The day of the last trade time read: a feed's trade times share it, so the date is checked and
// converted once a day rather than once a trade.
struct PlainDateCache {
  char date[10] = {};  // "YYYY-MM-DD" that json::IsoDate accepted
  int64_t day_ms = 0;
  bool valid = false;
};

class PlainCursor {
 public:
  explicit PlainCursor(std::string_view text) : p_(text.data()), end_(text.data() + text.size()) {}
  bool at_end() const { return p_ == end_; }
  bool Eat(char c) {
    if (p_ == end_ || *p_ != c) return false;
    ++p_;
    return true;
  }
  // The exact bytes of `lit` (a key with its quotes and colon, say); consumed if they match. The
  // literal's length is known at compile time, so this is a load and a compare, not a call.
  template <size_t N>
  [[gnu::always_inline]] bool Lit(const char (&lit)[N]) {
    if (static_cast<size_t>(end_ - p_) < N - 1 || std::memcmp(p_, lit, N - 1) != 0) return false;
    p_ += N - 1;
    return true;
  }
  // A string of printable ASCII without escapes; anything else is declined, not unescaped.
  bool String(std::string_view* out) {
    if (!Eat('"')) return false;
    const char* const start = p_;
    for (; p_ != end_; ++p_) {
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        *out = std::string_view(start, static_cast<size_t>(p_ - start));
        ++p_;
        return true;
      }
      if (c < 0x20 || c > 0x7e || c == '\\') return false;
    }
    return false;
  }
  // A string holding a decimal as IsDecimal defines it ([-]digits[.digits]), read in one pass.
  bool Decimal(std::string_view* out) {
    if (!Eat('"')) return false;
    const char* const start = p_;
    if (p_ != end_ && *p_ == '-') ++p_;
    if (!Digits()) return false;
    if (p_ != end_ && *p_ == '.') {
      ++p_;
      if (!Digits()) return false;
    }
    if (p_ == end_ || *p_ != '"') return false;
    *out = std::string_view(start, static_cast<size_t>(p_ - start));
    ++p_;
    return true;
  }
  // A string "YYYY-MM-DDTHH:MM:SSZ" that json::IsoSecondsZ accepts, with the value it gives; the
  // date is converted only when it differs from the last one.
  bool IsoTime(PlainDateCache* cache, int64_t* out) {
    if (end_ - p_ < 22 || p_[0] != '"' || p_[21] != '"') return false;
    const std::string_view s(p_ + 1, 20);
    int64_t secs = 0;
    if (!json::IsoTimeOfDayZ(s, &secs)) return false;
    if (!cache->valid || std::memcmp(s.data(), cache->date, 10) != 0) {
      int64_t days = 0;
      if (!json::IsoDate(s, &days)) return false;
      std::memcpy(cache->date, s.data(), 10);
      cache->day_ms = days * 86'400'000;
      cache->valid = true;
    }
    *out = cache->day_ms + secs * 1000;
    p_ += 22;
    return true;
  }
  // A JSON integer >= 0 of at most 18 digits (no leading zero, as JSON requires). Longer runs
  // are declined; they are summed unsigned meanwhile, so they wrap instead of overflowing.
  bool Uint(int64_t* out) {
    const char* const start = p_;
    uint64_t v = 0;
    while (p_ != end_ && static_cast<unsigned>(*p_ - '0') <= 9) v = v * 10 + static_cast<unsigned>(*p_++ - '0');
    const auto n = p_ - start;
    if (n == 0 || n > 18 || (n > 1 && *start == '0')) return false;
    *out = static_cast<int64_t>(v);
    return true;
  }

 private:
  bool Digits() {
    const char* const start = p_;
    while (p_ != end_ && static_cast<unsigned>(*p_ - '0') <= 9) ++p_;
    return p_ != start;
  }

  const char* p_;
  const char* const end_;
};

bool PlainTradeItem(PlainCursor& c, PlainDateCache* dates, Frame* f) {
  if (!c.Eat('{')) return false;
  TradeView& t = f->trades.emplace_back();
  unsigned seen = 0;
  do {
    unsigned bit = 0;
    if (c.Lit("\"p\":")) {
      bit = 1;
      if (!c.Decimal(&t.price)) return false;
    } else if (c.Lit("\"v\":")) {
      bit = 2;
      if (!c.Decimal(&t.qty)) return false;
    } else if (c.Lit("\"t\":")) {
      bit = 4;
      if (!c.IsoTime(dates, &t.time_ms)) return false;
    } else if (c.Lit("\"s\":")) {
      bit = 8;
      std::string_view v;
      if (!c.String(&v)) return false;
      t.side = ParseSide(v);
    } else {
      return false;
    }
    if ((seen & bit) != 0) return false;
    seen |= bit;
  } while (c.Eat(','));
  return c.Eat('}') && (seen & 7) == 7;
}

// True with `f` filled as the general parser would fill it; false (with items possibly pushed to
// f->trades: the caller clears them) when the frame is not a plain trade push.
bool ParsePlainTrade(std::string_view text, PlainDateCache* dates, Frame* f) {
  PlainCursor c(text);
  if (!c.Eat('{')) return false;
  std::string_view symbol;
  int64_t ts = 0;
  unsigned seen = 0;
  do {
    unsigned bit = 0;
    if (c.Lit("\"ch\":")) {
      bit = 1;
      if (!c.Lit("\"trade\"")) return false;
    } else if (c.Lit("\"symbol\":")) {
      bit = 2;
      if (!c.String(&symbol) || symbol.empty()) return false;
    } else if (c.Lit("\"ts\":")) {
      bit = 4;
      if (!c.Uint(&ts)) return false;
    } else if (c.Lit("\"data\":")) {
      bit = 8;
      if ((seen & 8) != 0 || !c.Eat('[')) return false;
      do {
        if (!PlainTradeItem(c, dates, f)) return false;
      } while (c.Eat(','));
      if (!c.Eat(']')) return false;
    } else {
      return false;
    }
    if ((seen & bit) != 0) return false;
    seen |= bit;
  } while (c.Eat(','));
  if (!c.Eat('}') || !c.at_end() || seen != 15) return false;
  static constexpr std::string_view kTrade = "trade";
  f->ch = kTrade;
  f->spec = ChannelSpec{.channel = v1::CHANNEL_TRADE};
  f->symbol = symbol;
  f->ts = ts;
  f->kind = FrameKind::kPush;
  return true;
}

}  // namespace

struct FrameParser::Impl {
  od::parser parser;
  std::string buffer;  // input copy with simdjson's required padding
  Frame frame;
  bool plain_trades = true;
  uint64_t plain_trades_read = 0;
  PlainDateCache plain_dates;
  bool views_dirty = false;  // frame.ticker, .price or .kline may hold views (ParseData)
  // Envelope strings saved before a rewind (rewinding reuses simdjson's string buffer).
  std::string saved_ch, saved_symbol, saved_op;

  void SaveEnvelope() {
    saved_ch.assign(frame.ch);
    saved_symbol.assign(frame.symbol);
    saved_op.assign(frame.op);
    frame.ch = saved_ch;
    frame.symbol = saved_symbol;
    frame.op = saved_op;
  }

  Err ParseDocument(std::string_view text) {
    if (buffer.size() < text.size() + simdjson::SIMDJSON_PADDING) {
      buffer.resize(text.size() + simdjson::SIMDJSON_PADDING + 256);
    }
    std::memcpy(buffer.data(), text.data(), text.size());
    if (plain_trades) {
      if (ParsePlainTrade(std::string_view(buffer.data(), text.size()), &plain_dates, &frame)) {
        ++plain_trades_read;
        return kOk;
      }
      frame.trades.clear();  // declined: the only field the plain path fills as it goes
    }
    od::document doc;
    if (parser.iterate(buffer.data(), text.size(), buffer.size()).get(doc)) return "not JSON";
    od::object root;
    if (doc.get_object().get(root)) return "not a JSON object";

    Frame* f = &frame;
    Envelope env;
    env.views_dirty = &views_dirty;
    if (Err e = ParseEnvelope(root, f, &env)) return e;
    const bool has_ch = env.has_ch, has_ts = env.has_ts, has_data = env.has_data, data_pending = env.data_pending;
    if (!doc.current_location().error()) return "trailing content after the JSON object";
    if (data_pending) SaveEnvelope();
    if (!f->op.empty()) {
      if (data_pending) {
        doc.rewind();
        od::value data;
        if (doc.find_field_unordered("data").get(data)) return "not JSON";
        if (Err e = ParseControlData(data, f)) return e;
      }
      if (f->op == "connect") {
        f->kind = FrameKind::kConnect;
      } else if (f->op == "ping" || f->op == "pong") {
        f->kind = FrameKind::kPingReply;
      } else if (f->op == "subscribe") {
        f->kind = FrameKind::kSubscribeReply;
      } else if (f->op == "unsubscribe") {
        f->kind = FrameKind::kUnsubscribeReply;
      } else {
        f->kind = FrameKind::kOtherOp;
      }
      return kOk;
    }
    if (!has_ch) return "neither op nor ch";
    if (!has_data) return "push without data";
    if (!has_ts) return "push without ts";
    if (data_pending) {
      doc.rewind();
      od::value data;
      if (doc.find_field_unordered("data").get(data)) return "not JSON";
      if (Err e = ParseData(data, f, &views_dirty)) return e;
    }
    if ((f->spec || f->full_book) && f->symbol.empty()) {
      // The ticker carries its symbol in data.s as well.
      if (f->spec && f->spec->channel == v1::CHANNEL_TICKER && !f->ticker.symbol.empty()) {
        f->symbol = f->ticker.symbol;
      } else {
        return "push without symbol";
      }
    }
    f->kind = FrameKind::kPush;
    return kOk;
  }
};

FrameParser::FrameParser(Options options) : impl_(std::make_unique<Impl>()) {
  impl_->plain_trades = options.plain_trades;
}
const Frame& FrameParser::frame() const { return impl_->frame; }
uint64_t FrameParser::plain_trades_read() const { return impl_->plain_trades_read; }
FrameParser::~FrameParser() = default;

absl::StatusOr<const Frame*> FrameParser::Parse(std::string_view text) {
  Reset(&impl_->frame, &impl_->views_dirty);
  if (Err e = impl_->ParseDocument(text)) return absl::InvalidArgumentError(e);
  return &impl_->frame;
}

}  // namespace bx::md
