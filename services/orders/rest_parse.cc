#include "services/orders/rest_parse.h"

#include "absl/strings/ascii.h"
#include "common/decimal.h"
#include "common/volume_names.h"

namespace bx::orders {
namespace {

std::string Upper(std::string_view s) { return absl::AsciiStrToUpper(std::string(s)); }

// First non-empty of several field names (the exchange spells some fields two ways).
std::string FirstOf(const Json& j, std::initializer_list<std::string_view> keys) {
  for (auto k : keys) {
    std::string v = GetString(j, k);
    if (!v.empty()) return v;
  }
  return "";
}

int32_t IntOr0(const Json& j, std::string_view key) {
  auto v = GetInt(j, key);
  if (!v || *v > INT32_MAX || *v < INT32_MIN) return 0;
  return static_cast<int32_t>(*v);
}

// Decimal fields keep the exchange's text; anything that is not a decimal ("market") becomes "".
std::string DecimalOrEmpty(const Json& j, std::initializer_list<std::string_view> keys) {
  std::string v = FirstOf(j, keys);
  return IsDecimal(v) ? v : "";
}

void ParseTpSlInto(const Json& j, v1::TpSl* t) {
  t->set_tp_price(DecimalOrEmpty(j, {"tpPrice"}));
  t->set_tp_stop_type(ParseStopType(GetString(j, "tpStopType")));
  t->set_tp_order_type(ParseOrderType(GetString(j, "tpOrderType")));
  t->set_tp_order_price(DecimalOrEmpty(j, {"tpOrderPrice"}));
  t->set_sl_price(DecimalOrEmpty(j, {"slPrice"}));
  t->set_sl_stop_type(ParseStopType(GetString(j, "slStopType")));
  t->set_sl_order_type(ParseOrderType(GetString(j, "slOrderType")));
  t->set_sl_order_price(DecimalOrEmpty(j, {"slOrderPrice"}));
}

}  // namespace

absl::StatusOr<Envelope> ParseEnvelope(std::string_view body) {
  auto parsed = ParseJsonExact(body);
  if (!parsed.ok()) return parsed.status();
  if (!parsed->is_object()) return absl::InvalidArgumentError("reply is not a JSON object");
  auto code = GetInt(*parsed, "code");
  if (!code || *code > INT32_MAX || *code < INT32_MIN) {
    return absl::InvalidArgumentError("reply has no integer 'code'");
  }
  Envelope env;
  env.code = static_cast<int>(*code);
  env.msg = GetString(*parsed, "msg");
  if (auto it = parsed->find("data"); it != parsed->end() && !it->is_null()) env.data = std::move(*it);
  return env;
}

cv1::Side ParseSide(std::string_view s) {
  std::string u = Upper(s);
  if (u == "BUY" || u == "1" || u == "BID") return cv1::SIDE_BUY;
  if (u == "SELL" || u == "2" || u == "ASK") return cv1::SIDE_SELL;
  return cv1::SIDE_UNSPECIFIED;
}

v1::OrderType ParseOrderType(std::string_view s) {
  std::string u = Upper(s);
  if (u == "LIMIT") return v1::ORDER_TYPE_LIMIT;
  if (u == "MARKET") return v1::ORDER_TYPE_MARKET;
  return v1::ORDER_TYPE_UNSPECIFIED;
}

v1::TimeInForce ParseTimeInForce(std::string_view s) {
  std::string u = Upper(s);
  if (u == "GTC") return v1::TIME_IN_FORCE_GTC;
  if (u == "IOC") return v1::TIME_IN_FORCE_IOC;
  if (u == "FOK") return v1::TIME_IN_FORCE_FOK;
  if (u == "POST_ONLY" || u == "POSTONLY") return v1::TIME_IN_FORCE_POST_ONLY;
  return v1::TIME_IN_FORCE_UNSPECIFIED;
}

v1::OrderStatus ParseOrderStatus(std::string_view s) {
  std::string u = Upper(s);
  if (u == "INIT") return v1::ORDER_STATUS_INIT;
  if (u == "NEW" || u == "NEW_") return v1::ORDER_STATUS_NEW;
  if (u == "PART_FILLED" || u == "PARTIALLY_FILLED") return v1::ORDER_STATUS_PART_FILLED;
  if (u == "FILLED") return v1::ORDER_STATUS_FILLED;
  if (u == "CANCELED" || u == "CANCELLED") return v1::ORDER_STATUS_CANCELED;
  if (u == "PART_FILLED_CANCELED" || u == "PART_FILLED_CANCELLED") return v1::ORDER_STATUS_PART_FILLED_CANCELED;
  if (u == "EXPIRED") return v1::ORDER_STATUS_EXPIRED;
  if (u == "SYSTEM_CANCELED" || u == "SYSTEM_CANCELLED") return v1::ORDER_STATUS_SYSTEM_CANCELED;
  return v1::ORDER_STATUS_UNSPECIFIED;
}

v1::MarginMode ParseMarginMode(std::string_view s) {
  std::string u = Upper(s);
  if (u == "ISOLATION" || u == "ISOLATED" || u == "1") return v1::MARGIN_MODE_ISOLATION;
  if (u == "CROSS" || u == "CROSSED" || u == "2") return v1::MARGIN_MODE_CROSS;
  return v1::MARGIN_MODE_UNSPECIFIED;
}

v1::PositionMode ParsePositionMode(std::string_view s) {
  std::string u = Upper(s);
  if (u == "ONE_WAY" || u == "ONEWAY" || u == "1") return v1::POSITION_MODE_ONE_WAY;
  if (u == "HEDGE" || u == "2") return v1::POSITION_MODE_HEDGE;
  return v1::POSITION_MODE_UNSPECIFIED;
}

v1::PositionSide ParsePositionSide(std::string_view s) {
  std::string u = Upper(s);
  if (u == "LONG" || u == "BUY") return v1::POSITION_SIDE_LONG;
  if (u == "SHORT" || u == "SELL") return v1::POSITION_SIDE_SHORT;
  return v1::POSITION_SIDE_UNSPECIFIED;
}

v1::StopType ParseStopType(std::string_view s) {
  std::string u = Upper(s);
  if (u == "MARK_PRICE" || u == "MARK") return v1::STOP_TYPE_MARK_PRICE;
  if (u == "LAST_PRICE" || u == "LAST") return v1::STOP_TYPE_LAST_PRICE;
  return v1::STOP_TYPE_UNSPECIFIED;
}

v1::UpdateKind ParseUpdateKind(std::string_view s) {
  std::string u = Upper(s);
  if (u == "CREATE" || u == "OPEN") return v1::UPDATE_KIND_CREATE;
  if (u == "UPDATE") return v1::UPDATE_KIND_UPDATE;
  if (u == "CLOSE") return v1::UPDATE_KIND_CLOSE;
  return v1::UPDATE_KIND_UNSPECIFIED;
}

std::string_view SideText(cv1::Side s) {
  switch (s) {
    case cv1::SIDE_BUY: return "BUY";
    case cv1::SIDE_SELL: return "SELL";
    default: return "";
  }
}

std::string_view OrderTypeText(v1::OrderType t) {
  switch (t) {
    case v1::ORDER_TYPE_LIMIT: return "LIMIT";
    case v1::ORDER_TYPE_MARKET: return "MARKET";
    default: return "";
  }
}

std::string_view TimeInForceText(v1::TimeInForce t) {
  switch (t) {
    case v1::TIME_IN_FORCE_GTC: return "GTC";
    case v1::TIME_IN_FORCE_IOC: return "IOC";
    case v1::TIME_IN_FORCE_FOK: return "FOK";
    case v1::TIME_IN_FORCE_POST_ONLY: return "POST_ONLY";
    default: return "";
  }
}

std::string_view MarginModeText(v1::MarginMode m) {
  switch (m) {
    case v1::MARGIN_MODE_ISOLATION: return "ISOLATION";
    case v1::MARGIN_MODE_CROSS: return "CROSS";
    default: return "";
  }
}

std::string_view PositionModeText(v1::PositionMode m) {
  switch (m) {
    case v1::POSITION_MODE_ONE_WAY: return "ONE_WAY";
    case v1::POSITION_MODE_HEDGE: return "HEDGE";
    default: return "";
  }
}

std::string_view StopTypeText(v1::StopType t) {
  switch (t) {
    case v1::STOP_TYPE_MARK_PRICE: return "MARK_PRICE";
    case v1::STOP_TYPE_LAST_PRICE: return "LAST_PRICE";
    default: return "";
  }
}

std::string_view TradeSideText(v1::TradeSide t) {
  switch (t) {
    case v1::TRADE_SIDE_OPEN: return "OPEN";
    case v1::TRADE_SIDE_CLOSE: return "CLOSE";
    default: return "";
  }
}

std::string_view OrderStatusText(v1::OrderStatus s) {
  switch (s) {
    case v1::ORDER_STATUS_INIT: return "INIT";
    case v1::ORDER_STATUS_NEW: return "NEW";
    case v1::ORDER_STATUS_PART_FILLED: return "PART_FILLED";
    case v1::ORDER_STATUS_FILLED: return "FILLED";
    case v1::ORDER_STATUS_CANCELED: return "CANCELED";
    case v1::ORDER_STATUS_PART_FILLED_CANCELED: return "PART_FILLED_CANCELED";
    case v1::ORDER_STATUS_EXPIRED: return "EXPIRED";
    case v1::ORDER_STATUS_SYSTEM_CANCELED: return "SYSTEM_CANCELED";
    default: return "";
  }
}

v1::Order ParseOrder(const Json& j) {
  v1::Order o;
  o.set_order_id(FirstOf(j, {"orderId", "id"}));
  o.set_client_id(GetString(j, "clientId"));
  o.set_symbol(Upper(GetString(j, "symbol")));
  // In hedge mode the side names the position (BUY + CLOSE closes the long): a record may name it
  // LONG or SHORT instead.
  const std::string side = GetString(j, "side");
  cv1::Side parsed_side = ParseSide(side);
  if (parsed_side == cv1::SIDE_UNSPECIFIED) {
    const v1::PositionSide position_side = ParsePositionSide(side);
    if (position_side == v1::POSITION_SIDE_LONG) parsed_side = cv1::SIDE_BUY;
    if (position_side == v1::POSITION_SIDE_SHORT) parsed_side = cv1::SIDE_SELL;
  }
  o.set_side(parsed_side);
  o.set_type(ParseOrderType(FirstOf(j, {"orderType", "type"})));
  const std::string trade_side = Upper(GetString(j, "tradeSide"));
  if (trade_side == "OPEN") o.set_trade_side(v1::TRADE_SIDE_OPEN);
  if (trade_side == "CLOSE") o.set_trade_side(v1::TRADE_SIDE_CLOSE);
  o.set_position_id(GetString(j, "positionId"));
  o.set_qty(DecimalOrEmpty(j, {"qty", "volume"}));
  o.set_filled_qty(DecimalOrEmpty(j, {"tradeQty", "dealAmount", "dealVolume"}));
  // A market order has no limit price (empty, as documented): REST sends "market", a push "0"
  // or, once filled, the fill price (avg_price carries that).
  if (o.type() != v1::ORDER_TYPE_MARKET) o.set_price(DecimalOrEmpty(j, {"price"}));
  // No fill has no average price: a zero ("0", "0.00000" as the exchange may send it) reads as
  // empty, as the API documents.
  std::string avg = DecimalOrEmpty(j, {"avgPrice", "averagePrice"});
  if (!avg.empty() && CompareDecimal(avg, "0") == 0) avg.clear();
  o.set_avg_price(std::move(avg));
  o.set_time_in_force(ParseTimeInForce(GetString(j, "effect")));
  o.set_reduce_only(GetBool(j, "reduceOnly").value_or(GetBool(j, "reductionOnly").value_or(false)));
  o.set_position_mode(ParsePositionMode(GetString(j, "positionMode")));
  o.set_margin_mode(ParseMarginMode(FirstOf(j, {"marginMode", "positionType"})));
  o.set_leverage(IntOr0(j, "leverage"));
  // Pushes name it orderStatus (docs) or status (official demo); REST uses status.
  std::string status = FirstOf(j, {"orderStatus", "status"});
  o.set_status_raw(status);
  o.set_status(ParseOrderStatus(status));
  o.set_fee(DecimalOrEmpty(j, {"fee"}));
  o.set_realized_pnl(DecimalOrEmpty(j, {"realizedPNL", "realizedPnl"}));
  ParseTpSlInto(j, o.mutable_tpsl());
  o.set_create_time_ms(GetTimeMs(j, "ctime"));
  o.set_update_time_ms(GetTimeMs(j, "mtime"));
  return o;
}

v1::Position ParsePosition(const Json& j) {
  v1::Position p;
  p.set_position_id(GetString(j, "positionId"));
  p.set_symbol(Upper(GetString(j, "symbol")));
  p.set_qty(DecimalOrEmpty(j, {"qty"}));
  p.set_entry_value(DecimalOrEmpty(j, {"entryValue"}));
  p.set_side(ParsePositionSide(GetString(j, "side")));
  p.set_margin_mode(ParseMarginMode(GetString(j, "marginMode")));
  p.set_position_mode(ParsePositionMode(GetString(j, "positionMode")));
  p.set_leverage(IntOr0(j, "leverage"));
  p.set_fees(DecimalOrEmpty(j, {"fees", "fee"}));
  p.set_funding(DecimalOrEmpty(j, {"funding"}));
  p.set_realized_pnl(DecimalOrEmpty(j, {"realizedPNL", "realizedPnl"}));
  p.set_margin(DecimalOrEmpty(j, {"margin"}));
  p.set_unrealized_pnl(DecimalOrEmpty(j, {"unrealizedPNL", "unrealizedPnl"}));
  std::string liq = DecimalOrEmpty(j, {"liqPrice"});
  if (!liq.empty() && IsPositiveDecimal(liq)) p.set_liq_price(liq);  // <= 0 means none
  p.set_margin_rate(DecimalOrEmpty(j, {"marginRate"}));
  p.set_avg_open_price(DecimalOrEmpty(j, {"avgOpenPrice", "entryPrice"}));
  p.set_create_time_ms(GetTimeMs(j, "ctime"));
  p.set_update_time_ms(GetTimeMs(j, "mtime"));
  p.set_close_price(DecimalOrEmpty(j, {"closePrice"}));
  p.set_max_qty(DecimalOrEmpty(j, {"maxQty"}));
  return p;
}

v1::Balance BalanceFromAccount(const v1::Account& account) {
  v1::Balance b;
  b.set_coin(account.margin_coin());
  b.set_available(account.available());
  b.set_frozen(account.frozen());
  b.set_margin(account.margin());
  b.set_exp_money(account.bonus());
  return b;
}

std::optional<v1::Account> ParseAccount(const Json& data, std::string_view margin_coin) {
  const Json* obj = nullptr;
  if (data.is_object()) {
    obj = &data;
  } else if (data.is_array()) {
    for (const auto& item : data) {
      if (!item.is_object()) continue;
      if (obj == nullptr) obj = &item;
      if (Upper(GetString(item, "marginCoin")) == Upper(margin_coin)) {
        obj = &item;
        break;
      }
    }
  }
  if (obj == nullptr) return std::nullopt;
  v1::Account a;
  a.set_margin_coin(GetString(*obj, "marginCoin"));
  a.set_available(DecimalOrEmpty(*obj, {"available"}));
  a.set_frozen(DecimalOrEmpty(*obj, {"frozen"}));
  a.set_margin(DecimalOrEmpty(*obj, {"margin"}));
  a.set_transfer(DecimalOrEmpty(*obj, {"transfer"}));
  a.set_position_mode(ParsePositionMode(GetString(*obj, "positionMode")));
  a.set_cross_unrealized_pnl(DecimalOrEmpty(*obj, {"crossUnrealizedPNL"}));
  a.set_isolation_unrealized_pnl(DecimalOrEmpty(*obj, {"isolationUnrealizedPNL"}));
  a.set_bonus(DecimalOrEmpty(*obj, {"bonus"}));
  return a;
}

v1::Fill ParseFill(const Json& j) {
  v1::Fill f;
  f.set_trade_id(GetString(j, "tradeId"));
  f.set_order_id(GetString(j, "orderId"));
  f.set_symbol(Upper(GetString(j, "symbol")));
  f.set_qty(DecimalOrEmpty(j, {"qty"}));
  f.set_price(DecimalOrEmpty(j, {"price"}));
  f.set_side(ParseSide(GetString(j, "side")));
  f.set_order_type(ParseOrderType(GetString(j, "orderType")));
  f.set_fee(DecimalOrEmpty(j, {"fee"}));
  f.set_realized_pnl(DecimalOrEmpty(j, {"realizedPNL", "realizedPnl"}));
  f.set_maker(Upper(GetString(j, "roleType")) == "MAKER");
  f.set_time_ms(GetTimeMs(j, "ctime"));
  f.set_client_id(GetString(j, "clientId"));
  return f;
}

v1::Balance ParseBalance(const Json& j) {
  v1::Balance b;
  b.set_coin(FirstOf(j, {"coin", "marginCoin"}));
  b.set_available(DecimalOrEmpty(j, {"available"}));
  b.set_frozen(DecimalOrEmpty(j, {"frozen"}));
  b.set_isolation_frozen(DecimalOrEmpty(j, {"isolationFrozen"}));
  b.set_cross_frozen(DecimalOrEmpty(j, {"crossFrozen"}));
  b.set_margin(DecimalOrEmpty(j, {"margin"}));
  b.set_isolation_margin(DecimalOrEmpty(j, {"isolationMargin"}));
  b.set_cross_margin(DecimalOrEmpty(j, {"crossMargin"}));
  b.set_exp_money(DecimalOrEmpty(j, {"expMoney"}));
  return b;
}

v1::TpslOrder ParseTpslOrder(const Json& j) {
  v1::TpslOrder t;
  t.set_order_id(FirstOf(j, {"orderId", "id"}));
  t.set_position_id(GetString(j, "positionId"));
  t.set_symbol(Upper(GetString(j, "symbol")));
  t.set_side(ParseSide(GetString(j, "side")));
  ParseTpSlInto(j, t.mutable_tpsl());
  t.set_tp_qty(DecimalOrEmpty(j, {"tpQty"}));
  t.set_sl_qty(DecimalOrEmpty(j, {"slQty"}));
  t.set_status(FirstOf(j, {"status", "orderStatus"}));
  t.set_create_time_ms(GetTimeMs(j, "ctime"));
  t.set_whole_position(absl::AsciiStrToUpper(GetString(j, "type")) == "POSITION_TPSL");
  return t;
}

ListPage ParseListPage(const Json& data, std::string_view key) {
  ListPage page;
  const Json* list = nullptr;
  if (data.is_array()) {
    list = &data;
  } else if (data.is_object()) {
    list = Field(data, key);
    page.total = GetInt(data, "total").value_or(0);
  }
  if (list != nullptr && list->is_array()) {
    for (const auto& item : *list) {
      if (item.is_object()) page.items.push_back(&item);
    }
  } else if (list != nullptr && list->is_object()) {
    page.items.push_back(list);  // a single object where a list was documented
  }
  if (page.total < static_cast<int64_t>(page.items.size())) page.total = static_cast<int64_t>(page.items.size());
  return page;
}

OrderAck ParseOrderAck(const Json& j) {
  const Json* obj = &j;
  if (j.is_array() && !j.empty()) obj = &j.front();
  return OrderAck{FirstOf(*obj, {"orderId", "id"}), GetString(*obj, "clientId")};
}

SuccessFailureLists ParseSuccessFailure(const Json& data) {
  SuccessFailureLists out;
  for (const Json* item : ParseListPage(data, "successList").items) out.success.push_back(ParseOrderAck(*item));
  if (data.is_object()) {
    for (const Json* item : ParseListPage(data, "failureList").items) {
      ItemFailure f;
      f.order_id = FirstOf(*item, {"orderId", "id"});
      f.client_id = GetString(*item, "clientId");
      f.code = static_cast<int>(GetInt(*item, "errorCode").value_or(GetInt(*item, "code").value_or(0)));
      f.msg = FirstOf(*item, {"errorMsg", "msg"});
      out.failure.push_back(std::move(f));
    }
  }
  return out;
}

std::vector<SymbolRule> ParseTradingPairs(const Json& data) {
  std::vector<SymbolRule> out;
  for (const Json* item : ParseListPage(data, "list").items) {
    SymbolRule r;
    r.symbol = Upper(GetString(*item, "symbol"));
    if (r.symbol.empty()) continue;
    r.base = GetString(*item, "base");
    r.quote = GetString(*item, "quote");
    r.min_trade_volume = DecimalOrEmpty(*item, {"minTradeVolume"});
    r.max_limit_order_volume = DecimalOrEmpty(*item, {"maxLimitOrderVolume"});
    r.max_market_order_volume = DecimalOrEmpty(*item, {"maxMarketOrderVolume"});
    r.base_precision = static_cast<int>(GetInt(*item, "basePrecision").value_or(-1));
    r.quote_precision = static_cast<int>(GetInt(*item, "quotePrecision").value_or(-1));
    r.min_leverage = static_cast<int>(GetInt(*item, "minLeverage").value_or(0));
    r.max_leverage = static_cast<int>(GetInt(*item, "maxLeverage").value_or(0));
    r.status = Upper(GetString(*item, "symbolStatus"));
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<KlineRow> ParseKlines(const Json& data) {
  std::vector<KlineRow> rows;
  for (const Json* item : ParseListPage(data, "list").items) {
    KlineRow r;
    r.open = DecimalOrEmpty(*item, {"open"});
    r.high = DecimalOrEmpty(*item, {"high"});
    r.low = DecimalOrEmpty(*item, {"low"});
    r.close = DecimalOrEmpty(*item, {"close"});
    r.base_volume = DecimalOrEmpty(*item, {"baseVol"});
    r.quote_volume = DecimalOrEmpty(*item, {"quoteVol"});
    r.time_ms = GetTimeMs(*item, "time");
    rows.push_back(std::move(r));
  }
  // Decided once for the whole reply (common/volume_names.h).
  std::vector<VolumeRow> volumes;
  volumes.reserve(rows.size());
  for (const auto& r : rows) volumes.push_back({r.base_volume, r.quote_volume, r.low, r.high});
  if (VolumeNamesSwapped(volumes)) {
    for (auto& r : rows) {
      std::swap(r.base_volume, r.quote_volume);
      r.volumes_swapped = true;
    }
  }
  return rows;
}

std::vector<FundingRow> ParseFunding(const Json& data) {
  std::vector<FundingRow> out;
  std::vector<const Json*> items;
  if (data.is_object()) {
    items.push_back(&data);
  } else {
    items = ParseListPage(data, "list").items;
  }
  for (const Json* item : items) {
    FundingRow f;
    f.symbol = Upper(GetString(*item, "symbol"));
    f.rate_percent = DecimalOrEmpty(*item, {"fundingRate"});
    f.rate = f.rate_percent.empty() ? "" : PercentToFraction(f.rate_percent);
    f.mark_price = DecimalOrEmpty(*item, {"markPrice"});
    f.index_price = DecimalOrEmpty(*item, {"indexPrice"});
    f.next_funding_time_ms = GetTimeMs(*item, "nextFundingTime");
    f.funding_interval_hours = static_cast<int>(GetInt(*item, "fundingInterval").value_or(0));
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace bx::orders
