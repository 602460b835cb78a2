#include "services/orders/orders_app.h"

#include <pthread.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <future>
#include <mutex>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/grpc_server.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/process.h"
#include "services/orders/async_health.h"
#include "services/orders/errors.h"
#include "services/orders/orders_metrics.h"
#include "services/orders/token_reloader.h"

namespace bx::orders {

struct OrdersApp::Parts {
  OrdersAppOptions options;
  boost::asio::io_context ioc;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work;
  std::thread io_thread;
  std::unique_ptr<MetricsServer> metrics_server;
  std::unique_ptr<OrdersMetrics> metrics;
  std::unique_ptr<Scheduler> scheduler;
  std::unique_ptr<net::HttpClient> http;
  std::unique_ptr<RateLimiter> limiter;
  std::shared_ptr<const Credentials> credentials;
  std::unique_ptr<RequestSigner> signer;
  std::unique_ptr<RestClient> rest;
  SymbolRules rules;
  std::unique_ptr<UpdateHub> hub;
  std::unique_ptr<AuditLog> audit;
  std::unique_ptr<Authenticator> auth;
  std::unique_ptr<TokenReloader> token_reloader;
  std::unique_ptr<AsyncHealthService> health;
  std::unique_ptr<OrderServiceImpl> service;
  std::unique_ptr<GrpcServer> server;
  std::unique_ptr<AsyncServer> calls;  // every method's completion queue and thread
  Scheduler::TimerId probe_timer = 0;
  std::atomic<bool> exchange_ok{false};
};

namespace {

// Any host of the real exchange: bitunix.com or a subdomain, in any letter case, with or without
// the root's trailing dot.
bool IsBitunixHost(const std::string& host) {
  std::string h = absl::AsciiStrToLower(absl::StripSuffix(host, "."));
  return h == "bitunix.com" || absl::EndsWith(h, ".bitunix.com");
}

// How long after the last answered signed request a probe refused for capacity still counts as
// an answer: by default three probe intervals plus the probe's deadline (which a refused probe
// may have waited out).
std::chrono::milliseconds BusyGrace(const OrdersAppOptions& o) {
  if (o.health_busy_grace.count() > 0) return o.health_busy_grace;
  return 3 * o.health_interval + o.health_timeout;
}

}  // namespace

absl::Status CheckSafeToStart(const OrdersAppOptions& o) {
  if (o.api_key.empty() || o.api_secret.empty()) {
    return absl::FailedPreconditionError(
        "no exchange credentials: set BITUNIX_API_KEY and BITUNIX_API_SECRET, or --api-key-file and "
        "--api-secret-file (Kubernetes Secret mounts); they are never accepted as flags");
  }
  const bool mtls = !o.client_ca_file.empty();
  if ((o.tls_cert_file.empty()) != (o.tls_key_file.empty())) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (mtls && o.tls_cert_file.empty()) {
    return absl::InvalidArgumentError("--client-ca-file (mTLS) needs --tls-cert and --tls-key");
  }
  if (o.tokens.empty() && !mtls && !o.auth.insecure_no_auth) {
    return absl::FailedPreconditionError(
        "refusing to start with an open order API: no --auth-tokens-file tokens and no --client-ca-file (mTLS). "
        "Configure one, or pass --insecure-no-auth for local development only");
  }
  if (o.auth.insecure_no_auth && (!o.tokens.empty() || !o.tokens_file.empty() || mtls)) {
    // With both, a call without credentials would still get in (as "anonymous", trading).
    return absl::InvalidArgumentError(
        "--insecure-no-auth cannot be combined with --auth-tokens-file or --client-ca-file: it would let calls "
        "without credentials in; drop --insecure-no-auth");
  }
  if (o.mode == Mode::kPaper) {
    for (const auto& [flag, url] : {std::pair<const char*, const Url*>{"--rest-url", &o.rest_url},
                                    std::pair<const char*, const Url*>{"--private-ws-url", &o.private_ws_url}}) {
      if (IsBitunixHost(url->host)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "--mode=paper but ", flag, " is the live exchange (", url->host,
            "): point --rest-url and --private-ws-url at the simulator (both default to the live exchange)"));
      }
    }
  }
  if (o.rest_url.scheme != "http" && o.rest_url.scheme != "https") {
    return absl::InvalidArgumentError(absl::StrCat("--rest-url must be http(s)://, got '", o.rest_url.ToString(), "'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<OrdersApp>> OrdersApp::Start(OrdersAppOptions options) {
  if (absl::Status s = CheckSafeToStart(options); !s.ok()) return s;
  std::unique_ptr<OrdersApp> app(new OrdersApp());
  app->parts_ = std::make_unique<Parts>();
  Parts& p = *app->parts_;
  p.options = std::move(options);
  const OrdersAppOptions& o = p.options;

  if (!o.metrics_addr.empty()) {
    auto m = MetricsServer::Start(o.metrics_addr);
    if (!m.ok()) return m.status();
    p.metrics_server = std::move(*m);
    app->registry_ = p.metrics_server->registry();
    app->metrics_address_ = p.metrics_server->address();
  } else {
    app->registry_ = std::make_shared<prometheus::Registry>();
  }
  p.metrics = std::make_unique<OrdersMetrics>(*app->registry_);

  p.scheduler = MakeAsioScheduler(p.ioc);
  if (o.http_factory) {
    p.http = o.http_factory(p.ioc);
  } else {
    net::HttpClientOptions h;
    h.base = o.rest_url;
    h.tls = o.exchange_tls;
    h.max_connections = o.http_max_connections;
    p.http = net::MakeBeastHttpClient(p.ioc, std::move(h));
  }
  p.limiter = std::make_unique<RateLimiter>(*p.scheduler, o.limiter);
  OrdersMetrics* metrics = p.metrics.get();
  p.limiter->set_observer([metrics](Bucket b, Lane l, AcquireOutcome out, std::chrono::nanoseconds waited) {
    metrics->RateLimit(b, l, out, waited);
  });
  app->skew_ = std::make_unique<SkewEstimator>();
  p.credentials = std::make_shared<const Credentials>(o.api_key, o.api_secret);
  p.options.api_secret.assign(p.options.api_secret.size(), '\0');  // keep one copy only
  p.options.api_secret.clear();
  p.signer = std::make_unique<RequestSigner>(p.credentials, SystemClock::Instance(), app->skew_.get(),
                                             o.apply_clock_skew);
  RestClientOptions rest_options = o.rest;
  rest_options.http_connections = o.http_max_connections;
  p.rest = std::make_unique<RestClient>(*p.scheduler, *p.http, *p.limiter, *p.signer, app->skew_.get(), metrics,
                                        rest_options);
  app->engine_ = std::make_unique<OrderEngine>(*p.scheduler, *p.rest, p.rules, metrics, o.engine);
  p.hub = std::make_unique<UpdateHub>(SystemClock::Instance());
  UpdateHub* hub = p.hub.get();
  app->engine_->set_reconciled_sink([hub](const v1::Order& order) {
    v1::UpdateEvent e;
    e.set_gateway_ts_ns(SystemClock::Instance().NowNs());
    e.set_snapshot(true);
    e.set_kind(v1::UPDATE_KIND_CREATE);
    *e.mutable_order() = order;
    hub->Publish(MakeHubEvent(std::move(e)));
  });
  if (metrics != nullptr) metrics->PrivateWsEnabled(o.enable_private_stream);
  if (o.enable_private_stream) {
    boost::asio::io_context* ioc = &p.ioc;
    auto ws_factory = o.ws_factory;
    net::WsOptions ws_options;
    ws_options.url = o.private_ws_url;
    ws_options.tls = o.exchange_tls;
    ws_options.max_message_bytes = 4 * 1024 * 1024;
    app->private_stream_ = std::make_unique<PrivateStream>(
        *p.scheduler,
        [ioc, ws_factory, ws_options]() -> std::unique_ptr<net::WsClient> {
          if (ws_factory) return ws_factory(*ioc);
          // Only the orders-io thread runs `ioc`, so the connection needs no strand.
          return net::MakeBeastWsClient(*ioc, ws_options, SystemClock::Instance(), net::IoThreads::kOne);
        },
        *p.signer, *app->engine_, *p.hub, metrics, o.private_stream);
  }
  p.audit = std::make_unique<AuditLog>(o.audit_file);
  AuthOptions auth_options = o.auth;
  auth_options.mtls = !o.client_ca_file.empty();
  p.auth = std::make_unique<Authenticator>(o.tokens, auth_options);
  if (!o.tokens_file.empty() && o.tokens_reload.count() > 0) {
    p.token_reloader = std::make_unique<TokenReloader>(*p.scheduler, *p.auth, o.tokens_file, o.tokens_text, metrics);
  }
  p.service = std::make_unique<OrderServiceImpl>(*p.scheduler, *app->engine_, *p.hub, *p.auth, *p.audit, metrics,
                                                 o.service);
  if (p.token_reloader) {
    p.token_reloader->set_on_reloaded([service = p.service.get()] { (void)service->EndStreamsOfRevokedCallers(); });
  }

  GrpcServerOptions server_options;
  server_options.address = o.grpc_addr;
  p.health = std::make_unique<AsyncHealthService>();
  server_options.services = {p.service.get(), p.health.get()};
  server_options.health = p.health.get();
  server_options.health_service_names = {"bitunix.orders.v1.OrderService"};
  server_options.async_queue = true;
  if (!o.tls_cert_file.empty()) {
    auto cert = ReadFileTrimmed(o.tls_cert_file);
    auto key = ReadFileTrimmed(o.tls_key_file);
    if (!cert || !key) return absl::InvalidArgumentError("cannot read --tls-cert or --tls-key");
    grpc::SslServerCredentialsOptions ssl(auth_options.mtls ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                                            : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    ssl.pem_key_cert_pairs.push_back({*key + "\n", *cert + "\n"});
    if (auth_options.mtls) {
      auto ca = ReadFileTrimmed(o.client_ca_file);
      if (!ca) return absl::InvalidArgumentError(absl::StrCat("cannot read --client-ca-file ", o.client_ca_file));
      ssl.pem_root_certs = *ca + "\n";
    }
    server_options.credentials = grpc::SslServerCredentials(ssl);
  }
  auto server = GrpcServer::Start(std::move(server_options));
  if (!server.ok()) return server.status();
  p.server = std::move(*server);
  p.calls = p.service->MakeAsyncServer(p.server->TakeAsyncQueue());
  p.health->AddTo(*p.calls);
  p.work.emplace(p.ioc.get_executor());
  if (o.busy_poll) {
    // One thread for both: a call's handler, the engine, the HTTP client and the answer run
    // without a hand-off, and neither side ever sleeps, so nothing waits for a wake-up.
    p.calls->StartPolled();
    p.io_thread = std::thread([&ioc = p.ioc, calls = p.calls.get()] {
      pthread_setname_np(pthread_self(), "orders-loop");
      bool calls_open = true;
      for (;;) {
        if (calls_open) calls_open = calls->Poll();
        ioc.poll();
        if (!calls_open && ioc.stopped()) break;
      }
    });
  } else {
    p.calls->Start();
    p.io_thread = std::thread([&ioc = p.ioc] {
      pthread_setname_np(pthread_self(), "orders-io");
      ioc.run();
    });
  }

  OrdersApp* self = app.get();
  const auto rules_refresh = o.rules_refresh;
  const auto tokens_reload = o.tokens_reload;
  p.scheduler->Post([self, rules_refresh, tokens_reload] {
    self->engine_->StartRulesRefresh(rules_refresh);
    if (self->parts_->token_reloader) self->parts_->token_reloader->Start(tokens_reload);
    if (self->private_stream_) self->private_stream_->Start();
    self->Probe();
  });
  if (o.tokens.empty() && !auth_options.mtls) {
    Log(LogLevel::kWarn, "orders", "INSECURE: the order API accepts unauthenticated calls (--insecure-no-auth)");
  }
  Log(LogLevel::kInfo, "orders", "order service started",
      {{"grpc", p.server->address()},
       {"mode", ModeName(o.mode)},
       {"rest", o.rest_url.ToString()},
       {"tokens", static_cast<int64_t>(o.tokens.size())},
       {"mtls", auth_options.mtls},
       {"busy_poll", o.busy_poll}});
  return app;
}

void OrdersApp::Probe() {
  Parts& p = *parts_;
  if (shut_down_) return;
  const SteadyTime deadline = p.scheduler->clock().Steady() + p.options.health_timeout;
  v1::GetAccountRequest req;
  engine_->GetAccount(req, deadline, [this](absl::StatusOr<v1::GetAccountResponse> r) {
    if (shut_down_) return;  // the transports may be gone already
    Parts& q = *parts_;
    const bool was = q.exchange_ok.load();
    bool ok = r.ok();
    if (!ok && r.status().code() == absl::StatusCode::kResourceExhausted) {
      // The probe found no token (callers use the budget), no free connection (the exchange sits
      // on every one) or the exchange said "too many": that is a busy replica, not a gone
      // exchange, and taking it out of service now would also take away its cancels. Ready if a
      // signed request was answered lately (a success or a business refusal).
      const auto last = q.rest->LastSignedAnswer();
      ok = last.has_value() && q.scheduler->clock().Steady() - *last <= BusyGrace(q.options);
    }
    q.exchange_ok = ok;
    if (!ok && was) {
      Log(LogLevel::kWarn, "orders", "exchange probe failed; not ready", {{"error", std::string(r.status().message())}});
    }
    if (ok && !was && r.ok()) Log(LogLevel::kInfo, "orders", "exchange answers signed requests");
    if (ok && !was && !r.ok()) {
      Log(LogLevel::kInfo, "orders", "exchange probe refused as busy, but signed requests were answered lately",
          {{"error", std::string(r.status().message())}});
    }
    const int64_t skew = skew_->OffsetMs();
    q.metrics->ClockSkew(skew, skew_->UncertaintyMs());
    const bool skew_ok = std::abs(skew) <= q.options.max_clock_skew.count();
    if (!skew_ok) {
      Log(LogLevel::kWarn, "orders", "clock skew outside the window; not ready",
          {{"skew_ms", skew}, {"max_ms", static_cast<int64_t>(q.options.max_clock_skew.count())}});
    }
    for (int b = 0; b < kBucketCount; ++b) {
      auto st = q.limiter->State(static_cast<Bucket>(b));
      q.metrics->RateLimitState(static_cast<Bucket>(b), st.tokens, st.rate);
    }
    auto hs = q.http->Stats();
    q.metrics->HttpPool(hs.connections_open, hs.connections_busy, hs.requests_queued);
    const bool ready = q.exchange_ok.load() && q.rules.loaded() && skew_ok;
    if (ready != ready_.load()) {
      ready_ = ready;
      q.server->SetReady(ready);
      Log(LogLevel::kInfo, "orders", ready ? "ready" : "not ready");
    }
    if (shut_down_) return;
    // Probe sooner while not ready (the first rules load may still be under way).
    const auto next = ready ? q.options.health_interval
                            : std::min(q.options.health_interval, std::chrono::milliseconds(1000));
    q.probe_timer = q.scheduler->RunAfter(next, [this] {
      parts_->probe_timer = 0;
      Probe();
    });
  });
}

const std::string& OrdersApp::grpc_address() const { return parts_->server->address(); }

RateLimiter& OrdersApp::limiter() { return *parts_->limiter; }

void OrdersApp::RunOnExecutor(std::function<void()> fn) {
  std::promise<void> done;
  auto f = done.get_future();
  parts_->scheduler->Post([&] {
    fn();
    done.set_value();
  });
  f.wait();
}

void OrdersApp::Shutdown(std::chrono::milliseconds grace) {
  if (shut_down_ || !parts_) return;
  Parts& p = *parts_;
  Log(LogLevel::kInfo, "orders", "shutting down", {{"grace_ms", static_cast<int64_t>(grace.count())}});
  // Out of the load balancer first (the server's Shutdown repeats this, harmlessly), then every
  // stream is told and ended.
  if (p.health) p.health->Shutdown();
  p.hub->CloseAll("the order service is shutting down");
  if (p.server) {
    // gRPC cancels what is left at the grace's end with a bare "Cancelling all calls", which
    // tells a caller neither whether its request was sent nor the client id the gateway
    // generated. So a little before that, every call still waiting is answered here.
    const auto margin = std::min<std::chrono::milliseconds>(grace / 5, std::chrono::seconds(1));
    std::mutex mu;
    std::condition_variable cv;
    bool returned = false;
    std::thread answerer([&] {
      pthread_setname_np(pthread_self(), "orders-shutdown");
      std::unique_lock<std::mutex> lock(mu);
      if (cv.wait_for(lock, grace - margin, [&] { return returned; })) return;
      lock.unlock();
      AnswerPendingCalls();
    });
    p.server->Shutdown(grace);  // the queue thread keeps draining meanwhile
    {
      std::lock_guard<std::mutex> lock(mu);
      returned = true;
    }
    cv.notify_all();
    answerer.join();
  }
  if (p.calls) p.calls->Close();
  if (p.io_thread.joinable()) {
    RunOnExecutor([this] {
      shut_down_ = true;
      Parts& q = *parts_;
      if (q.probe_timer != 0) q.scheduler->Cancel(q.probe_timer);
      q.probe_timer = 0;
      if (q.token_reloader) q.token_reloader->Stop();
      if (private_stream_) private_stream_->Stop();
      private_stream_.reset();  // its WebSocket client is destroyed on the io thread
      engine_->Shutdown();
      // Nothing may reach the HTTP client once it is destroyed below: lookups that cancelled
      // requests start (a lost placement answer) and queued calls complete NOT_SENT instead.
      q.rest->Close(absl::UnavailableError("the order service is shutting down"));
      q.limiter->FailAll(absl::UnavailableError("the order service is shutting down"));
    });
    // Requests still pending complete with CANCELLED on the io thread; let them drain.
    p.http.reset();
    RunOnExecutor([] {});
  }
  shut_down_ = true;
  p.work.reset();
  p.ioc.stop();
  if (p.io_thread.joinable()) p.io_thread.join();
}

void OrdersApp::AnswerPendingCalls() {
  Parts& p = *parts_;
  size_t placements = 0;
  if (p.io_thread.joinable()) {
    RunOnExecutor([&] {
      if (shut_down_) return;
      // Nothing more is sent: what waits for a token or a connection ends now as not sent
      // (definitive: safe to retry elsewhere).
      const absl::Status not_sent = MakeError(
          absl::StatusCode::kUnavailable, "the order service is shutting down; this request was not sent",
          reason::kShuttingDown);
      p.rest->Close(not_sent);
      p.limiter->FailAll(not_sent);
    });
    // After those refusals have run: what is still waiting was sent.
    RunOnExecutor([&] {
      if (!shut_down_) placements = engine_->AnswerPendingPlacements();
    });
  }
  size_t others = 0;
  if (p.calls) {
    others = p.calls->AbandonPending(MakeError(
        absl::StatusCode::kUnavailable,
        "the order service shut down before the exchange answered; if this call changes state, its request "
        "was sent and may have taken effect: read the state back before repeating it",
        reason::kShuttingDown));
  }
  Log(LogLevel::kWarn, "orders", "shutdown grace ending: answered the calls still waiting",
      {{"placements_answered", static_cast<int64_t>(placements)}, {"other_calls", static_cast<int64_t>(others)}});
}

OrdersApp::~OrdersApp() {
  Shutdown(std::chrono::milliseconds(0));
  if (parts_) {
    parts_->server.reset();
    parts_->calls.reset();
    parts_->service.reset();
  }
  private_stream_.reset();
  engine_.reset();
  if (parts_) {
    parts_->rest.reset();
    parts_->limiter.reset();
    parts_->scheduler.reset();
  }
}

}  // namespace bx::orders
