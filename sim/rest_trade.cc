// Private (signed) endpoints: account settings, trading, queries, TP/SL. Envelope {code,data,msg}
// as captured on place_order.
#include <charconv>

#include "absl/strings/str_cat.h"
#include "sim/account_views.h"
#include "sim/rest_api.h"

namespace bx::sim {
namespace {

using nlohmann::json;

RestReply Err(int code, const std::string& msg) { return {200, ErrorBody(code, msg)}; }
RestReply Err(const ApiError& e) { return Err(e.code, e.msg); }

const std::string* QueryParam(const RestRequest& req, std::string_view name) {
  for (const auto& [k, v] : req.query) {
    if (k == name) return &v;
  }
  return nullptr;
}
std::string Q(const RestRequest& req, std::string_view name) {
  const std::string* v = QueryParam(req, name);
  return v == nullptr ? "" : *v;
}

// A body field as text: strings as-is, numbers and bools as their JSON text.
std::string F(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number() || it->is_boolean()) return it->dump();
  return "";
}

bool FlagTrue(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end()) return false;
  if (it->is_boolean()) return it->get<bool>();
  if (it->is_string()) return it->get<std::string>() == "true";
  return false;
}

TpSl ParseTpSl(const json& b) {
  TpSl t;
  t.tp_price = F(b, "tpPrice");
  t.tp_stop_type = F(b, "tpStopType");
  t.tp_order_type = F(b, "tpOrderType");
  t.tp_order_price = F(b, "tpOrderPrice");
  t.sl_price = F(b, "slPrice");
  t.sl_stop_type = F(b, "slStopType");
  t.sl_order_type = F(b, "slOrderType");
  t.sl_order_price = F(b, "slOrderPrice");
  return t;
}

OrderRequest ParseOrder(const json& b, const std::string& default_symbol) {
  OrderRequest r;
  r.symbol = F(b, "symbol");
  if (r.symbol.empty()) r.symbol = default_symbol;
  r.side = F(b, "side");
  r.order_type = F(b, "orderType");
  r.qty = F(b, "qty");
  r.price = F(b, "price");
  r.trade_side = F(b, "tradeSide");
  r.position_id = F(b, "positionId");
  r.effect = F(b, "effect");
  r.client_id = F(b, "clientId");
  r.reduce_only = FlagTrue(b, "reduceOnly");
  r.tpsl = ParseTpSl(b);
  return r;
}

std::optional<int64_t> ParseInt(const std::string& s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

struct Page {
  int64_t skip = 0, limit = 10, start = 0, end = 0;
};

std::optional<ApiError> ParsePage(const RestRequest& req, Page* p) {
  for (auto [name, dst] : {std::pair<const char*, int64_t*>{"skip", &p->skip},
                           {"limit", &p->limit},
                           {"startTime", &p->start},
                           {"endTime", &p->end}}) {
    const std::string v = Q(req, name);
    if (v.empty()) continue;
    auto n = ParseInt(v);
    if (!n || *n < 0) return ApiError{10002, absl::StrCat("Parameter error: ", name, " '", v, "' is not an integer >= 0")};
    *dst = *n;
  }
  if (p->limit < 1 || p->limit > 100) return ApiError{10002, "Parameter error: limit must be 1 .. 100"};
  return std::nullopt;
}

OJson IdPair(const Order& o) {
  OJson j;
  j["orderId"] = o.order_id;
  j["clientId"] = o.client_id;
  return j;
}

}  // namespace

RestReply RestApi::HandlePrivate(const RestRequest& req) {
  struct Route {
    const char* method;
    const char* bucket;  // rate-limit budget
  };
  static const std::map<std::string, Route> kRoutes = {
      {"account", {"GET", "private"}},
      {"account/get_leverage_margin_mode", {"GET", "private"}},
      {"account/change_leverage", {"POST", "private"}},
      {"account/change_margin_mode", {"POST", "private"}},
      {"account/change_position_mode", {"POST", "private"}},
      {"account/adjust_position_margin", {"POST", "private"}},
      {"trade/place_order", {"POST", "private"}},
      {"trade/batch_order", {"POST", "batch"}},
      {"trade/cancel_orders", {"POST", "cancel"}},
      {"trade/cancel_all_orders", {"POST", "private"}},
      {"trade/modify_order", {"POST", "private"}},
      {"trade/flash_close_position", {"POST", "cancel"}},
      {"trade/close_all_position", {"POST", "private"}},
      {"trade/get_order_detail", {"GET", "private"}},
      {"trade/get_pending_orders", {"GET", "private"}},
      {"trade/get_history_orders", {"GET", "private"}},
      {"trade/get_history_trades", {"GET", "private"}},
      {"position/get_pending_positions", {"GET", "private"}},
      {"position/get_history_positions", {"GET", "private"}},
      {"tpsl/place_order", {"POST", "private"}},
      {"tpsl/position/place_order", {"POST", "private"}},
      {"tpsl/modify_order", {"POST", "private"}},
      {"tpsl/position/modify_order", {"POST", "private"}},
      {"tpsl/cancel_order", {"POST", "private"}},
      {"tpsl/get_pending_orders", {"GET", "private"}},
      {"tpsl/get_history_orders", {"GET", "private"}},
  };
  const std::string name = req.path.substr(std::string("/api/v1/futures/").size());
  auto route = kRoutes.find(name);
  if (route == kRoutes.end() || req.method != route->second.method) return Err(404, "Not Found");

  SignedRestRequest signed_req;
  auto header = [&](const char* h) {
    auto it = req.headers.find(h);
    return it == req.headers.end() ? std::string() : it->second;
  };
  signed_req.api_key = header("api-key");
  signed_req.nonce = header("nonce");
  signed_req.timestamp = header("timestamp");
  signed_req.sign = header("sign");
  signed_req.query = req.query;
  signed_req.body = req.body;
  AuthVerdict v = VerifyRestRequest(signed_req, options_.creds, clock_.NowMs(), options_.time_window_ms);
  if (!v.ok()) return Err(v.code, v.msg);

  if (options_.rate_limits) {
    const std::string bucket = route->second.bucket;
    const int limit = bucket == "batch" ? 1 : bucket == "cancel" ? 5 : 10;
    if (!limiter_.Allow("uid:" + bucket, limit)) return Err(10005, "Too many requests");
  }

  json body = json::object();
  if (req.method == "POST") {
    body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded() || !body.is_object()) {
      return Err(10002, "Parameter error: the body must be a JSON object");
    }
  }
  // Pushes are published before the exchange's lock is released: in the order they were made.
  return exchange_.Transact([&](Account& a, MarketModel& m, std::vector<PrivatePush>* out) -> RestReply {
    std::vector<PrivatePush>& pushes = *out;
    const SymbolCatalog& cat = a.catalog();
    auto spec_of = [&](int sym) -> const SymbolSpec& { return cat.all()[static_cast<size_t>(sym)]; };

    if (name == "account") {
      const std::string coin = Q(req, "marginCoin");
      if (coin.empty()) return Err(10002, "Parameter error: marginCoin is required");
      if (coin != "USDT" && coin != "USDC") return Err(10002, absl::StrCat("Parameter error: marginCoin '", coin, "'"));
      return {200, TradeOk(AccountJson(a, m, coin))};
    }
    if (name == "account/get_leverage_margin_mode") {
      const SymbolSpec* s = cat.Find(Q(req, "symbol"));
      if (Q(req, "symbol").empty()) return Err(10002, "Parameter error: symbol is required");
      if (s == nullptr || !s->tradable()) return Err(20015, "this Futures is not allowed to trade.");
      const int sym = cat.IndexOf(s->symbol);
      OJson d;
      d["symbol"] = s->symbol;
      d["marginCoin"] = Q(req, "marginCoin").empty() ? s->quote : Q(req, "marginCoin");
      d["leverage"] = a.Leverage(sym);
      d["marginMode"] = a.MarginMode(sym);
      return {200, TradeOk(d)};
    }
    if (name == "account/change_leverage") {
      auto lev = ParseInt(F(body, "leverage"));
      if (!lev) return Err(10002, "Parameter error: leverage must be an integer");
      if (F(body, "symbol").empty()) return Err(10002, "Parameter error: symbol is required");
      if (auto e = a.ChangeLeverage(F(body, "symbol"), static_cast<int>(*lev), m, &pushes)) return Err(*e);
      OJson d;
      d["symbol"] = UpperAscii(F(body, "symbol"));
      d["marginCoin"] = F(body, "marginCoin");
      d["leverage"] = *lev;
      return {200, TradeOk(d)};
    }
    if (name == "account/change_margin_mode") {
      if (F(body, "symbol").empty()) return Err(10002, "Parameter error: symbol is required");
      if (auto e = a.ChangeMarginMode(F(body, "symbol"), F(body, "marginMode"))) return Err(*e);
      OJson d;
      d["symbol"] = UpperAscii(F(body, "symbol"));
      d["marginCoin"] = F(body, "marginCoin");
      d["marginMode"] = F(body, "marginMode");
      return {200, TradeOk(d)};
    }
    if (name == "account/change_position_mode") {
      if (auto e = a.ChangePositionMode(F(body, "positionMode"))) return Err(*e);
      OJson d;
      d["positionMode"] = F(body, "positionMode");
      return {200, TradeOk(d)};
    }
    if (name == "account/adjust_position_margin") {
      if (auto e = a.AdjustMargin(F(body, "symbol"), F(body, "amount"), F(body, "side"), F(body, "positionId"), m,
                                  &pushes)) {
        return Err(*e);
      }
      return {200, TradeOk(nullptr)};
    }
    if (name == "trade/place_order") {
      auto r = a.Place(ParseOrder(body, ""), m, &pushes);
      if (!r.ok()) return Err(r.error);
      stats_.orders_placed++;
      return {200, TradeOk(IdPair(**r.value))};
    }
    if (name == "trade/batch_order") {
      auto list = body.find("orderList");
      if (list == body.end() || !list->is_array() || list->empty()) {
        return Err(10002, "Parameter error: orderList must be a non-empty array");
      }
      if (list->size() > 5) return Err(10002, "Parameter error: orderList holds at most 5 orders");
      OJson ok = OJson::array(), failed = OJson::array();
      for (const auto& item : *list) {
        if (!item.is_object()) {
          OJson f;
          f["clientId"] = "";
          f["errorMsg"] = "Parameter error: each order must be an object";
          f["errorCode"] = 10002;
          failed.push_back(f);
          continue;
        }
        auto r = a.Place(ParseOrder(item, F(body, "symbol")), m, &pushes);
        if (r.ok()) {
          stats_.orders_placed++;
          ok.push_back(IdPair(**r.value));
        } else {
          OJson f;
          f["clientId"] = F(item, "clientId");
          f["errorMsg"] = r.error.msg;
          f["errorCode"] = r.error.code;
          failed.push_back(f);
        }
      }
      OJson d;
      d["successList"] = ok;
      d["failureList"] = failed;
      return {200, TradeOk(d)};
    }
    if (name == "trade/cancel_orders") {
      auto list = body.find("orderList");
      if (list == body.end() || !list->is_array() || list->empty()) {
        return Err(10002, "Parameter error: orderList must be a non-empty array");
      }
      OJson ok = OJson::array(), failed = OJson::array();
      for (const auto& item : *list) {
        const std::string oid = item.is_object() ? (F(item, "orderId").empty() ? F(item, "id") : F(item, "orderId")) : "";
        const std::string cid = item.is_object() ? F(item, "clientId") : "";
        auto r = a.Cancel(F(body, "symbol"), oid, cid, &pushes);
        if (r.ok()) {
          ok.push_back(IdPair(**r.value));
        } else {
          OJson f;
          f["orderId"] = oid;
          f["clientId"] = cid;
          f["errorMsg"] = r.error.msg;
          f["errorCode"] = r.error.code;
          failed.push_back(f);
        }
      }
      if (!ok.empty()) pushes.push_back({"balance", BalancePush(a.Summary(m), clock_.NowMs())});
      OJson d;
      d["successList"] = ok;
      d["failureList"] = failed;
      return {200, TradeOk(d)};
    }
    if (name == "trade/cancel_all_orders") {
      OJson ok = OJson::array();
      for (const Order* o : a.CancelAll(F(body, "symbol"), &pushes)) ok.push_back(IdPair(*o));
      if (!ok.empty()) pushes.push_back({"balance", BalancePush(a.Summary(m), clock_.NowMs())});
      OJson d;
      d["successList"] = ok;
      d["failureList"] = OJson::array();
      return {200, TradeOk(d)};
    }
    if (name == "trade/modify_order") {
      Account::ModifyRequest mr{F(body, "orderId"), F(body, "clientId"), F(body, "qty"), F(body, "price"),
                                ParseTpSl(body)};
      auto r = a.Modify(mr, m, &pushes);
      if (!r.ok()) return Err(r.error);
      return {200, TradeOk(IdPair(**r.value))};
    }
    if (name == "trade/flash_close_position") {
      auto r = a.FlashClose(F(body, "positionId"), m, &pushes);
      if (!r.ok()) return Err(r.error);
      OJson d;
      d["positionId"] = *r.value;
      return {200, TradeOk(d)};
    }
    if (name == "trade/close_all_position") {
      a.CloseAll(F(body, "symbol"), m, &pushes);
      return {200, TradeOk(nullptr)};
    }
    if (name == "trade/get_order_detail") {
      const std::string oid = Q(req, "orderId"), cid = Q(req, "clientId");
      if (oid.empty() && cid.empty()) return Err(10002, "Parameter error: orderId or clientId is required");
      const Order* o = a.FindOrder(oid, cid);
      if (o == nullptr) return Err(20007, "Order not found");
      return {200, TradeOk(OrderJson(*o, spec_of(o->sym), !o->open()))};
    }
    if (name == "trade/get_pending_orders" || name == "trade/get_history_orders") {
      const bool pending = name == "trade/get_pending_orders";
      Page page;
      if (auto e = ParsePage(req, &page)) return Err(*e);
      const std::string symbol = UpperAscii(Q(req, "symbol")), oid = Q(req, "orderId"), cid = Q(req, "clientId"),
                        status = Q(req, "status");
      if (!status.empty()) {
        const bool valid = pending ? (status == "NEW" || status == "PART_FILLED")
                                   : (status == "FILLED" || status == "CANCELED" ||
                                      status == "PART_FILLED_CANCELED" || status == "EXPIRED");
        if (!valid) return Err(10002, absl::StrCat("Parameter error: status '", status, "'"));
      }
      OJson list = OJson::array();
      int64_t total = 0;
      const auto& orders = a.orders();
      for (auto it = orders.rbegin(); it != orders.rend(); ++it) {  // newest first
        const Order& o = *it;
        if (o.open() != pending) continue;
        if (!symbol.empty() && o.symbol != symbol) continue;
        if (!oid.empty() && o.order_id != oid) continue;
        if (!cid.empty() && o.client_id != cid) continue;
        if (!status.empty() && o.status != status) continue;
        const int64_t ct = o.ctime_ns / 1'000'000;
        if ((page.start > 0 && ct < page.start) || (page.end > 0 && ct > page.end)) continue;
        if (total >= page.skip && static_cast<int64_t>(list.size()) < page.limit) {
          list.push_back(OrderJson(o, spec_of(o.sym), !pending));
        }
        ++total;
      }
      OJson d;
      d["orderList"] = list;
      d["total"] = total;
      return {200, TradeOk(d)};
    }
    if (name == "trade/get_history_trades") {
      Page page;
      if (auto e = ParsePage(req, &page)) return Err(*e);
      const std::string symbol = UpperAscii(Q(req, "symbol")), oid = Q(req, "orderId");
      OJson list = OJson::array();
      int64_t total = 0;
      const auto& trades = a.trades();
      for (auto it = trades.rbegin(); it != trades.rend(); ++it) {
        // positionId is accepted and ignored, as observed live.
        if (!symbol.empty() && it->symbol != symbol) continue;
        if (!oid.empty() && it->order_id != oid) continue;
        if ((page.start > 0 && it->ctime_ms < page.start) || (page.end > 0 && it->ctime_ms > page.end)) continue;
        if (total >= page.skip && static_cast<int64_t>(list.size()) < page.limit) {
          list.push_back(TradeJson(*it, spec_of(it->sym)));
        }
        ++total;
      }
      OJson d;
      d["tradeList"] = list;
      d["total"] = total;
      return {200, TradeOk(d)};
    }
    if (name == "position/get_pending_positions") {
      const std::string symbol = UpperAscii(Q(req, "symbol")), pid = Q(req, "positionId");
      OJson list = OJson::array();
      for (const auto& p : a.positions()) {
        if (!symbol.empty() && p.symbol != symbol) continue;
        if (!pid.empty() && p.position_id != pid) continue;
        list.push_back(PositionJson(p, a, m));
      }
      return {200, TradeOk(list)};
    }
    if (name == "position/get_history_positions") {
      Page page;
      if (auto e = ParsePage(req, &page)) return Err(*e);
      const std::string symbol = UpperAscii(Q(req, "symbol")), pid = Q(req, "positionId");
      OJson list = OJson::array();
      int64_t total = 0;
      const auto& hist = a.history_positions();
      for (auto it = hist.rbegin(); it != hist.rend(); ++it) {
        if (!symbol.empty() && it->symbol != symbol) continue;
        if (!pid.empty() && it->position_id != pid) continue;
        const int64_t mt = it->mtime_ns / 1'000'000;
        if ((page.start > 0 && mt < page.start) || (page.end > 0 && mt > page.end)) continue;
        if (total >= page.skip && static_cast<int64_t>(list.size()) < page.limit) {
          list.push_back(HistoryPositionJson(*it, spec_of(it->sym)));
        }
        ++total;
      }
      OJson d;
      d["positionList"] = list;
      d["total"] = total;
      return {200, TradeOk(d)};
    }
    if (name.rfind("tpsl/", 0) == 0) {
      Account::TpslRequest tr{F(body, "symbol"), F(body, "positionId"), F(body, "orderId"), ParseTpSl(body),
                              F(body, "tpQty"), F(body, "slQty")};
      const bool whole = name.find("/position/") != std::string::npos;
      if (name == "tpsl/place_order" || name == "tpsl/position/place_order") {
        auto r = a.PlaceTpsl(tr, whole, m, &pushes);
        if (!r.ok()) return Err(r.error);
        OJson d;
        d["orderId"] = *r.value;
        return {200, TradeOk(d)};
      }
      if (name == "tpsl/modify_order" || name == "tpsl/position/modify_order") {
        auto r = a.ModifyTpsl(tr, whole, m, &pushes);
        if (!r.ok()) return Err(r.error);
        OJson d;
        d["orderId"] = *r.value;
        return {200, TradeOk(d)};
      }
      if (name == "tpsl/cancel_order") {
        auto r = a.CancelTpsl(F(body, "symbol"), F(body, "orderId"), &pushes);
        if (!r.ok()) return Err(r.error);
        OJson d;
        d["orderId"] = *r.value;
        return {200, TradeOk(d)};
      }
      const bool pending = name == "tpsl/get_pending_orders";
      Page page;
      if (auto e = ParsePage(req, &page)) return Err(*e);
      const std::string symbol = UpperAscii(Q(req, "symbol")), pid = Q(req, "positionId");
      OJson list = OJson::array();
      int64_t total = 0;
      const auto& all = a.tpsl_orders();
      for (auto it = all.rbegin(); it != all.rend(); ++it) {
        if ((it->status == "NEW") != pending) continue;
        if (!symbol.empty() && it->symbol != symbol) continue;
        if (!pid.empty() && it->position_id != pid) continue;
        if (total >= page.skip && static_cast<int64_t>(list.size()) < page.limit) list.push_back(TpslJson(*it, a));
        ++total;
      }
      if (pending) return {200, TradeOk(list)};
      OJson d;
      d["orderList"] = list;
      d["total"] = total;
      return {200, TradeOk(d)};
    }
    return Err(404, "Not Found");
  });
}

}  // namespace bx::sim
