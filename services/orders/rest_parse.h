// Parsers for Bitunix REST replies and private pushes, tolerant of every captured shape
// (shared/bitunix-api.md section 8): envelope keys in any order, `data` null or absent on errors,
// codes outside the documented table, numbers as strings or JSON numbers, objects or one-element
// arrays, mixed-case enums, ISO or ms times. Unknown fields are ignored; nothing here throws.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bitunix/orders/v1/orders.pb.h"
#include "services/orders/json_util.h"

namespace bx::orders {

namespace v1 = ::bitunix::orders::v1;
namespace cv1 = ::bitunix::common::v1;

/// {code, msg, data} in any key order; `code` an int or a numeric string.
struct Envelope {
  int code = 0;
  std::string msg;
  Json data;  ///< null when absent or null
};
/// INVALID_ARGUMENT (reason BAD_REPLY semantics are the caller's) when the text is not a JSON
/// object with an integer `code`.
absl::StatusOr<Envelope> ParseEnvelope(std::string_view body);

// --- Enums, both directions. Parsing is case-insensitive and accepts every spelling seen. ---
cv1::Side ParseSide(std::string_view s);                 // BUY/Buy/buy, SELL/...
v1::OrderType ParseOrderType(std::string_view s);        // LIMIT/Limit, MARKET/Market
v1::TimeInForce ParseTimeInForce(std::string_view s);    // GTC, IOC, FOK, POST_ONLY
v1::OrderStatus ParseOrderStatus(std::string_view s);    // incl. NEW_, SYSTEM_CANCELED, CANCELLED
v1::MarginMode ParseMarginMode(std::string_view s);      // ISOLATION/ISOLATED, CROSS
v1::PositionMode ParsePositionMode(std::string_view s);  // ONE_WAY, HEDGE
v1::PositionSide ParsePositionSide(std::string_view s);  // LONG/BUY, SHORT/SELL
v1::StopType ParseStopType(std::string_view s);          // MARK_PRICE/MARK/Mark, LAST_PRICE/LAST/Last
v1::UpdateKind ParseUpdateKind(std::string_view s);      // CREATE/OPEN, UPDATE, CLOSE
std::string_view SideText(cv1::Side s);
std::string_view OrderTypeText(v1::OrderType t);
std::string_view TimeInForceText(v1::TimeInForce t);
std::string_view MarginModeText(v1::MarginMode m);
std::string_view PositionModeText(v1::PositionMode m);
std::string_view StopTypeText(v1::StopType t);
std::string_view TradeSideText(v1::TradeSide t);
std::string_view OrderStatusText(v1::OrderStatus s);
/// INIT, NEW, PART_FILLED: the order may still trade or change.
inline bool IsOpenStatus(v1::OrderStatus s) {
  return s == v1::ORDER_STATUS_INIT || s == v1::ORDER_STATUS_NEW || s == v1::ORDER_STATUS_PART_FILLED;
}
/// FILLED, CANCELED, PART_FILLED_CANCELED, EXPIRED: the order is done (UNSPECIFIED is neither).
inline bool IsFinalStatus(v1::OrderStatus s) {
  return s == v1::ORDER_STATUS_FILLED || s == v1::ORDER_STATUS_CANCELED || s == v1::ORDER_STATUS_PART_FILLED_CANCELED ||
         s == v1::ORDER_STATUS_EXPIRED;
}

// --- Objects. ---
/// REST order object (get_order_detail, pending/history lists) or `order` push data.
v1::Order ParseOrder(const Json& j);
/// REST position object or `position` push data.
v1::Position ParsePosition(const Json& j);
/// `/account` data: an object, or an array (the entry for `margin_coin`, else the first).
std::optional<v1::Account> ParseAccount(const Json& data, std::string_view margin_coin = "USDT");
/// The balance update an account read stands for (stream snapshots, reconciliation after a
/// reconnect). The account reply has no isolated/cross split: those fields stay empty.
v1::Balance BalanceFromAccount(const v1::Account& account);
v1::Fill ParseFill(const Json& j);
v1::Balance ParseBalance(const Json& j);
v1::TpslOrder ParseTpslOrder(const Json& j);

/// A list of items under `key` ({key:[...], total}), or `data` itself when it is an array.
struct ListPage {
  std::vector<const Json*> items;
  int64_t total = 0;
};
ListPage ParseListPage(const Json& data, std::string_view key);

/// `{orderId|id, clientId}` of a successful place/modify/batch item.
struct OrderAck {
  std::string order_id;
  std::string client_id;
};
OrderAck ParseOrderAck(const Json& j);

/// batch_order / cancel_orders / cancel_all_orders replies.
struct ItemFailure {
  std::string order_id;
  std::string client_id;
  int code = 0;
  std::string msg;
};
struct SuccessFailureLists {
  std::vector<OrderAck> success;
  std::vector<ItemFailure> failure;
};
SuccessFailureLists ParseSuccessFailure(const Json& data);

/// One symbol's trading rules from trading_pairs.
struct SymbolRule {
  std::string symbol, base, quote;
  std::string min_trade_volume;        ///< "" = not given
  std::string max_limit_order_volume;  ///< "" = not given
  std::string max_market_order_volume;
  int base_precision = -1;   ///< qty decimals; -1 = not given
  int quote_precision = -1;  ///< price decimals; -1 = not given
  int min_leverage = 0, max_leverage = 0;  ///< 0 = not given
  std::string status;  ///< OPEN, CANCEL_ONLY, STOP, PREVIEW, ... as sent
};
std::vector<SymbolRule> ParseTradingPairs(const Json& data);

/// One kline row. `volumes_swapped` when the reply's `quoteVol` held the base volume. Decided once
/// per reply by arithmetic (captures disagree on the naming), by the rule both services share
/// (common/volume_names.h): rows whose implied average price lies within their [low, high] vote,
/// rows near 1.0 or without volume do not; undecidable replies keep the documented names.
struct KlineRow {
  std::string open, high, low, close;
  std::string base_volume, quote_volume;
  int64_t time_ms = 0;
  bool volumes_swapped = false;
};
std::vector<KlineRow> ParseKlines(const Json& data);

/// Funding from funding_rate (object or array) and funding_rate/batch. The exchange sends the
/// rate in percent; `rate` is the fraction ("0.01" -> "0.0001"), `rate_percent` as sent.
struct FundingRow {
  std::string symbol, rate, rate_percent, mark_price, index_price;
  int64_t next_funding_time_ms = 0;
  int funding_interval_hours = 0;
};
std::vector<FundingRow> ParseFunding(const Json& data);

}  // namespace bx::orders
