// The whole bitunix-marketdata service, wired: io thread (upstream WebSockets, REST, timers), hub
// and dispatcher, gRPC server (health, reflection), Prometheus endpoint. main() and the
// integration tests construct it the same way.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/registry.h>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/net/tls.h"
#include "services/marketdata/hub.h"
#include "services/marketdata/rest_client.h"
#include "services/marketdata/service.h"
#include "services/marketdata/upstream.h"

namespace bx::md {

inline constexpr const char* kServiceName = "bitunix.marketdata.v1.MarketDataService";

struct AppOptions {
  std::string grpc_addr = "127.0.0.1:0";
  std::string metrics_addr = "127.0.0.1:0";  ///< "" = no /metrics endpoint (tests)
  std::string ws_url = "wss://fapi.bitunix.com/public/";
  std::string rest_url = "https://fapi.bitunix.com";
  net::TlsOptions tls;
  bool reflection = true;
  std::chrono::milliseconds tick{50};  ///< upstream timer resolution
  ServiceOptions service;
  HubOptions hub;
  UpstreamOptions upstream;
  RestClientOptions rest;
};

/// Every flag of bitunix-marketdata: the common service options plus the ones below.
std::vector<OptSpec> MarketDataOptionSpecs();
/// Turns a loaded Config into AppOptions (the values were type-checked by Config::Load).
absl::StatusOr<AppOptions> AppOptionsFromConfig(const Config& config);

class App {
 public:
  /// Starts everything; returns once the gRPC and metrics ports listen.
  static absl::StatusOr<std::unique_ptr<App>> Start(AppOptions options, const Clock& clock = SystemClock::Instance());
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  const std::string& grpc_address() const;
  const std::string& metrics_address() const;  ///< "" when metrics_addr was ""
  /// The Prometheus registry (also when no endpoint serves it).
  prometheus::Registry& registry();
  /// Readiness as reported by grpc.health.v1.
  bool ready() const;

  /// Graceful stop: health NOT_SERVING, every stream gets STATE_SHUTTING_DOWN and ends with a
  /// status, then the server and the upstream close; calls still running after `grace` are
  /// cancelled. Idempotent.
  void Stop(std::chrono::milliseconds grace);

  Hub& hub();
  UpstreamManager& upstream();
  MarketDataServiceImpl& service();

 private:
  struct Impl;
  explicit App(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace bx::md
