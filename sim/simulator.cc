#include "sim/simulator.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/url.h"
#include "sim/context.h"
#include "sim/control_api.h"
#include "sim/server_internal.h"

namespace bx::sim {
namespace {

using SteadyClock = std::chrono::steady_clock;

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  using OnAccept = std::function<void(tcp::socket)>;
  Listener(net::io_context& ioc, OnAccept on_accept) : ioc_(ioc), acceptor_(ioc), on_accept_(std::move(on_accept)) {}

  absl::Status Listen(const std::string& host_port) {
    auto hp = ParseHostPort(host_port);
    if (!hp.ok()) return hp.status();
    beast::error_code ec;
    auto addr = net::ip::make_address(hp->first == "localhost" ? "127.0.0.1" : hp->first, ec);
    if (ec) return absl::InvalidArgumentError(absl::StrCat("address '", hp->first, "': ", ec.message()));
    tcp::endpoint ep(addr, hp->second);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return absl::UnavailableError(absl::StrCat("cannot listen on ", host_port, ": ", ec.message()));
    return absl::OkStatus();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string host() const { return acceptor_.local_endpoint().address().to_string(); }

  void Run() { DoAccept(); }
  void Stop() {
    net::post(acceptor_.get_executor(), [self = shared_from_this()] {
      beast::error_code ec;
      self->acceptor_.close(ec);
    });
  }

 private:
  void DoAccept() {
    acceptor_.async_accept(net::make_strand(ioc_), [self = shared_from_this()](beast::error_code ec, tcp::socket s) {
      if (ec == net::error::operation_aborted || !self->acceptor_.is_open()) return;
      if (!ec) self->on_accept_(std::move(s));
      self->DoAccept();
    });
  }

  net::io_context& ioc_;
  tcp::acceptor acceptor_;
  OnAccept on_accept_;
};

std::string HostForUrl(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

}  // namespace

struct Simulator::Impl {
  std::unique_ptr<SimContext> ctx;
  std::unique_ptr<ControlApi> control;
  std::unique_ptr<net::ssl::context> ssl;
  // Declared after the state it references: destroyed (with every session) before it.
  std::unique_ptr<net::io_context> ioc;
  std::shared_ptr<Listener> exchange_listener;
  std::shared_ptr<Listener> control_listener;
  std::unique_ptr<net::strand<net::io_context::executor_type>> timers_strand;
  std::unique_ptr<net::steady_timer> market_timer, trade_timer, kline_timer;
  std::vector<std::thread> threads;
  bool stopped = false;

  void ArmMarket() {
    market_timer->expires_after(std::chrono::milliseconds(ctx->push_interval_ms.load()));
    market_timer->async_wait([this](beast::error_code ec) {
      if (ec) return;
      OnMarketTick();
      ArmMarket();
    });
  }
  void OnMarketTick() {
    ctx->exchange.Step();
    for (const auto& s : ctx->hub.ActiveStreams()) {
      if (s.symbol.empty()) continue;  // private channel
      auto info = ClassifyPublicChannel(s.ch);
      if (!info || info->kind == ChannelKind::kTrade || info->kind == ChannelKind::kKline ||
          info->kind == ChannelKind::kMarkKline) {
        continue;
      }
      if (ctx->faults.Stalled(false)) continue;
      if (auto text = ctx->exchange.PublicFrame(s, *info)) ctx->PublishPublic(s, *text);
    }
  }

  void ArmTrades() {
    const double rate = ctx->config.trade_rate;
    if (rate <= 0) return;
    trade_timer->expires_after(std::chrono::microseconds(static_cast<int64_t>(1e6 / rate)));
    trade_timer->async_wait([this](beast::error_code ec) {
      if (ec) return;
      OnTradeTick();
      ArmTrades();
    });
  }
  void OnTradeTick() {
    auto trades = ctx->exchange.GenerateTrades();
    // Logged before any push leaves: a client never holds a trade GET /control/trades lacks.
    const bool stalled = ctx->faults.Stalled(false);
    const auto recorded = ctx->RecordTrades(trades, stalled);
    if (stalled) return;
    for (const auto& s : ctx->hub.ActiveStreams()) {
      if (s.ch != "trade") continue;
      const int sym = ctx->catalog.IndexOf(s.symbol);
      if (sym < 0) continue;
      std::string text = ctx->TradeFrameFor(sym, trades, recorded);
      if (!text.empty()) ctx->PublishPublic(s, text);
    }
    // A stall that began while the pushes went out may have withheld some of them (each socket
    // checks on its own): such trades are marked stalled too.
    if (ctx->faults.Stalled(false)) ctx->MarkTradesStalled(trades, recorded.seqs);
  }

  void ArmKlines() {
    kline_timer->expires_after(ctx->config.kline_push_interval);
    kline_timer->async_wait([this](beast::error_code ec) {
      if (ec) return;
      if (!ctx->faults.Stalled(false)) {
        for (const auto& s : ctx->hub.ActiveStreams()) {
          auto info = ClassifyPublicChannel(s.ch);
          if (!info || (info->kind != ChannelKind::kKline && info->kind != ChannelKind::kMarkKline)) continue;
          if (auto text = ctx->exchange.PublicFrame(s, *info)) ctx->PublishPublic(s, *text);
        }
      }
      ArmKlines();
    });
  }
};

absl::StatusOr<std::unique_ptr<Simulator>> Simulator::Start(SimConfig config, const Clock& clock) {
  auto catalog = SymbolCatalog::FromList(config.symbols);
  if (!catalog.ok()) return catalog.status();
  std::unique_ptr<Simulator> sim(new Simulator());
  sim->impl_ = std::make_unique<Impl>();
  Impl& im = *sim->impl_;
  const bool tls = !config.tls_cert.empty();
  if (tls) {
    im.ssl = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
    beast::error_code ec;
    im.ssl->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                        net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 | net::ssl::context::no_tlsv1_1);
    im.ssl->use_certificate_chain_file(config.tls_cert, ec);
    if (ec) return absl::InvalidArgumentError(absl::StrCat("--tls-cert ", config.tls_cert, ": ", ec.message()));
    im.ssl->use_private_key_file(config.tls_key, net::ssl::context::pem, ec);
    if (ec) return absl::InvalidArgumentError(absl::StrCat("--tls-key ", config.tls_key, ": ", ec.message()));
  }
  const int threads = std::max(1, config.threads);
  im.ctx = std::make_unique<SimContext>(config, std::move(*catalog), clock);
  im.control = std::make_unique<ControlApi>(*im.ctx);
  im.ioc = std::make_unique<net::io_context>(threads);
  SimContext* ctx = im.ctx.get();
  net::ssl::context* ssl = im.ssl.get();
  ControlApi* control = im.control.get();
  im.exchange_listener = std::make_shared<Listener>(
      *im.ioc, [ctx, ssl](tcp::socket s) { StartExchangeSession(*ctx, std::move(s), ssl); });
  im.control_listener = std::make_shared<Listener>(
      *im.ioc, [ctx, control](tcp::socket s) { StartControlSession(*ctx, *control, std::move(s)); });
  if (auto st = im.exchange_listener->Listen(config.addr); !st.ok()) return st;
  if (auto st = im.control_listener->Listen(config.control_addr); !st.ok()) return st;
  sim->port_ = im.exchange_listener->port();
  sim->control_port_ = im.control_listener->port();
  const std::string host = HostForUrl(im.exchange_listener->host());
  sim->rest_url_ = absl::StrCat(tls ? "https" : "http", "://", host, ":", sim->port_);
  sim->public_ws_url_ = absl::StrCat(tls ? "wss" : "ws", "://", host, ":", sim->port_, "/public/");
  sim->private_ws_url_ = absl::StrCat(tls ? "wss" : "ws", "://", host, ":", sim->port_, "/private/");
  sim->control_url_ = absl::StrCat("http://", HostForUrl(im.control_listener->host()), ":", sim->control_port_);

  im.timers_strand = std::make_unique<net::strand<net::io_context::executor_type>>(im.ioc->get_executor());
  im.market_timer = std::make_unique<net::steady_timer>(*im.timers_strand);
  im.trade_timer = std::make_unique<net::steady_timer>(*im.timers_strand);
  im.kline_timer = std::make_unique<net::steady_timer>(*im.timers_strand);
  im.exchange_listener->Run();
  im.control_listener->Run();
  im.ArmMarket();
  im.ArmTrades();
  im.ArmKlines();
  for (int i = 0; i < threads; ++i) {
    im.threads.emplace_back([ioc = im.ioc.get()] {
      // Handlers do not throw by design; should one ever do, log it and keep the thread serving.
      while (true) {
        try {
          ioc->run();
          return;
        } catch (const std::exception& e) {
          Log(LogLevel::kError, "sim", "io handler threw", {{"error", e.what()}});
        }
      }
    });
  }
  Log(LogLevel::kInfo, "sim", "listening",
      {{"rest", sim->rest_url_}, {"control", sim->control_url_}, {"seed", static_cast<int64_t>(config.seed)}});
  return sim;
}

void Simulator::Stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  impl_->ioc->stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  // Destroying the io_context destroys every pending handler and with them the sessions, while the
  // state they reference is still alive.
  impl_->market_timer.reset();
  impl_->trade_timer.reset();
  impl_->kline_timer.reset();
  impl_->exchange_listener.reset();
  impl_->control_listener.reset();
  impl_->timers_strand.reset();  // a strand must not outlive its io_context's services
  impl_->ioc.reset();
}

Simulator::~Simulator() { Stop(); }

SimContext& Simulator::context() { return *impl_->ctx; }

}  // namespace bx::sim
