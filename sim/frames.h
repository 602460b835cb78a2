// Builders for every JSON text the simulator sends on its WebSockets, byte for byte in the shapes
// captured from the live exchange (shared/bitunix-api.md §4 and §8): push envelopes
// {"ch","symbol","ts","data"}, every number a string except ts (int ms), key orders as captured.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sim/market_model.h"

namespace bx::sim {

/// {"op":"connect","data":{"result":true}}
std::string ConnectFrame();
/// {"op":"ping","pong":<client value, raw JSON>,"ping":<second the socket opened>}
std::string PongFrame(std::string_view client_value_json, int64_t socket_open_sec);
/// {"op":"unsubscribe","ts":<ms>,"data":"success"}
std::string UnsubscribeReply(int64_t ts_ms);
/// {"op":"subscribe","data":{"msg":"subscribe channel > 300","nonce":"","result":false}}
std::string SubscribeRefused(int max_subs);

/// depth_book1/5/15/depth_books: {"b":[[p,q],...],"a":[[p,q],...]}
std::string DepthFrame(std::string_view ch, std::string_view symbol, int64_t ts_ms,
                       const std::vector<Level>& bids, const std::vector<Level>& asks,
                       int price_digits, int qty_digits);
/// One frame of `levels` ["",""] pairs per side: what an unknown symbol gets.
std::string EmptyDepthFrame(std::string_view ch, std::string_view symbol, int64_t ts_ms, int levels);
/// One trade item's strings as pushed: t (ISO-8601, whole seconds), p, v and s (buy/sell).
struct TradeItemText {
  std::string t, p, v, s;
};
TradeItemText FormatTrade(const PublicTrade& trade, int price_digits, int qty_digits);
/// trade: data [{"t","p","v","s"}], t ISO-8601 whole seconds, s lowercase buy/sell.
std::string TradeFrame(std::string_view symbol, int64_t ts_ms, const std::vector<PublicTrade>& trades,
                       int price_digits, int qty_digits);
/// The same frame from items already formatted (the model trades are formatted once, for the
/// trade log and the push alike).
std::string TradeFrame(std::string_view symbol, int64_t ts_ms, const std::vector<const TradeItemText*>& items);
/// ticker: data {"s","o","la","h","l","b","q","r"} (captured order).
std::string TickerFrame(std::string_view symbol, int64_t ts_ms, const Ticker24h& t, int price_digits,
                        int qty_digits);
/// tickers: data [{"s","o","la","h","l","b","q","r","bd","ak","bv","av"}].
std::string TickersFrame(std::string_view symbol, int64_t ts_ms, const Ticker24h& t, const Level& bid,
                         const Level& ask, int price_digits, int qty_digits);
/// price: data {"ip","mp","fr","ft","nft"}; fr in percent, ft/nft ISO-8601.
std::string PriceFrame(std::string_view symbol, int64_t ts_ms, Dec index, Dec mark, const FundingInfo& f,
                       int price_digits);
/// market_kline_* / mark_kline_*: data {"o","c","h","l","b","q"}; b base volume, q quote turnover.
std::string KlineFrame(std::string_view ch, std::string_view symbol, int64_t ts_ms, const Candle& c,
                       int price_digits, int qty_digits);

/// RFC 7231 date for the HTTP Date header ("Wed, 23 Sep 2026 08:00:00 GMT").
std::string HttpDate(int64_t ms);

}  // namespace bx::sim
