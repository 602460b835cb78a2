#include "sim/account_views.h"

#include "common/time_util.h"
#include "sim/frames.h"

namespace bx::sim {
namespace {

void AddTpSl(OJson& j, const TpSl& t) {
  if (t.has_tp()) {
    j["tpPrice"] = t.tp_price;
    j["tpStopType"] = t.tp_stop_type.empty() ? "LAST_PRICE" : t.tp_stop_type;
    j["tpOrderType"] = t.tp_order_type.empty() ? "MARKET" : t.tp_order_type;
    if (!t.tp_order_price.empty()) j["tpOrderPrice"] = t.tp_order_price;
  }
  if (t.has_sl()) {
    j["slPrice"] = t.sl_price;
    j["slStopType"] = t.sl_stop_type.empty() ? "LAST_PRICE" : t.sl_stop_type;
    j["slOrderType"] = t.sl_order_type.empty() ? "MARKET" : t.sl_order_type;
    if (!t.sl_order_price.empty()) j["slOrderPrice"] = t.sl_order_price;
  }
}

std::string Money(Dec d) { return d.ToString(); }

std::string Envelope(const char* ch, int64_t ts_ms, const OJson& data) {
  OJson j;
  j["ch"] = ch;
  j["ts"] = ts_ms;
  j["data"] = data;
  return j.dump();
}

// Maintenance margin rate of the first risk tier.
const Dec kMaintenance = Dec::FromUnits(400'000);  // 0.004

Dec LiqPrice(const Position& p) {
  if (p.qty.is_zero() || p.leverage <= 0) return Dec();
  const Dec avg = p.AvgOpen();
  const Dec one = Dec::FromInt(1);
  const Dec inv = one / Dec::FromInt(p.leverage);
  const Dec f = p.long_side ? one - inv + kMaintenance : one + inv - kMaintenance;
  const Dec liq = avg * f;
  return liq.is_negative() ? Dec() : liq;
}

}  // namespace

OJson OrderJson(const Order& o, const SymbolSpec& spec, bool history) {
  OJson j;
  j["orderId"] = o.order_id;
  j["symbol"] = o.symbol;
  j["qty"] = o.qty.ToString(spec.base_precision);
  j["tradeQty"] = o.filled.ToString(spec.base_precision);
  j["price"] = o.order_type == "MARKET" ? (history ? "market" : "0") : o.price.ToString(spec.quote_precision);
  j["side"] = o.side;
  j["orderType"] = o.order_type;
  j["effect"] = o.effect;
  j["clientId"] = o.client_id;
  j["reduceOnly"] = o.reduce_only;
  j["positionMode"] = o.position_mode;
  j["marginMode"] = o.margin_mode;
  j["leverage"] = o.leverage;
  j["status"] = o.status;
  j["fee"] = Money(o.fee);
  j["realizedPNL"] = Money(o.realized_pnl);
  AddTpSl(j, o.tpsl);
  j["ctime"] = o.ctime_ns / 1'000'000;
  j["mtime"] = o.mtime_ns / 1'000'000;
  return j;
}

OJson PositionJson(const Position& p, const Account& a, const MarketModel& m) {
  const SymbolSpec& spec = a.catalog().all()[static_cast<size_t>(p.sym)];
  const Dec upnl = a.UnrealizedPnl(p, m);
  OJson j;
  j["positionId"] = p.position_id;
  j["symbol"] = p.symbol;
  j["qty"] = p.qty.ToString(spec.base_precision);
  j["entryValue"] = Money(p.entry_value);
  j["side"] = p.long_side ? "BUY" : "SELL";  // live REST says BUY/SELL (pushes say LONG/SHORT)
  j["marginMode"] = p.margin_mode;
  j["positionMode"] = p.position_mode;
  j["leverage"] = p.leverage;
  j["fees"] = Money(p.fees);
  j["funding"] = Money(p.funding);
  j["realizedPNL"] = Money(p.realized_pnl);
  j["margin"] = Money(p.margin);
  j["unrealizedPNL"] = Money(upnl);
  j["liqPrice"] = LiqPrice(p).ToString(spec.quote_precision);
  const Dec notional = p.qty * m.Mark(p.sym);
  const Dec equity = p.margin + upnl;
  j["marginRate"] = equity > Dec() ? (notional * kMaintenance / equity).ToString(4) : "1";
  j["avgOpenPrice"] = p.AvgOpen().ToString(spec.quote_precision + 2);
  j["ctime"] = std::to_string(p.ctime_ns / 1'000'000);
  j["mtime"] = std::to_string(p.mtime_ns / 1'000'000);
  return j;
}

OJson HistoryPositionJson(const Position& p, const SymbolSpec& spec) {
  OJson j;
  j["positionId"] = p.position_id;
  j["symbol"] = p.symbol;
  j["maxQty"] = p.max_qty.ToString(spec.base_precision);
  const Dec entry = p.opened_qty.is_zero() ? Dec() : p.opened_value / p.opened_qty;
  j["entryPrice"] = entry.ToString(spec.quote_precision + 2);
  j["closePrice"] = (p.closed_qty.is_zero() ? Dec() : p.close_value / p.closed_qty).ToString(spec.quote_precision + 2);
  j["liqQty"] = "0";
  j["side"] = p.long_side ? "BUY" : "SELL";
  j["positionMode"] = p.position_mode;
  j["marginMode"] = p.margin_mode;
  j["leverage"] = p.leverage;
  j["fee"] = Money(p.fees);
  j["funding"] = Money(p.funding);
  j["realizedPNL"] = Money(p.realized_pnl);
  j["liqPrice"] = "0";
  j["ctime"] = std::to_string(p.ctime_ns / 1'000'000);
  j["mtime"] = std::to_string(p.mtime_ns / 1'000'000);
  return j;
}

OJson TradeJson(const AccountTrade& t, const SymbolSpec& spec) {
  OJson j;
  j["tradeId"] = t.trade_id;
  j["orderId"] = t.order_id;
  j["symbol"] = t.symbol;
  j["qty"] = t.qty.ToString(spec.base_precision);
  j["price"] = t.price.ToString(spec.quote_precision);
  j["side"] = t.side;
  j["orderType"] = t.order_type;
  j["positionMode"] = t.position_mode;
  j["marginMode"] = t.margin_mode;
  j["leverage"] = t.leverage;
  j["fee"] = Money(t.fee);
  j["realizedPNL"] = Money(t.realized_pnl);
  j["ctime"] = t.ctime_ms;
  j["roleType"] = t.maker ? "MAKER" : "TAKER";
  j["positionId"] = t.position_id;
  return j;
}

OJson TpslJson(const TpslOrder& t, const Account& a) {
  const SymbolSpec& spec = a.catalog().all()[static_cast<size_t>(t.sym)];
  OJson j;
  j["id"] = t.order_id;
  j["positionId"] = t.position_id;
  j["symbol"] = t.symbol;
  j["base"] = spec.base;
  j["quote"] = spec.quote;
  j["side"] = t.long_side ? "BUY" : "SELL";
  j["type"] = t.type;
  j["status"] = t.status;
  AddTpSl(j, t.spec);
  if (t.type == "TPSL") {
    if (t.spec.has_tp()) j["tpQty"] = t.tp_qty.ToString(spec.base_precision);
    if (t.spec.has_sl()) j["slQty"] = t.sl_qty.ToString(spec.base_precision);
  }
  j["ctime"] = t.ctime_ns / 1'000'000;
  return j;
}

OJson AccountJson(const Account& a, const MarketModel& m, const std::string& margin_coin) {
  const AccountSummary s = a.Summary(m);
  OJson j;
  j["marginCoin"] = margin_coin;
  j["available"] = Money(s.available);
  j["frozen"] = Money(s.frozen);
  j["margin"] = Money(s.margin);
  j["transfer"] = Money(s.available);
  j["positionMode"] = a.position_mode();
  j["crossUnrealizedPNL"] = Money(s.cross_upnl);
  j["isolationUnrealizedPNL"] = Money(s.isolation_upnl);
  j["bonus"] = "0";
  return j;
}

std::string OrderPush(const Order& o, const std::string& event, const SymbolSpec& spec, int64_t ts_ms) {
  OJson d;
  d["event"] = event;
  d["orderId"] = o.order_id;
  d["clientId"] = o.client_id;
  d["symbol"] = o.symbol;
  d["positionType"] = o.margin_mode;
  d["positionMode"] = o.position_mode;
  d["side"] = o.side;
  d["effect"] = o.effect;
  d["type"] = o.order_type;
  d["qty"] = o.qty.ToString(spec.base_precision);
  d["price"] = o.order_type == "MARKET" ? o.avg_price.ToString(spec.quote_precision) : o.price.ToString(spec.quote_precision);
  d["reductionOnly"] = o.reduce_only;
  d["ctime"] = FormatIso8601Nanos(o.ctime_ns);
  d["mtime"] = FormatIso8601Nanos(o.mtime_ns);
  d["leverage"] = std::to_string(o.leverage);
  d["orderStatus"] = o.status;
  d["fee"] = Money(o.fee);
  d["averagePrice"] = o.avg_price.ToString(spec.quote_precision + 2);
  d["dealAmount"] = o.filled.ToString(spec.base_precision);
  AddTpSl(d, o.tpsl);
  return Envelope("order", ts_ms, d);
}

std::string PositionPush(const Position& p, const std::string& event, const Account& a, const MarketModel& m,
                         int64_t ts_ms) {
  const SymbolSpec& spec = a.catalog().all()[static_cast<size_t>(p.sym)];
  OJson d;
  d["event"] = event;
  d["positionId"] = p.position_id;
  d["marginMode"] = p.margin_mode;
  d["positionMode"] = p.position_mode;
  d["side"] = p.long_side ? "LONG" : "SHORT";
  d["leverage"] = std::to_string(p.leverage);
  d["margin"] = Money(p.margin);
  d["ctime"] = FormatIso8601Nanos(p.ctime_ns);
  d["qty"] = p.qty.ToString(spec.base_precision);
  d["entryValue"] = Money(p.entry_value);
  d["symbol"] = p.symbol;
  d["realizedPNL"] = Money(p.realized_pnl);
  d["unrealizedPNL"] = Money(a.UnrealizedPnl(p, m));
  d["funding"] = Money(p.funding);
  d["fee"] = Money(p.fees);
  return Envelope("position", ts_ms, d);
}

std::string BalancePush(const AccountSummary& s, int64_t ts_ms) {
  OJson d;
  d["coin"] = "USDT";
  d["available"] = Money(s.available);
  d["frozen"] = Money(s.frozen);
  d["isolationFrozen"] = Money(s.isolation_frozen);
  d["crossFrozen"] = Money(s.cross_frozen);
  d["margin"] = Money(s.margin);
  d["isolationMargin"] = Money(s.isolation_margin);
  d["crossMargin"] = Money(s.cross_margin);
  d["expMoney"] = "0";
  return Envelope("balance", ts_ms, d);
}

std::string TpslPush(const TpslOrder& t, const std::string& event, const Account& a, int64_t ts_ms) {
  const SymbolSpec& spec = a.catalog().all()[static_cast<size_t>(t.sym)];
  const Position* p = a.FindPosition(t.position_id);
  OJson d;
  d["event"] = event;
  d["positionId"] = t.position_id;
  d["orderId"] = t.order_id;
  d["symbol"] = t.symbol;
  d["leverage"] = std::to_string(p == nullptr ? a.Leverage(t.sym) : p->leverage);
  d["side"] = t.long_side ? "LONG" : "SHORT";
  d["positionMode"] = a.position_mode();
  d["status"] = t.status;
  d["ctime"] = FormatIso8601Nanos(t.ctime_ns);
  d["type"] = t.type;
  if (t.type == "TPSL") {
    d["tpQty"] = t.tp_qty.ToString(spec.base_precision);
    d["slQty"] = t.sl_qty.ToString(spec.base_precision);
  }
  AddTpSl(d, t.spec);
  return Envelope("tpsl", ts_ms, d);
}

}  // namespace bx::sim
