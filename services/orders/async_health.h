// grpc.health.v1.Health on the async API (Check and Watch), for a server that must not register
// any callback-API method: gRPC's default health service uses the callback API, and in gRPC 1.51
// that alone puts a "nexting" thread in front of every connection of the process
// (async_server.h). Same behaviour as the default service: Check of an unknown name is NOT_FOUND;
// Watch sends the current status at once (SERVICE_UNKNOWN for an unknown name) and every change
// after it; at shutdown every name turns NOT_SERVING, and open watches get that and then end
// with UNAVAILABLE, so they do not hold up the server's grace period.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/grpc_server.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "services/orders/async_server.h"

namespace bx::orders {

class AsyncHealthService final : public grpc::health::v1::Health::AsyncService, public HealthStatusSink {
 public:
  AsyncHealthService() = default;
  ~AsyncHealthService() override;

  /// Adds Check and Watch to `server`, before its Start(). This service must also be registered
  /// with the grpc::ServerBuilder (GrpcServerOptions::services) and outlive `server`.
  void AddTo(AsyncServer& server);

  void SetServingStatus(const std::string& service, bool serving) override;
  void Shutdown() override;

  /// Open Watch calls.
  size_t watchers() const;

 private:
  using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;
  class Watcher;
  ServingStatus StatusLocked(const std::string& service) const;
  void Remove(const Watcher* w);

  mutable std::mutex mu_;
  std::map<std::string, ServingStatus> statuses_;
  std::vector<std::shared_ptr<Watcher>> watchers_;
  bool shut_down_ = false;
};

}  // namespace bx::orders
