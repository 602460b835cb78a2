// Exchange channel names <-> the gateway's channel model.
//
// A *topic* is one exchange subscription: (exchange channel, symbol), e.g. "depth_book15:BTCUSDT".
// Its key string uses the same "channel:SYMBOL" form as the simulator's stats, so tests can count
// upstream subscriptions by key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "bitunix/marketdata/v1/marketdata.pb.h"

namespace bx::md {

namespace v1 = ::bitunix::marketdata::v1;

/// What an exchange channel carries.
struct ChannelSpec {
  v1::Channel channel = v1::CHANNEL_UNSPECIFIED;
  uint32_t depth = 0;  ///< CHANNEL_ORDER_BOOK: 1, 5 or 15
  v1::KlineInterval interval = v1::KLINE_INTERVAL_UNSPECIFIED;  ///< CHANNEL_KLINE
  v1::PriceType price_type = v1::PRICE_TYPE_UNSPECIFIED;        ///< CHANNEL_KLINE

  /// State channels replace the previous value (book, ticker, mark price, kline); trades do not.
  bool is_state() const { return channel != v1::CHANNEL_TRADE; }
  friend bool operator==(const ChannelSpec&, const ChannelSpec&) = default;
};

/// Parses an exchange push channel: "trade", "depth_book1|5|15", "ticker", "price",
/// "{market|mark|last}_kline_<interval>" (`last_` is the official Java demo's spelling of
/// `market_`). "depth_books" and "tickers" are recognised by the parser but not streamed, so they
/// return nullopt here like any unknown channel.
std::optional<ChannelSpec> ParseExchangeChannel(std::string_view ch);

/// The exchange channel to subscribe for a spec ("depth_book15", "market_kline_1min", ...).
/// Empty when the spec is not streamable.
std::string ExchangeChannelName(const ChannelSpec& spec);

/// "channel:SYMBOL".
std::string TopicKey(std::string_view exchange_channel, std::string_view symbol);

/// Kline interval <-> exchange WebSocket suffix ("1min", "60min", "1day", ...).
std::string_view WsIntervalName(v1::KlineInterval interval);
/// Kline interval <-> REST `interval` parameter ("1m", "1h", "1d", "1M", ...). Empty for 3m.
std::string_view RestIntervalName(v1::KlineInterval interval);
/// Nominal interval length in ms (month = 31 days, used only to size REST pages).
int64_t IntervalMs(v1::KlineInterval interval);
/// Open time (UTC boundaries) of the candle containing `ts_ms`: epoch-aligned for fixed intervals,
/// Monday 00:00 for weeks, the first of the month for months.
int64_t CandleOpenTimeMs(v1::KlineInterval interval, int64_t ts_ms);
/// Open time of the candle after the one that opened at `open_ms` (months are not 31 days).
int64_t NextCandleOpenTimeMs(v1::KlineInterval interval, int64_t open_ms);

/// Upper-cases an ASCII symbol.
std::string UpperSymbol(std::string_view s);
/// A client's symbol for an error message: as given up to 40 characters, else its start and its
/// length (an echo of kilobytes would overflow the client's metadata limit and hide the error).
std::string QuoteSymbol(std::string_view s);

}  // namespace bx::md
