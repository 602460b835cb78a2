#include "tests/orders/fake_exchange.h"

#include <cstdint>

#include "common/signing.h"
#include "tests/orders/fakes.h"

namespace bx::orders::testing {
namespace {

using nlohmann::json;

std::string Header(const net::HttpRequest& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

std::string UrlDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

QueryParams ParseQuery(const std::string& target) {
  QueryParams q;
  auto pos = target.find('?');
  if (pos == std::string::npos) return q;
  std::string rest = target.substr(pos + 1);
  size_t i = 0;
  while (i <= rest.size()) {
    size_t amp = rest.find('&', i);
    std::string kv = rest.substr(i, amp == std::string::npos ? std::string::npos : amp - i);
    auto eq = kv.find('=');
    if (eq != std::string::npos) q.emplace_back(UrlDecode(kv.substr(0, eq)), UrlDecode(kv.substr(eq + 1)));
    if (amp == std::string::npos) break;
    i = amp + 1;
  }
  return q;
}

std::string Param(const QueryParams& q, const std::string& key) {
  for (const auto& [k, v] : q) {
    if (k == key) return v;
  }
  return "";
}

}  // namespace

FakeExchange::FakeExchange(Scheduler& scheduler, std::string api_key, std::string secret)
    : scheduler_(scheduler), api_key_(std::move(api_key)), secret_(std::move(secret)) {}

size_t FakeExchange::CountClientId(const std::string& client_id) const {
  size_t n = 0;
  for (const auto& o : orders_) n += o.client_id == client_id;
  return n;
}

void FakeExchange::InjectOrder(const std::string& client_id, const std::string& symbol, const std::string& qty,
                               const std::string& price, const std::string& side) {
  Order o;
  o.order_id = std::to_string(next_id_++);
  o.client_id = client_id;
  o.symbol = symbol;
  o.side = side;
  o.type = "LIMIT";
  o.qty = qty;
  o.price = price;
  orders_.push_back(o);
}

bool FakeExchange::SetOrderStatus(const std::string& client_id, const std::string& status) {
  for (auto& o : orders_) {
    if (o.client_id == client_id) {
      o.status = status;
      return true;
    }
  }
  return false;
}

bool FakeExchange::ForgetOrder(const std::string& client_id) {
  const auto n = std::erase_if(orders_, [&](const Order& o) { return o.client_id == client_id; });
  return n > 0;
}

void FakeExchange::UpsertTpsl(json t) {
  for (auto& old : tpsl_) {
    if (old["id"] == t["id"]) {
      old.update(t);
      return;
    }
  }
  tpsl_.push_back(std::move(t));
}

void FakeExchange::ForgetTpsl(const std::string& id) {
  std::erase_if(tpsl_, [&](const json& t) { return t.value("id", "") == id; });
}

int FakeExchange::calls(const std::string& path) const {
  auto it = calls_.find(path);
  return it == calls_.end() ? 0 : it->second;
}

bool FakeExchange::VerifySignature(const net::HttpRequest& r) const {
  // The server side of §2: sorted key+value of the query as received, plus the body as received.
  QueryParams q = ParseQuery(r.target);
  std::sort(q.begin(), q.end());
  std::string sq;
  for (const auto& [k, v] : q) sq += k + v;
  const std::string expect =
      RestSign(Header(r, "nonce"), Header(r, "timestamp"), api_key_, sq, r.body, secret_);
  return Header(r, "api-key") == api_key_ && Header(r, "sign") == expect;
}

std::string FakeExchange::Envelope(int code, const std::string& msg, const json& data) const {
  // The trading replies' captured key order: code, data, msg.
  return std::string(R"({"code":)") + std::to_string(code) + R"(,"data":)" + data.dump() + R"(,"msg":)" +
         json(msg).dump() + "}";
}

json FakeExchange::OrderJson(const Order& o) const {
  json j{{"orderId", o.order_id}, {"clientId", o.client_id}, {"symbol", o.symbol}, {"side", o.side},
         {"orderType", o.type},   {"qty", o.qty},            {"price", o.price},   {"status", o.status},
         {"tradeQty", "0"},       {"ctime", 1700000000000},  {"mtime", 1700000000000}};
  j.update(report_fields_);
  return j;
}

FakeExchange::Reply FakeExchange::PlaceOne(const json& o, json* ack, int* code, std::string* msg) {
  const std::string cid = o.value("clientId", std::to_string(next_id_ + 7));
  if (CountClientId(cid) > 0) {
    *code = 30042;
    *msg = "Client ID duplicate";
    return {};
  }
  Order order;
  order.order_id = std::to_string(next_id_++);
  order.client_id = cid;
  order.symbol = o.value("symbol", "");
  order.side = o.value("side", "");
  order.type = o.value("orderType", "");
  order.qty = o.value("qty", "");
  order.price = o.value("price", "");
  orders_.push_back(order);
  *ack = json{{"orderId", order.order_id}, {"clientId", order.client_id}};
  *code = 0;
  return {};
}

FakeExchange::Reply FakeExchange::Execute(const net::HttpRequest& r) {
  const std::string path = TargetPath(r.target);
  const QueryParams q = ParseQuery(r.target);
  const bool signed_ep = path.find("/market/") == std::string::npos;
  if (signed_ep && !VerifySignature(r)) {
    ++bad_signatures_;
    return {200, R"({"code":10007,"msg":"Signature Error"})"};
  }
  if (signed_ep && time_window_ms_ > 0) {
    const int64_t ts = std::stoll(Header(r, "timestamp"));
    if (std::llabs(ts - (scheduler_.clock().NowMs() + clock_offset_ms_)) > time_window_ms_) {
      return {200, Envelope(10002, "Parameter error: timestamp outside the allowed window", nullptr)};
    }
  }
  if (path == "/api/v1/futures/market/trading_pairs") {
    json data = json::array(
        {json{{"symbol", "BTCUSDT"}, {"base", "BTC"}, {"quote", "USDT"}, {"minTradeVolume", "0.001"},
              {"maxLimitOrderVolume", "100"}, {"maxMarketOrderVolume", "50"}, {"basePrecision", 4},
              {"quotePrecision", 1}, {"minLeverage", 1}, {"maxLeverage", 125}, {"symbolStatus", btc_status_}},
         json{{"symbol", "HALTUSDT"}, {"base", "HALT"}, {"quote", "USDT"}, {"minTradeVolume", "1"},
              {"basePrecision", 0}, {"quotePrecision", 2}, {"symbolStatus", "STOP"}}});
    return {200, std::string(R"({"code":0,"msg":"Success","data":)") + data.dump() + "}"};
  }
  if (path == "/api/v1/futures/trade/place_order") {
    json o = json::parse(r.body);
    json ack;
    int code = 0;
    std::string msg;
    PlaceOne(o, &ack, &code, &msg);
    return {200, code == 0 ? Envelope(0, "Success", ack) : Envelope(code, msg, nullptr)};
  }
  if (path == "/api/v1/futures/trade/batch_order") {
    json body = json::parse(r.body);
    json ok = json::array(), fail = json::array();
    for (const auto& item : body["orderList"]) {
      json ack;
      int code = 0;
      std::string msg;
      PlaceOne(item, &ack, &code, &msg);
      if (code == 0) {
        ok.push_back(ack);
      } else {
        fail.push_back(json{{"clientId", item.value("clientId", "")}, {"errorMsg", msg}, {"errorCode", code}});
      }
    }
    return {200, Envelope(0, "Success", json{{"successList", ok}, {"failureList", fail}})};
  }
  if (path == "/api/v1/futures/trade/get_order_detail") {
    const std::string cid = Param(q, "clientId"), oid = Param(q, "orderId");
    if (detail_lag_ > 0) {
      --detail_lag_;
      return {200, Envelope(20007, "Order not found", nullptr)};
    }
    for (const auto& o : orders_) {
      if ((!cid.empty() && o.client_id == cid) || (!oid.empty() && o.order_id == oid)) {
        return {200, Envelope(0, "Success", OrderJson(o))};
      }
    }
    return {200, Envelope(20007, "Order not found", nullptr)};
  }
  if (path == "/api/v1/futures/trade/get_pending_orders" || path == "/api/v1/futures/trade/get_history_orders") {
    const bool pending = path.find("pending") != std::string::npos;
    const std::string cid = Param(q, "clientId"), oid = Param(q, "orderId");
    // skip and limit apply when given; without a limit every match is listed (older tests list
    // so).
    const size_t skip = ignore_skip_ || Param(q, "skip").empty() ? 0 : std::stoul(Param(q, "skip"));
    const size_t limit = Param(q, "limit").empty() ? SIZE_MAX : std::stoul(Param(q, "limit"));
    json list = json::array();
    size_t total = 0;
    for (const auto& o : orders_) {
      const bool open = o.status == "NEW";
      if (open != pending) continue;
      if (!cid.empty() && o.client_id != cid) continue;
      if (!oid.empty() && o.order_id != oid) continue;
      if (total++ < skip || list.size() >= limit) continue;
      list.push_back(OrderJson(o));
    }
    json data{{"orderList", list}};
    if (!omit_total_) data["total"] = total;
    return {200, Envelope(0, "Success", data)};
  }
  if (path == "/api/v1/futures/tpsl/get_pending_orders" || path == "/api/v1/futures/tpsl/get_history_orders") {
    const bool pending = path.find("pending") != std::string::npos;
    const size_t skip = Param(q, "skip").empty() ? 0 : std::stoul(Param(q, "skip"));
    const size_t limit = Param(q, "limit").empty() ? 10 : std::stoul(Param(q, "limit"));
    if (limit < 1 || limit > 100) return {200, Envelope(10002, "Parameter error: limit", nullptr)};
    const int64_t start = Param(q, "startTime").empty() ? 0 : std::stoll(Param(q, "startTime"));
    json list = json::array();
    size_t total = 0;
    for (auto it = tpsl_.rbegin(); it != tpsl_.rend(); ++it) {  // newest first
      if ((it->value("status", "NEW") == "NEW") != pending) continue;
      if (!Param(q, "symbol").empty() && it->value("symbol", "") != Param(q, "symbol")) continue;
      if (!Param(q, "positionId").empty() && it->value("positionId", "") != Param(q, "positionId")) continue;
      if (!pending && start > 0 && it->value("ctime", int64_t{0}) < start) continue;
      if (total++ < skip || list.size() >= limit) continue;
      json t = *it;
      if (pending) {
        for (const char* k : {"status", "ctime", "type"}) t.erase(k);
      }
      list.push_back(std::move(t));
    }
    if (pending) return {200, Envelope(0, "Success", list)};
    return {200, Envelope(0, "Success", json{{"orderList", list}, {"total", total}})};
  }
  if (path == "/api/v1/futures/trade/cancel_orders") {
    json body = json::parse(r.body);
    json ok = json::array(), fail = json::array();
    for (const auto& item : body["orderList"]) {
      bool found = false;
      for (auto& o : orders_) {
        if ((item.contains("orderId") && o.order_id == item["orderId"]) ||
            (item.contains("clientId") && o.client_id == item["clientId"])) {
          found = o.status == "NEW";
          if (found) o.status = "CANCELED";
          const bool omit = !omit_from_cancel_reply_.empty() &&
                            (o.order_id == omit_from_cancel_reply_ || o.client_id == omit_from_cancel_reply_);
          if (found && !omit) ok.push_back(json{{"orderId", o.order_id}, {"clientId", o.client_id}});
          if (omit) found = true;
        }
      }
      if (!found) {
        fail.push_back(json{{"orderId", item.value("orderId", "")},
                            {"clientId", item.value("clientId", "")},
                            {"errorMsg", "Order not found"},
                            {"errorCode", "20007"}});
      }
    }
    return {200, Envelope(0, "Success", json{{"successList", ok}, {"failureList", fail}})};
  }
  if (path == "/api/v1/futures/trade/modify_order") {
    json body = json::parse(r.body);
    for (auto& o : orders_) {
      if ((body.contains("orderId") && o.order_id == body["orderId"]) ||
          (body.contains("clientId") && o.client_id == body["clientId"])) {
        if (body.contains("qty")) o.qty = body["qty"];
        if (body.contains("price")) o.price = body["price"];
        return {200, Envelope(0, "Success", json{{"orderId", o.order_id}, {"clientId", o.client_id}})};
      }
    }
    return {200, Envelope(20007, "Order not found", nullptr)};
  }
  if (path == "/api/v1/futures/account") {
    return {200, Envelope(0, "Success",
                          json{{"marginCoin", Param(q, "marginCoin")}, {"available", "100000"}, {"frozen", "0"},
                               {"margin", "0"}, {"positionMode", "HEDGE"}})};
  }
  if (path == "/api/v1/futures/position/get_pending_positions") return {200, Envelope(0, "Success", positions_)};
  if (path == "/api/v1/futures/position/get_history_positions") {
    return {200, Envelope(0, "Success", json{{"positionList", json::array()}, {"total", 0}})};
  }
  if (path == "/api/v1/futures/account/change_leverage") {
    json body = json::parse(r.body);
    return {200, Envelope(0, "Success", body)};
  }
  return {200, Envelope(404, "Not Found", nullptr)};
}

void FakeExchange::Deliver(net::HttpCallback done, net::HttpResult result) {
  // Replies arrive later, like a socket's, never inside Send().
  auto deliver = [done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); };
  if (reply_delay_.count() > 0) {
    scheduler_.RunAfter(reply_delay_, std::move(deliver));
  } else {
    scheduler_.Post(std::move(deliver));
  }
}

void FakeExchange::Send(net::HttpRequest request, net::HttpCallback done) {
  requests_.push_back(request);
  const std::string path = TargetPath(request.target);
  ++calls_[path];
  std::optional<Fault> fault;
  for (auto it = faults_.begin(); it != faults_.end(); ++it) {
    if (it->path.empty() || it->path == path) {
      fault = *it;
      if (--it->count <= 0) faults_.erase(it);
      break;
    }
  }
  if (fault && fault->after) Execute(request);  // it happened; the reply is lost below
  if (!fault) {
    Reply reply = Execute(request);
    net::HttpResult res = HttpReply(reply.status, reply.body, scheduler_.clock().NowMs() + clock_offset_ms_);
    Deliver(std::move(done), std::move(res));
    return;
  }
  switch (fault->kind) {
    case FaultKind::kReset:
      Deliver(std::move(done), HttpFailure(absl::UnavailableError("connection reset by peer"), true));
      return;
    case FaultKind::kHttp500:
      Deliver(std::move(done), HttpReply(500, "<html>500 Internal Server Error</html>"));
      return;
    case FaultKind::kHttp404:
      Deliver(std::move(done), HttpReply(404, "404 page not found"));
      return;
    case FaultKind::kCode404:
      Deliver(std::move(done), HttpReply(200, R"({"code":404,"data":null,"msg":"Not Found"})"));
      return;
    case FaultKind::kHttp429:
      Deliver(std::move(done), HttpReply(429, "Too Many Requests"));
      return;
    case FaultKind::kCode10005:
      Deliver(std::move(done), HttpReply(200, R"({"code":10005,"data":null,"msg":"Too many requests"})"));
      return;
    case FaultKind::kRefuse:
      Deliver(std::move(done), HttpReply(200, R"({"code":20003,"data":null,"msg":"Insufficient balance"})"));
      return;
    case FaultKind::kBadJson:
      Deliver(std::move(done), HttpReply(200, R"({"code":0,"data":{"orderId":)"));
      return;
    case FaultKind::kHang:
      // No reply: the client's own timeout fires.
      scheduler_.RunAfter(request.timeout, [done = std::move(done)]() mutable {
        done(HttpFailure(absl::DeadlineExceededError("request timed out"), true));
      });
      return;
  }
}

}  // namespace bx::orders::testing
