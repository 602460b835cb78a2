// The whole order service in one object: transports, rate limiter, signer, engine, private
// stream, update hub, auth, gRPC server and metrics. main.cc parses options and calls Start;
// tests start it in-process (with real or fake transports) on port 0.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <prometheus/registry.h>

#include "absl/status/statusor.h"
#include "common/net/http_client.h"
#include "common/net/ws_client.h"
#include "common/url.h"
#include "services/orders/auth.h"
#include "services/orders/grpc_service.h"
#include "services/orders/order_engine.h"
#include "services/orders/private_stream.h"
#include "services/orders/rate_limiter.h"
#include "services/orders/rest_client.h"

namespace boost::asio {
class io_context;
}

namespace bx::orders {

struct OrdersAppOptions {
  std::string grpc_addr = "127.0.0.1:0";
  /// Prometheus endpoint; "" = none (the registry still exists, for tests).
  std::string metrics_addr;
  Url rest_url;
  Url private_ws_url;
  net::TlsOptions exchange_tls;
  size_t http_max_connections = 4;

  Mode mode = Mode::kLive;
  std::string api_key;
  std::string api_secret;

  std::vector<TokenEntry> tokens;
  /// Where `tokens` came from ("" = given directly) and the text they were parsed from: the file
  /// is checked every `tokens_reload` (0 = never) and a valid change replaces the tokens.
  std::string tokens_file;
  std::string tokens_text;
  std::chrono::milliseconds tokens_reload{std::chrono::seconds(10)};
  AuthOptions auth;
  /// gRPC server TLS (PEM files); with client_ca_file, clients must present a certificate (mTLS).
  std::string tls_cert_file, tls_key_file, client_ca_file;
  std::string audit_file;

  RateLimiterOptions limiter;
  RestClientOptions rest;
  EngineOptions engine;
  PrivateStreamOptions private_stream;
  ServiceOptions service;
  bool enable_private_stream = true;
  /// One thread runs both the gRPC completion queue and the io_context, polling without ever
  /// sleeping (--busy-poll): no thread hand-off or wake-up on a request's path in the gateway.
  bool busy_poll = false;

  std::chrono::milliseconds rules_refresh{std::chrono::minutes(5)};
  /// Cadence of the readiness probe (a signed account read) and of gauge updates.
  std::chrono::milliseconds health_interval{std::chrono::seconds(30)};
  /// Deadline of one probe: how long it may wait for a rate-limit token or a free connection.
  std::chrono::milliseconds health_timeout{std::chrono::seconds(10)};
  /// A probe refused RESOURCE_EXHAUSTED (a busy budget or busy connections) keeps the service
  /// ready while a signed request succeeded within this; 0 = 3 × health_interval + 10 s.
  std::chrono::milliseconds health_busy_grace{0};
  /// Readiness needs |estimated exchange clock - local clock| within this.
  std::chrono::milliseconds max_clock_skew{std::chrono::seconds(30)};
  bool apply_clock_skew = true;

  /// Test hooks: replace the Beast transports.
  std::function<std::unique_ptr<net::HttpClient>(boost::asio::io_context&)> http_factory;
  std::function<std::unique_ptr<net::WsClient>(boost::asio::io_context&)> ws_factory;
};

/// Refuses configurations that would be unsafe (open API, paper mode aimed at the live exchange,
/// missing credentials, half-configured TLS). The message says what to set.
absl::Status CheckSafeToStart(const OrdersAppOptions& options);

class OrdersApp {
 public:
  static absl::StatusOr<std::unique_ptr<OrdersApp>> Start(OrdersAppOptions options);
  ~OrdersApp();
  OrdersApp(const OrdersApp&) = delete;
  OrdersApp& operator=(const OrdersApp&) = delete;

  const std::string& grpc_address() const;
  const std::string& metrics_address() const { return metrics_address_; }
  /// Credentials loaded, the exchange answered the last probe, rules loaded, skew in the window.
  bool ready() const { return ready_.load(); }
  /// Graceful: streams get SHUTTING_DOWN, in-flight calls get `grace`. A fifth of the grace (at
  /// most 1 s) before its end, the calls still waiting are answered: not sent (UNAVAILABLE,
  /// SHUTTING_DOWN), a placement's outcome unknown (PLACE_RESULT_UNKNOWN with its client id), or
  /// any other call sent without an answer (UNAVAILABLE, SHUTTING_DOWN). Then everything stops.
  void Shutdown(std::chrono::milliseconds grace);

  /// Runs `fn` on the executor and waits for it (tests, never from the executor).
  void RunOnExecutor(std::function<void()> fn);
  prometheus::Registry& registry() { return *registry_; }
  OrderEngine& engine() { return *engine_; }
  /// Use on the executor thread only (inside RunOnExecutor).
  RateLimiter& limiter();
  PrivateStream* private_stream() { return private_stream_.get(); }
  const SkewEstimator& skew() const { return *skew_; }

 private:
  struct Parts;
  OrdersApp() = default;
  void Probe();
  /// Shutdown's answer to every call still waiting (any thread but the executor).
  void AnswerPendingCalls();

  std::unique_ptr<Parts> parts_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::string metrics_address_;
  std::unique_ptr<SkewEstimator> skew_;
  std::unique_ptr<OrderEngine> engine_;
  std::unique_ptr<PrivateStream> private_stream_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> shut_down_{false};
};

}  // namespace bx::orders
