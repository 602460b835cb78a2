#include "services/orders/exchange_requests.h"

#include <algorithm>

#include "services/orders/rest_parse.h"

namespace bx::orders {
namespace {

void PutTpSl(OrderedJson& o, const v1::TpSl& t) {
  if (!t.tp_price().empty()) {
    o["tpPrice"] = t.tp_price();
    o["tpStopType"] = std::string(t.tp_stop_type() == v1::STOP_TYPE_UNSPECIFIED ? "MARK_PRICE"
                                                                                 : StopTypeText(t.tp_stop_type()));
    o["tpOrderType"] = std::string(t.tp_order_type() == v1::ORDER_TYPE_LIMIT ? "LIMIT" : "MARKET");
    if (t.tp_order_type() == v1::ORDER_TYPE_LIMIT) o["tpOrderPrice"] = t.tp_order_price();
  }
  if (!t.sl_price().empty()) {
    o["slPrice"] = t.sl_price();
    o["slStopType"] = std::string(t.sl_stop_type() == v1::STOP_TYPE_UNSPECIFIED ? "MARK_PRICE"
                                                                                 : StopTypeText(t.sl_stop_type()));
    o["slOrderType"] = std::string(t.sl_order_type() == v1::ORDER_TYPE_LIMIT ? "LIMIT" : "MARKET");
    if (t.sl_order_type() == v1::ORDER_TYPE_LIMIT) o["slOrderPrice"] = t.sl_order_price();
  }
}

std::string Dump(const OrderedJson& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

}  // namespace

OrderedJson PlaceOrderObject(const v1::PlaceOrderRequest& req, const std::string& symbol,
                             const std::string& client_id) {
  OrderedJson o = OrderedJson::object();
  o["symbol"] = symbol;
  o["side"] = std::string(SideText(req.side()));
  o["orderType"] = std::string(OrderTypeText(req.type()));
  o["qty"] = req.qty();
  if (req.type() == v1::ORDER_TYPE_LIMIT) o["price"] = req.price();
  if (req.trade_side() != v1::TRADE_SIDE_UNSPECIFIED) o["tradeSide"] = std::string(TradeSideText(req.trade_side()));
  if (!req.position_id().empty()) o["positionId"] = req.position_id();
  o["effect"] = std::string(req.time_in_force() == v1::TIME_IN_FORCE_UNSPECIFIED ? "GTC"
                                                                                  : TimeInForceText(req.time_in_force()));
  o["clientId"] = client_id;
  if (req.reduce_only()) o["reduceOnly"] = true;
  if (req.has_tpsl()) PutTpSl(o, req.tpsl());
  return o;
}

std::string BatchOrderBody(const std::string& symbol, const std::vector<OrderedJson>& items) {
  OrderedJson o = OrderedJson::object();
  o["symbol"] = symbol;
  o["orderList"] = OrderedJson::array();
  for (const auto& item : items) o["orderList"].push_back(item);
  return Dump(o);
}

std::string CancelOrdersBody(const std::string& symbol, const std::vector<v1::OrderRef>& refs) {
  OrderedJson o = OrderedJson::object();
  o["symbol"] = symbol;
  o["orderList"] = OrderedJson::array();
  for (const auto& ref : refs) {
    OrderedJson item = OrderedJson::object();
    if (!ref.order_id().empty()) {
      item["orderId"] = ref.order_id();  // the exchange prefers orderId when both are given
    } else {
      item["clientId"] = ref.client_id();
    }
    o["orderList"].push_back(std::move(item));
  }
  return Dump(o);
}

std::string CancelAllOrdersBody(const std::string& symbol) {
  OrderedJson o = OrderedJson::object();
  if (!symbol.empty()) o["symbol"] = symbol;
  return Dump(o);
}

std::string ModifyOrderBody(const v1::ModifyOrderRequest& req, const std::string& symbol) {
  OrderedJson o = OrderedJson::object();
  if (!req.order().order_id().empty()) {
    o["orderId"] = req.order().order_id();
  } else {
    o["clientId"] = req.order().client_id();
  }
  if (!symbol.empty()) o["symbol"] = symbol;
  if (!req.qty().empty()) o["qty"] = req.qty();
  if (!req.price().empty()) o["price"] = req.price();
  if (req.has_tpsl()) PutTpSl(o, req.tpsl());
  return Dump(o);
}

std::string ChangeLeverageBody(const std::string& symbol, const std::string& margin_coin, int32_t leverage) {
  OrderedJson o = OrderedJson::object();
  o["symbol"] = symbol;
  o["marginCoin"] = margin_coin;
  o["leverage"] = leverage;
  return Dump(o);
}

std::string ChangeMarginModeBody(const std::string& symbol, const std::string& margin_coin, v1::MarginMode mode) {
  OrderedJson o = OrderedJson::object();
  o["marginMode"] = std::string(MarginModeText(mode));
  o["symbol"] = symbol;
  o["marginCoin"] = margin_coin;
  return Dump(o);
}

std::string ChangePositionModeBody(v1::PositionMode mode) {
  OrderedJson o = OrderedJson::object();
  o["positionMode"] = std::string(PositionModeText(mode));
  return Dump(o);
}

std::string AdjustPositionMarginBody(const v1::AdjustPositionMarginRequest& req, const std::string& symbol,
                                     const std::string& margin_coin) {
  OrderedJson o = OrderedJson::object();
  o["symbol"] = symbol;
  o["marginCoin"] = margin_coin;
  o["amount"] = req.amount();
  if (req.side() == v1::POSITION_SIDE_LONG) o["side"] = "LONG";
  if (req.side() == v1::POSITION_SIDE_SHORT) o["side"] = "SHORT";
  if (!req.position_id().empty()) o["positionId"] = req.position_id();
  return Dump(o);
}

std::string FlashCloseBody(const std::string& position_id) {
  OrderedJson o = OrderedJson::object();
  o["positionId"] = position_id;
  return Dump(o);
}

std::string CloseAllPositionsBody(const std::string& symbol) {
  OrderedJson o = OrderedJson::object();
  if (!symbol.empty()) o["symbol"] = symbol;
  return Dump(o);
}

std::string TpslPlaceBody(const v1::PlaceTpslOrderRequest& req, const std::string& symbol) {
  OrderedJson o = OrderedJson::object();
  o["symbol"] = symbol;
  o["positionId"] = req.position_id();
  PutTpSl(o, req.tpsl());
  if (!req.tp_qty().empty()) o["tpQty"] = req.tp_qty();
  if (!req.sl_qty().empty()) o["slQty"] = req.sl_qty();
  return Dump(o);
}

std::string TpslModifyBody(const v1::ModifyTpslOrderRequest& req, const std::string& symbol) {
  OrderedJson o = OrderedJson::object();
  o["symbol"] = symbol;
  if (!req.order_id().empty()) o["orderId"] = req.order_id();
  if (!req.position_id().empty()) o["positionId"] = req.position_id();
  PutTpSl(o, req.tpsl());
  if (!req.tp_qty().empty()) o["tpQty"] = req.tp_qty();
  if (!req.sl_qty().empty()) o["slQty"] = req.sl_qty();
  return Dump(o);
}

std::string TpslCancelBody(const std::string& symbol, const std::string& order_id) {
  OrderedJson o = OrderedJson::object();
  o["symbol"] = symbol;
  o["orderId"] = order_id;
  return Dump(o);
}

std::string MsParam(int64_t ms) { return ms > 0 ? std::to_string(ms) : std::string(); }

std::string LimitParam(uint32_t limit) { return std::to_string(limit == 0 ? 100u : std::min(limit, 100u)); }

}  // namespace bx::orders
