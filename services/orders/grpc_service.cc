#include "services/orders/grpc_service.h"

#include <functional>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "services/orders/call_scope.h"
#include "services/orders/errors.h"
#include "services/orders/grpc_status.h"
#include "services/orders/orders_metrics.h"
#include "services/orders/stream_snapshot.h"
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
  return scheduler_.clock().Steady() + remaining - std::min(options_.answer_margin, remaining / 4);
}

template <class Req, class Resp>
void OrderServiceImpl::Handle(grpc::ServerContextBase* ctx, const Req& req, std::shared_ptr<UnaryReply<Resp>> reply,
                              const char* method, bool state_changing,
                              void (OrderEngine::*fn)(Req, SteadyTime, Reply<Resp>)) {
  const auto start = std::chrono::steady_clock::now();
  auto caller = Authenticate(ctx);
  const std::string caller_name = caller.ok() ? caller->name : "unauthenticated";
  AuditInfo info = state_changing ? AuditOf(req) : AuditInfo{};
  // One audit record per state-changing call; `late`: the engine's answer after the call was
  // cancelled (the caller never saw it, but the exchange may have acted).
  auto audit = [this, method, caller_name, info](const absl::Status& s, const Resp* r, bool late) mutable {
    const auto code = static_cast<grpc::StatusCode>(static_cast<int>(s.code()));
    AuditRecord rec;
    std::string result = GrpcCodeName(code);
    if (r != nullptr) AuditResult(info, result, *r);
    rec.caller = caller_name;
    rec.action = method;
    rec.client_id = info.client_id;
    rec.order_id = info.order_id;
    rec.symbol = info.symbol;
    rec.result = late ? absl::StrCat("LATE/", result) : result;
    if (auto d = GetExchangeError(s)) rec.exchange_code = d->code();
    std::string detail = s.ok() ? info.detail : absl::StrCat(info.detail, info.detail.empty() ? "" : "; ", std::string(s.message()));
    rec.detail = late ? absl::StrCat("answered after the call had ended", detail.empty() ? "" : "; ", detail)
                      : std::move(detail);
    audit_.Write(rec);
  };
  reply->set_on_complete([this, method, state_changing, start, audit](const absl::Status& s, const Resp* r) mutable {
    const auto code = static_cast<grpc::StatusCode>(static_cast<int>(s.code()));
    if (metrics_) metrics_->GrpcRequest(method, GrpcCodeName(code), std::chrono::steady_clock::now() - start);
    if (state_changing) audit(s, r, false);
  });
  if (state_changing) {
    reply->set_on_late([audit](const absl::Status& s, const Resp* r) mutable { audit(s, r, true); });
  }
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
  if (absl::Status s = CheckEnumValues(req); !s.ok()) {
    if (metrics_) metrics_->ValidationRefusal("enum");
    reply->Complete(s);
    return;
  }
  const SteadyTime deadline = DeadlineOf(ctx);
  scheduler_.Post([this, fn, request = req, deadline, reply]() mutable {
    // Requests the engine sends for this call from here on are withdrawn if the caller goes
    // away while they wait for a rate-limit token.
    CallScope scope([weak = std::weak_ptr<UnaryReply<Resp>>(reply)] {
      auto r = weak.lock();
      return r != nullptr && r->gone();  // a reply already freed was answered: not withdrawn
    });
    std::invoke(fn, engine_, std::move(request), deadline,
                [reply](absl::StatusOr<Resp> r) { reply->Complete(std::move(r)); });
  });
}

std::unique_ptr<AsyncServer> OrderServiceImpl::MakeAsyncServer(std::unique_ptr<grpc::ServerCompletionQueue> queue) {
  auto server = std::make_unique<AsyncServer>(
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
  server->AddStream<v1::StreamUpdatesRequest, v1::StreamUpdatesResponse>(
      [this](grpc::ServerContext* c, v1::StreamUpdatesRequest* q, grpc::ServerAsyncWriter<v1::StreamUpdatesResponse>* w,
             grpc::CompletionQueue* cq, grpc::ServerCompletionQueue* ncq,
             void* tag) { RequestStreamUpdates(c, q, w, cq, ncq, tag); },
      [this](grpc::ServerContext* c, const v1::StreamUpdatesRequest& q,
             std::shared_ptr<StreamWriter<v1::StreamUpdatesResponse>> out) { StartUpdates(c, q, std::move(out)); });
  return server;
}

// ---- StreamUpdates ----

void OrderServiceImpl::StartUpdates(grpc::ServerContextBase* ctx, const v1::StreamUpdatesRequest& req,
                                    std::shared_ptr<StreamWriter<v1::StreamUpdatesResponse>> out) {
  auto caller = Authenticate(ctx);
  if (!caller.ok()) {
    if (metrics_) metrics_->AuthFailure(ctx->client_metadata().count("authorization") ? "invalid" : "missing");
    out->Finish(ToGrpcStatus(caller.status(), ctx));
    return;
  }
  UpdateStream::Filter filter;
  for (int ch : req.channels()) {
    if (ch <= v1::UPDATE_CHANNEL_UNSPECIFIED || ch > v1::UPDATE_CHANNEL_TPSL) {
      out->Finish(ToGrpcStatus(ValidationError(absl::StrCat("unknown channel ", ch, " in channels")), ctx));
      return;
    }
    filter.channels.insert(ch);
  }
  const auto rules = engine_.rules().snapshot();  // null until trading_pairs first loads
  for (const auto& s : req.symbols()) {
    std::string n = NormalizeSymbol(s);
    std::string bad;
    if (n.empty()) {
      bad = absl::StrCat("symbol '", s, "' is not of the form BTCUSDT");
    } else if (rules && !rules->count(n)) {
      bad = absl::StrCat("unknown symbol ", n, ": the exchange lists no such futures pair");
    }
    if (!bad.empty()) {
      out->Finish(ToGrpcStatus(ValidationError(std::move(bad)), ctx));
      return;
    }
    filter.symbols.insert(n);
  }
  // A valid request takes one of the caller's stream slots; the call's on_done gives it back.
  uint64_t number = 0;
  {
    std::lock_guard<std::mutex> lock(streams_mu_);
    // Checked again under the lock a tokens reload takes to end revoked callers' streams
    // (EndStreamsOfRevokedCallers, after the new tokens are in force): a token revoked since the
    // check above is refused here, not registered after that scan and left open.
    if (auto again = Authenticate(ctx); !again.ok()) {
      if (metrics_) metrics_->AuthFailure("revoked");
      out->Finish(ToGrpcStatus(again.status(), ctx));
      return;
    }
    size_t& mine = streams_by_caller_[caller->name];
    if (mine >= options_.max_update_streams_per_caller) {
      out->Finish(ToGrpcStatus(
          MakeError(absl::StatusCode::kResourceExhausted,
                    absl::StrCat("caller ", caller->name, " already has ", mine,
                                 " StreamUpdates streams open (--max-update-streams-per-caller); one stream can "
                                 "carry every channel and symbol"),
                    reason::kRateLimited),
          ctx));
      return;
    }
    ++mine;
    number = ++next_stream_number_;
    OpenStream& open = open_stream_auth_[number];
    const auto& md = ctx->client_metadata();
    if (auto it = md.find("authorization"); it != md.end()) open.authorization.assign(it->second.data(), it->second.size());
    open.peer_identity = PeerIdentity(ctx);
    open.out = out;
  }
  // The call owns `out`; the stream only reaches it while the call lives.
  std::weak_ptr<StreamWriter<v1::StreamUpdatesResponse>> weak_out = out;
  auto stream = std::make_shared<UpdateStream>(
      std::move(filter), options_.stream_max_queue, options_.stream_max_batch, scheduler_.clock(),
      [weak_out](const v1::StreamUpdatesResponse* msg) {
        if (auto o = weak_out.lock()) o->Write(msg);
      },
      [weak_out] {  // only at shutdown: a status that tells clients to reconnect (to another replica)
        if (auto o = weak_out.lock()) {
          o->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the order service is shutting down; reconnect"));
        }
      });
  // A failed write means the call is gone; its done tag follows and ends the stream (on_done).
  out->set_on_write_done([stream](bool ok) { stream->OnWriteDone(ok); });
  out->set_on_done([this, stream, name = caller->name, number] {  // finished, cancelled by the client or by shutdown
    {
      std::lock_guard<std::mutex> lock(streams_mu_);
      open_stream_auth_.erase(number);
      if (auto it = streams_by_caller_.find(name); it != streams_by_caller_.end() && --it->second == 0) {
        streams_by_caller_.erase(it);
      }
    }
    stream->Cancel();
    hub_.Remove(stream.get());
    if (metrics_) metrics_->StreamEventsDropped(stream->dropped());
    const int64_t open = --open_streams_;
    if (metrics_) metrics_->StreamSubscribers(open);
  });
  hub_.Add(stream);
  const int64_t open = ++open_streams_;
  if (metrics_) metrics_->StreamSubscribers(open);
  HubEvent status = hub_.CurrentStatus();
  if (req.skip_snapshot()) {
    stream->DeliverSnapshot({std::move(status)});
  } else {
    StreamSnapshotOptions snapshot;
    snapshot.timeout = options_.snapshot_timeout;
    snapshot.retry = options_.snapshot_retry;
    snapshot.margin_coin = options_.default_margin_coin;
    StartStreamSnapshot(scheduler_, engine_, stream, std::move(status), std::move(snapshot));
  }
}

size_t OrderServiceImpl::EndStreamsOfRevokedCallers() {
  std::vector<std::shared_ptr<StreamWriter<v1::StreamUpdatesResponse>>> revoked;
  {
    std::lock_guard<std::mutex> lock(streams_mu_);
    for (const auto& [number, open] : open_stream_auth_) {
      if (auth_.Authenticate(open.authorization, open.peer_identity).ok()) continue;
      if (auto o = open.out.lock()) revoked.push_back(std::move(o));
    }
  }
  for (auto& o : revoked) {
    if (metrics_) metrics_->AuthFailure("revoked");
    o->Finish(grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                           "the caller's token was revoked (the tokens file changed); this stream has ended"));
  }
  if (!revoked.empty()) {
    Log(LogLevel::kInfo, "orders.auth", "ended the update streams of revoked tokens",
        {{"streams", static_cast<int64_t>(revoked.size())}});
  }
  return revoked.size();
}

}  // namespace bx::orders
