// The gRPC adapter of OrderService (callback API): authenticate, hand the call to the order
// engine on its executor, finish the reactor from there when the exchange call completes.
// Nothing here blocks a reaction. Errors leave through ToGrpcStatus (rich details + trailers);
// every state-changing call writes one audit record.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "bitunix/orders/v1/orders.grpc.pb.h"
#include "services/orders/audit_log.h"
#include "services/orders/auth.h"
#include "services/orders/order_engine.h"
#include "services/orders/scheduler.h"
#include "services/orders/update_hub.h"

namespace bx::orders {

class OrdersMetrics;

struct ServiceOptions {
  /// Deadline for calls that carry none (and the cap for those that carry a longer one).
  std::chrono::milliseconds default_timeout{10000};
  std::chrono::milliseconds max_timeout{60000};
  /// StreamUpdates: per-stream queue bound (events) and events per write.
  size_t stream_max_queue = 4096;
  size_t stream_max_batch = 256;
  /// StreamUpdates initial snapshot deadline.
  std::chrono::milliseconds snapshot_timeout{15000};
  std::string default_margin_coin = "USDT";
};

class OrderServiceImpl final : public bitunix::orders::v1::OrderService::CallbackService {
 public:
  /// `metrics` may be null. Everything referenced must outlive the gRPC server.
  OrderServiceImpl(Scheduler& scheduler, OrderEngine& engine, UpdateHub& hub, const Authenticator& auth,
                   AuditLog& audit, OrdersMetrics* metrics, ServiceOptions options);

  using Ctx = grpc::CallbackServerContext;
  using Unary = grpc::ServerUnaryReactor;
  Unary* PlaceOrder(Ctx* c, const v1::PlaceOrderRequest* q, v1::PlaceOrderResponse* r) override;
  Unary* BatchPlaceOrders(Ctx* c, const v1::BatchPlaceOrdersRequest* q, v1::BatchPlaceOrdersResponse* r) override;
  Unary* CancelOrders(Ctx* c, const v1::CancelOrdersRequest* q, v1::CancelOrdersResponse* r) override;
  Unary* CancelAllOrders(Ctx* c, const v1::CancelAllOrdersRequest* q, v1::CancelAllOrdersResponse* r) override;
  Unary* ModifyOrder(Ctx* c, const v1::ModifyOrderRequest* q, v1::ModifyOrderResponse* r) override;
  Unary* GetOrder(Ctx* c, const v1::GetOrderRequest* q, v1::GetOrderResponse* r) override;
  Unary* ListOpenOrders(Ctx* c, const v1::ListOpenOrdersRequest* q, v1::ListOpenOrdersResponse* r) override;
  Unary* ListOrderHistory(Ctx* c, const v1::ListOrderHistoryRequest* q, v1::ListOrderHistoryResponse* r) override;
  Unary* ListFills(Ctx* c, const v1::ListFillsRequest* q, v1::ListFillsResponse* r) override;
  Unary* GetAccount(Ctx* c, const v1::GetAccountRequest* q, v1::GetAccountResponse* r) override;
  Unary* ListPositions(Ctx* c, const v1::ListPositionsRequest* q, v1::ListPositionsResponse* r) override;
  Unary* ListPositionHistory(Ctx* c, const v1::ListPositionHistoryRequest* q,
                             v1::ListPositionHistoryResponse* r) override;
  Unary* GetLeverageMarginMode(Ctx* c, const v1::GetLeverageMarginModeRequest* q,
                               v1::GetLeverageMarginModeResponse* r) override;
  Unary* SetLeverage(Ctx* c, const v1::SetLeverageRequest* q, v1::SetLeverageResponse* r) override;
  Unary* SetMarginMode(Ctx* c, const v1::SetMarginModeRequest* q, v1::SetMarginModeResponse* r) override;
  Unary* SetPositionMode(Ctx* c, const v1::SetPositionModeRequest* q, v1::SetPositionModeResponse* r) override;
  Unary* AdjustPositionMargin(Ctx* c, const v1::AdjustPositionMarginRequest* q,
                              v1::AdjustPositionMarginResponse* r) override;
  Unary* FlashClosePosition(Ctx* c, const v1::FlashClosePositionRequest* q,
                            v1::FlashClosePositionResponse* r) override;
  Unary* CloseAllPositions(Ctx* c, const v1::CloseAllPositionsRequest* q, v1::CloseAllPositionsResponse* r) override;
  Unary* PlaceTpslOrder(Ctx* c, const v1::PlaceTpslOrderRequest* q, v1::PlaceTpslOrderResponse* r) override;
  Unary* ModifyTpslOrder(Ctx* c, const v1::ModifyTpslOrderRequest* q, v1::ModifyTpslOrderResponse* r) override;
  Unary* CancelTpslOrder(Ctx* c, const v1::CancelTpslOrderRequest* q, v1::CancelTpslOrderResponse* r) override;
  Unary* ListTpslOrders(Ctx* c, const v1::ListTpslOrdersRequest* q, v1::ListTpslOrdersResponse* r) override;
  grpc::ServerWriteReactor<v1::StreamUpdatesResponse>* StreamUpdates(Ctx* c, const v1::StreamUpdatesRequest* q) override;

  /// Open StreamUpdates streams.
  int64_t open_streams() const { return open_streams_.load(); }

 private:
  friend class UpdatesCall;
  template <class Req, class Resp>
  Unary* Handle(Ctx* ctx, const Req* req, Resp* resp, const char* method, bool state_changing,
                void (OrderEngine::*fn)(Req, SteadyTime, Reply<Resp>));
  absl::StatusOr<Caller> Authenticate(Ctx* ctx) const;
  SteadyTime DeadlineOf(const Ctx* ctx) const;
  void BuildSnapshot(std::shared_ptr<UpdateStream> stream, HubEvent status);

  Scheduler& scheduler_;
  OrderEngine& engine_;
  UpdateHub& hub_;
  const Authenticator& auth_;
  AuditLog& audit_;
  OrdersMetrics* metrics_;
  ServiceOptions options_;
  std::atomic<int64_t> open_streams_{0};
};

}  // namespace bx::orders
