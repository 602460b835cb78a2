#include "services/marketdata/channel.h"

#include <array>
#include <cctype>

#include "absl/strings/str_cat.h"
#include "common/decimal.h"
#include "common/time_util.h"

namespace bx::md {
namespace {

struct IntervalRow {
  v1::KlineInterval interval;
  std::string_view ws;
  std::string_view rest;
  int64_t ms;
};

constexpr int64_t kMin = 60'000;
constexpr int64_t kHour = 60 * kMin;
constexpr int64_t kDay = 24 * kHour;

constexpr std::array<IntervalRow, 15> kIntervals = {{
    {v1::KLINE_INTERVAL_1M, "1min", "1m", kMin},
    {v1::KLINE_INTERVAL_3M, "3min", "", 3 * kMin},
    {v1::KLINE_INTERVAL_5M, "5min", "5m", 5 * kMin},
    {v1::KLINE_INTERVAL_15M, "15min", "15m", 15 * kMin},
    {v1::KLINE_INTERVAL_30M, "30min", "30m", 30 * kMin},
    {v1::KLINE_INTERVAL_1H, "60min", "1h", kHour},
    {v1::KLINE_INTERVAL_2H, "2h", "2h", 2 * kHour},
    {v1::KLINE_INTERVAL_4H, "4h", "4h", 4 * kHour},
    {v1::KLINE_INTERVAL_6H, "6h", "6h", 6 * kHour},
    {v1::KLINE_INTERVAL_8H, "8h", "8h", 8 * kHour},
    {v1::KLINE_INTERVAL_12H, "12h", "12h", 12 * kHour},
    {v1::KLINE_INTERVAL_1D, "1day", "1d", kDay},
    {v1::KLINE_INTERVAL_3D, "3day", "3d", 3 * kDay},
    {v1::KLINE_INTERVAL_1W, "1week", "1w", 7 * kDay},
    {v1::KLINE_INTERVAL_1MONTH, "1month", "1M", 31 * kDay},
}};

const IntervalRow* FindInterval(v1::KlineInterval interval) {
  for (const auto& row : kIntervals) {
    if (row.interval == interval) return &row;
  }
  return nullptr;
}

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

}  // namespace

std::optional<ChannelSpec> ParseExchangeChannel(std::string_view ch) {
  ChannelSpec spec;
  if (ch == "trade") {
    spec.channel = v1::CHANNEL_TRADE;
    return spec;
  }
  if (ch == "ticker") {
    spec.channel = v1::CHANNEL_TICKER;
    return spec;
  }
  if (ch == "price") {
    spec.channel = v1::CHANNEL_MARK_PRICE;
    return spec;
  }
  if (ch == "depth_book1" || ch == "depth_book5" || ch == "depth_book15") {
    spec.channel = v1::CHANNEL_ORDER_BOOK;
    spec.depth = ch == "depth_book1" ? 1 : ch == "depth_book5" ? 5 : 15;
    return spec;
  }
  std::string_view rest;
  if (ch.starts_with("market_kline_")) {
    spec.price_type = v1::PRICE_TYPE_LAST;
    rest = ch.substr(13);
  } else if (ch.starts_with("last_kline_")) {
    spec.price_type = v1::PRICE_TYPE_LAST;
    rest = ch.substr(11);
  } else if (ch.starts_with("mark_kline_")) {
    spec.price_type = v1::PRICE_TYPE_MARK;
    rest = ch.substr(11);
  } else {
    return std::nullopt;
  }
  for (const auto& row : kIntervals) {
    if (row.ws == rest) {
      spec.channel = v1::CHANNEL_KLINE;
      spec.interval = row.interval;
      return spec;
    }
  }
  return std::nullopt;
}

std::string ExchangeChannelName(const ChannelSpec& spec) {
  switch (spec.channel) {
    case v1::CHANNEL_TRADE: return "trade";
    case v1::CHANNEL_TICKER: return "ticker";
    case v1::CHANNEL_MARK_PRICE: return "price";
    case v1::CHANNEL_ORDER_BOOK:
      if (spec.depth == 1 || spec.depth == 5 || spec.depth == 15) {
        return "depth_book" + std::to_string(spec.depth);
      }
      return "";
    case v1::CHANNEL_KLINE: {
      const IntervalRow* row = FindInterval(spec.interval);
      if (row == nullptr) return "";
      std::string prefix = spec.price_type == v1::PRICE_TYPE_MARK ? "mark_kline_" : "market_kline_";
      return prefix + std::string(row->ws);
    }
    default: return "";
  }
}

std::string TopicKey(std::string_view exchange_channel, std::string_view symbol) {
  std::string key;
  key.reserve(exchange_channel.size() + 1 + symbol.size());
  key.append(exchange_channel);
  key.push_back(':');
  key.append(symbol);
  return key;
}

std::string_view WsIntervalName(v1::KlineInterval interval) {
  const IntervalRow* row = FindInterval(interval);
  return row ? row->ws : std::string_view();
}

std::string_view RestIntervalName(v1::KlineInterval interval) {
  const IntervalRow* row = FindInterval(interval);
  return row ? row->rest : std::string_view();
}

int64_t IntervalMs(v1::KlineInterval interval) {
  const IntervalRow* row = FindInterval(interval);
  return row ? row->ms : 0;
}

int64_t CandleOpenTimeMs(v1::KlineInterval interval, int64_t ts_ms) {
  if (interval == v1::KLINE_INTERVAL_1MONTH) {
    const int64_t days = FloorDiv(ts_ms, kDay);
    CivilDate d = CivilFromDays(days);
    return DaysFromCivil({d.year, d.month, 1}) * kDay;
  }
  if (interval == v1::KLINE_INTERVAL_1W) {
    // 1970-01-01 was a Thursday; Monday 1970-01-05 is day 4.
    const int64_t days = FloorDiv(ts_ms, kDay);
    const int64_t monday = days - ((days - 4) % 7 + 7) % 7;
    return monday * kDay;
  }
  const int64_t ms = IntervalMs(interval);
  if (ms <= 0) return ts_ms;
  return FloorDiv(ts_ms, ms) * ms;
}

int64_t NextCandleOpenTimeMs(v1::KlineInterval interval, int64_t open_ms) {
  // One nominal interval on (31 days for a month) lands inside the next candle: 28-31 days.
  return CandleOpenTimeMs(interval, CandleOpenTimeMs(interval, open_ms) + IntervalMs(interval));
}

std::string QuoteSymbol(std::string_view s) {
  constexpr size_t kMax = 40;
  if (s.size() <= kMax) return std::string(s);
  return absl::StrCat(std::string(s.substr(0, 32)), "... (", s.size(), " characters)");
}

std::string UpperSymbol(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace bx::md
