// OrderEngine: everything but placement: cancels, modify, queries, account settings, positions,
// TP/SL. Reads are retried by the REST client; state-changing calls never are.
#include <set>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/decimal.h"
#include "services/orders/errors.h"
#include "services/orders/exchange_requests.h"
#include "services/orders/order_engine.h"
#include "services/orders/orders_metrics.h"
#include "services/orders/rest_parse.h"

namespace bx::orders {
namespace {

// Page sizes are 1-100 (0 = 100): a larger one is refused rather than cut silently.
absl::Status CheckLimit(uint32_t limit) {
  if (limit <= 100) return absl::OkStatus();
  return ValidationError(absl::StrCat("limit ", limit, " is over the exchange's 100 rows per page (0 means 100); "
                                      "page through with skip"));
}

// Whether the order read back shows every TP/SL field a modify asked for. A field the exchange
// did not report cannot confirm the change.
bool TpslShows(const v1::TpSl& want, const v1::TpSl& got) {
  auto same = [](const std::string& w, const std::string& g) {
    return w.empty() || (!g.empty() && CompareDecimal(w, g).value_or(1) == 0);
  };
  auto same_enum = [](int w, int g) { return w == 0 || w == g; };
  return same(want.tp_price(), got.tp_price()) && same(want.sl_price(), got.sl_price()) &&
         same(want.tp_order_price(), got.tp_order_price()) && same(want.sl_order_price(), got.sl_order_price()) &&
         same_enum(want.tp_stop_type(), got.tp_stop_type()) && same_enum(want.sl_stop_type(), got.sl_stop_type()) &&
         same_enum(want.tp_order_type(), got.tp_order_type()) && same_enum(want.sl_order_type(), got.sl_order_type());
}

absl::Status Invalid(std::string msg) { return ValidationError(std::move(msg)); }

absl::Status BadReply(const Endpoint& ep, std::string what) {
  return MakeError(absl::StatusCode::kInternal, absl::StrCat("unexpected ", ep.name, " reply: ", what),
                   reason::kBadReply, 0, ep.path);
}

v1::CancelResult CancelOutcome(const v1::OrderRef& ref, const SuccessFailureLists& lists) {
  v1::CancelResult out;
  *out.mutable_order() = ref;
  // Either identifier names the order: both are unique per account.
  auto matches = [&ref](const std::string& order_id, const std::string& client_id) {
    return (!ref.order_id().empty() && order_id == ref.order_id()) ||
           (!ref.client_id().empty() && client_id == ref.client_id());
  };
  auto* e = out.mutable_error();
  for (const auto& f : lists.failure) {
    if (matches(f.order_id, f.client_id)) {
      out.set_accepted(false);
      e->set_code(f.code);
      e->set_message(f.msg);
      e->set_endpoint(std::string(ep::kCancelOrders.path));
      e->set_reason(std::string(reason::kExchangeRejected));
      e->set_http_status(200);
      return out;
    }
  }
  for (const auto& s : lists.success) {
    if (matches(s.order_id, s.client_id)) {
      out.set_accepted(true);
      out.clear_error();
      if (out.order().order_id().empty()) out.mutable_order()->set_order_id(s.order_id);
      if (out.order().client_id().empty()) out.mutable_order()->set_client_id(s.client_id);
      return out;
    }
  }
  // Named in neither list: the exchange did not say what it did with this order, so it is not
  // reported as cancelled.
  out.set_accepted(false);
  e->set_message(
      "the exchange's cancel_orders reply lists this order neither as cancelled nor as failed; check its state "
      "(GetOrder) or cancel it again");
  e->set_endpoint(std::string(ep::kCancelOrders.path));
  e->set_reason(std::string(reason::kUnconfirmed));
  e->set_http_status(200);
  return out;
}

}  // namespace

template <class Resp>
void OrderEngine::Simple(const Endpoint& ep, QueryParams query, std::string body, SteadyTime deadline,
                         Reply<Resp> done, std::function<absl::StatusOr<Resp>(const Json& data)> parse) {
  if (shut_down_) {
    return done(MakeError(absl::StatusCode::kUnavailable, "the order service is shutting down",
                          reason::kShuttingDown));
  }
  if (!ep.idempotent && RefuseInDryRun(ep, query, body, [&done](absl::Status s) { done(std::move(s)); })) return;
  rest_.Call(ep, std::move(query), std::move(body), deadline,
             Guard([&ep, done = std::move(done), parse = std::move(parse)](RestResult r) {
               if (r.outcome == Outcome::kOk) return done(parse(r.data));
               if (!ep.idempotent && r.outcome == Outcome::kAmbiguous) {
                 return done(AmbiguousError(r, ep, "check its state before repeating it"));
               }
               done(r.status);
             }));
}

bool OrderEngine::RefuseInDryRun(const Endpoint& ep, const QueryParams& q, const std::string& body,
                                 const std::function<void(absl::Status)>& fail) {
  if (options_.mode != Mode::kDryRun) return false;
  SignedRequest preview = rest_.Preview(ep, q, body);
  fail(MakeError(absl::StatusCode::kFailedPrecondition,
                 absl::StrCat("dry-run mode: nothing was sent; would send ", preview.method, " ", preview.target,
                              preview.body.empty() ? "" : " ", preview.body),
                 "DRY_RUN", 0, ep.path));
  return true;
}

absl::Status AmbiguousError(const RestResult& r, const Endpoint& ep, std::string_view advice) {
  auto detail = GetExchangeError(r.status);
  return MakeError(r.status.code() == absl::StatusCode::kOk ? absl::StatusCode::kUnavailable : r.status.code(),
                   absl::StrCat(std::string(r.status.message()), "; the exchange may have applied ", ep.name, ": ",
                                std::string(advice)),
                   reason::kAmbiguous, r.code, ep.path, detail ? detail->http_status() : 0);
}

// ---------------------------------------------------------------------------------------------
// Cancels and modify

void OrderEngine::CancelOrders(v1::CancelOrdersRequest req, SteadyTime deadline,
                               Reply<v1::CancelOrdersResponse> done) {
  const std::string symbol = NormalizeSymbol(req.symbol());
  if (symbol.empty()) return done(Invalid("symbol is required"));
  if (req.orders_size() < 1 || req.orders_size() > 100) {
    return done(Invalid(absl::StrCat("cancel 1-100 orders per call, got ", req.orders_size())));
  }
  std::vector<v1::OrderRef> refs(req.orders().begin(), req.orders().end());
  for (size_t i = 0; i < refs.size(); ++i) {
    if (refs[i].order_id().empty() && refs[i].client_id().empty()) {
      return done(Invalid(absl::StrCat("orders[", i, "] needs order_id or client_id")));
    }
  }
  Simple<v1::CancelOrdersResponse>(ep::kCancelOrders, {}, CancelOrdersBody(symbol, refs), deadline, std::move(done),
                                   [refs](const Json& data) -> absl::StatusOr<v1::CancelOrdersResponse> {
                                     SuccessFailureLists lists = ParseSuccessFailure(data);
                                     v1::CancelOrdersResponse resp;
                                     for (const auto& ref : refs) *resp.add_results() = CancelOutcome(ref, lists);
                                     return resp;
                                   });
}

void OrderEngine::CancelAllOrders(v1::CancelAllOrdersRequest req, SteadyTime deadline,
                                  Reply<v1::CancelAllOrdersResponse> done) {
  std::string symbol;
  if (!req.symbol().empty()) {
    symbol = NormalizeSymbol(req.symbol());
    if (symbol.empty()) return done(Invalid(absl::StrCat("symbol '", req.symbol(), "' is not of the form BTCUSDT")));
  }
  Simple<v1::CancelAllOrdersResponse>(
      ep::kCancelAllOrders, {}, CancelAllOrdersBody(symbol), deadline, std::move(done),
      [](const Json& data) -> absl::StatusOr<v1::CancelAllOrdersResponse> {
        SuccessFailureLists lists = ParseSuccessFailure(data);
        v1::CancelAllOrdersResponse resp;
        for (const auto& s : lists.success) {
          v1::OrderRef ref;
          ref.set_order_id(s.order_id);
          ref.set_client_id(s.client_id);
          *resp.add_results() = CancelOutcome(ref, lists);
        }
        for (const auto& f : lists.failure) {
          v1::OrderRef ref;
          ref.set_order_id(f.order_id);
          ref.set_client_id(f.client_id);
          *resp.add_results() = CancelOutcome(ref, lists);
        }
        return resp;
      });
}

void OrderEngine::ModifyOrder(v1::ModifyOrderRequest req, SteadyTime deadline, Reply<v1::ModifyOrderResponse> done) {
  if (shut_down_) return done(MakeError(absl::StatusCode::kUnavailable, "shutting down", reason::kShuttingDown));
  std::string rule;
  auto rules = rules_.snapshot();
  if (absl::Status s = ValidateModifyOrder(req, rules.get(), &rule); !s.ok()) {
    if (metrics_) metrics_->ValidationRefusal(rule);
    return done(s);
  }
  const std::string symbol = NormalizeSymbol(req.symbol());
  std::string body = ModifyOrderBody(req, symbol);
  if (RefuseInDryRun(ep::kModifyOrder, {}, body, [&done](absl::Status s) { done(std::move(s)); })) return;
  // Keep part of the deadline for reading the order back if the answer is lost.
  const SteadyTime send_deadline = SendDeadline(deadline);
  rest_.Call(
      ep::kModifyOrder, {}, std::move(body), send_deadline,
      Guard([this, req, deadline, done = std::move(done)](RestResult r) mutable {
        if (r.outcome == Outcome::kOk) {
          OrderAck ack = ParseOrderAck(r.data);
          v1::ModifyOrderResponse resp;
          resp.set_order_id(ack.order_id.empty() ? req.order().order_id() : ack.order_id);
          resp.set_client_id(ack.client_id.empty() ? req.order().client_id() : ack.client_id);
          return done(std::move(resp));
        }
        if (r.outcome != Outcome::kAmbiguous) return done(r.status);
        // Never re-sent: read the order and see whether the change is there.
        if (metrics_) metrics_->Ambiguous(ep::kModifyOrder.name);
        QueryParams q = req.order().order_id().empty() ? QueryParams{{"clientId", req.order().client_id()}}
                                                        : QueryParams{{"orderId", req.order().order_id()}};
        rest_.Call(ep::kGetOrderDetail, std::move(q), "", deadline,
                   Guard([this, req, r, done = std::move(done)](RestResult d) mutable {
                     if (d.outcome == Outcome::kOk) {
                       v1::Order o = ParseOrder(d.data);
                       const bool qty_ok = req.qty().empty() || CompareDecimal(o.qty(), req.qty()) == 0;
                       const bool price_ok = req.price().empty() || CompareDecimal(o.price(), req.price()) == 0;
                       const bool tpsl_ok = !req.has_tpsl() || TpslShows(req.tpsl(), o.tpsl());
                       if (!o.order_id().empty() && qty_ok && price_ok && tpsl_ok) {
                         if (metrics_) metrics_->AmbiguousResolution("found");
                         v1::ModifyOrderResponse resp;
                         resp.set_order_id(o.order_id());
                         resp.set_client_id(o.client_id());
                         return done(std::move(resp));
                       }
                       if (metrics_) metrics_->AmbiguousResolution("not_found");
                       // A finished order takes no change any more: say so instead of "may still arrive".
                       const bool finished = IsFinalStatus(o.status());
                       return done(AmbiguousError(
                           r, ep::kModifyOrder,
                           absl::StrCat("the order now shows qty ", o.qty(), " price ", o.price(),
                                        tpsl_ok ? "" : " and not the requested TP/SL",
                                        finished ? absl::StrCat(" and is ", o.status_raw().empty()
                                                                               ? v1::OrderStatus_Name(o.status())
                                                                               : o.status_raw(),
                                                                " (the change did not apply and no longer can)")
                                                 : " (the change may still arrive; check GetOrder before repeating)")));
                     }
                     if (metrics_) metrics_->AmbiguousResolution("not_found");
                     done(AmbiguousError(r, ep::kModifyOrder, "check GetOrder before repeating it"));
                   }),
                   Lane::kPlace);
      }));
}

// ---------------------------------------------------------------------------------------------
// Queries

void OrderEngine::GetOrder(v1::GetOrderRequest req, SteadyTime deadline, Reply<v1::GetOrderResponse> done) {
  const auto& ref = req.order();
  if (ref.order_id().empty() && ref.client_id().empty()) return done(Invalid("order.order_id or order.client_id is required"));
  QueryParams q = ref.order_id().empty() ? QueryParams{{"clientId", ref.client_id()}}
                                         : QueryParams{{"orderId", ref.order_id()}};
  const std::string client_id = ref.client_id();
  // The exchange's "not found" (20007) for a client id whose placement is being resolved says
  // so: the order may still appear.
  Reply<v1::GetOrderResponse> noted = [this, client_id, done = std::move(done)](
                                          absl::StatusOr<v1::GetOrderResponse> r) mutable {
    if (!r.ok() && r.status().code() == absl::StatusCode::kNotFound && !client_id.empty()) {
      if (auto p = Placement(client_id);
          p && (p->state == PlacementState::kUnknown || p->state == PlacementState::kInFlight) &&
          r.status().message().find("still being") == std::string_view::npos) {
        absl::Status s(r.status().code(),
                       absl::StrCat(r.status().message(),
                                    p->state == PlacementState::kUnknown
                                        ? "; a placement with this client id had a lost answer and is still being "
                                          "reconciled: it may appear"
                                        : "; a placement with this client id is still being sent: it may appear"));
        r.status().ForEachPayload([&s](absl::string_view url, const absl::Cord& payload) { s.SetPayload(url, payload); });
        return done(std::move(s));
      }
    }
    done(std::move(r));
  };
  Simple<v1::GetOrderResponse>(
      ep::kGetOrderDetail, std::move(q), "", deadline, std::move(noted),
      [this, client_id](const Json& data) -> absl::StatusOr<v1::GetOrderResponse> {
        const Json* obj = &data;
        if (data.is_array() && !data.empty()) obj = &data.front();
        v1::Order o = ParseOrder(*obj);
        if (o.order_id().empty()) {
          std::string note;
          if (auto p = Placement(client_id); p && p->state == PlacementState::kUnknown) {
            note = "; a placement with this client id had a lost answer and is still being reconciled";
          }
          return MakeError(absl::StatusCode::kNotFound, absl::StrCat("order not found", note),
                           reason::kExchangeRejected, 0, ep::kGetOrderDetail.path, 200);
        }
        OnOrderUpdate(o, /*caller_publishes=*/false);
        v1::GetOrderResponse resp;
        *resp.mutable_order() = std::move(o);
        return resp;
      });
}

void OrderEngine::ListOpenOrders(v1::ListOpenOrdersRequest req, SteadyTime deadline,
                                 Reply<v1::ListOpenOrdersResponse> done) {
  if (absl::Status l = CheckLimit(req.limit()); !l.ok()) return done(std::move(l));
  QueryParams q = {{"symbol", NormalizeSymbol(req.symbol())},
                   {"startTime", MsParam(req.start_time_ms())},
                   {"endTime", MsParam(req.end_time_ms())},
                   {"skip", req.skip() ? std::to_string(req.skip()) : ""},
                   {"limit", LimitParam(req.limit())}};
  Simple<v1::ListOpenOrdersResponse>(ep::kGetPendingOrders, std::move(q), "", deadline, std::move(done),
                                     [](const Json& data) -> absl::StatusOr<v1::ListOpenOrdersResponse> {
                                       v1::ListOpenOrdersResponse resp;
                                       ListPage page = ParseListPage(data, "orderList");
                                       for (const Json* item : page.items) *resp.add_orders() = ParseOrder(*item);
                                       resp.set_total(page.total);
                                       return resp;
                                     });
}

void OrderEngine::ListOrderHistory(v1::ListOrderHistoryRequest req, SteadyTime deadline,
                                   Reply<v1::ListOrderHistoryResponse> done) {
  if (absl::Status l = CheckLimit(req.limit()); !l.ok()) return done(std::move(l));
  QueryParams q = {{"symbol", NormalizeSymbol(req.symbol())},
                   {"orderId", req.order_id()},
                   {"clientId", req.client_id()},
                   {"status", std::string(OrderStatusText(req.status()))},
                   {"startTime", MsParam(req.start_time_ms())},
                   {"endTime", MsParam(req.end_time_ms())},
                   {"skip", req.skip() ? std::to_string(req.skip()) : ""},
                   {"limit", LimitParam(req.limit())}};
  Simple<v1::ListOrderHistoryResponse>(ep::kGetHistoryOrders, std::move(q), "", deadline, std::move(done),
                                       [](const Json& data) -> absl::StatusOr<v1::ListOrderHistoryResponse> {
                                         v1::ListOrderHistoryResponse resp;
                                         ListPage page = ParseListPage(data, "orderList");
                                         for (const Json* item : page.items) *resp.add_orders() = ParseOrder(*item);
                                         resp.set_total(page.total);
                                         return resp;
                                       });
}

void OrderEngine::ListFills(v1::ListFillsRequest req, SteadyTime deadline, Reply<v1::ListFillsResponse> done) {
  if (absl::Status l = CheckLimit(req.limit()); !l.ok()) return done(std::move(l));
  QueryParams q = {{"symbol", NormalizeSymbol(req.symbol())},
                   {"orderId", req.order_id()},
                   {"startTime", MsParam(req.start_time_ms())},
                   {"endTime", MsParam(req.end_time_ms())},
                   {"skip", req.skip() ? std::to_string(req.skip()) : ""},
                   {"limit", LimitParam(req.limit())}};
  Simple<v1::ListFillsResponse>(ep::kGetHistoryTrades, std::move(q), "", deadline, std::move(done),
                                [](const Json& data) -> absl::StatusOr<v1::ListFillsResponse> {
                                  v1::ListFillsResponse resp;
                                  ListPage page = ParseListPage(data, "tradeList");
                                  for (const Json* item : page.items) *resp.add_fills() = ParseFill(*item);
                                  resp.set_total(page.total);
                                  return resp;
                                });
}

void OrderEngine::GetAccount(v1::GetAccountRequest req, SteadyTime deadline, Reply<v1::GetAccountResponse> done) {
  const std::string coin = MarginCoin(req.margin_coin());
  Simple<v1::GetAccountResponse>(ep::kAccount, {{"marginCoin", coin}}, "", deadline, std::move(done),
                                 [coin](const Json& data) -> absl::StatusOr<v1::GetAccountResponse> {
                                   auto a = ParseAccount(data, coin);
                                   if (!a) return BadReply(ep::kAccount, "no account object in data");
                                   v1::GetAccountResponse resp;
                                   *resp.mutable_account() = std::move(*a);
                                   return resp;
                                 });
}

void OrderEngine::ListPositions(v1::ListPositionsRequest req, SteadyTime deadline,
                                Reply<v1::ListPositionsResponse> done) {
  Simple<v1::ListPositionsResponse>(
      ep::kGetPendingPositions, {{"symbol", NormalizeSymbol(req.symbol())}, {"positionId", req.position_id()}}, "",
      deadline, std::move(done), [](const Json& data) -> absl::StatusOr<v1::ListPositionsResponse> {
        v1::ListPositionsResponse resp;
        for (const Json* item : ParseListPage(data, "positionList").items) *resp.add_positions() = ParsePosition(*item);
        return resp;
      });
}

void OrderEngine::ListPositionHistory(v1::ListPositionHistoryRequest req, SteadyTime deadline,
                                      Reply<v1::ListPositionHistoryResponse> done) {
  if (absl::Status l = CheckLimit(req.limit()); !l.ok()) return done(std::move(l));
  QueryParams q = {{"symbol", NormalizeSymbol(req.symbol())},
                   {"positionId", req.position_id()},
                   {"startTime", MsParam(req.start_time_ms())},
                   {"endTime", MsParam(req.end_time_ms())},
                   {"skip", req.skip() ? std::to_string(req.skip()) : ""},
                   {"limit", LimitParam(req.limit())}};
  Simple<v1::ListPositionHistoryResponse>(ep::kGetHistoryPositions, std::move(q), "", deadline, std::move(done),
                                          [](const Json& data) -> absl::StatusOr<v1::ListPositionHistoryResponse> {
                                            v1::ListPositionHistoryResponse resp;
                                            ListPage page = ParseListPage(data, "positionList");
                                            for (const Json* item : page.items) {
                                              *resp.add_positions() = ParsePosition(*item);
                                            }
                                            resp.set_total(page.total);
                                            return resp;
                                          });
}

void OrderEngine::GetLeverageMarginMode(v1::GetLeverageMarginModeRequest req, SteadyTime deadline,
                                        Reply<v1::GetLeverageMarginModeResponse> done) {
  const std::string symbol = NormalizeSymbol(req.symbol());
  if (symbol.empty()) return done(Invalid("symbol is required"));
  const std::string coin = MarginCoin(req.margin_coin());
  Simple<v1::GetLeverageMarginModeResponse>(
      ep::kGetLeverageMarginMode, {{"symbol", symbol}, {"marginCoin", coin}}, "", deadline, std::move(done),
      [symbol, coin](const Json& data) -> absl::StatusOr<v1::GetLeverageMarginModeResponse> {
        const Json* obj = &data;
        if (data.is_array() && !data.empty()) obj = &data.front();
        v1::GetLeverageMarginModeResponse resp;
        resp.set_symbol(GetString(*obj, "symbol").empty() ? symbol : GetString(*obj, "symbol"));
        resp.set_margin_coin(GetString(*obj, "marginCoin").empty() ? coin : GetString(*obj, "marginCoin"));
        resp.set_leverage(static_cast<int32_t>(GetInt(*obj, "leverage").value_or(0)));
        resp.set_margin_mode(ParseMarginMode(GetString(*obj, "marginMode")));
        return resp;
      });
}

// ---------------------------------------------------------------------------------------------
// Account settings and positions

void OrderEngine::SetLeverage(v1::SetLeverageRequest req, SteadyTime deadline, Reply<v1::SetLeverageResponse> done) {
  std::string rule;
  auto rules = rules_.snapshot();
  if (absl::Status s = ValidateLeverage(req.symbol(), req.leverage(), rules.get(), &rule); !s.ok()) {
    if (metrics_) metrics_->ValidationRefusal(rule);
    return done(s);
  }
  const std::string symbol = NormalizeSymbol(req.symbol());
  const std::string coin = MarginCoin(req.margin_coin());
  const int32_t leverage = req.leverage();
  Simple<v1::SetLeverageResponse>(ep::kChangeLeverage, {}, ChangeLeverageBody(symbol, coin, leverage), deadline,
                                  std::move(done),
                                  [symbol, coin, leverage](const Json& data) -> absl::StatusOr<v1::SetLeverageResponse> {
                                    v1::SetLeverageResponse resp;
                                    resp.set_symbol(symbol);
                                    resp.set_margin_coin(coin);
                                    resp.set_leverage(static_cast<int32_t>(GetInt(data, "leverage").value_or(leverage)));
                                    return resp;
                                  });
}

void OrderEngine::SetMarginMode(v1::SetMarginModeRequest req, SteadyTime deadline,
                                Reply<v1::SetMarginModeResponse> done) {
  const std::string symbol = NormalizeSymbol(req.symbol());
  if (symbol.empty()) return done(Invalid("symbol is required"));
  if (req.margin_mode() == v1::MARGIN_MODE_UNSPECIFIED) {
    return done(Invalid("margin_mode must be MARGIN_MODE_ISOLATION or MARGIN_MODE_CROSS"));
  }
  const auto mode = req.margin_mode();
  Simple<v1::SetMarginModeResponse>(ep::kChangeMarginMode, {},
                                    ChangeMarginModeBody(symbol, MarginCoin(req.margin_coin()), mode), deadline,
                                    std::move(done), [symbol, mode](const Json&) -> absl::StatusOr<v1::SetMarginModeResponse> {
                                      v1::SetMarginModeResponse resp;
                                      resp.set_symbol(symbol);
                                      resp.set_margin_mode(mode);
                                      return resp;
                                    });
}

void OrderEngine::SetPositionMode(v1::SetPositionModeRequest req, SteadyTime deadline,
                                  Reply<v1::SetPositionModeResponse> done) {
  if (req.position_mode() == v1::POSITION_MODE_UNSPECIFIED) {
    return done(Invalid("position_mode must be POSITION_MODE_ONE_WAY or POSITION_MODE_HEDGE"));
  }
  const auto mode = req.position_mode();
  Simple<v1::SetPositionModeResponse>(ep::kChangePositionMode, {}, ChangePositionModeBody(mode), deadline,
                                      std::move(done),
                                      [mode](const Json&) -> absl::StatusOr<v1::SetPositionModeResponse> {
                                        v1::SetPositionModeResponse resp;
                                        resp.set_position_mode(mode);
                                        return resp;
                                      });
}

void OrderEngine::AdjustPositionMargin(v1::AdjustPositionMarginRequest req, SteadyTime deadline,
                                       Reply<v1::AdjustPositionMarginResponse> done) {
  const std::string symbol = NormalizeSymbol(req.symbol());
  if (symbol.empty()) return done(Invalid("symbol is required"));
  if (!IsDecimal(req.amount()) || CompareDecimal(req.amount(), "0") == 0) {
    return done(Invalid(absl::StrCat("amount '", req.amount(), "' must be a non-zero decimal (negative removes margin)")));
  }
  Simple<v1::AdjustPositionMarginResponse>(
      ep::kAdjustPositionMargin, {}, AdjustPositionMarginBody(req, symbol, MarginCoin(req.margin_coin())), deadline,
      std::move(done), [](const Json&) -> absl::StatusOr<v1::AdjustPositionMarginResponse> { return v1::AdjustPositionMarginResponse(); });
}

void OrderEngine::FlashClosePosition(v1::FlashClosePositionRequest req, SteadyTime deadline,
                                     Reply<v1::FlashClosePositionResponse> done) {
  if (req.position_id().empty()) return done(Invalid("position_id is required"));
  const std::string id = req.position_id();
  Simple<v1::FlashClosePositionResponse>(ep::kFlashClosePosition, {}, FlashCloseBody(id), deadline, std::move(done),
                                         [id](const Json& data) -> absl::StatusOr<v1::FlashClosePositionResponse> {
                                           v1::FlashClosePositionResponse resp;
                                           std::string got = GetString(data, "positionId");
                                           resp.set_position_id(got.empty() ? id : got);
                                           return resp;
                                         });
}

void OrderEngine::CloseAllPositions(v1::CloseAllPositionsRequest req, SteadyTime deadline,
                                    Reply<v1::CloseAllPositionsResponse> done) {
  std::string symbol;
  if (!req.symbol().empty()) {
    symbol = NormalizeSymbol(req.symbol());
    if (symbol.empty()) return done(Invalid(absl::StrCat("symbol '", req.symbol(), "' is not of the form BTCUSDT")));
  }
  Simple<v1::CloseAllPositionsResponse>(ep::kCloseAllPosition, {}, CloseAllPositionsBody(symbol), deadline,
                                        std::move(done),
                                        [](const Json&) -> absl::StatusOr<v1::CloseAllPositionsResponse> {
                                          return v1::CloseAllPositionsResponse();
                                        });
}

absl::Status OrderEngine::ValidateTpsl(const std::string& symbol, const v1::TpSl& tpsl, const std::string& tp_qty,
                                       const std::string& sl_qty, bool whole_position) const {
  if (tpsl.tp_price().empty() && tpsl.sl_price().empty()) return Invalid("set tpsl.tp_price and/or tpsl.sl_price");
  v1::PlaceOrderRequest probe;
  probe.set_symbol(symbol);
  probe.set_side(cv1::SIDE_BUY);
  probe.set_type(v1::ORDER_TYPE_MARKET);
  auto rules = rules_.snapshot();
  std::string rule;
  if (rules) {
    auto it = rules->find(symbol);
    if (it == rules->end()) return Invalid(absl::StrCat("unknown symbol ", symbol));
    probe.set_qty(it->second.min_trade_volume.empty() ? "1" : it->second.min_trade_volume);
  } else {
    probe.set_qty("1");
  }
  *probe.mutable_tpsl() = tpsl;
  if (absl::Status s = ValidatePlaceOrder(probe, rules.get(), &rule); !s.ok() && rule != "symbol_status") {
    if (metrics_) metrics_->ValidationRefusal(rule);
    return s;
  }
  if (whole_position && (!tp_qty.empty() || !sl_qty.empty())) {
    return Invalid("a whole-position TP/SL closes the whole position: leave tp_qty and sl_qty empty");
  }
  for (const std::string* q : {&tp_qty, &sl_qty}) {
    if (!q->empty() && !IsPositiveDecimal(*q)) {
      return Invalid(absl::StrCat("tp_qty/sl_qty '", *q, "' must be a positive decimal"));
    }
  }
  return absl::OkStatus();
}

void OrderEngine::PlaceTpslOrder(v1::PlaceTpslOrderRequest req, SteadyTime deadline,
                                 Reply<v1::PlaceTpslOrderResponse> done) {
  const std::string symbol = NormalizeSymbol(req.symbol());
  if (symbol.empty()) return done(Invalid("symbol is required"));
  if (req.position_id().empty()) return done(Invalid("position_id is required"));
  if (absl::Status s = ValidateTpsl(symbol, req.tpsl(), req.tp_qty(), req.sl_qty(), req.whole_position()); !s.ok()) {
    return done(s);
  }
  // The exchange documents "at least one of tpQty or slQty is required" for a partial TP/SL.
  if (!req.whole_position() && req.tp_qty().empty() && req.sl_qty().empty()) {
    return done(Invalid("a partial TP/SL closes a quantity: set tp_qty and/or sl_qty, or set whole_position "
                        "to close the whole position"));
  }
  Simple<v1::PlaceTpslOrderResponse>(req.whole_position() ? ep::kTpslPositionPlaceOrder : ep::kTpslPlaceOrder, {},
                                     TpslPlaceBody(req, symbol), deadline, std::move(done),
                                     [](const Json& data) -> absl::StatusOr<v1::PlaceTpslOrderResponse> {
                                       v1::PlaceTpslOrderResponse resp;
                                       resp.set_order_id(ParseOrderAck(data).order_id);
                                       return resp;
                                     });
}

void OrderEngine::ModifyTpslOrder(v1::ModifyTpslOrderRequest req, SteadyTime deadline,
                                  Reply<v1::ModifyTpslOrderResponse> done) {
  const std::string symbol = NormalizeSymbol(req.symbol());
  if (symbol.empty()) return done(Invalid("symbol is required"));
  if (req.order_id().empty() && !(req.whole_position() && !req.position_id().empty())) {
    return done(Invalid(req.whole_position() ? "order_id or position_id is required"
                                             : "order_id is required (position_id names only a whole-position TP/SL)"));
  }
  if (absl::Status s = ValidateTpsl(symbol, req.tpsl(), req.tp_qty(), req.sl_qty(), req.whole_position()); !s.ok()) {
    return done(s);
  }
  const std::string id = req.order_id();
  Simple<v1::ModifyTpslOrderResponse>(req.whole_position() ? ep::kTpslPositionModifyOrder : ep::kTpslModifyOrder, {},
                                      TpslModifyBody(req, symbol), deadline, std::move(done),
                                      [id](const Json& data) -> absl::StatusOr<v1::ModifyTpslOrderResponse> {
                                        v1::ModifyTpslOrderResponse resp;
                                        std::string got = ParseOrderAck(data).order_id;
                                        resp.set_order_id(got.empty() ? id : got);
                                        return resp;
                                      });
}

void OrderEngine::CancelTpslOrder(v1::CancelTpslOrderRequest req, SteadyTime deadline,
                                  Reply<v1::CancelTpslOrderResponse> done) {
  const std::string symbol = NormalizeSymbol(req.symbol());
  if (symbol.empty()) return done(Invalid("symbol is required"));
  if (req.order_id().empty()) return done(Invalid("order_id is required"));
  const std::string id = req.order_id();
  Simple<v1::CancelTpslOrderResponse>(ep::kTpslCancelOrder, {}, TpslCancelBody(symbol, id), deadline, std::move(done),
                                      [id](const Json& data) -> absl::StatusOr<v1::CancelTpslOrderResponse> {
                                        v1::CancelTpslOrderResponse resp;
                                        std::string got = ParseOrderAck(data).order_id;
                                        resp.set_order_id(got.empty() ? id : got);
                                        return resp;
                                      });
}

void OrderEngine::ListTpslOrders(v1::ListTpslOrdersRequest req, SteadyTime deadline,
                                 Reply<v1::ListTpslOrdersResponse> done) {
  if (absl::Status l = CheckLimit(req.limit()); !l.ok()) return done(std::move(l));
  QueryParams q = {{"symbol", NormalizeSymbol(req.symbol())}, {"positionId", req.position_id()}};
  if (!req.history()) {
    if (req.start_time_ms() || req.end_time_ms() || req.skip() || req.limit()) {
      return done(Invalid("start_time_ms, end_time_ms, skip and limit apply to the history only: set history"));
    }
    // Every pending TP/SL order: the exchange lists 10 by default (at most 100 a page) and reports
    // no total, and this call has no paging of its own. Until 2026-11-28 it returned the first 10.
    return FetchAllPendingTpsl(
        deadline,
        [done = std::move(done)](absl::StatusOr<std::vector<v1::TpslOrder>> r) {
          if (!r.ok()) return done(r.status());
          v1::ListTpslOrdersResponse resp;
          for (auto& t : *r) *resp.add_orders() = std::move(t);
          resp.set_total(resp.orders_size());
          done(std::move(resp));
        },
        std::move(q));
  }
  q.push_back({"startTime", MsParam(req.start_time_ms())});
  q.push_back({"endTime", MsParam(req.end_time_ms())});
  q.push_back({"skip", req.skip() ? std::to_string(req.skip()) : ""});
  q.push_back({"limit", LimitParam(req.limit())});
  Simple<v1::ListTpslOrdersResponse>(
      ep::kTpslHistoryOrders, std::move(q), "", deadline, std::move(done),
      [](const Json& data) -> absl::StatusOr<v1::ListTpslOrdersResponse> {
        v1::ListTpslOrdersResponse resp;
        ListPage page = ParseListPage(data, "orderList");
        for (const Json* item : page.items) *resp.add_orders() = ParseTpslOrder(*item);
        resp.set_total(page.total);
        return resp;
      });
}

// ---------------------------------------------------------------------------------------------
// Snapshots and rules

// A whole listing, page by page (open orders, pending TP/SL orders). A partial listing is never
// handed on as the whole truth: its callers take what it does not show as gone (reconciliation
// reads an unlisted order's final state and publishes it closed, a stream's snapshot would lack
// it). Until 2026-11-28 the open orders stopped silently after 50 pages (5,000 orders), and after
// one page (100) when the exchange left `total` out. Now the listing is read on until it ends: a
// page shorter than asked for, or `total` (when the exchange reports one) reached. What bounds it
// is the caller's deadline -- a listing not read in full by then is an error, as is a listing
// that does not advance (a full page of nothing new: the exchange ignores `skip`) or one longer
// than kMaxListingPages (100,000 rows, far beyond any account's open orders: an exchange that
// never ends a listing). An order that appears on two pages (the listing shifted while it was
// read: it is sorted newest first) is kept once.
struct OrderEngine::Listing {
  const Endpoint* ep = nullptr;
  const char* list_key = "";
  const char* what = "";
  QueryParams filter;  ///< sent with every page, besides limit and skip
  std::function<std::string(const Json&)> id_of;
  std::vector<Json> items;
  std::set<std::string> ids;
  uint32_t skip = 0;
  int pages = 0;
  std::function<void(absl::StatusOr<std::vector<Json>>)> done;
};

void OrderEngine::FetchListPage(std::shared_ptr<Listing> l, SteadyTime deadline) {
  constexpr size_t kPageSize = 100;
  constexpr int kMaxListingPages = 1000;
  QueryParams q = l->filter;
  q.push_back({"limit", std::to_string(kPageSize)});
  q.push_back({"skip", l->skip ? std::to_string(l->skip) : ""});
  rest_.Call(*l->ep, std::move(q), "", deadline, Guard([this, l, deadline](RestResult r) {
               if (r.outcome != Outcome::kOk) return l->done(r.status);
               std::optional<int64_t> total;
               if (r.data.is_object()) total = GetInt(r.data, "total");
               ListPage p = ParseListPage(r.data, l->list_key);
               size_t fresh = 0;
               for (const Json* item : p.items) {
                 const std::string id = l->id_of(*item);
                 if (!id.empty() && !l->ids.insert(id).second) continue;  // read on an earlier page
                 l->items.push_back(*item);
                 ++fresh;
               }
               l->skip += static_cast<uint32_t>(p.items.size());
               ++l->pages;
               if (p.items.size() < kPageSize) return l->done(std::move(l->items));  // the last page
               if (total && *total <= static_cast<int64_t>(l->items.size())) return l->done(std::move(l->items));
               if (fresh == 0) {
                 return l->done(absl::UnavailableError(
                     absl::StrCat(l->what, " listing incomplete: page ", l->pages,
                                  " repeats only rows already read (the exchange does not page it)")));
               }
               if (l->pages >= kMaxListingPages) {
                 return l->done(absl::UnavailableError(absl::StrCat(
                     l->what, " listing incomplete: more than ", kMaxListingPages * kPageSize, " rows")));
               }
               FetchListPage(l, deadline);
             }));
}

namespace {

// A whole listing's rows as `T`, parsed once each, for a FetchAll caller.
template <class T>
std::function<void(absl::StatusOr<std::vector<Json>>)> ParsedRows(T (*parse)(const Json&),
                                                                 std::function<void(absl::StatusOr<std::vector<T>>)> done) {
  return [parse, done = std::move(done)](absl::StatusOr<std::vector<Json>> r) {
    if (!r.ok()) return done(r.status());
    std::vector<T> out;
    out.reserve(r->size());
    for (const Json& item : *r) out.push_back(parse(item));
    done(std::move(out));
  };
}

}  // namespace

void OrderEngine::FetchAllOpenOrders(SteadyTime deadline, Reply<std::vector<v1::Order>> done) {
  auto l = std::make_shared<Listing>();
  l->ep = &ep::kGetPendingOrders;
  l->list_key = "orderList";
  l->what = "open-order";
  l->id_of = [](const Json& j) { return ParseOrder(j).order_id(); };
  l->done = ParsedRows(&ParseOrder, std::move(done));
  FetchListPage(std::move(l), deadline);
}

void OrderEngine::FetchAllPendingTpsl(SteadyTime deadline, Reply<std::vector<v1::TpslOrder>> done,
                                      QueryParams filter) {
  auto l = std::make_shared<Listing>();
  l->ep = &ep::kTpslPendingOrders;
  l->filter = std::move(filter);
  l->list_key = "orderList";
  l->what = "pending TP/SL";
  l->id_of = [](const Json& j) { return ParseTpslOrder(j).order_id(); };
  l->done = ParsedRows(&ParseTpslOrder, std::move(done));
  FetchListPage(std::move(l), deadline);
}

void OrderEngine::StartRulesRefresh(std::chrono::milliseconds every) {
  rules_every_ = every;
  LoadRules();
}

void OrderEngine::LoadRules() {
  if (shut_down_) return;
  const SteadyTime deadline = scheduler_.clock().Steady() + std::chrono::seconds(30);
  rest_.Call(ep::kTradingPairs, {}, "", deadline, Guard([this](RestResult r) {
               std::chrono::milliseconds next = rules_every_;
               if (r.outcome == Outcome::kOk) {
                 auto rules = ParseTradingPairs(r.data);
                 if (rules.empty()) {
                   Log(LogLevel::kWarn, "orders.rules", "trading_pairs returned no symbols; keeping the old rules");
                   next = std::min(next, std::chrono::milliseconds(5000));
                 } else {
                   const size_t n = rules.size();
                   const bool first = !rules_.loaded();
                   rules_.Update(std::move(rules), scheduler_.clock().NowMs());
                   Log(first ? LogLevel::kInfo : LogLevel::kDebug, "orders.rules", "symbol rules loaded",
                       {{"symbols", n}});
                 }
               } else {
                 Log(LogLevel::kWarn, "orders.rules", "trading_pairs failed; validation keeps the previous rules",
                     {{"error", std::string(r.status.message())}});
                 next = std::min(next, std::chrono::milliseconds(2000));
               }
               if (shut_down_ || rules_every_.count() <= 0) return;
               rules_timer_ = scheduler_.RunAfter(next, Guard([this] {
                                                    rules_timer_ = 0;
                                                    LoadRules();
                                                  }));
             }));
}

}  // namespace bx::orders
