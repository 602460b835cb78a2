#include "services/orders/grpc_service.h"

#include <functional>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "services/orders/errors.h"
#include "services/orders/grpc_status.h"
#include "services/orders/orders_metrics.h"
#include "services/orders/validation.h"

namespace bx::orders {
namespace {

namespace cv1 = ::bitunix::common::v1;

// ---- Audit fields per request type ----
struct AuditInfo {
  std::string client_id, order_id, symbol, detail;
};

template <class Req>
AuditInfo AuditOf(const Req&) {
  return {};
}
// Position ids go in the detail (" position=<id>"), never in the order id field.
std::string Position(const std::string& id) { return id.empty() ? "" : absl::StrCat(" position=", id); }

AuditInfo AuditOf(const v1::PlaceOrderRequest& r) {
  return {r.client_id(), "", r.symbol(), r.dry_run() ? "dry_run" : ""};
}
AuditInfo AuditOf(const v1::BatchPlaceOrdersRequest& r) {
  std::vector<std::string> ids;
  for (const auto& o : r.orders()) ids.push_back(o.client_id());
  return {absl::StrJoin(ids, ","), "", r.symbol(), absl::StrCat(r.orders_size(), " orders", r.dry_run() ? ", dry_run" : "")};
}
AuditInfo AuditOf(const v1::CancelOrdersRequest& r) {
  std::vector<std::string> cids, oids;
  for (const auto& o : r.orders()) {
    if (!o.client_id().empty()) cids.push_back(o.client_id());
    if (!o.order_id().empty()) oids.push_back(o.order_id());
  }
  return {absl::StrJoin(cids, ","), absl::StrJoin(oids, ","), r.symbol(), ""};
}
AuditInfo AuditOf(const v1::CancelAllOrdersRequest& r) { return {"", "", r.symbol(), ""}; }
AuditInfo AuditOf(const v1::ModifyOrderRequest& r) {
  return {r.order().client_id(), r.order().order_id(), r.symbol(), absl::StrCat("qty=", r.qty(), " price=", r.price())};
}
AuditInfo AuditOf(const v1::SetLeverageRequest& r) { return {"", "", r.symbol(), absl::StrCat("leverage=", r.leverage())}; }
AuditInfo AuditOf(const v1::SetMarginModeRequest& r) {
  return {"", "", r.symbol(), absl::StrCat("margin_mode=", v1::MarginMode_Name(r.margin_mode()))};
}
AuditInfo AuditOf(const v1::SetPositionModeRequest& r) {
  return {"", "", "", absl::StrCat("position_mode=", v1::PositionMode_Name(r.position_mode()))};
}
AuditInfo AuditOf(const v1::AdjustPositionMarginRequest& r) {
  return {"", "", r.symbol(), absl::StrCat("amount=", r.amount(), Position(r.position_id()))};
}
AuditInfo AuditOf(const v1::FlashClosePositionRequest& r) { return {"", "", "", absl::StrCat("flash close", Position(r.position_id()))}; }
AuditInfo AuditOf(const v1::CloseAllPositionsRequest& r) { return {"", "", r.symbol(), ""}; }
AuditInfo AuditOf(const v1::PlaceTpslOrderRequest& r) {
  return {"", "", r.symbol(), absl::StrCat(r.whole_position() ? "tpsl whole position" : "tpsl", Position(r.position_id()))};
}
AuditInfo AuditOf(const v1::ModifyTpslOrderRequest& r) {
  return {"", r.order_id(), r.symbol(),
          absl::StrCat(r.whole_position() ? "tpsl whole position" : "tpsl", Position(r.position_id()))};
}
AuditInfo AuditOf(const v1::CancelTpslOrderRequest& r) { return {"", r.order_id(), r.symbol(), "tpsl"}; }

template <class Resp>
void AuditResult(AuditInfo&, std::string&, const Resp&) {}
void AuditResult(AuditInfo& a, std::string& result, const v1::PlaceOrderResponse& r) {
  a.client_id = r.client_id();
  a.order_id = r.order_id();
  result = absl::StrCat("OK/", v1::PlaceResult_Name(r.result()));
}
void AuditResult(AuditInfo& a, std::string& result, const v1::BatchPlaceOrdersResponse& r) {
  std::vector<std::string> cids, oids, res;
  for (const auto& item : r.results()) {
    cids.push_back(item.client_id());
    oids.push_back(item.order_id());
    res.push_back(item.has_error() ? absl::StrCat("error:", item.error().code()) : v1::PlaceResult_Name(item.result()));
  }
  a.client_id = absl::StrJoin(cids, ",");
  a.order_id = absl::StrJoin(oids, ",");
  result = absl::StrCat("OK/", absl::StrJoin(res, ","));
}
void AuditResult(AuditInfo& a, std::string&, const v1::PlaceTpslOrderResponse& r) { a.order_id = r.order_id(); }
void AuditResult(AuditInfo& a, std::string&, const v1::ModifyTpslOrderResponse& r) { a.order_id = r.order_id(); }
void AuditResult(AuditInfo& a, std::string&, const v1::ModifyOrderResponse& r) {
  a.order_id = r.order_id();
  a.client_id = r.client_id();
}

std::string PeerIdentity(const grpc::ServerContextBase* ctx) {
  auto auth = ctx->auth_context();
  if (!auth || !auth->IsPeerAuthenticated()) return "";
  auto ids = auth->GetPeerIdentity();
  if (ids.empty()) return "";
  return std::string(ids.front().data(), ids.front().size());
}

}  // namespace

OrderServiceImpl::OrderServiceImpl(Scheduler& scheduler, OrderEngine& engine, UpdateHub& hub,
                                   const Authenticator& auth, AuditLog& audit, OrdersMetrics* metrics,
                                   ServiceOptions options)
    : scheduler_(scheduler),
      engine_(engine),
      hub_(hub),
      auth_(auth),
      audit_(audit),
      metrics_(metrics),
      options_(std::move(options)) {}

absl::StatusOr<Caller> OrderServiceImpl::Authenticate(grpc::ServerContextBase* ctx) const {
  std::string authorization;
  const auto& md = ctx->client_metadata();
  if (auto it = md.find("authorization"); it != md.end()) authorization.assign(it->second.data(), it->second.size());
  return auth_.Authenticate(authorization, PeerIdentity(ctx));
}

SteadyTime OrderServiceImpl::DeadlineOf(const grpc::ServerContextBase* ctx) const {
  const auto now_sys = std::chrono::system_clock::now();
  const auto d = ctx->deadline();
  std::chrono::milliseconds remaining = options_.default_timeout;
  if (d != std::chrono::system_clock::time_point::max() && d - now_sys < std::chrono::hours(24 * 365)) {
    remaining = std::chrono::duration_cast<std::chrono::milliseconds>(d - now_sys);
    if (remaining.count() < 0) remaining = std::chrono::milliseconds(0);
    if (remaining > options_.max_timeout) remaining = options_.max_timeout;
  }
  return scheduler_.clock().Steady() + remaining;
}

template <class Req, class Resp>
void OrderServiceImpl::Handle(grpc::ServerContextBase* ctx, const Req& req, std::shared_ptr<UnaryReply<Resp>> reply,
                              const char* method, bool state_changing,
                              void (OrderEngine::*fn)(Req, SteadyTime, Reply<Resp>)) {
  const auto start = std::chrono::steady_clock::now();
  auto caller = Authenticate(ctx);
  const std::string caller_name = caller.ok() ? caller->name : "unauthenticated";
  AuditInfo info = state_changing ? AuditOf(req) : AuditInfo{};
  auto on_complete = [this, method, state_changing, start, caller_name, info](const absl::Status& s,
                                                                              const Resp* r) mutable {
    const auto code = static_cast<grpc::StatusCode>(static_cast<int>(s.code()));
    if (metrics_) metrics_->GrpcRequest(method, GrpcCodeName(code), std::chrono::steady_clock::now() - start);
    if (!state_changing) return;
    AuditRecord rec;
    std::string result = GrpcCodeName(code);
    if (r != nullptr) AuditResult(info, result, *r);
    rec.caller = caller_name;
    rec.action = method;
    rec.client_id = info.client_id;
    rec.order_id = info.order_id;
    rec.symbol = info.symbol;
    rec.result = result;
    if (auto d = GetExchangeError(s)) rec.exchange_code = d->code();
    rec.detail = s.ok() ? info.detail : absl::StrCat(info.detail, info.detail.empty() ? "" : "; ", std::string(s.message()));
    audit_.Write(rec);
  };
  reply->set_on_complete(std::move(on_complete));
  if (!caller.ok()) {
    if (metrics_) metrics_->AuthFailure(ctx->client_metadata().count("authorization") ? "invalid" : "missing");
    reply->Complete(caller.status());
    return;
  }
  if (absl::Status s = Authenticator::Authorize(*caller, state_changing, method); !s.ok()) {
    if (metrics_) metrics_->AuthFailure("read_only");
    reply->Complete(s);
    return;
  }
  const SteadyTime deadline = DeadlineOf(ctx);
  scheduler_.Post([this, fn, request = req, deadline, reply]() mutable {
    std::invoke(fn, engine_, std::move(request), deadline,
                [reply](absl::StatusOr<Resp> r) { reply->Complete(std::move(r)); });
  });
}

std::unique_ptr<AsyncUnaryServer> OrderServiceImpl::MakeUnaryServer(std::unique_ptr<grpc::ServerCompletionQueue> queue) {
  auto server = std::make_unique<AsyncUnaryServer>(
      std::move(queue), &ToGrpcStatus,
      MakeError(absl::StatusCode::kCancelled,
                "call cancelled or its deadline passed; the operation may still complete on the exchange",
                reason::kNetwork));
#define BX_UNARY(Method, StateChanging)                                                                         \
  server->Add<v1::Method##Request, v1::Method##Response>(                                                     \
      [this](grpc::ServerContext* c, v1::Method##Request* q,                                                   \
             grpc::ServerAsyncResponseWriter<v1::Method##Response>* w, grpc::ServerCompletionQueue* cq,         \
             void* tag) { Request##Method(c, q, w, cq, cq, tag); },                                            \
      [this](grpc::ServerContext* c, const v1::Method##Request& q,                                             \
             std::shared_ptr<UnaryReply<v1::Method##Response>> r) {                                             \
        Handle(c, q, std::move(r), #Method, StateChanging, &OrderEngine::Method);                              \
      });

  BX_UNARY(PlaceOrder, true)
  BX_UNARY(BatchPlaceOrders, true)
  BX_UNARY(CancelOrders, true)
  BX_UNARY(CancelAllOrders, true)
  BX_UNARY(ModifyOrder, true)
  BX_UNARY(GetOrder, false)
  BX_UNARY(ListOpenOrders, false)
  BX_UNARY(ListOrderHistory, false)
  BX_UNARY(ListFills, false)
  BX_UNARY(GetAccount, false)
  BX_UNARY(ListPositions, false)
  BX_UNARY(ListPositionHistory, false)
  BX_UNARY(GetLeverageMarginMode, false)
  BX_UNARY(SetLeverage, true)
  BX_UNARY(SetMarginMode, true)
  BX_UNARY(SetPositionMode, true)
  BX_UNARY(AdjustPositionMargin, true)
  BX_UNARY(FlashClosePosition, true)
  BX_UNARY(CloseAllPositions, true)
  BX_UNARY(PlaceTpslOrder, true)
  BX_UNARY(ModifyTpslOrder, true)
  BX_UNARY(CancelTpslOrder, true)
  BX_UNARY(ListTpslOrders, false)
#undef BX_UNARY
  return server;
}

// ---- StreamUpdates ----

class UpdatesCall final : public grpc::ServerWriteReactor<v1::StreamUpdatesResponse> {
 public:
  UpdatesCall(OrderServiceImpl* svc, grpc::CallbackServerContext* ctx, const v1::StreamUpdatesRequest* req)
      : svc_(svc), ctx_(ctx), target_(std::make_shared<Target>()) {
    target_->call = this;
    auto caller = svc_->Authenticate(ctx);
    if (!caller.ok()) {
      if (svc_->metrics_) svc_->metrics_->AuthFailure(ctx->client_metadata().count("authorization") ? "invalid" : "missing");
      FinishOnce(ToGrpcStatus(caller.status(), ctx_));
      return;
    }
    UpdateStream::Filter filter;
    for (int ch : req->channels()) {
      if (ch <= v1::UPDATE_CHANNEL_UNSPECIFIED || ch > v1::UPDATE_CHANNEL_TPSL) {
        FinishOnce(ToGrpcStatus(ValidationError(absl::StrCat("unknown channel ", ch, " in channels")), ctx_));
        return;
      }
      filter.channels.insert(ch);
    }
    for (const auto& s : req->symbols()) {
      std::string n = NormalizeSymbol(s);
      if (n.empty()) {
        FinishOnce(ToGrpcStatus(ValidationError(absl::StrCat("symbol '", s, "' is not of the form BTCUSDT")), ctx_));
        return;
      }
      filter.symbols.insert(n);
    }
    std::shared_ptr<Target> target = target_;
    stream_ = std::make_shared<UpdateStream>(
        std::move(filter), svc_->options_.stream_max_queue, svc_->options_.stream_max_batch,
        svc_->scheduler_.clock(),
        [target](const v1::StreamUpdatesResponse* msg) {
          std::lock_guard<std::mutex> lock(target->mu);
          if (target->call != nullptr && !target->call->finished_) target->call->StartWrite(msg);
        },
        [target] {
          std::lock_guard<std::mutex> lock(target->mu);
          if (target->call != nullptr) target->call->FinishLocked(grpc::Status::OK);
        });
    svc_->hub_.Add(stream_);
    const int64_t open = ++svc_->open_streams_;
    if (svc_->metrics_) svc_->metrics_->StreamSubscribers(open);
    HubEvent status = svc_->hub_.CurrentStatus();
    if (req->skip_snapshot()) {
      stream_->DeliverSnapshot({std::move(status)});
    } else {
      svc_->BuildSnapshot(stream_, std::move(status));
    }
  }

  void OnWriteDone(bool ok) override {
    stream_->OnWriteDone(ok);
    if (!ok) FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "write failed: the client went away"));
  }

  void OnCancel() override {
    if (stream_) stream_->Cancel();
    FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled"));
  }

  void OnDone() override {
    {
      std::lock_guard<std::mutex> lock(target_->mu);
      target_->call = nullptr;
    }
    if (stream_) {
      stream_->Cancel();
      svc_->hub_.Remove(stream_.get());
      if (svc_->metrics_) svc_->metrics_->StreamEventsDropped(stream_->dropped());
      const int64_t open = --svc_->open_streams_;
      if (svc_->metrics_) svc_->metrics_->StreamSubscribers(open);
    }
    delete this;
  }

 private:
  struct Target {
    std::mutex mu;
    UpdatesCall* call = nullptr;
  };
  void FinishOnce(grpc::Status s) {
    std::lock_guard<std::mutex> lock(target_->mu);
    FinishLocked(std::move(s));
  }
  void FinishLocked(grpc::Status s) {
    if (finished_) return;
    finished_ = true;
    Finish(std::move(s));
  }

  OrderServiceImpl* svc_;
  grpc::CallbackServerContext* ctx_;
  std::shared_ptr<Target> target_;
  std::shared_ptr<UpdateStream> stream_;
  bool finished_ = false;  // guarded by target_->mu
};

grpc::ServerWriteReactor<v1::StreamUpdatesResponse>* OrderServiceImpl::StreamUpdates(
    Ctx* c, const v1::StreamUpdatesRequest* q) {
  return new UpdatesCall(this, c, q);
}

void OrderServiceImpl::BuildSnapshot(std::shared_ptr<UpdateStream> stream, HubEvent status) {
  struct Snapshot {
    HubEvent status;
    std::vector<HubEvent> orders, positions, balance;
    std::vector<std::string> failures;
    int pending = 3;
  };
  auto snap = std::make_shared<Snapshot>();
  snap->status = std::move(status);
  const std::string coin = options_.default_margin_coin;
  const auto timeout = options_.snapshot_timeout;
  scheduler_.Post([this, stream, snap, coin, timeout] {
    const SteadyTime deadline = scheduler_.clock().Steady() + timeout;
    auto finish_one = [this, stream, snap] {
      if (--snap->pending > 0) return;
      std::vector<HubEvent> all;
      all.push_back(std::move(snap->status));
      for (auto* part : {&snap->orders, &snap->positions, &snap->balance}) {
        for (auto& e : *part) all.push_back(std::move(e));
      }
      if (!snap->failures.empty()) {
        v1::UpdateEvent e;
        e.set_gateway_ts_ns(scheduler_.clock().NowNs());
        e.mutable_status()->set_state(cv1::StreamStatus::STATE_DEGRADED);
        e.mutable_status()->set_reason(absl::StrCat("initial snapshot incomplete (", absl::StrJoin(snap->failures, "; "),
                                                    "); query ListOpenOrders/ListPositions/GetAccount"));
        all.push_back(MakeHubEvent(std::move(e)));
      }
      stream->DeliverSnapshot(std::move(all));
    };
    auto snapshot_event = [this](v1::UpdateEvent e) {
      e.set_snapshot(true);
      e.set_gateway_ts_ns(scheduler_.clock().NowNs());
      return MakeHubEvent(std::move(e));
    };
    engine_.FetchAllOpenOrders(deadline, [snap, finish_one, snapshot_event](absl::StatusOr<std::vector<v1::Order>> r) {
      if (r.ok()) {
        for (auto& o : *r) {
          v1::UpdateEvent e;
          *e.mutable_order() = std::move(o);
          snap->orders.push_back(snapshot_event(std::move(e)));
        }
      } else {
        snap->failures.push_back(absl::StrCat("open orders: ", std::string(r.status().message())));
      }
      finish_one();
    });
    engine_.ListPositions(v1::ListPositionsRequest(), deadline,
                          [snap, finish_one, snapshot_event](absl::StatusOr<v1::ListPositionsResponse> r) {
                            if (r.ok()) {
                              for (const auto& p : r->positions()) {
                                v1::UpdateEvent e;
                                *e.mutable_position() = p;
                                snap->positions.push_back(snapshot_event(std::move(e)));
                              }
                            } else {
                              snap->failures.push_back(absl::StrCat("positions: ", std::string(r.status().message())));
                            }
                            finish_one();
                          });
    v1::GetAccountRequest acc;
    acc.set_margin_coin(coin);
    engine_.GetAccount(acc, deadline, [snap, finish_one, snapshot_event](absl::StatusOr<v1::GetAccountResponse> r) {
      if (r.ok()) {
        v1::UpdateEvent e;
        *e.mutable_balance() = BalanceFromAccount(r->account());
        snap->balance.push_back(snapshot_event(std::move(e)));
      } else {
        snap->failures.push_back(absl::StrCat("account: ", std::string(r.status().message())));
      }
      finish_one();
    });
  });
}

}  // namespace bx::orders
