// The gRPC adapter of OrderService: authenticate, hand the call to the order engine on its
// executor, answer from there when the exchange call completes. Every method uses the async API
// on a completion-queue thread of its own (async_server.h says why). Nothing here blocks. Errors leave through ToGrpcStatus (rich details +
// trailers); every state-changing call writes one audit record.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <grpcpp/grpcpp.h>

#include "bitunix/orders/v1/orders.grpc.pb.h"
#include "services/orders/async_server.h"
#include "services/orders/audit_log.h"
#include "services/orders/auth.h"
#include "services/orders/order_engine.h"
#include "common/backoff.h"
#include "services/orders/scheduler.h"
#include "services/orders/update_hub.h"

namespace bx::orders {

class OrdersMetrics;

struct ServiceOptions {
  /// Deadline for calls that carry none (and the cap for those that carry a longer one).
  std::chrono::milliseconds default_timeout{10000};
  std::chrono::milliseconds max_timeout{60000};
  /// The engine answers this much before the gRPC deadline (at most a quarter of the time the
  /// call has), so that an answer composed at the engine's deadline (PLACE_RESULT_UNKNOWN with the
  /// client id, after lookups that timed out) still reaches the caller.
  std::chrono::milliseconds answer_margin{250};
  /// StreamUpdates: per-stream queue bound (events) and events per write.
  size_t stream_max_queue = 4096;
  size_t stream_max_batch = 256;
  /// StreamUpdates streams one caller (token name or mTLS identity) may hold open at once: each
  /// start reads open orders, positions and the account over REST, so without a bound a read-only
  /// token could spend the private query budget that placements and cancels share.
  size_t max_update_streams_per_caller = 16;
  /// StreamUpdates initial snapshot deadline (per attempt).
  std::chrono::milliseconds snapshot_timeout{15000};
  /// Pause before reading a part of a stream's snapshot again that could not be read.
  BackoffPolicy snapshot_retry{std::chrono::milliseconds(1000), std::chrono::milliseconds(30000), 2.0, 0.2};
  std::string default_margin_coin = "USDT";
};

/// Every method on the async API.
using OrderServiceBase = bitunix::orders::v1::OrderService::AsyncService;

class OrderServiceImpl final : public OrderServiceBase {
 public:
  /// `metrics` may be null. Everything referenced must outlive the gRPC server.
  OrderServiceImpl(Scheduler& scheduler, OrderEngine& engine, UpdateHub& hub, const Authenticator& auth,
                   AuditLog& audit, OrdersMetrics* metrics, ServiceOptions options);

  /// Serves every method on `cq` (from GrpcServer::TakeAsyncQueue()); more services may be added
  /// to it before Start(), once the server runs; Close() it after the server shut down.
  std::unique_ptr<AsyncServer> MakeAsyncServer(std::unique_ptr<grpc::ServerCompletionQueue> cq);

  /// Open StreamUpdates streams.
  int64_t open_streams() const { return open_streams_.load(); }

  /// Any thread, after the tokens changed (file reload): ends every open StreamUpdates stream
  /// whose caller no longer authenticates with UNAUTHENTICATED, so a revoked token stops
  /// receiving account data at once, not only on its next call. Returns how many were ended.
  size_t EndStreamsOfRevokedCallers();

 private:
  template <class Req, class Resp>
  void Handle(grpc::ServerContextBase* ctx, const Req& req, std::shared_ptr<UnaryReply<Resp>> reply,
              const char* method, bool state_changing, void (OrderEngine::*fn)(Req, SteadyTime, Reply<Resp>));
  absl::StatusOr<Caller> Authenticate(grpc::ServerContextBase* ctx) const;
  SteadyTime DeadlineOf(const grpc::ServerContextBase* ctx) const;
  /// One StreamUpdates call, on the queue thread.
  void StartUpdates(grpc::ServerContextBase* ctx, const v1::StreamUpdatesRequest& req,
                    std::shared_ptr<StreamWriter<v1::StreamUpdatesResponse>> out);

  Scheduler& scheduler_;
  OrderEngine& engine_;
  UpdateHub& hub_;
  const Authenticator& auth_;
  AuditLog& audit_;
  OrdersMetrics* metrics_;
  ServiceOptions options_;
  std::atomic<int64_t> open_streams_{0};
  std::mutex streams_mu_;
  std::map<std::string, size_t> streams_by_caller_;  ///< open StreamUpdates per caller name
  /// What each open stream authenticated with, to check again after a token reload.
  struct OpenStream {
    std::string authorization;  ///< the metadata value (held in memory only, never logged)
    std::string peer_identity;
    std::weak_ptr<StreamWriter<v1::StreamUpdatesResponse>> out;
  };
  std::map<uint64_t, OpenStream> open_stream_auth_;  ///< by stream number; under streams_mu_
  uint64_t next_stream_number_ = 0;                  ///< under streams_mu_
};

}  // namespace bx::orders
