#include "sim/frames.h"

#include <ctime>

#include "common/time_util.h"
#include "absl/strings/str_cat.h"

namespace bx::sim {
namespace {

void Envelope(std::string& out, std::string_view ch, std::string_view symbol, int64_t ts_ms) {
  absl::StrAppend(&out, "{\"ch\":\"", std::string(ch), "\",\"symbol\":\"", std::string(symbol),
                  "\",\"ts\":", ts_ms, ",\"data\":");
}

void Str(std::string& out, std::string_view key, std::string_view value, bool comma = true) {
  if (comma) out += ',';
  out += '"';
  out += key;
  out += "\":\"";
  out += value;
  out += '"';
}

void Levels(std::string& out, const std::vector<Level>& levels, int pd, int qd) {
  out += '[';
  bool first = true;
  for (const auto& l : levels) {
    if (!first) out += ',';
    first = false;
    out += "[\"";
    out += l.price.ToString(pd);
    out += "\",\"";
    out += l.qty.ToString(qd);
    out += "\"]";
  }
  out += ']';
}

void TickerBody(std::string& out, std::string_view symbol, const Ticker24h& t, int pd, int qd) {
  out += '{';
  Str(out, "s", symbol, false);
  Str(out, "o", t.open.ToString(pd));
  Str(out, "la", t.last.ToString(pd));
  Str(out, "h", t.high.ToString(pd));
  Str(out, "l", t.low.ToString(pd));
  Str(out, "b", t.base_vol.ToString(qd));
  Str(out, "q", t.quote_vol.ToString());
  Str(out, "r", t.change_pct);
}

}  // namespace

std::string ConnectFrame() { return R"({"op":"connect","data":{"result":true}})"; }

std::string PongFrame(std::string_view client_value_json, int64_t socket_open_sec) {
  return absl::StrCat("{\"op\":\"ping\",\"pong\":", std::string(client_value_json), ",\"ping\":",
                      socket_open_sec, "}");
}

std::string UnsubscribeReply(int64_t ts_ms) {
  return absl::StrCat("{\"op\":\"unsubscribe\",\"ts\":", ts_ms, ",\"data\":\"success\"}");
}

std::string SubscribeRefused(int max_subs) {
  return absl::StrCat("{\"op\":\"subscribe\",\"data\":{\"msg\":\"subscribe channel > ", max_subs,
                      "\",\"nonce\":\"\",\"result\":false}}");
}

std::string DepthFrame(std::string_view ch, std::string_view symbol, int64_t ts_ms,
                       const std::vector<Level>& bids, const std::vector<Level>& asks, int price_digits,
                       int qty_digits) {
  std::string out;
  out.reserve(64 + (bids.size() + asks.size()) * 24);
  Envelope(out, ch, symbol, ts_ms);
  out += "{\"b\":";
  Levels(out, bids, price_digits, qty_digits);
  out += ",\"a\":";
  Levels(out, asks, price_digits, qty_digits);
  out += "}}";
  return out;
}

std::string EmptyDepthFrame(std::string_view ch, std::string_view symbol, int64_t ts_ms, int levels) {
  std::string side = "[";
  for (int i = 0; i < levels; ++i) {
    if (i > 0) side += ',';
    side += "[\"\",\"\"]";
  }
  side += ']';
  std::string out;
  Envelope(out, ch, symbol, ts_ms);
  absl::StrAppend(&out, "{\"b\":", side, ",\"a\":", side, "}}");
  return out;
}

TradeItemText FormatTrade(const PublicTrade& trade, int price_digits, int qty_digits) {
  return {FormatIso8601Seconds(trade.ts_ms), trade.price.ToString(price_digits), trade.qty.ToString(qty_digits),
          trade.buy ? "buy" : "sell"};
}

std::string TradeFrame(std::string_view symbol, int64_t ts_ms, const std::vector<PublicTrade>& trades,
                       int price_digits, int qty_digits) {
  std::vector<TradeItemText> texts;
  texts.reserve(trades.size());
  for (const auto& t : trades) texts.push_back(FormatTrade(t, price_digits, qty_digits));
  std::vector<const TradeItemText*> items;
  for (const auto& t : texts) items.push_back(&t);
  return TradeFrame(symbol, ts_ms, items);
}

std::string TradeFrame(std::string_view symbol, int64_t ts_ms, const std::vector<const TradeItemText*>& items) {
  std::string out;
  Envelope(out, "trade", symbol, ts_ms);
  out += '[';
  bool first = true;
  for (const TradeItemText* t : items) {
    if (!first) out += ',';
    first = false;
    out += '{';
    Str(out, "t", t->t, false);
    Str(out, "p", t->p);
    Str(out, "v", t->v);
    Str(out, "s", t->s);
    out += '}';
  }
  out += "]}";
  return out;
}

std::string TickerFrame(std::string_view symbol, int64_t ts_ms, const Ticker24h& t, int price_digits,
                        int qty_digits) {
  std::string out;
  Envelope(out, "ticker", symbol, ts_ms);
  TickerBody(out, symbol, t, price_digits, qty_digits);
  out += "}}";
  return out;
}

std::string TickersFrame(std::string_view symbol, int64_t ts_ms, const Ticker24h& t, const Level& bid,
                         const Level& ask, int price_digits, int qty_digits) {
  std::string out;
  Envelope(out, "tickers", symbol, ts_ms);
  out += '[';
  TickerBody(out, symbol, t, price_digits, qty_digits);
  Str(out, "bd", bid.price.ToString(price_digits));
  Str(out, "ak", ask.price.ToString(price_digits));
  Str(out, "bv", bid.qty.ToString(qty_digits));
  Str(out, "av", ask.qty.ToString(qty_digits));
  out += "}]}";
  return out;
}

std::string PriceFrame(std::string_view symbol, int64_t ts_ms, Dec index, Dec mark, const FundingInfo& f,
                       int price_digits) {
  std::string out;
  Envelope(out, "price", symbol, ts_ms);
  out += '{';
  Str(out, "ip", index.ToString(price_digits), false);
  Str(out, "mp", mark.ToString(price_digits));
  Str(out, "fr", f.settled_rate_pct.ToString());
  Str(out, "ft", FormatIso8601Seconds(f.last_settle_ms));
  Str(out, "nft", FormatIso8601Seconds(f.next_settle_ms));
  out += "}}";
  return out;
}

std::string KlineFrame(std::string_view ch, std::string_view symbol, int64_t ts_ms, const Candle& c,
                       int price_digits, int qty_digits) {
  std::string out;
  Envelope(out, ch, symbol, ts_ms);
  out += '{';
  Str(out, "o", c.open.ToString(price_digits), false);
  Str(out, "c", c.close.ToString(price_digits));
  Str(out, "h", c.high.ToString(price_digits));
  Str(out, "l", c.low.ToString(price_digits));
  Str(out, "b", c.base_vol.ToString(qty_digits));
  Str(out, "q", c.quote_vol.ToString());
  out += "}}";
  return out;
}

std::string HttpDate(int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

}  // namespace bx::sim
