// JSON views of the account: REST objects (order, position, trade, TP/SL, account) and the private
// WebSocket pushes (order, position, balance, tpsl) in the shapes of shared/bitunix-api.md §3-§4.
// REST times are ms; push ctime/mtime are ISO-8601 with nanoseconds.
#pragma once

#include <string>

#include "sim/account.h"
#include "sim/json.h"

namespace bx::sim {

/// get_order_detail / pending / history item. `history`: MARKET orders show price "market" there,
/// as observed live.
OJson OrderJson(const Order& o, const SymbolSpec& spec, bool history);
OJson PositionJson(const Position& p, const Account& a, const MarketModel& m);
OJson HistoryPositionJson(const Position& p, const SymbolSpec& spec);
OJson TradeJson(const AccountTrade& t, const SymbolSpec& spec);
OJson TpslJson(const TpslOrder& t, const Account& a);
/// GET /account data (an object).
OJson AccountJson(const Account& a, const MarketModel& m, const std::string& margin_coin);

/// {"ch":"order","ts":...,"data":{"event":...,"orderStatus":...}}
std::string OrderPush(const Order& o, const std::string& event, const SymbolSpec& spec, int64_t ts_ms);
std::string PositionPush(const Position& p, const std::string& event, const Account& a, const MarketModel& m,
                         int64_t ts_ms);
std::string BalancePush(const AccountSummary& s, int64_t ts_ms);
std::string TpslPush(const TpslOrder& t, const std::string& event, const Account& a, int64_t ts_ms);

}  // namespace bx::sim
