#include "services/marketdata/app.h"

#include <pthread.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <future>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/grpc_server.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/net/http_client.h"
#include "common/net/ws_client.h"
#include "common/url.h"
#include "services/marketdata/md_metrics.h"

namespace bx::md {
namespace {

namespace asio = boost::asio;
using Ms = std::chrono::milliseconds;

class AsioExecutor final : public Executor {
 public:
  explicit AsioExecutor(asio::io_context& ioc) : ioc_(ioc) {}
  void Post(std::function<void()> fn) override { asio::post(ioc_, std::move(fn)); }

 private:
  asio::io_context& ioc_;
};

OptSpec Int(const char* name, int64_t def, int64_t min, int64_t max, const char* help) {
  return {.name = name, .type = OptType::kInt, .default_value = std::to_string(def), .help = help, .min = min,
          .max = max};
}
OptSpec Dur(const char* name, const char* def, const char* help) {
  return {.name = name, .type = OptType::kDuration, .default_value = def, .help = help};
}
OptSpec Num(const char* name, const char* def, const char* help) {
  return {.name = name, .type = OptType::kDouble, .default_value = def, .help = help};
}
OptSpec Policy(const char* name, const char* def, std::vector<std::string> choices, const char* help) {
  return {.name = name, .type = OptType::kChoice, .default_value = def, .help = help, .choices = std::move(choices)};
}

OverflowPolicy ToPolicy(const std::string& s) {
  if (s == "conflate") return OverflowPolicy::kConflate;
  if (s == "end_stream") return OverflowPolicy::kEndStream;
  return OverflowPolicy::kDrop;
}

}  // namespace

std::vector<OptSpec> MarketDataOptionSpecs() {
  std::vector<OptSpec> specs = CommonServiceOptions("127.0.0.1:50051", "127.0.0.1:9101", ExchangeFeed::kPublic);
  const std::vector<std::string> state_policies = {"conflate", "drop", "end_stream"};
  std::vector<OptSpec> mine = {
      {.name = "reflection", .type = OptType::kBool, .default_value = "true",
       .help = "Serve gRPC server reflection (grpcurl, buf curl)."},
      {.name = "tls-verify", .type = OptType::kBool, .default_value = "true",
       .help = "Verify the exchange's TLS certificate chain and host name (never turn off in production)."},
      Int("max-symbols-per-stream", 100, 1, 10000, "Most symbols one Subscribe stream may ask for."),
      Int("max-streams-per-client", 64, 1, 100000,
          "Most Subscribe streams open at once per client (x-client-id metadata, else the peer address)."),
      Int("max-streams", 10000, 1, 1000000,
          "Most Subscribe streams open at once in this process, all clients together (memory bound)."),
      Int("max-klines", 10000, 1, 1000000, "Most candles one GetKlines call may return."),
      Policy("trade-overflow-policy", "drop", {"drop", "end_stream"},
             "When a stream falls behind on trades: drop them with a Gap marker, or end the stream with "
             "RESOURCE_EXHAUSTED."),
      Policy("book-overflow-policy", "conflate", state_policies, "Order books: conflate to the latest, drop, or end."),
      Policy("ticker-overflow-policy", "conflate", state_policies, "Tickers: conflate, drop, or end."),
      Policy("mark-price-overflow-policy", "conflate", state_policies, "Mark price: conflate, drop, or end."),
      Policy("kline-overflow-policy", "conflate", state_policies,
             "Klines: conflate (keeps each candle's last update), drop, or end."),
      Int("trade-queue-events", 262144, 16, 1 << 24,
          "Per trade topic: how many events a stream may lag behind before it overflows."),
      Int("state-queue-events", 64, 2, 1 << 20, "The same for state channels (book, ticker, mark price, kline)."),
      Dur("max-queue-age", "2s",
          "A stream is never written a trade that waited longer than this in the gateway's queue: it gets a Gap "
          "instead (bytes already handed to gRPC may still wait in HTTP/2 windows for a slow reader)."),
      Dur("stalled-write-timeout", "30s",
          "A stream whose write has not completed for this long (its client stopped reading: no data, Gap or "
          "status can reach it) is cancelled, freeing its slot; 0 = never."),
      Int("max-batch-events", 512, 1, 1 << 20, "Most events per stream write."),
      Int("max-batch-bytes", 1 << 20, 1024, 3 << 20, "About the most bytes per stream write (clients accept 4 MiB)."),
      Int("coalesce-us", 100, 0, 10000,
          "Under load, a stream write waits up to this long for a fuller batch (0: never). Quiet streams never wait."),
      Int("coalesce-events", 128, 1, 1 << 20, "A busy stream waits (--coalesce-us) only while fewer events than this are queued."),
      Int("inline-write-streams", 16, 0, 1 << 20,
          "While at most this many streams are open, the upstream reader thread starts idle streams' writes itself "
          "instead of waking the dispatcher thread (one wake-up less per event; 0: never)."),
      Dur("linger", "30s", "Keep an exchange subscription this long after its last stream left."),
      Dur("ping-interval", "15s", "JSON ping interval per exchange connection (the exchange closes silent sockets "
                                  "after ~60 s)."),
      Dur("pong-timeout", "5s", "Drop and reconnect a connection whose ping got no pong within this."),
      Dur("confirm-timeout", "10s", "Re-send a subscription that delivered no data within this (there is no ack)."),
      Dur("stale-after-book", "3s", "Order book topic with no data for this long is STALE (pushes every ~310 ms)."),
      Dur("stale-after-ticker", "5s", "Ticker staleness threshold."),
      Dur("stale-after-mark-price", "5s", "Mark price staleness threshold."),
      Dur("stale-after-kline", "10s", "Kline staleness threshold (pushes every ~2 s)."),
      Dur("stale-after-trade", "0", "Trade staleness threshold; 0 = never (quiet symbols trade rarely)."),
      Int("max-subscriptions-per-connection", 300, 1, 300,
          "Exchange subscriptions per WebSocket connection (the exchange refuses a 301st)."),
      Int("max-connections", 16, 1, 256, "Most exchange WebSocket connections."),
      Num("ws-messages-per-second", "4", "Pace of subscribe/unsubscribe/ping messages per connection (exchange "
                                         "limit: 5/s, pings count)."),
      Int("subscribe-batch", 50, 1, 300, "Most topics per subscribe message."),
      Dur("backoff-initial", "250ms", "First reconnect delay (doubles per failure, with jitter)."),
      Dur("backoff-max", "30s", "Reconnect delay cap."),
      Int("breaker-failures", 6, 1, 1000, "Consecutive failed connects that open the circuit breaker."),
      Dur("min-healthy-session", "30s",
          "A reconnect resets the backoff and the breaker's failure count only after its session was healthy "
          "this long; shorter sessions count as failed connects."),
      Dur("breaker-cooldown", "30s", "How long the open breaker waits before trying again."),
      Num("rest-rate-limit", "8", "Exchange REST requests per second, all uses (the public limit is 10/s per IP)."),
      Num("rest-poll-budget", "4", "Of those, the most per second the degraded-mode poller and refreshes may use."),
      Num("rest-poll-floor", "2",
          "Of the poll budget, what the poller and refreshes get even while clients' REST calls (GetKlines, "
          "GetOrderBook fallbacks) fill the rest; at most --rest-poll-budget (0: clients always first)."),
      Dur("rest-poll-interval", "1s", "While a feed is down or stale: REST poll period per order book topic "
                                      "(tickers: one call for all)."),
      {.name = "rest-fallback", .type = OptType::kBool, .default_value = "true",
       .help = "Serve books and tickers from REST while their WebSocket feed is down or stale."},
      Dur("rest-timeout", "5s", "Timeout of one exchange REST call."),
      Dur("symbol-refresh-interval", "10m", "How often the symbol list (trading_pairs) is refreshed."),
  };
  specs.insert(specs.end(), mine.begin(), mine.end());
  return specs;
}

absl::StatusOr<AppOptions> AppOptionsFromConfig(const Config& c) {
  AppOptions o;
  o.grpc_addr = c.Str("grpc-addr");
  o.metrics_addr = c.Str("metrics-addr");
  o.ws_url = c.Str("ws-url");
  o.rest_url = c.Str("rest-url");
  o.tls.ca_file = c.Str("ca-file");
  o.tls.verify = c.Bool("tls-verify");
  if (absl::Status tls = net::CheckTlsOptions(o.tls); !tls.ok()) return tls;
  o.reflection = c.Bool("reflection");
  if (o.ws_url.empty()) return absl::InvalidArgumentError("--ws-url is required");
  if (o.rest_url.empty()) return absl::InvalidArgumentError("--rest-url is required");

  o.service.max_symbols_per_stream = static_cast<int>(c.Int("max-symbols-per-stream"));
  o.service.max_streams_per_client = static_cast<int>(c.Int("max-streams-per-client"));
  o.service.max_streams = static_cast<int>(c.Int("max-streams"));
  o.service.max_klines = static_cast<int>(c.Int("max-klines"));

  o.hub.trade_queue_events = static_cast<size_t>(c.Int("trade-queue-events"));
  o.hub.state_queue_events = static_cast<size_t>(c.Int("state-queue-events"));
  o.hub.max_queue_age = c.Duration("max-queue-age");
  o.hub.stalled_write_timeout = c.Duration("stalled-write-timeout");
  o.hub.max_batch_events = static_cast<size_t>(c.Int("max-batch-events"));
  o.hub.max_batch_bytes = static_cast<size_t>(c.Int("max-batch-bytes"));
  o.hub.coalesce_delay = std::chrono::microseconds(c.Int("coalesce-us"));
  o.hub.coalesce_events = static_cast<size_t>(c.Int("coalesce-events"));
  o.hub.inline_write_streams = static_cast<size_t>(c.Int("inline-write-streams"));
  o.hub.trade_policy = ToPolicy(c.Str("trade-overflow-policy"));
  o.hub.book_policy = ToPolicy(c.Str("book-overflow-policy"));
  o.hub.ticker_policy = ToPolicy(c.Str("ticker-overflow-policy"));
  o.hub.mark_price_policy = ToPolicy(c.Str("mark-price-overflow-policy"));
  o.hub.kline_policy = ToPolicy(c.Str("kline-overflow-policy"));

  UpstreamOptions& u = o.upstream;
  u.linger = c.Duration("linger");
  u.ping_interval = c.Duration("ping-interval");
  u.pong_timeout = c.Duration("pong-timeout");
  u.confirm_timeout = c.Duration("confirm-timeout");
  u.stale_book = c.Duration("stale-after-book");
  u.stale_ticker = c.Duration("stale-after-ticker");
  u.stale_mark_price = c.Duration("stale-after-mark-price");
  u.stale_kline = c.Duration("stale-after-kline");
  u.stale_trade = c.Duration("stale-after-trade");
  u.max_subscriptions_per_connection = static_cast<int>(c.Int("max-subscriptions-per-connection"));
  u.max_connections = static_cast<int>(c.Int("max-connections"));
  u.max_messages_per_second = c.Double("ws-messages-per-second");
  u.max_args_per_message = static_cast<int>(c.Int("subscribe-batch"));
  u.backoff.initial = c.Duration("backoff-initial");
  u.backoff.max = c.Duration("backoff-max");
  u.breaker_failures = static_cast<int>(c.Int("breaker-failures"));
  u.breaker_cooldown = c.Duration("breaker-cooldown");
  u.min_healthy_session = c.Duration("min-healthy-session");
  u.rest_fallback = c.Bool("rest-fallback");
  u.rest_poll_interval = c.Duration("rest-poll-interval");
  u.symbol_refresh = c.Duration("symbol-refresh-interval");

  o.rest.requests_per_second = c.Double("rest-rate-limit");
  o.rest.burst = std::max(1.0, o.rest.requests_per_second);
  o.rest.background_per_second = c.Double("rest-poll-budget");
  o.rest.background_floor_per_second = c.Double("rest-poll-floor");
  o.rest.timeout = c.Duration("rest-timeout");
  if (u.max_messages_per_second <= 0 || u.max_messages_per_second > 5) {
    return absl::InvalidArgumentError("--ws-messages-per-second must be in (0, 5]: the exchange disconnects above 5");
  }
  if (o.rest.requests_per_second <= 0 || o.rest.background_per_second < 0 ||
      o.rest.background_per_second > o.rest.requests_per_second) {
    return absl::InvalidArgumentError("--rest-rate-limit must be > 0 and --rest-poll-budget within [0, rest-rate-limit]");
  }
  if (o.rest.background_floor_per_second < 0) {
    return absl::InvalidArgumentError(absl::StrCat("--rest-poll-floor must be >= 0 (0: clients' calls always first); got ",
                                                   o.rest.background_floor_per_second));
  }
  // A share of the poll budget: a smaller budget (0: no polling) lowers it too.
  o.rest.background_floor_per_second = std::min(o.rest.background_floor_per_second, o.rest.background_per_second);
  if (u.ping_interval.count() <= 0 || u.pong_timeout.count() <= 0) {
    return absl::InvalidArgumentError("--ping-interval and --pong-timeout must be > 0");
  }
  if (o.hub.max_queue_age.count() <= 0) {
    // The bound cannot be switched off: 0 would mean "no bound" to a stream's read and 1 ms to the
    // queue trim, so slow readers would lose nearly every trade.
    return absl::InvalidArgumentError(
        "--max-queue-age must be > 0 (it bounds how old a queued trade may be when written; to loosen it, give a "
        "larger value such as 30s)");
  }
  return o;
}

struct App::Impl {
  AppOptions options;
  const Clock& clock;
  asio::io_context ioc;
  std::unique_ptr<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread io_thread;
  AsioExecutor executor{ioc};
  std::unique_ptr<asio::steady_timer> timer;

  std::unique_ptr<MetricsServer> metrics_server;
  std::shared_ptr<prometheus::Registry> registry;
  std::unique_ptr<net::HttpClient> http;
  SymbolRegistry symbols;
  std::unique_ptr<Hub> hub;
  std::unique_ptr<MarketRestClient> rest;
  std::unique_ptr<UpstreamManager> upstream;
  std::unique_ptr<MdMetrics> metrics;
  std::unique_ptr<MarketDataServiceImpl> service;
  std::unique_ptr<GrpcServer> server;
  std::atomic<bool> stopping{false};
  bool stopped = false;
  std::chrono::steady_clock::time_point next_publish{};

  Impl(AppOptions o, const Clock& c) : options(std::move(o)), clock(c) {}

  // Runs `fn` on the io thread and waits for it.
  void RunOnIo(std::function<void()> fn) {
    if (!io_thread.joinable()) {
      fn();
      return;
    }
    std::promise<void> done;
    asio::post(ioc, [&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }

  void ScheduleTick() {
    timer->expires_after(options.tick);
    timer->async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      if (stopping.load()) {
        // Stopping: the upstream is done, but unary calls queued in the REST rate gate still
        // need their replies to finish, and grpc::Server::Shutdown waits for every call.
        rest->Tick();
        ScheduleTick();
        return;
      }
      upstream->Tick();
      const auto now = clock.Steady();
      if (now >= next_publish) {
        metrics->Publish();
        next_publish = now + std::chrono::seconds(1);
      }
      ScheduleTick();
    });
  }
};

App::App(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

App::~App() { Stop(Ms(0)); }

absl::StatusOr<std::unique_ptr<App>> App::Start(AppOptions options, const Clock& clock) {
  auto impl = std::make_unique<Impl>(std::move(options), clock);
  Impl& m = *impl;
  auto ws_url = ParseUrl(m.options.ws_url);
  if (!ws_url.ok()) return absl::InvalidArgumentError(absl::StrCat("--ws-url: ", ws_url.status().message()));
  auto rest_url = ParseUrl(m.options.rest_url);
  if (!rest_url.ok()) return absl::InvalidArgumentError(absl::StrCat("--rest-url: ", rest_url.status().message()));

  if (!m.options.metrics_addr.empty()) {
    auto metrics_server = MetricsServer::Start(m.options.metrics_addr);
    if (!metrics_server.ok()) return metrics_server.status();
    m.metrics_server = std::move(*metrics_server);
    m.registry = m.metrics_server->registry();
  } else {
    m.registry = std::make_shared<prometheus::Registry>();
  }

  net::HttpClientOptions http_opt;
  http_opt.base = *rest_url;
  http_opt.tls = m.options.tls;
  m.http = net::MakeBeastHttpClient(m.ioc, http_opt, clock);
  m.hub = std::make_unique<Hub>(m.options.hub, clock);
  RestClientOptions rest_opt = m.options.rest;
  rest_opt.max_in_flight = http_opt.max_connections;  // no call waits unseen in the HTTP client's queue
  m.rest = std::make_unique<MarketRestClient>(m.http.get(), &m.executor, clock, rest_opt);
  net::WsOptions ws_opt;
  ws_opt.url = *ws_url;
  ws_opt.tls = m.options.tls;
  Impl* raw = impl.get();
  m.upstream = std::make_unique<UpstreamManager>(
      m.options.upstream, m.hub.get(), &m.symbols, m.rest.get(), &m.executor,
      [raw, ws_opt] {
        // Only the md-io thread runs `ioc`, so connections need no strand.
        return net::MakeBeastWsClient(raw->ioc, ws_opt, raw->clock, net::IoThreads::kOne);
      },
      clock);
  m.metrics = std::make_unique<MdMetrics>(*m.registry, m.hub.get(), m.upstream.get(),
                                          m.rest.get(), clock);
  m.service = std::make_unique<MarketDataServiceImpl>(m.options.service, m.hub.get(), m.upstream.get(), &m.symbols,
                                                      m.rest.get(), clock);
  GrpcServerOptions server_opt;
  server_opt.address = m.options.grpc_addr;
  server_opt.services = {m.service.get()};
  server_opt.health_service_names = {kServiceName};
  server_opt.reflection = m.options.reflection;
  auto server = GrpcServer::Start(server_opt);
  if (!server.ok()) return server.status();
  m.server = std::move(*server);
  m.upstream->set_on_ready_change([raw](bool ready) {
    if (!raw->stopping.load()) raw->server->SetReady(ready);
  });

  m.work = std::make_unique<asio::executor_work_guard<asio::io_context::executor_type>>(m.ioc.get_executor());
  m.timer = std::make_unique<asio::steady_timer>(m.ioc);
  m.io_thread = std::thread([raw] {
    pthread_setname_np(pthread_self(), "md-io");
    raw->ioc.run();
  });
  m.RunOnIo([raw] {
    raw->upstream->Start();
    raw->ScheduleTick();
  });
  Log(LogLevel::kInfo, "app", "started",
      {{"grpc", m.server->address()}, {"metrics", m.metrics_server ? m.metrics_server->address() : "off"},
       {"ws_url", m.options.ws_url},
       {"rest_url", m.options.rest_url}});
  return std::unique_ptr<App>(new App(std::move(impl)));
}

const std::string& App::grpc_address() const { return impl_->server->address(); }
const std::string& App::metrics_address() const {
  static const std::string kOff;
  return impl_->metrics_server ? impl_->metrics_server->address() : kOff;
}
bool App::ready() const { return !impl_->stopping.load() && impl_->upstream && impl_->upstream->ready(); }
Hub& App::hub() { return *impl_->hub; }
prometheus::Registry& App::registry() { return *impl_->registry; }
UpstreamManager& App::upstream() { return *impl_->upstream; }
MarketDataServiceImpl& App::service() { return *impl_->service; }

void App::Stop(std::chrono::milliseconds grace) {
  Impl& m = *impl_;
  if (m.stopped) return;
  m.stopped = true;
  m.stopping.store(true);
  Log(LogLevel::kInfo, "app", "shutting down", {{"grace_ms", grace.count()}});
  // 1. Readiness off, 2. every stream is told and ends, 3. the server drains until the deadline
  // (the tick keeps the REST gate moving meanwhile; calls still running then are cancelled, and a
  // cancelled unary call finishes at once).
  m.server->SetReady(false);
  m.service->Shutdown();
  m.server->Shutdown(grace);
  // 4. The upstream closes and every transport is destroyed on the io thread; REST calls still
  // queued (only the upstream's by now: every unary call has finished) fail with UNAVAILABLE.
  m.RunOnIo([&m] {
    m.timer->cancel();
    m.upstream->Shutdown();
    m.upstream.reset();
    m.rest->Close();
    m.rest.reset();
    m.http.reset();
  });
  m.work.reset();
  m.ioc.stop();
  if (m.io_thread.joinable()) m.io_thread.join();
  m.hub.reset();
  Log(LogLevel::kInfo, "app", "stopped");
}

}  // namespace bx::md
