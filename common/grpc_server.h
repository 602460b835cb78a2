// gRPC server wiring shared by the services: listening address (port 0 = free port), reflection,
// grpc.health.v1 (readiness per service + a "liveness" entry), and graceful shutdown.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"

namespace bx {

/// Where readiness goes when a service serves grpc.health.v1 itself instead of gRPC's default
/// health service (which uses the callback API; see services/orders/async_server.h for why a
/// service may not want that).
class HealthStatusSink {
 public:
  virtual ~HealthStatusSink() = default;
  virtual void SetServingStatus(const std::string& service, bool serving) = 0;
  /// Server shutdown: every service NOT_SERVING from now on; open watches end.
  virtual void Shutdown() = 0;
};

struct GrpcServerOptions {
  std::string address = "127.0.0.1:0";
  std::vector<grpc::Service*> services;  ///< not owned; must outlive the server
  std::shared_ptr<grpc::ServerCredentials> credentials;  ///< default: insecure
  /// Full service names reported by grpc.health.v1, e.g. "bitunix.marketdata.v1.MarketDataService".
  std::vector<std::string> health_service_names;
  bool reflection = true;
  /// Not owned. When set, readiness goes here and gRPC's default health service is not enabled
  /// (the sink's gRPC service must be in `services`).
  HealthStatusSink* health = nullptr;
  int max_receive_message_bytes = 4 * 1024 * 1024;
  /// Extra channel arguments (keepalive etc.).
  std::vector<std::pair<std::string, int>> int_args;
  /// Create a completion queue for services with async methods (TakeAsyncQueue()).
  bool async_queue = false;
};

/// Health names: "" (overall readiness), each service's full name (readiness), and "liveness"
/// (SERVING while the process is not deadlocked; for the Kubernetes liveness probe).
inline constexpr const char* kLivenessService = "liveness";

class GrpcServer {
 public:
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(GrpcServerOptions options);
  ~GrpcServer();

  /// "host:port" actually bound.
  const std::string& address() const { return address_; }
  /// Readiness of "" and every registered service.
  void SetReady(bool ready);
  /// One health entry (default health service or the options' sink).
  void SetServingStatus(const std::string& service, bool serving);
  bool ready() const { return ready_; }
  /// Readiness off, then grpc::Server::Shutdown with a deadline: in-flight calls get until the
  /// deadline, then are cancelled. Idempotent.
  void Shutdown(std::chrono::milliseconds grace);
  grpc::Server* server() { return server_.get(); }
  /// The completion queue asked for by `async_queue` (once). Its owner drains it while the
  /// server shuts down, and shuts it down after Shutdown() returned.
  std::unique_ptr<grpc::ServerCompletionQueue> TakeAsyncQueue() { return std::move(async_queue_); }

 private:
  GrpcServer() = default;
  std::unique_ptr<grpc::ServerCompletionQueue> async_queue_;  // before server_: destroyed after it
  std::unique_ptr<grpc::Server> server_;
  std::vector<std::string> service_names_;
  HealthStatusSink* health_ = nullptr;
  std::string address_;
  bool ready_ = false;
  bool shut_down_ = false;
};

}  // namespace bx
